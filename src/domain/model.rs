//! The document as the domain sees it: metadata, PDF revisions, numbers, and
//! the recipient rows that say where the document sits.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::values::{
    AgencyCode, DocumentType, NumberNotation, OrganName, PersonName, Secrecy, Subject, Text,
    UnitId, Urgency, UserId,
};
use crate::digest::Sha256Digest;

/// The identity of a document; its stream is `document-<uuid>`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct DocumentId(pub Uuid);

impl DocumentId {
    pub const STREAM_PREFIX: &'static str = "document-";

    pub fn stream(&self) -> String {
        format!("{}{}", Self::STREAM_PREFIX, self.0)
    }

    pub fn from_stream(stream: &str) -> Option<Self> {
        stream
            .strip_prefix(Self::STREAM_PREFIX)
            .and_then(|s| Uuid::parse_str(s).ok())
            .map(DocumentId)
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Incoming,
    Outgoing,
}

/// The roles officials hold in the agency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfficialRole {
    Clerk,
    Leader,
    UnitHead,
    Specialist,
    Auditor,
    Admin,
}

/// Who gives a command: facts the application looks up before `decide`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Actor {
    pub user: UserId,
    pub unit: UnitId,
    pub roles: Vec<OfficialRole>,
}

impl Actor {
    pub fn has(&self, role: OfficialRole) -> bool {
        self.roles.contains(&role)
    }
}

/// Who holds a recipient row: one official, or a unit (its head acts for it).
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Holder {
    User(UserId),
    Unit(UnitId),
}

impl Holder {
    pub fn kind(&self) -> &'static str {
        match self {
            Holder::User(_) => "user",
            Holder::Unit(_) => "unit",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Holder::User(u) => u.as_str(),
            Holder::Unit(u) => u.as_str(),
        }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.id())
    }
}

/// What the holder of a row is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// The clerical office registers a delivered document (vào sổ).
    Register,
    /// The clerical office submits a registered document to the leader (trình).
    Submit,
    /// The leader directs (bút phê).
    Direct,
    /// A recipient handles the document in a role (lead, coordinate, for information).
    Handle,
    /// The drafter prepares the draft.
    Draft,
    /// A reviewer reviews the draft.
    Review,
    /// The clerical office numbers the approved document.
    Number,
    /// The clerical office dispatches the numbered document.
    Dispatch,
}

/// The recipient's role in handling (chủ trì / phối hợp / nhận để biết).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Lead,
    Coordinate,
    ForInformation,
}

impl Role {
    /// Lead > coordinate > for information.
    fn rank(self) -> u8 {
        match self {
            Role::Lead => 2,
            Role::Coordinate => 1,
            Role::ForInformation => 0,
        }
    }

    pub fn at_most(self, other: Role) -> bool {
        self.rank() <= other.rank()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    /// Chờ xử lý / chờ tiếp nhận.
    Pending,
    /// Đang xử lý.
    InProgress,
    /// Đã chuyển: handed on to the rows below it.
    Forwarded,
    /// Hoàn thành (for information: acknowledged).
    Completed,
    /// Đã trả lại.
    Returned,
    /// Thu hồi.
    Recalled,
}

impl RowStatus {
    pub fn is_open(self) -> bool {
        matches!(self, RowStatus::Pending | RowStatus::InProgress)
    }
}

/// A row's number within its document: 1 for the first, in the order rows are
/// created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RowId(pub u32);

impl JsonSchema for RowId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RowId".into()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        concat!(module_path!(), "::RowId").into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A row's number within its document: 1 for the first, in the order \
                            rows are created.",
            "type": "integer",
            "minimum": 1,
            "maximum": u32::MAX,
        })
    }
}

impl fmt::Display for RowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One (document, recipient) row: status is kept per recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Row {
    pub id: RowId,
    pub parent: Option<RowId>,
    pub holder: Holder,
    pub task: Task,
    pub role: Option<Role>,
    pub status: RowStatus,
    pub since: Timestamp,
    pub deadline: Option<Date>,
    pub assigned_by: UserId,
    pub instruction: Option<Text>,
    pub progress: Option<u8>,
    pub completed_at: Option<Timestamp>,
}

