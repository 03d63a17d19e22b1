//! The organisation: the agency, its units and officials, as events in the
//! stream `directory`, changed by administration over HTTP.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::model::OfficialRole;
use super::values::{AgencyCode, OrganName, PersonName, UnitId, UserId};

pub const STREAM: &str = "directory";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DirectoryEvent {
    AgencyDefined {
        at: Timestamp,
        code: AgencyCode,
        name: OrganName,
        /// Used in notations, e.g. "UBND" in "05/QĐ-UBND".
        abbreviation: String,
        clerk_unit: UnitId,
    },
    UnitCreated {
        at: Timestamp,
        id: UnitId,
        name: OrganName,
    },
    OfficialCreated {
        at: Timestamp,
        user: UserId,
        full_name: PersonName,
        /// Chức vụ, e.g. "Chủ tịch", "Chánh Văn phòng".
        position: PersonName,
        unit: UnitId,
        roles: Vec<OfficialRole>,
    },
    UnitRenamed {
        at: Timestamp,
        id: UnitId,
        name: OrganName,
    },
    /// An official's name, position, unit or roles changed (the whole record).
    OfficialChanged {
        at: Timestamp,
        user: UserId,
        full_name: PersonName,
        position: PersonName,
        unit: UnitId,
        roles: Vec<OfficialRole>,
    },
    /// The official may no longer sign in; their tokens stop working.
    OfficialDeactivated {
        at: Timestamp,
        user: UserId,
    },
    OfficialReactivated {
        at: Timestamp,
        user: UserId,
    },
    /// A password was set or reset: the argon2id hash in PHC form, never
    /// the password.
    PasswordSet {
        at: Timestamp,
        user: UserId,
        password_hash: String,
    },
    /// The signing titles (Decree 30 appendix I) the official may sign under.
    SigningTitlesSet {
        at: Timestamp,
        user: UserId,
        titles: Vec<SigningTitle>,
    },
}

/// How an official signs for someone else (Decree 30 appendix I):
/// KT. (ký thay: a deputy for the head), TL. (thừa lệnh: by order of the
/// head), TUQ. (thừa ủy quyền: by authorisation), Q. (quyền: acting head).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum SigningTitle {
    #[serde(rename = "KT.")]
    Kt,
    #[serde(rename = "TL.")]
    Tl,
    #[serde(rename = "TUQ.")]
    Tuq,
    #[serde(rename = "Q.")]
    Q,
}

impl DirectoryEvent {
    pub const SCHEMA_VERSION: u32 = 1;

    pub fn event_type(&self) -> &'static str {
        match self {
            DirectoryEvent::AgencyDefined { .. } => "agency_defined",
            DirectoryEvent::UnitCreated { .. } => "unit_created",
            DirectoryEvent::OfficialCreated { .. } => "official_created",
            DirectoryEvent::UnitRenamed { .. } => "unit_renamed",
            DirectoryEvent::OfficialChanged { .. } => "official_changed",
            DirectoryEvent::OfficialDeactivated { .. } => "official_deactivated",
            DirectoryEvent::OfficialReactivated { .. } => "official_reactivated",
            DirectoryEvent::PasswordSet { .. } => "password_set",
            DirectoryEvent::SigningTitlesSet { .. } => "signing_titles_set",
        }
    }

    pub fn to_payload(&self) -> String {
        untagged_payload(self)
    }

    pub fn decode(event_type: &str, payload: &str) -> Result<Self, serde_json::Error> {
        decode_untagged(event_type, payload)
    }
}

/// The stored payload of an internally tagged (`type`) event: its fields
/// without the tag, which is stored in the `event_type` column.
pub(crate) fn untagged_payload<T: Serialize>(event: &T) -> String {
    let mut v = serde_json::to_value(event).unwrap_or(serde_json::Value::Null);
    if let serde_json::Value::Object(m) = &mut v {
        m.remove("type");
    }
    v.to_string()
}

/// Reads a payload stored by [`untagged_payload`] back, with its event type.
pub(crate) fn decode_untagged<T: serde::de::DeserializeOwned>(
    event_type: &str,
    payload: &str,
) -> Result<T, serde_json::Error> {
    let mut v: serde_json::Value = serde_json::from_str(payload)?;
    if let serde_json::Value::Object(m) = &mut v {
        m.insert("type".into(), serde_json::Value::String(event_type.into()));
    }
    serde_json::from_value(v)
}
