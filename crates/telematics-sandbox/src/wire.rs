//! The service's wire formats: the response envelope and error answers (notes §3), .NET-style
//! dates, case-insensitive reading of request bodies and query strings (notes §4: model binding
//! ignores key case), and the user read model (notes §5.5) in its `find` and `GetFilteredPage`
//! variants.
//!
//! Nothing here touches the store's invariants or decides who may do what; handlers in
//! `routes/` call these helpers and return [`ApiError`] or an envelope.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike};
use serde_json::{Map, Value, json};

use crate::store::{AccountStatus, Gender, Profile, Store, User, parse_uuid};

/// The `Title` of every validation answer.
pub const VALIDATION_TITLE: &str = "One or more validation errors occurred.";

/// One entry of the envelope's `Errors`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub key: String,
    pub message: String,
}

impl FieldError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// An error answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// No such route: 404 with an empty body, as ASP.NET answers an unmatched path.
    NoRoute,
    /// 405 with an empty body and `Allow`.
    MethodNotAllowed(&'static [&'static str]),
    /// 415 with an empty body: a JSON body sent with another Content-Type.
    UnsupportedMediaType,
    /// 401 from the bearer-token check: empty body, `WWW-Authenticate` says why.
    Unauthenticated(crate::auth::TokenError),
    /// 401 with an empty body: login or refresh refused (notes §2.1: "a bare 401").
    LoginRefused,
    /// 403 with an empty body: a user JWT on an admin endpoint (notes §3).
    Forbidden,
    /// An envelope answer with this HTTP status, `Title` and no `Errors`.
    Status(u16, String),
    /// 422 with `Title` "One or more validation errors occurred." (notes §3).
    Validation(Vec<FieldError>),
    /// 429: the login rate limit (notes §2.4).
    TooManyLogins,
}

impl ApiError {
    pub fn not_found(title: &str) -> ApiError {
        ApiError::Status(404, title.to_string())
    }

    pub fn invalid(key: &str, message: &str) -> ApiError {
        ApiError::Validation(vec![FieldError::new(key, message)])
    }

    pub fn into_response(self) -> Response<Body> {
        match self {
            ApiError::NoRoute => empty(StatusCode::NOT_FOUND),
            ApiError::MethodNotAllowed(methods) => {
                let mut response = empty(StatusCode::METHOD_NOT_ALLOWED);
                if let Ok(allow) = HeaderValue::from_str(&methods.join(", ")) {
                    response.headers_mut().insert(header::ALLOW, allow);
                }
                response
            }
            ApiError::UnsupportedMediaType => empty(StatusCode::UNSUPPORTED_MEDIA_TYPE),
            ApiError::Unauthenticated(reason) => {
                let mut response = empty(StatusCode::UNAUTHORIZED);
                let challenge = match reason {
                    crate::auth::TokenError::Missing => "Bearer".to_string(),
                    crate::auth::TokenError::Invalid => {
                        r#"Bearer error="invalid_token""#.to_string()
                    }
                    crate::auth::TokenError::Expired(exp) => {
                        let at = DateTime::from_timestamp(i64::try_from(exp).unwrap_or(0), 0)
                            .map(|t| t.format("%m/%d/%Y %H:%M:%S").to_string())
                            .unwrap_or_default();
                        format!(
                            r#"Bearer error="invalid_token", error_description="The token expired at '{at}'""#
                        )
                    }
                };
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, value);
                }
                response
            }
            ApiError::LoginRefused => empty(StatusCode::UNAUTHORIZED),
            ApiError::Forbidden => empty(StatusCode::FORBIDDEN),
            ApiError::Status(status, title) => envelope_response(
                status,
                json!({"Status": status, "Title": title, "Errors": []}),
            ),
            ApiError::Validation(errors) => envelope_response(
                422,
                json!({
                    "Status": 422,
                    "Title": VALIDATION_TITLE,
                    "Errors": errors
                        .iter()
                        .map(|e| json!({"Key": e.key, "Message": e.message}))
                        .collect::<Vec<_>>(),
                }),
            ),
            ApiError::TooManyLogins => envelope_response(
                429,
                json!({
                    "Status": 429,
                    "Title": "Too many login attempts from this address; it is blocked for a while.",
                    "Errors": [],
                }),
            ),
        }
    }
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