/// Who signs (SignerInfo: Position, FullName).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Signer {
    pub position: PersonName,
    pub full_name: PersonName,
}

/// The issuing agency (OrganId + OrganName).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Issuer {
    pub code: AgencyCode,
    pub name: OrganName,
}

/// Decree 30 appendix VI metadata, parsed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub document_type: DocumentType,
    #[serde(default)]
    pub number_notation: Option<NumberNotation>,
    #[serde(default)]
    pub issuer: Option<Issuer>,
    #[serde(default)]
    pub issue_date: Option<Date>,
    pub subject: Subject,
    #[serde(default = "default_urgency")]
    pub urgency: Urgency,
    #[serde(default = "default_secrecy")]
    pub secrecy: Secrecy,
    #[serde(default)]
    pub pages: Option<u32>,
    #[serde(default)]
    pub signer: Option<Signer>,
    /// Nơi nhận as written on the document.
    #[serde(default)]
    pub recipients: Vec<Text>,
    #[serde(default)]
    pub due_date: Option<Date>,
}

fn default_urgency() -> Urgency {
    Urgency::Normal
}

fn default_secrecy() -> Secrecy {
    Secrecy::Normal
}

/// A stored PDF, by digest. Events carry these, never bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PdfRef {
    pub sha256: Sha256Digest,
    /// Number of pages.
    pub pages: u32,
    /// Size in bytes.
    pub bytes: u64,
}

/// One revision of the document's PDF.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Revision {
    pub pdf: PdfRef,
    pub by: UserId,
    pub at: Timestamp,
}

/// How an incoming document arrived.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// A paper document scanned by the clerk.
    Scan,
    /// Delivered electronically by another agency.
    Delivered { from: AgencyCode },
}

/// The numbering series of outgoing documents: secret documents have their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Series {
    Regular,
    Secret,
}

impl Series {
    pub fn for_secrecy(s: Secrecy) -> Series {
        if s.is_secret() {
            Series::Secret
        } else {
            Series::Regular
        }
    }
}

/// The register entry of an incoming document (số đến).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Arrival {
    pub number: u32,
    pub year: i16,
    pub date: Date,
    pub registered_at: Timestamp,
    pub on_time: bool,
}

/// The number an outgoing document was issued under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Issued {
    pub number_notation: NumberNotation,
    pub year: i16,
    pub series: Series,
    pub issue_date: Date,
}

/// Which signature a document carries (Decree 30/2020, art. 8 and
/// appendix I): the competent person's, then the agency's seal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignatureKind {
    /// The competent person signs the approved draft.
    Personal,
    /// The clerical office applies the agency's seal signature to the
    /// numbered document.
    AgencySeal,
}

impl SignatureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureKind::Personal => "personal",
            SignatureKind::AgencySeal => "agency_seal",
        }
    }
}

/// How the server judged one signature (ETSI EN 319 102-1 vocabulary).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SignatureVerdict {
    /// The signature field's name.
    pub field: String,
    /// TOTAL-PASSED, INDETERMINATE or TOTAL-FAILED.
    pub indication: String,
    pub sub_indication: Option<String>,
    /// none, form_filling, annotations or other.
    pub modifications: String,
    /// The signer certificate's subject, when it could be read.
    pub signer: Option<String>,
}

impl SignatureVerdict {
    pub fn passed(&self) -> bool {
        self.indication == "TOTAL-PASSED"
    }
}

/// A file the server signed: the new revision and what its signature is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SignedFile {
    /// The signed PDF (a new revision of the document, or of an attachment).
    pub pdf: PdfRef,
    /// The signing time the signature claims (/M).
    pub signed_at: Timestamp,
    /// SHA-256 of the signer certificate's DER.
    pub certificate_sha256: Sha256Digest,
    /// SHA-256 of the bytes the signature covers (its ByteRange).
    pub revision_sha256: Sha256Digest,
    #[schemars(length(equal = 4))]
    pub byte_range: [u64; 4],
    /// The verdict of the server's verification of the signed file.
    pub verdict: SignatureVerdict,
}

