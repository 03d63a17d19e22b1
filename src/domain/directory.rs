//! The organisation: the agency, its units and officials, as events in the
//! stream `directory`. (Administration over HTTP extends this stream.)

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
}

impl DirectoryEvent {
    pub const SCHEMA_VERSION: u32 = 1;

    pub fn event_type(&self) -> &'static str {
        match self {
            DirectoryEvent::AgencyDefined { .. } => "agency_defined",
            DirectoryEvent::UnitCreated { .. } => "unit_created",
            DirectoryEvent::OfficialCreated { .. } => "official_created",
        }
    }

    pub fn to_payload(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Object(m) = &mut v {
            m.remove("type");
        }
        v.to_string()
    }

    pub fn decode(event_type: &str, payload: &str) -> Result<Self, serde_json::Error> {
        let mut v: serde_json::Value = serde_json::from_str(payload)?;
        if let serde_json::Value::Object(m) = &mut v {
            m.insert("type".into(), serde_json::Value::String(event_type.into()));
        }
        serde_json::from_value(v)
    }
}