pub fn envelope_response(status: u16, body: Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// A success envelope: `Result` first when there is one; mutations answer without it (the
/// live samples of PUT, DELETE and change-instance have no `Result` key, notes §3).
pub fn ok(result: Option<Value>) -> Value {
    let mut map = Map::new();
    if let Some(result) = result {
        map.insert("Result".into(), result);
    }
    map.insert("Status".into(), json!(200));
    map.insert("Title".into(), json!(""));
    map.insert("Errors".into(), json!([]));
    Value::Object(map)
}

/// A .NET `DateTime` as System.Text.Json writes one without a zone: seconds, then up to seven
/// fractional digits with trailing zeros dropped (`2024-10-29T11:53:57.108485`).
pub fn format_datetime(t: &NaiveDateTime) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let ticks = t.nanosecond() % 1_000_000_000 / 100;
    if ticks == 0 {
        return base;
    }
    let fraction = format!("{ticks:07}");
    format!("{base}.{}", fraction.trim_end_matches('0'))
}

/// A datetime as the service binds one: `yyyy-MM-dd`, or ISO 8601 with optional fraction and
/// optional zone (a zoned time is converted to UTC and kept without zone, as a database does).
pub fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_utc());
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok()
}

/// A JSON field as a request sets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Patch<T> {
    /// Not in the body: left alone.
    Absent,
    /// `null`: cleared.
    Null,
    Set(T),
}

impl<T> Patch<T> {
    pub fn apply(self, target: &mut Option<T>) {
        match self {
            Patch::Absent => {}
            Patch::Null => *target = None,
            Patch::Set(v) => *target = Some(v),
        }
    }
}

/// A JSON object read with case-insensitive keys, collecting errors with `$.path` keys.
pub struct Obj<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
}

impl<'a> Obj<'a> {
    /// The request body as an object; anything else is a 422.
    pub fn body(value: &'a Value, errors: &mut Vec<FieldError>) -> Option<Obj<'a>> {
        match value {
            Value::Object(map) => Some(Obj {
                map,
                prefix: "$".into(),
            }),
            _ => {
                errors.push(conversion("$", "an object"));
                None
            }
        }
    }

    pub fn at(value: &'a Value, prefix: String) -> Option<Obj<'a>> {
        value.as_object().map(|map| Obj { map, prefix })
    }

    fn path(&self, key: &str) -> String {
        format!("{}.{key}", self.prefix)
    }

    /// The value of `key`, any case; the last such key wins, as in System.Text.Json.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
            .next_back()
    }

    pub fn string(&self, key: &str, errors: &mut Vec<FieldError>) -> Patch<String> {
        match self.get(key) {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Null,
            Some(Value::String(s)) => Patch::Set(s.clone()),
            Some(_) => {
                errors.push(conversion(&self.path(key), "System.String"));
                Patch::Absent
            }
        }
    }

    pub fn bool(&self, key: &str, errors: &mut Vec<FieldError>) -> Patch<bool> {
        match self.get(key) {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Null,
            Some(Value::Bool(b)) => Patch::Set(*b),
            Some(_) => {
                errors.push(conversion(&self.path(key), "System.Boolean"));
                Patch::Absent
            }
        }
    }

    pub fn int(&self, key: &str, errors: &mut Vec<FieldError>) -> Patch<i32> {
        match self.get(key) {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Null,
            Some(Value::Number(n)) => match n.as_i64().and_then(|n| i32::try_from(n).ok()) {
                Some(n) => Patch::Set(n),
                None => {
                    errors.push(conversion(&self.path(key), "System.Int32"));
                    Patch::Absent
                }
            },
            Some(_) => {
                errors.push(conversion(&self.path(key), "System.Int32"));
                Patch::Absent
            }
        }
    }

    pub fn datetime(&self, key: &str, errors: &mut Vec<FieldError>) -> Patch<NaiveDateTime> {
        match self.string(key, errors) {
            Patch::Set(s) => match parse_datetime(&s) {
                Some(t) => Patch::Set(t),
                None => {
                    errors.push(conversion(&self.path(key), "System.DateTime"));
                    Patch::Absent
                }
            },
            Patch::Null => Patch::Null,
            Patch::Absent => Patch::Absent,
        }
    }

    pub fn uuid(&self, key: &str, errors: &mut Vec<FieldError>) -> Patch<String> {
        match self.string(key, errors) {
            Patch::Set(s) => match parse_uuid(&s) {
                Some(u) => Patch::Set(u),
                None => {
                    errors.push(conversion(&self.path(key), "System.Guid"));
                    Patch::Absent
                }
            },
            other => other,
        }
    }

    pub fn uuid_list(&self, key: &str, errors: &mut Vec<FieldError>) -> Option<Vec<String>> {
        match self.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item.as_str().and_then(parse_uuid) {
                        Some(u) => out.push(u),
                        None => errors.push(conversion(
                            &format!("{}[{i}]", self.path(key)),
                            "System.Guid",
                        )),
                    }
                }
                Some(out)
            }
            Some(_) => {
                errors.push(conversion(
                    &self.path(key),
                    "System.Collections.Generic.List`1[System.Guid]",
                ));
                None
            }
        }
    }

    /// A nested object (`UserFields` on write). An array there is refused: on write
    /// `UserFields` is a plain object, only reads wrap it in an array (notes §5.5).
    pub fn object(&self, key: &str, errors: &mut Vec<FieldError>) -> Patch<Obj<'a>> {
        match self.get(key) {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Null,
            Some(v @ Value::Object(_)) => match Obj::at(v, self.path(key)) {
                Some(o) => Patch::Set(o),
                None => Patch::Absent,
            },
            Some(_) => {
                errors.push(conversion(&self.path(key), "an object"));
                Patch::Absent
            }
        }
    }

    /// An enum bound by name, case-insensitively (System.Text.Json's string enum converter).
    pub fn name_of<T: Copy>(
        &self,
        key: &str,
        names: &[(&str, T)],
        errors: &mut Vec<FieldError>,
    ) -> Patch<T> {
        match self.get(key) {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Null,
            Some(Value::String(s)) => match names.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
                Some((_, v)) => Patch::Set(*v),
                None => {
                    let allowed: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
                    errors.push(FieldError::new(
                        self.path(key),
                        format!(
                            "'{s}' is not a valid value for {key}; use one of: {}.",
                            allowed.join(", ")
                        ),
                    ));
                    Patch::Absent
                }
            },
            Some(_) => {
                errors.push(conversion(&self.path(key), "a string enum value"));
                Patch::Absent
            }
        }
    }
}

