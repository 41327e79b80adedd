//! The REST surface: which paths and methods exist, who may call them (anonymous, instance
//! headers, admin JWT, user JWT), which take a JSON body, and the request context handlers run
//! in. The user service matches paths case-insensitively (notes §4: official clients mix
//! `Registration/create` and `registration/Create`); the Accounts API paths match exactly as
//! written (notes §4: its casing is inconsistent on purpose).
//!
//! Handlers are synchronous functions over the locked store; they never await. Transport
//! concerns (latency, faults, the request log) live in the crate root (`lib.rs`).

mod accounts;
mod auth;
mod management;
mod registration;

use axum::http::HeaderMap;
use serde_json::Value;

use crate::SandboxConfig;
use crate::auth::{AuthState, Principal};
use crate::store::Store;
use crate::wire::{ApiError, Query};

/// The route names the statistics, the request log and fault hooks use: the method and the
/// path as the notes write it. `(unmatched)` stands for a path the service does not serve.
pub mod names {
    pub const LOGIN: &str = "POST /v1/Auth/Login";
    pub const REFRESH: &str = "POST /v1/Auth/RefreshToken";
    pub const REGISTER: &str = "POST /v1/Registration/create";
    /// Served only with [`crate::SandboxConfig::create_many`].
    pub const REGISTER_MANY: &str = "POST /v1/Registration/CreateMany";
    pub const OWN_PROFILE: &str = "GET /v1/Management/users";
    pub const UPDATE: &str = "PUT /v1/Management/users";
    pub const FIND: &str = "GET /v1/Management/users/find";
    pub const LIST: &str = "POST /v1/Management/users/GetFilteredPage";
    pub const DELETE: &str = "DELETE /v1/Management/users/{DeviceToken}";
    pub const CHANGE_INSTANCE: &str = "POST /v1/Management/users/instances/change";
    pub const COMPANY_APPLICATIONS: &str = "GET /v1/companies/{CompanyId}/applications";
    pub const APPLICATION: &str = "GET /v1/Applications/{AppId}";
    pub const APPLICATION_INSTANCES: &str = "GET /v1/applications/{AppId}/instances";
    pub const INSTANCE: &str = "GET /v1/Instances/{InstanceId}";
}

/// A path the sandbox serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Login,
    Refresh,
    Register,
    RegisterMany,
    /// `GET` (own profile, user JWT) and `PUT` (update) `/v1/Management/users`.
    Users,
    Find,
    FilteredPage,
    /// `/v1/Management/users/{DeviceToken}`.
    User,
    ChangeInstance,
    CompanyApplications,
    Application,
    ApplicationInstances,
    Instance,
}

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No JWT (registration checks the instance headers itself).
    Anonymous,
    Admin,
    AdminOrUser,
    User,
}

impl Route {
    /// Matches a request path; the second value is the path parameter, if the route has one.
    pub fn parse(path: &str, create_many: bool) -> Option<(Route, Option<String>)> {
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        let segments: Vec<&str> = trimmed.split('/').skip(1).collect();
        // The Accounts API: exact case.
        match segments.as_slice() {
            ["v1", "companies", id, "applications"] => {
                return Some((Route::CompanyApplications, Some((*id).to_string())));
            }
            ["v1", "Applications", id] => {
                return Some((Route::Application, Some((*id).to_string())));
            }
            ["v1", "applications", id, "instances"] => {
                return Some((Route::ApplicationInstances, Some((*id).to_string())));
            }
            ["v1", "Instances", id] => return Some((Route::Instance, Some((*id).to_string()))),
            _ => {}
        }
        // The user service: any case.
        let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
        let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
        let route = match lower.as_slice() {
            ["v1", "auth", "login"] => Route::Login,
            ["v1", "auth", "refreshtoken"] => Route::Refresh,
            ["v1", "registration", "create"] => Route::Register,
            ["v1", "registration", "createmany"] if create_many => Route::RegisterMany,
            ["v1", "management", "users"] => Route::Users,
            ["v1", "management", "users", "find"] => Route::Find,
            ["v1", "management", "users", "getfilteredpage"] => Route::FilteredPage,
            ["v1", "management", "users", "instances", "change"] => Route::ChangeInstance,
            ["v1", "management", "users", _] => {
                return Some((Route::User, segments.get(3).map(|s| (*s).to_string())));
            }
            _ => return None,
        };
        Some((route, None))
    }

