//! Test harness: starts a sandbox per test on 127.0.0.1 and offers small HTTP helpers that
//! return status, headers and raw body, so error answers are checked as sent.

use std::net::SocketAddr;

use reqwest::Method;
use serde_json::{Value, json};
use telematics_sandbox::{Sandbox, SandboxConfig};

/// A response, body kept as text.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {:?}", self.status, self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    #[track_caller]
    pub fn expect(&self, status: u16) -> &Resp {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts a success envelope (HTTP 200, `Status` 200, empty `Title` and `Errors`) and
    /// returns its `Result` (`Value::Null` when the key is absent).
    #[track_caller]
    pub fn result(&self) -> Value {
        self.expect(200);
        let body = self.json();
        assert_eq!(body["Status"], 200, "{body}");
        assert_eq!(body["Title"], "", "{body}");
        assert_eq!(body["Errors"], json!([]), "{body}");
        body.get("Result").cloned().unwrap_or(Value::Null)
    }

    /// Asserts a 422 validation answer and returns its `Errors[].Key`s.
    #[track_caller]
    pub fn validation_keys(&self) -> Vec<String> {
        self.expect(422);
        let body = self.json();
        assert_eq!(body["Status"], 422, "{body}");
        assert_eq!(
            body["Title"], "One or more validation errors occurred.",
            "{body}"
        );
        let errors = body["Errors"].as_array().expect("Errors is an array");
        assert!(!errors.is_empty(), "{body}");
        errors
            .iter()
            .map(|e| {
                assert!(e["Message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
                e["Key"].as_str().expect("Key is a string").to_string()
            })
            .collect()
    }
}

/// A sandbox under test and a client for it.
pub struct Target {
    pub sandbox: Sandbox,
    pub base: String,
    pub client: reqwest::Client,
}

pub async fn start() -> Target {
    start_with(SandboxConfig::default()).await
}

pub async fn start_with(config: SandboxConfig) -> Target {
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let sandbox = Sandbox::start(config, listen)
        .await
        .expect("sandbox starts");
    let base = sandbox.url();
    Target {
        sandbox,
        base,
        client: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client"),
    }
}

/// Request options: bearer token, extra headers, JSON body, raw body with content type.
#[derive(Default, Clone)]
pub struct Req {
    pub bearer: Option<String>,
    pub headers: Vec<(String, String)>,
    pub json: Option<Value>,
    pub raw: Option<(String, String)>,
}

impl Req {
    pub fn new() -> Req {
        Req::default()
    }
    pub fn bearer(mut self, token: &str) -> Req {
        self.bearer = Some(token.to_string());
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn json(mut self, body: Value) -> Req {
        self.json = Some(body);
        self
    }
    pub fn raw(mut self, content_type: &str, body: &str) -> Req {
        self.raw = Some((content_type.into(), body.into()));
        self
    }
}

impl Target {
    pub fn config(&self) -> &SandboxConfig {
        self.sandbox.config()
    }

    pub async fn send(&self, method: &str, path: &str, req: Req) -> Resp {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut builder = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = &req.bearer {
            builder = builder.bearer_auth(token);
        }
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(body) = &req.json {
            builder = builder.json(body);
        }
        if let Some((content_type, body)) = req.raw {
            builder = builder.header("Content-Type", content_type).body(body);
        }
        let response = builder.send().await.expect("request is answered");
        Resp {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text().await.expect("body"),
        }
    }

    /// The documented admin login body: `LoginFields` a JSON-encoded string.
    pub fn admin_login_body(&self) -> Value {
        json!({
            "LoginFields": json!({"email": self.config().admin.email}).to_string(),
            "Password": self.config().admin.password,
        })
    }

    pub async fn login(&self) -> Resp {
        self.send(
            "POST",
            "/v1/Auth/Login",
            Req::new().json(self.admin_login_body()),
        )
        .await
    }

    /// Logs in as the admin; the access token.
    pub async fn admin_token(&self) -> String {
        let result = self.login().await.result();
        result["AccessToken"]["Token"]
            .as_str()
            .expect("a token")
            .to_string()
    }

    /// The instance headers of the sandbox's instance.
    pub fn instance_headers(&self, req: Req) -> Req {
        req.header("InstanceId", &self.config().instance.id)
            .header("InstanceKey", &self.config().instance.key)
    }

    /// `POST /v1/Registration/create` into the sandbox's instance.
    pub async fn register(&self, body: Value) -> Resp {
        self.send(
            "POST",
            "/v1/Registration/create",
            self.instance_headers(Req::new()).json(body),
        )
        .await
    }

    /// Registers a user with this ClientId and `CreateAccessToken: false`; its DeviceToken.
    pub async fn register_client(&self, client_id: &str) -> String {
        let result = self
            .register(json!({"CreateAccessToken": false, "UserFields": {"ClientId": client_id}}))
            .await
            .result();
        result["DeviceToken"]
            .as_str()
            .expect("a DeviceToken")
            .to_string()
    }

    /// `POST /v1/Management/users/GetFilteredPage`.
    pub async fn list(&self, token: &str, body: Value) -> Resp {
        self.send(
            "POST",
            "/v1/Management/users/GetFilteredPage",
            Req::new().bearer(token).json(body),
        )
        .await
    }

    /// The reconciler's listing body (notes §8.2) for the sandbox's instance.
    pub fn list_body(&self, page: i64, size: i64) -> Value {
        json!({
            "InstanceIds": [self.config().instance.id],
            "PageNumber": page,
            "PageSize": size,
            "IncludeAccountInfo": true,
            "ShowInactiveUsers": true,
            "Sort": "DateCreated",
            "ActivityStatuses": [],
        })
    }

    /// `GET /v1/Management/users/find?<query>`.
    pub async fn find(&self, token: &str, query: &str) -> Resp {
        self.send(
            "GET",
            &format!("/v1/Management/users/find?{query}"),
            Req::new().bearer(token),
        )
        .await
    }

    /// The one user `find` returns for this DeviceToken, inactive included.
    pub async fn find_one(&self, token: &str, device_token: &str) -> Value {
        let result = self
            .find(
                token,
                &format!(
                    "DeviceToken={device_token}&ShowInactiveUsers=true&IncludeAccountInfo=true"
                ),
            )
            .await
            .result();
        let users = result.as_array().expect("an array");
        assert_eq!(users.len(), 1, "{result}");
        users[0].clone()
    }

    /// `PUT /v1/Management/users` with `UserDeviceToken`.
    pub async fn update(&self, token: &str, device_token: &str, body: Value) -> Resp {
        self.send(
            "PUT",
            "/v1/Management/users",
            Req::new()
                .bearer(token)
                .header("UserDeviceToken", device_token)
                .json(body),
        )
        .await
    }
}