/// A signature the server made on an outgoing document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SignatureRecord {
    pub kind: SignatureKind,
    /// The official who signed (for the seal: the clerk who applied it).
    pub by: UserId,
    pub at: Timestamp,
    #[serde(flatten)]
    pub file: SignedFile,
}

/// An attachment (phụ lục) in a file of its own: sealed with the agency's
/// text-only signature together with the document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Attachment {
    pub name: Text,
    /// The current file: the sealed one once the document is sealed.
    pub pdf: PdfRef,
    pub by: UserId,
    pub at: Timestamp,
    /// The agency's signature on it, once sealed.
    pub seal: Option<SignatureRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CaseFile {
    pub code: Text,
    pub title: Option<Text>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    // incoming
    AwaitingRegistration,
    Registered,
    AwaitingDirection,
    InProgress,
    Completed,
    ReturnedToSender,
    // outgoing
    Draft,
    InReview,
    Approved,
    Numbered,
    Issued,
    // both
    Recalled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::AwaitingRegistration => "awaiting_registration",
            Status::Registered => "registered",
            Status::AwaitingDirection => "awaiting_direction",
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::ReturnedToSender => "returned_to_sender",
            Status::Draft => "draft",
            Status::InReview => "in_review",
            Status::Approved => "approved",
            Status::Numbered => "numbered",
            Status::Issued => "issued",
            Status::Recalled => "recalled",
        }
    }
}

/// The state of one document, folded from its stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Document {
    pub id: DocumentId,
    pub direction: Direction,
    pub status: Status,
    pub metadata: Metadata,
    pub source: Option<Source>,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub clerk_unit: UnitId,
    pub drafting_unit: Option<UnitId>,
    pub revisions: Vec<Revision>,
    pub arrival: Option<Arrival>,
    pub issued: Option<Issued>,
    pub case_file: Option<CaseFile>,
    pub recall_reason: Option<Text>,
    pub rows: Vec<Row>,
    /// Signatures the server made (outgoing documents), oldest first.
    #[serde(default)]
    pub signatures: Vec<SignatureRecord>,
    /// The signatures an incoming document carried when it was registered,
    /// as the server judged them; null when it was registered without its
    /// file.
    #[serde(default)]
    pub incoming_signatures: Option<Vec<SignatureVerdict>>,
    /// Attachments in files of their own (outgoing documents), numbered
    /// from 1 in this order.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

impl Document {
    pub fn row(&self, id: RowId) -> Option<&Row> {
        self.rows.iter().find(|r| r.id == id)
    }

    pub(crate) fn row_mut(&mut self, id: RowId) -> Option<&mut Row> {
        self.rows.iter_mut().find(|r| r.id == id)
    }

    pub fn next_row_id(&self) -> RowId {
        RowId(self.rows.len() as u32 + 1)
    }

    pub fn open_rows(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.status.is_open())
    }

    pub fn children(&self, id: RowId) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(move |r| r.parent == Some(id))
    }

    /// The open row of a task, when there is exactly one such row kind open.
    pub fn open_row_of(&self, task: Task) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.task == task && r.status.is_open())
    }

    /// The signature of `kind` the server made and found valid.
    pub fn signature(&self, kind: SignatureKind) -> Option<&SignatureRecord> {
        self.signatures
            .iter()
            .rev()
            .find(|s| s.kind == kind && s.file.verdict.passed())
    }

    pub fn current_pdf(&self) -> Option<&PdfRef> {
        self.revisions.last().map(|r| &r.pdf)
    }

    /// The document's number and notation: the issued one for outgoing
    /// documents, the issuer's for incoming ones.
    pub fn number_notation(&self) -> Option<&NumberNotation> {
        self.issued
            .as_ref()
            .map(|i| &i.number_notation)
            .or(self.metadata.number_notation.as_ref())
    }
}
