//! The connection loop both sandboxes run: a plain hyper HTTP/1.1 server serving axum bodies
//! (not an axum router), so that a fault can close a connection without answering and a
//! handler knows the client's address. For each request, in this order: match the route, number
//! and count it, ask the fault hook, let the service admit it (Traccar's throttle), wait the
//! latency, apply the fault, read the body (16 MiB at most, else the connection is dropped),
//! hand it to the service, log the outcome. The service ([`Service`]) owns everything about
//! the answers; this file never looks inside a request beyond its method, path and query.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::{Counters, Fault, Recorder};

/// The largest request body read; a bigger one drops the connection.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// What a sandbox plugs into the connection loop: its routes, its answers and its knobs.
pub trait Service: Send + Sync + 'static {
    /// The sandbox's `Stats`.
    type Stats: Counters;
    /// A matched route with its path parameter, handed back to [`Service::handle`].
    type Matched: Send;
    /// Held from admission until the request is answered (e.g. a throttle's pass).
    type Pass: Send;

    /// Whether a request a [`Fault::AnswerLost`] cut off is logged with the status it was
    /// answered (true) or with 0, like a dropped connection (false).
    const LOST_ANSWER_STATUS: bool;

    /// The log, counters and fault hook.
    fn recorder(&self) -> &Recorder<Self::Stats>;

    /// Added to every request before it is handled.
    fn latency(&self) -> Duration;

    /// Matches a request path: the match and the route name counted and logged, e.g.
    /// `"GET /api/users/{id}"`. `None` counts as `"<METHOD> (unmatched)"`.
    fn route(&self, method: &str, path: &str) -> Option<(Self::Matched, String)>;

    /// The query string as the log and the fault hook see it (e.g. with secrets redacted).
    fn logged_query(&self, raw: Option<&str>) -> Option<String> {
        raw.map(str::to_string)
    }

    /// Called once per request after the fault hook and before the latency; what it returns is
    /// held until the request is answered.
    fn admit(&self, peer: SocketAddr) -> impl Future<Output = Self::Pass> + Send;

    /// The `Content-Type` of a [`Fault::Respond`] (`with_headers` false) or
    /// [`Fault::RespondWith`] (true) answer with this body; `None` sends none.
    fn fault_content_type(&self, body: &str, with_headers: bool) -> Option<&'static str>;

    /// Handles a request that was not faulted away. Runs synchronously: no lock it takes may
    /// be held across an await.
    fn handle(
        &self,
        parts: &Parts,
        matched: Option<Self::Matched>,
        body: &[u8],
        peer: SocketAddr,
    ) -> Response<Body>;
}