pub fn conversion(path: &str, type_name: &str) -> FieldError {
    FieldError::new(
        path,
        format!("The JSON value could not be converted to {type_name}. Path: {path}."),
    )
}

/// Gender names as bound and written.
pub fn gender_names() -> Vec<(&'static str, Gender)> {
    Gender::ALL.iter().map(|g| (g.as_str(), *g)).collect()
}

/// The `Status` values a PUT may write (notes §5.6). `Inactive`, the read value, is not one.
pub const STATUS_WRITE_NAMES: [(&str, AccountStatus); 3] = [
    ("Active", AccountStatus::Active),
    ("Deactivated", AccountStatus::Deactivated),
    ("Deleted", AccountStatus::Deleted),
];

/// The profile fields of a registration or update body.
#[derive(Debug)]
pub struct ProfilePatch {
    pub first_name: Patch<String>,
    pub last_name: Patch<String>,
    pub nickname: Patch<String>,
    pub email: Patch<String>,
    pub phone: Patch<String>,
    pub gender: Patch<Gender>,
    pub birthday: Patch<NaiveDateTime>,
    pub marital_status: Patch<String>,
    pub children_count: Patch<i32>,
    pub address: Patch<String>,
    pub country: Patch<String>,
    pub district: Patch<String>,
    pub city: Patch<String>,
}

impl ProfilePatch {
    pub fn read(body: &Obj<'_>, errors: &mut Vec<FieldError>) -> ProfilePatch {
        let gender = body.name_of("Gender", &gender_names(), errors);
        if gender == Patch::Null {
            errors.push(conversion(&body.path("Gender"), "Gender"));
        }
        ProfilePatch {
            first_name: body.string("FirstName", errors),
            last_name: body.string("LastName", errors),
            nickname: body.string("Nickname", errors),
            email: body.string("Email", errors),
            phone: body.string("Phone", errors),
            gender,
            birthday: body.datetime("Birthday", errors),
            marital_status: body.string("MaritalStatus", errors),
            children_count: body.int("ChildrenCount", errors),
            address: body.string("Address", errors),
            country: body.string("Country", errors),
            district: body.string("District", errors),
            city: body.string("City", errors),
        }
    }

