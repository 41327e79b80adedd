//! http: what the backends' HTTP clients share: a failed request as one error type, with the
//! request (method, path without credentials), the status, the server's message and whether it
//! may be sent again. Each backend decides the class of its answers (`Failure`) and the message
//! (Traccar: the stack trace's first line; telematics: the envelope's title and errors).

use std::fmt;

/// Why a request failed, which decides whether it may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server answered that it will not do it (most 4xx, a malformed answer): sending it
    /// again cannot help.
    Permanent,
    /// The server certainly did not act on it (the connection could not be opened, 429): safe to
    /// send again, whatever the method.
    NotApplied,
    /// It may or may not have been applied (timeout, reset, 5xx, a transient storage error):
    /// safe to send again only when it is idempotent; a create must be checked first.
    Ambiguous,
}

/// A request that failed: the request, the status and the first line of the server's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub method: String,
    pub path: String,
    pub status: Option<u16>,
    pub message: String,
    pub failure: Failure,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(
                f,
                "{} {} -> {}: {}",
                self.method, self.path, status, self.message
            ),
            None => write!(f, "{} {} -> {}", self.method, self.path, self.message),
        }
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// True when the request may not have been applied, or certainly was not: worth checking
    /// and trying again, as opposed to a refusal.
    pub fn is_retryable(&self) -> bool {
        self.failure != Failure::Permanent
    }
}