/// A running connection loop: where it listens, and how to stop it.
pub struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `listen` (port 0: an ephemeral port; an unspecified address is reported as
    /// 127.0.0.1) and serves `service` there until [`Server::shutdown`] or drop.
    pub async fn start<S: Service>(listen: SocketAddr, service: Arc<S>) -> anyhow::Result<Server> {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let mut addr = listener.local_addr().context("reading the bound address")?;
        if addr.ip().is_unspecified() {
            addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, service, stopped));
        Ok(Server {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, e.g. `http://127.0.0.1:8082`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and closes open ones, waiting until they are closed.
    pub async fn shutdown(mut self) {
        self.stop_now();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_now();
    }
}

async fn accept_loop<S: Service>(
    listener: TcpListener,
    service: Arc<S>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let service = service.clone();
                connections.spawn(async move {
                    let serve = hyper::service::service_fn(move |request| {
                        let service = service.clone();
                        async move { serve_request(&*service, peer, request).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), serve)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// Returned instead of a response to make hyper close the connection without answering.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the sandbox")
    }
}

impl std::error::Error for DropConnection {}

async fn serve_request<S: Service>(
    service: &S,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Body>, DropConnection> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let method = parts.method.as_str().to_string();
    let (matched, route_name) = match service.route(&method, &path) {
        Some((matched, name)) => (Some(matched), name),
        None => (None, format!("{method} (unmatched)")),
    };
    let query = service.logged_query(parts.uri.query());
    let recorder = service.recorder();
    let info = recorder.arrive(method, path, query, route_name);
    let fault = recorder.fault_for(&info);
    let _pass = service.admit(peer).await;
    let latency = service.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut answer_lost = false;
    match fault {
        Some(Fault::Respond { status, body }) => {
            recorder.record(&info, status);
            let content_type = service.fault_content_type(&body, false);
            return Ok(fault_response(status, content_type, Vec::new(), body));
        }
        Some(Fault::RespondWith {
            status,
            headers,
            body,
        }) => {
            recorder.record(&info, status);
            let content_type = service.fault_content_type(&body, true);
            return Ok(fault_response(status, content_type, headers, body));
        }
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::Drop) => {
            recorder.record(&info, 0);
            return Err(DropConnection);
        }
        Some(Fault::AnswerLost) => answer_lost = true,
        None => {}
    }
    let bytes = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            recorder.record(&info, 0);
            return Err(DropConnection);
        }
    };
    let response = service.handle(&parts, matched, &bytes, peer);
    let status = response.status().as_u16();
    if answer_lost {
        // Handled, but the client hears nothing.
        recorder.record(&info, if S::LOST_ANSWER_STATUS { status } else { 0 });
        return Err(DropConnection);
    }
    recorder.record(&info, status);
    Ok(response)
}

fn fault_response(
    status: u16,
    content_type: Option<&'static str>,
    headers: Vec<(String, String)>,
    body: String,
) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;
    use crate::log::tests::Stats;
    use crate::{FaultHook, RequestInfo};

    /// Serves `GET /ok` with 200 and counts what it handles in `Stats::own`; `LOST` is its
    /// `LOST_ANSWER_STATUS`.
    #[derive(Default)]
    struct Toy<const LOST: bool> {
        recorder: Recorder<Stats>,
    }

    impl<const LOST: bool> Service for Toy<LOST> {
        type Stats = Stats;
        type Matched = ();
        type Pass = ();

        const LOST_ANSWER_STATUS: bool = LOST;

        fn recorder(&self) -> &Recorder<Stats> {
            &self.recorder
        }

        fn latency(&self) -> Duration {
            Duration::ZERO
        }

        fn route(&self, method: &str, path: &str) -> Option<((), String)> {
            (path == "/ok").then(|| ((), format!("{method} /ok")))
        }

        fn logged_query(&self, raw: Option<&str>) -> Option<String> {
            raw.map(|q| q.replace("secret", "REDACTED"))
        }

        async fn admit(&self, _peer: SocketAddr) {}

        fn fault_content_type(&self, _body: &str, with_headers: bool) -> Option<&'static str> {
            (!with_headers).then_some("text/plain")
        }

        fn handle(
            &self,
            _parts: &Parts,
            matched: Option<()>,
            _body: &[u8],
            _peer: SocketAddr,
        ) -> Response<Body> {
            self.recorder.count(|s| s.own += 1);
            let mut response = Response::new(Body::from("handled"));
            if matched.is_none() {
                *response.status_mut() = StatusCode::NOT_FOUND;
            }
            response
        }
    }

    async fn start<const LOST: bool>(hook: Option<FaultHook>) -> (Arc<Toy<LOST>>, Server) {
        let toy = Arc::new(Toy::<LOST>::default());
        toy.recorder.set_hook(hook);
        let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let server = Server::start(listen, toy.clone()).await.unwrap();
        (toy, server)
    }

    /// One request on its own connection; the raw answer, empty when none came.
    async fn get(server: &Server, target: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    fn on_ok(fault: Fault) -> Option<FaultHook> {
        Some(Arc::new(move |info: &RequestInfo| {
            (info.route == "GET /ok").then(|| fault.clone())
        }))
    }

    #[tokio::test]
    async fn requests_are_handled_counted_and_logged_with_the_query_as_the_service_shows_it() {
        let (toy, server) = start::<false>(None).await;
        assert!(
            get(&server, "/ok?k=secret")
                .await
                .starts_with("HTTP/1.1 200")
        );
        assert!(get(&server, "/nowhere").await.starts_with("HTTP/1.1 404"));
        let stats = toy.recorder.stats();
        assert_eq!((stats.total, stats.faulted, stats.own), (2, 0, 2));
        assert_eq!(stats.by_route.get("GET (unmatched)"), Some(&1));
        let log = toy.recorder.requests();
        assert_eq!(log[0].query.as_deref(), Some("k=REDACTED"));
        assert_eq!((log[0].status, log[1].status), (200, 404));
        server.shutdown().await;
    }

    #[tokio::test]
    async fn a_dropped_request_gets_no_answer_is_not_handled_and_is_logged_as_0() {
        let (toy, server) = start::<true>(on_ok(Fault::Drop)).await;
        assert_eq!(get(&server, "/ok").await, "");
        let stats = toy.recorder.stats();
        assert_eq!((stats.faulted, stats.own), (1, 0));
        assert_eq!(toy.recorder.requests()[0].status, 0);
    }

    #[tokio::test]
    async fn a_lost_answer_is_handled_and_logged_as_the_service_says() {
        let (toy, server) = start::<true>(on_ok(Fault::AnswerLost)).await;
        assert_eq!(get(&server, "/ok").await, "");
        assert_eq!(toy.recorder.stats().own, 1);
        assert_eq!(toy.recorder.requests()[0].status, 200);

        let (toy, server) = start::<false>(on_ok(Fault::AnswerLost)).await;
        assert_eq!(get(&server, "/ok").await, "");
        assert_eq!(toy.recorder.stats().own, 1);
        assert_eq!(toy.recorder.requests()[0].status, 0);
    }

    #[tokio::test]
    async fn a_fault_answer_carries_the_services_content_type_and_its_headers() {
        let (toy, server) = start::<false>(on_ok(Fault::Respond {
            status: 503,
            body: "down".into(),
        }))
        .await;
        let answer = get(&server, "/ok").await.to_ascii_lowercase();
        assert!(answer.starts_with("http/1.1 503"), "{answer}");
        assert!(answer.contains("content-type: text/plain"), "{answer}");
        assert!(answer.ends_with("down"), "{answer}");
        assert_eq!(toy.recorder.stats().own, 0);

        let (toy, server) = start::<false>(on_ok(Fault::RespondWith {
            status: 429,
            headers: vec![("Retry-After".into(), "3".into())],
            body: "slow down".into(),
        }))
        .await;
        let answer = get(&server, "/ok").await.to_ascii_lowercase();
        assert!(answer.starts_with("http/1.1 429"), "{answer}");
        assert!(answer.contains("retry-after: 3"), "{answer}");
        assert!(!answer.contains("content-type"), "{answer}");
        assert_eq!(toy.recorder.requests()[0].status, 429);
    }
}