    pub fn apply(self, p: &mut Profile) {
        self.first_name.apply(&mut p.first_name);
        self.last_name.apply(&mut p.last_name);
        self.nickname.apply(&mut p.nickname);
        self.email.apply(&mut p.email);
        self.phone.apply(&mut p.phone);
        if let Patch::Set(g) = self.gender {
            p.gender = g;
        }
        self.birthday.apply(&mut p.birthday);
        self.marital_status.apply(&mut p.marital_status);
        self.children_count.apply(&mut p.children_count);
        self.address.apply(&mut p.address);
        self.country.apply(&mut p.country);
        self.district.apply(&mut p.district);
        self.city.apply(&mut p.city);
    }
}

/// `UserFields` of a registration or update body: each flag optional.
#[derive(Debug)]
pub struct FieldsPatch {
    pub client_id: Patch<String>,
    pub enabled: Patch<bool>,
    pub enable_tracking: Patch<bool>,
    pub enable_logging: Patch<bool>,
    pub enable_real_time_location: Patch<bool>,
}

impl FieldsPatch {
    pub fn read(body: &Obj<'_>, errors: &mut Vec<FieldError>) -> FieldsPatch {
        match body.object("UserFields", errors) {
            Patch::Set(fields) => FieldsPatch {
                client_id: fields.string("ClientId", errors),
                enabled: fields.bool("Enabled", errors),
                enable_tracking: fields.bool("EnableTracking", errors),
                enable_logging: fields.bool("EnableLogging", errors),
                enable_real_time_location: fields.bool("EnableRealTimeLocation", errors),
            },
            Patch::Absent | Patch::Null => FieldsPatch {
                client_id: Patch::Absent,
                enabled: Patch::Absent,
                enable_tracking: Patch::Absent,
                enable_logging: Patch::Absent,
                enable_real_time_location: Patch::Absent,
            },
        }
    }

    /// A `null` flag is left alone: a flag cannot be cleared.
    pub fn apply(self, f: &mut crate::store::UserFields) {
        self.client_id.apply(&mut f.client_id);
        for (patch, flag) in [
            (self.enabled, &mut f.enabled),
            (self.enable_tracking, &mut f.enable_tracking),
            (self.enable_logging, &mut f.enable_logging),
            (
                self.enable_real_time_location,
                &mut f.enable_real_time_location,
            ),
        ] {
            if let Patch::Set(v) = patch {
                *flag = v;
            }
        }
    }
}

/// Which answer a user object is part of: the live samples differ in small ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// `find` and the own-profile GET: `UserWallets: []`, `OsType: null`, IdentityProvider as stored.
    Find,
    /// `GetFilteredPage`: `UserWallets: null`, `OsType: ""`, IdentityProvider lower-case.
    Page,
}

/// The user read model (notes §5.5). `AccountInfo` names are null unless `include_account_info`.
pub fn user_json(user: &User, store: &Store, include_account_info: bool, view: View) -> Value {
    let p = &user.profile;
    let instance = store.instance(&user.instance_id);
    let application = instance.and_then(|i| store.application(&i.application_id));
    let company = store.company();
    let name = |n: Option<&str>| -> Value {
        match (include_account_info, n) {
            (true, Some(n)) => json!(n),
            _ => Value::Null,
        }
    };
    let identity_provider = match (view, &user.identity_provider) {
        (View::Page, Some(p)) => json!(p.to_ascii_lowercase()),
        (_, p) => json!(p),
    };
    json!({
        "DeviceToken": user.device_token,
        "DateCreated": format_datetime(&user.date_created),
        "Status": user.status.read_value(),
        "ActivityStatus": user.activity_status.read_value(),
        "UserProfile": {
            "FirstName": p.first_name,
            "LastName": p.last_name,
            "Gender": p.gender.as_str(),
            "Birthday": p.birthday.as_ref().map(format_datetime),
            "MaritalStatus": p.marital_status,
            "ChildrenCount": p.children_count,
            "Address": p.address,
            "Country": p.country,
            "District": p.district,
            "City": p.city,
            "Nickname": p.nickname,
            "Email": p.email,
            "Phone": p.phone,
            "ImageUrl": p.image_url,
            "ExternalImageUrl": p.external_image_url,
        },
        "MobileDevice": {
            "MobileUid": null,
            "DeviceModel": null,
            "OsType": if view == View::Page { json!("") } else { Value::Null },
            "OsVersion": null,
            "SdkVersion": null,
            "AppVersion": null,
            "VirtualImei": "000000000000000",
        },
        "AccountInfo": {
            "CompanyId": company.id,
            "CompanyName": name(Some(&company.name)),
            "ApplicationId": application.map(|a| a.id.clone()),
            "ApplicationName": name(application.map(|a| a.name.as_str())),
            "InstanceId": user.instance_id,
            "InstanceName": name(instance.map(|i| i.name.as_str())),
        },
        "UserWallets": if view == View::Page { Value::Null } else { json!([]) },
        "IdentityId": user.identity_id,
        "IdentityProvider": identity_provider,
        "UserFields": [{
            "ClientId": user.fields.client_id,
            "EnableLogging": user.fields.enable_logging,
            "EnableRealTimeLocation": user.fields.enable_real_time_location,
            "EnableTracking": user.fields.enable_tracking,
            "Enabled": user.fields.enabled,
        }],
    })
}

