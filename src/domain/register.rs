//! Registers (sổ văn bản): one stream per register and year, one event per
//! number handed out, so the stream's version is the last number. A number is
//! taken in the same atomic append as the document event that uses it, with
//! the register's expected version: numbers never have gaps or duplicates.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::model::{DocumentId, Series};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegisterKind {
    /// Sổ văn bản đến (số đến).
    Incoming,
    /// Sổ văn bản đi, regular series.
    Outgoing,
    /// Sổ văn bản đi, the series of secret documents.
    OutgoingSecret,
}

impl RegisterKind {
    pub fn outgoing(series: Series) -> Self {
        match series {
            Series::Regular => RegisterKind::Outgoing,
            Series::Secret => RegisterKind::OutgoingSecret,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RegisterKind::Incoming => "incoming",
            RegisterKind::Outgoing => "outgoing",
            RegisterKind::OutgoingSecret => "outgoing-secret",
        }
    }

    /// `register-<kind>-<year>`.
    pub fn stream(self, year: i16) -> String {
        format!("register-{}-{year}", self.as_str())
    }
}

/// The one event of a register stream: number `number` went to `document_id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NumberTaken {
    /// The number handed out, from 1: the register stream's version.
    #[schemars(range(min = 1))]
    pub number: u32,
    pub document_id: DocumentId,
    pub at: Timestamp,
}

impl NumberTaken {
    pub const EVENT_TYPE: &'static str = "number_taken";
    pub const SCHEMA_VERSION: u32 = 1;

    /// The number after a register stream's current version.
    pub fn next_number(stream_version: Option<u64>) -> u32 {
        u32::try_from(stream_version.unwrap_or(0) + 1).unwrap_or(u32::MAX)
    }
}
