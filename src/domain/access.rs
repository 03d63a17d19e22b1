//! Who signed in, and who read what: security events kept beside the
//! documents' own streams.
//!
//! - stream `auth`: sign-ins, failed sign-ins and sign-outs (Decree 30 and
//!   the security rules ask for both to be traceable);
//! - streams `views-<document id>`: every read of a document by an official
//!   (Decree 30 requires the view history). A separate stream per document,
//!   so that reading never changes the document's version (its ETag) and
//!   never contends with commands on it.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::directory::{decode_untagged, untagged_payload};
use super::model::DocumentId;
use super::values::UserId;

pub const AUTH_STREAM: &str = "auth";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuthEvent {
    SignedIn {
        at: Timestamp,
        user: UserId,
        /// The token's id (`jti`), so that a sign-out can be traced to it.
        token_id: String,
        client_address: Option<String>,
    },
    /// A sign-in was refused. `username` is what was typed (it may name no
    /// official); the password is never recorded.
    SignInFailed {
        at: Timestamp,
        username: String,
        reason: SignInFailure,
        client_address: Option<String>,
    },
    /// A token was revoked (sign-out) before it expired.
    TokenRevoked {
        at: Timestamp,
        user: UserId,
        token_id: String,
        /// When the token would have expired (seconds since the Unix epoch):
        /// after that the revocation need not be remembered.
        expires: i64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignInFailure {
    /// Unknown username or wrong password (not told apart to the caller).
    BadCredentials,
    Deactivated,
    /// The failures before this one lock the user or the address out for a
    /// while (recorded once, when the lockout starts).
    Throttled,
}

impl AuthEvent {
    pub const SCHEMA_VERSION: u32 = 1;

    pub fn event_type(&self) -> &'static str {
        match self {
            AuthEvent::SignedIn { .. } => "signed_in",
            AuthEvent::SignInFailed { .. } => "sign_in_failed",
            AuthEvent::TokenRevoked { .. } => "token_revoked",
        }
    }

    pub fn to_payload(&self) -> String {
        untagged_payload(self)
    }

    pub fn decode(event_type: &str, payload: &str) -> Result<Self, serde_json::Error> {
        decode_untagged(event_type, payload)
    }
}

/// One read of a document, in the stream `views-<document id>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Viewed {
    pub at: Timestamp,
    pub user: UserId,
    /// What was read: `metadata`, `events` or `pdf`.
    pub what: ViewKind,
    /// The revision read, for `pdf`; the attachment's number, for `attachment`.
    pub revision: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ViewKind {
    Metadata,
    Events,
    Pdf,
    /// The signatures report.
    Signatures,
    /// An attachment's file (`revision` is its number).
    Attachment,
}

impl Viewed {
    pub const EVENT_TYPE: &'static str = "viewed";
    pub const SCHEMA_VERSION: u32 = 1;
    pub const STREAM_PREFIX: &'static str = "views-";

    pub fn stream(id: DocumentId) -> String {
        format!("{}{id}", Self::STREAM_PREFIX)
    }

    /// The document whose views a stream holds.
    pub fn document_of(stream: &str) -> Option<DocumentId> {
        stream
            .strip_prefix(Self::STREAM_PREFIX)
            .and_then(|s| uuid::Uuid::parse_str(s).ok())
            .map(DocumentId)
    }

    pub fn describe(&self) -> String {
        match (self.what, self.revision) {
            (ViewKind::Metadata, _) => "viewed the document".to_string(),
            (ViewKind::Events, _) => "viewed the event history".to_string(),
            (ViewKind::Pdf, Some(n)) => format!("viewed revision {n} of the PDF"),
            (ViewKind::Pdf, None) => "viewed the PDF".to_string(),
            (ViewKind::Signatures, _) => "viewed the signatures report".to_string(),
            (ViewKind::Attachment, Some(n)) => format!("viewed attachment {n}"),
            (ViewKind::Attachment, None) => "viewed an attachment".to_string(),
        }
    }
}