/// A query string as ASP.NET binds it: keys case-insensitive, `+` and `%XX` decoded.
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: &str) -> Query {
        Query(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }

    /// The first value of `key`, any case.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// A boolean parameter (`true` / `false`, any case); absent is `false`.
    pub fn bool(&self, key: &str, errors: &mut Vec<FieldError>) -> bool {
        match self.get(key) {
            None | Some("") => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                errors.push(FieldError::new(
                    key,
                    format!("The value '{v}' is not valid for {key}."),
                ));
                false
            }
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_are_written_as_dotnet_writes_them() {
        let t = parse_datetime("2024-10-29T11:53:57.108485").unwrap();
        assert_eq!(format_datetime(&t), "2024-10-29T11:53:57.108485");
        let t = parse_datetime("2026-06-12T04:51:03.3227368").unwrap();
        assert_eq!(format_datetime(&t), "2026-06-12T04:51:03.3227368");
        let t = parse_datetime("1989-02-17").unwrap();
        assert_eq!(format_datetime(&t), "1989-02-17T00:00:00");
        let t = parse_datetime("1990-01-01T00:00:00Z").unwrap();
        assert_eq!(format_datetime(&t), "1990-01-01T00:00:00");
        let t = parse_datetime("1990-01-01T02:00:00+02:00").unwrap();
        assert_eq!(format_datetime(&t), "1990-01-01T00:00:00");
        assert_eq!(parse_datetime("01/02/1990"), None);
    }

    #[test]
    fn bodies_are_read_case_insensitively_with_typed_errors() {
        let v = json!({"firstname": "a", "EMAIL": null, "Gender": "female", "ChildrenCount": "2",
                       "userFields": {"enabled": false}});
        let mut errors = Vec::new();
        let obj = Obj::body(&v, &mut errors).unwrap();
        let p = ProfilePatch::read(&obj, &mut errors);
        assert_eq!(p.first_name, Patch::Set("a".into()));
        assert_eq!(p.email, Patch::Null);
        assert_eq!(p.gender, Patch::Set(Gender::Female));
        assert_eq!(p.nickname, Patch::Absent);
        assert_eq!(errors, vec![conversion("$.ChildrenCount", "System.Int32")]);
        let f = FieldsPatch::read(&obj, &mut errors);
        assert_eq!(f.enabled, Patch::Set(false));
        let arr = json!({"UserFields": [{"Enabled": false}]});
        let mut errors = Vec::new();
        FieldsPatch::read(&Obj::body(&arr, &mut errors).unwrap(), &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key, "$.UserFields");
    }

    #[test]
    fn queries_decode_and_match_keys_in_any_case() {
        let q = Query::parse("clientid=drv%2D1&Email=a%40b.c&FullName=Max+M&x=%zz");
        assert_eq!(q.get("ClientId"), Some("drv-1"));
        assert_eq!(q.get("email"), Some("a@b.c"));
        assert_eq!(q.get("FULLNAME"), Some("Max M"));
        assert_eq!(q.get("x"), Some("%zz"));
        let mut errors = Vec::new();
        assert!(!Query::parse("ShowInactiveUsers=yes").bool("ShowInactiveUsers", &mut errors));
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn mutations_answer_without_result_and_reads_with_it_first() {
        assert_eq!(
            ok(None).to_string(),
            r#"{"Status":200,"Title":"","Errors":[]}"#
        );
        assert_eq!(
            ok(Some(json!([]))).to_string(),
            r#"{"Result":[],"Status":200,"Title":"","Errors":[]}"#
        );
    }
}
