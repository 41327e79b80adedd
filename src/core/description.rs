//! description: what a backend tells the engine about itself, so that the engine never names a
//! backend. A backend gives one static `Description`: how its users are keyed, which user
//! fields it has (name, type, what a change of each does to access), which link kinds and
//! capabilities it has, and its `Rules`: the pure checks only it knows (what the acting account
//! may not do, which account must own the fleet's users). Users the backend never lets
//! fleetform manage are marked when it reads them (`LiveUser::untouchable`).
//!
//! This module is pure and holds no backend's data: `backend/<name>/` declares its own
//! description, and `backend::describe(kind)` is the registry that finds it by `server.kind`.
//!
//! Design: why a static description and not trait methods. The config loader, the saved-plan
//! reader and the views need a backend's vocabulary without a connection (validate, show a saved
//! plan); a `&'static Description` travels with the desired state (`Desired::backend`) and the
//! plan, so every pure function reaches it without I/O and without a generic parameter.

use std::fmt;

use crate::core::model::{Action, Desired, Field, Live, UserKey, Value};
use crate::core::plan::Problem;

/// How users are identified in files and plans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    /// The name of the key in the fleet file and in messages, e.g. `email`.
    pub name: &'static str,
    /// Whether keys match case-insensitively (and are folded to lower case).
    pub fold_case: bool,
}

impl KeySpec {
    /// The key of a user as this backend compares them.
    pub fn key(&self, raw: &str) -> UserKey {
        if self.fold_case {
            UserKey::new(raw)
        } else {
            UserKey::exact(raw)
        }
    }
}

/// The type of a user field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Bool,
    /// An integer in `min..=max`.
    Int {
        min: i64,
        max: i64,
    },
    /// An instant, written as RFC 3339.
    Time,
}

/// What a change of a field does to the user's access (see `core::risk`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RiskClass {
    /// Profile data: no effect on access.
    Profile,
    /// A restriction: `true` allows less.
    Restriction,
    /// The account's disabled flag: `true` locks the user out. The field with this class is the
    /// one `prune: disable` sets.
    Disable,
    /// A limit: larger allows more, -1 is unlimited. `grants_role`: a non-zero value gives the
    /// user power over other users (creating a user with it is an escalation).
    Limit { grants_role: bool },
    /// An expiry: later (or none) allows more.
    Expiry,
}

/// One user field a fleet file may manage.
#[derive(Debug)]
pub struct FieldSpec {
    /// The name in the file, in plans and in the applied record, e.g. `deviceReadonly`.
    pub name: &'static str,
    pub ty: FieldType,
    pub risk: RiskClass,
    /// An empty text equals "no value" (the server returns null for "").
    pub empty_is_null: bool,
    /// `null` in the file has a meaning of its own ("no phone", "never expires").
    pub nullable: bool,
    /// Counts towards a permission set (`export --infer-roles` folds those into roles).
    pub permission: bool,
}

/// One kind of link a user can have, e.g. to a device.
#[derive(Debug)]
pub struct LinkSpec {
    /// The name in plans, e.g. `device`.
    pub kind: &'static str,
}

/// What a backend supports besides fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Users have a free-form attribute map, managed key by key (`attributes.<key>`); the
    /// ownership marker and fleetform's records live there.
    pub attributes: bool,
    /// A fleet may name a managing (billing) account (`manager:`) that owns every fleet user.
    pub managing_account: bool,
}

/// The pure rules only a backend knows. The engine asks; it never decides these itself.
pub trait Rules: Send + Sync {
    /// Problems with the inputs that the backend's rules find: what the acting account may not
    /// manage at all, a managing account that does not exist, link targets it may not use.
    fn check(&self, desired: &Desired, live: &Live) -> Vec<Problem>;

    /// The account new users must be created under and every fleet user linked to (kind
    /// `manager`), as the server spells it, when the backend's rules require one.
    fn owner(&self, desired: &Desired, live: &Live) -> Option<String>;

    /// Problems with the planned actions: changes the acting account may not make.
    fn check_actions(&self, desired: &Desired, live: &Live, actions: &[Action]) -> Vec<Problem>;

    /// Whether the acting account becomes a manager of the users it creates (simulation).
    fn creator_manages(&self, live: &Live) -> bool;
}

/// Everything a backend tells the engine about itself.
pub struct Description {
    /// The `server.kind` of fleet files and the `backend` of plans, e.g. `traccar`.
    pub kind: &'static str,
    pub key: KeySpec,
    /// The user fields, in display order (also the order of plans and applied records).
    pub fields: &'static [FieldSpec],
    pub links: &'static [LinkSpec],
    pub capabilities: Capabilities,
    pub rules: &'static dyn Rules,
}

impl fmt::Debug for Description {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Description({})", self.kind)
    }
}

impl PartialEq for Description {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

impl Description {
    /// The field named `name`: a declared field, or `attributes.<key>` where the backend has
    /// attributes.
    pub fn field(&'static self, name: &str) -> Option<Field> {
        if let Some(key) = name.strip_prefix("attributes.") {
            return self
                .capabilities
                .attributes
                .then(|| Field::Attribute(key.to_string()));
        }
        self.fields
            .iter()
            .position(|spec| spec.name == name)
            .map(|index| Field::scalar(self, index))
    }

    /// Every declared field, in order.
    pub fn scalars(&'static self) -> impl Iterator<Item = Field> {
        (0..self.fields.len()).map(move |index| Field::scalar(self, index))
    }

    /// The field `prune: disable` sets to `true` (`RiskClass::Disable`), if the backend has one.
    pub fn disable_field(&'static self) -> Option<Field> {
        self.fields
            .iter()
            .position(|spec| spec.risk == RiskClass::Disable)
            .map(|index| Field::scalar(self, index))
    }

    /// Whether `value` is the "disabled" value of `field`.
    pub fn is_disabled_value(&self, field: &Field, value: &Value) -> bool {
        field.spec().is_some_and(|s| s.risk == RiskClass::Disable) && *value == Value::Bool(true)
    }
}