    pub fn methods(self) -> &'static [&'static str] {
        match self {
            Route::Users => &["GET", "PUT"],
            Route::User => &["DELETE"],
            Route::Find
            | Route::CompanyApplications
            | Route::Application
            | Route::ApplicationInstances
            | Route::Instance => &["GET"],
            Route::Login
            | Route::Refresh
            | Route::Register
            | Route::RegisterMany
            | Route::FilteredPage
            | Route::ChangeInstance => &["POST"],
        }
    }

    /// The name in statistics and the log, e.g. `POST /v1/Registration/create`.
    pub fn name(self, method: &str) -> String {
        let path = match self {
            Route::Login => "/v1/Auth/Login",
            Route::Refresh => "/v1/Auth/RefreshToken",
            Route::Register => "/v1/Registration/create",
            Route::RegisterMany => "/v1/Registration/CreateMany",
            Route::Users => "/v1/Management/users",
            Route::Find => "/v1/Management/users/find",
            Route::FilteredPage => "/v1/Management/users/GetFilteredPage",
            Route::User => "/v1/Management/users/{DeviceToken}",
            Route::ChangeInstance => "/v1/Management/users/instances/change",
            Route::CompanyApplications => "/v1/companies/{CompanyId}/applications",
            Route::Application => "/v1/Applications/{AppId}",
            Route::ApplicationInstances => "/v1/applications/{AppId}/instances",
            Route::Instance => "/v1/Instances/{InstanceId}",
        };
        format!("{method} {path}")
    }

    pub fn access(self, method: &str) -> Access {
        match (self, method) {
            (Route::Login | Route::Refresh | Route::Register | Route::RegisterMany, _) => {
                Access::Anonymous
            }
            (Route::Users, "GET") => Access::User,
            (Route::Users, _) => Access::AdminOrUser,
            _ => Access::Admin,
        }
    }

    /// Whether the method takes a JSON body.
    pub fn json_body(self, method: &str) -> bool {
        matches!(
            (self, method),
            (
                Route::Login
                    | Route::Refresh
                    | Route::Register
                    | Route::RegisterMany
                    | Route::FilteredPage
                    | Route::ChangeInstance,
                _
            ) | (Route::Users, "PUT")
        )
    }
}

/// What a handler runs with.
pub struct Ctx<'a> {
    pub store: &'a mut Store,
    pub auth: &'a mut AuthState,
    pub config: &'a SandboxConfig,
    pub headers: &'a HeaderMap,
    pub query: Query,
    /// The parsed JSON body, for routes that take one.
    pub body: Value,
    pub param: Option<String>,
    /// The caller, for routes that need a JWT.
    pub principal: Option<Principal>,
}

impl Ctx<'_> {
    /// A request header's value, if it is present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Runs the handler of `route` for `method` (already checked against [`Route::methods`]).
pub fn handle(route: Route, method: &str, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    match (route, method) {
        (Route::Login, _) => auth::login(ctx),
        (Route::Refresh, _) => auth::refresh(ctx),
        (Route::Register, _) => registration::create(ctx),
        (Route::RegisterMany, _) => registration::create_many(ctx),
        (Route::Users, "GET") => management::own_profile(ctx),
        (Route::Users, _) => management::update(ctx),
        (Route::Find, _) => management::find(ctx),
        (Route::FilteredPage, _) => management::filtered_page(ctx),
        (Route::User, _) => management::delete(ctx),
        (Route::ChangeInstance, _) => management::change_instance(ctx),
        (Route::CompanyApplications, _) => accounts::company_applications(ctx),
        (Route::Application, _) => accounts::application(ctx),
        (Route::ApplicationInstances, _) => accounts::application_instances(ctx),
        (Route::Instance, _) => accounts::instance(ctx),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_service_paths_match_in_any_case_and_accounts_paths_exactly() {
        let r = |p: &str| Route::parse(p, false).map(|(r, _)| r);
        assert_eq!(r("/v1/Registration/create"), Some(Route::Register));
        assert_eq!(r("/v1/registration/Create"), Some(Route::Register));
        assert_eq!(r("/V1/MANAGEMENT/USERS/FIND"), Some(Route::Find));
        assert_eq!(r("/v1/Management/Users/"), Some(Route::Users));
        assert_eq!(r("/v1/Registration/CreateMany"), None);
        assert_eq!(
            Route::parse("/v1/Registration/CreateMany", true).map(|(r, _)| r),
            Some(Route::RegisterMany)
        );
        assert_eq!(
            Route::parse("/v1/Management/users/ABC", false),
            Some((Route::User, Some("ABC".into())))
        );
        assert_eq!(r("/v1/Instances/x"), Some(Route::Instance));
        assert_eq!(r("/v1/instances/x"), None);
        assert_eq!(
            r("/v1/applications/x/instances"),
            Some(Route::ApplicationInstances)
        );
        assert_eq!(r("/v1/Applications/x/instances"), None);
        assert_eq!(r("/api/users"), None);
    }
}
