//! Document events, their stored form, upcasting of old shapes, and `evolve`.
//!
//! Stored form: `event_type` is the snake_case variant name; `payload` is the
//! variant's fields as a JSON object (keys sorted). Each type has a schema
//! version; older shapes are upcast on read, never rewritten.

use jiff::Timestamp;
use jiff::civil::Date;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::{
    Arrival, Attachment, CaseFile, Direction, Document, DocumentId, Holder, Issued, Metadata,
    PdfRef, Revision, Role, Row, RowId, RowStatus, Series, SignatureKind, SignatureRecord,
    SignatureVerdict, SignedFile, Source, Status, Task,
};
use super::values::{Notation, NumberNotation, Text, UnitId, UserId};

/// One recipient named in a direction, a forward or a dispatch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Assignment {
    pub holder: Holder,
    pub role: Role,
    #[serde(default)]
    pub deadline: Option<Date>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DocumentEvent {
    /// An incoming document arrived (scan or electronic delivery).
    Received {
        document_id: DocumentId,
        at: Timestamp,
        by: UserId,
        source: Source,
        metadata: Metadata,
        /// Null for a secret document, whose content is not kept.
        pdf: Option<PdfRef>,
        /// The clerical office that received it and registers it.
        clerk_unit: UnitId,
    },
    /// Entered in the incoming register (số đến).
    Registered {
        at: Timestamp,
        by: UserId,
        /// The arrival number (số đến) in this year's incoming register.
        #[schemars(range(min = 1))]
        arrival_number: u32,
        year: i16,
        arrival_date: Date,
        /// Registered the same or the next working day (urgent: the same day).
        on_time: bool,
        /// Documents already registered with the same issuer, number and notation.
        possible_duplicates: Vec<DocumentId>,
        /// The signatures the document's PDF carries, as the server judged
        /// them when it was registered (Decree 30: the clerk checks
        /// authenticity and integrity); null when registered without its
        /// file. Absent in events written before signatures were checked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signatures: Option<Vec<SignatureVerdict>>,
    },
    /// The clerical office submitted the registered document to a leader for
    /// direction (trình).
    SubmittedToLeader {
        at: Timestamp,
        by: UserId,
        row: RowId,
        leader: UserId,
    },
    /// Bút phê: instruction and recipients.
    Directed {
        at: Timestamp,
        by: UserId,
        row: RowId,
        instruction: Option<Text>,
        assignments: Vec<Assignment>,
    },
    /// A recipient handed the document on to others (chuyển), e.g. a unit
    /// head to specialists.
    Forwarded {
        at: Timestamp,
        by: UserId,
        row: RowId,
        instruction: Option<Text>,
        assignments: Vec<Assignment>,
    },
    /// A recipient took up its row (tiếp nhận); a row for information is
    /// completed by it.
    Accepted {
        at: Timestamp,
        by: UserId,
        row: RowId,
    },
    /// A recipient reported progress on its row.
    ProgressReported {
        at: Timestamp,
        by: UserId,
        row: RowId,
        /// From 0 to 100.
        #[schemars(range(max = 100))]
        percent: u8,
        note: Text,
    },
    /// A recipient completed its row, with its result and reply document.
    Completed {
        at: Timestamp,
        by: UserId,
        row: RowId,
        result: Option<Text>,
        /// The outgoing document that answers it, if any.
        reply_document: Option<DocumentId>,
    },
    /// A row was returned (trả lại) with a reason; returning the registration
    /// row returns the document to its sender.
    Returned {
        at: Timestamp,
        by: UserId,
        row: RowId,
        reason: Text,
    },
    /// The document was filed in a case file (hồ sơ).
    Filed {
        at: Timestamp,
        by: UserId,
        case_file: CaseFile,
    },
    /// The document was recalled (thu hồi): every open row is closed.
    Recalled {
        at: Timestamp,
        by: UserId,
        reason: Text,
    },
    /// An outgoing document was created as a draft.
    Drafted {
        document_id: DocumentId,
        at: Timestamp,
        by: UserId,
        metadata: Metadata,
        /// Null for a secret document, whose content is not kept.
        pdf: Option<PdfRef>,
        /// The drafter's unit.
        drafting_unit: UnitId,
        /// The clerical office that will number and dispatch it.
        clerk_unit: UnitId,
    },
    /// A new revision of the draft's PDF.
    RevisionAdded {
        at: Timestamp,
        by: UserId,
        pdf: PdfRef,
        note: Option<Text>,
    },
    /// The draft was submitted to a reviewer.
    SubmittedForReview {
        at: Timestamp,
        by: UserId,
        row: RowId,
        reviewer: UserId,
    },
    /// A reviewer approved the draft and passed it to the next reviewer or,
    /// when none is named, to the clerical office for numbering.
    ReviewApproved {
        at: Timestamp,
        by: UserId,
        row: RowId,
        comment: Option<Text>,
        /// The next reviewer; null when the draft is approved for numbering.
        next_reviewer: Option<UserId>,
    },
    /// A reviewer returned the draft to the drafter for changes.
    ReturnedForChanges {
        at: Timestamp,
        by: UserId,
        row: RowId,
        comment: Text,
    },
    /// The clerical office numbered the approved document in the outgoing
    /// register of its series (cấp số) and dated it.
    Numbered {
        at: Timestamp,
        by: UserId,
        row: RowId,
        number_notation: NumberNotation,
        /// The year of the register the number was taken from.
        year: i16,
        series: Series,
        issue_date: Date,
    },
    /// The server signed the document's PDF (PAdES) for `by`: a new revision,
    /// verified before this event was appended.
    Signed {
        at: Timestamp,
        by: UserId,
        kind: SignatureKind,
        #[serde(flatten)]
        file: SignedFile,
    },
    /// An attachment (phụ lục) in a file of its own was added to the draft.
    AttachmentAdded {
        at: Timestamp,
        by: UserId,
        name: Text,
        pdf: PdfRef,
    },
    /// The agency's (text-only) signature was applied to an attachment,
    /// with the seal on the document.
    AttachmentSealed {
        at: Timestamp,
        by: UserId,
        /// The attachment's number, from 1.
        #[schemars(range(min = 1))]
        attachment: u32,
        #[serde(flatten)]
        file: SignedFile,
    },
    /// The numbered document was sent to its recipients (phát hành).
    Dispatched {
        at: Timestamp,
        by: UserId,
        row: RowId,
        assignments: Vec<Assignment>,
    },
}

/// The current schema version of every event type.
pub const SCHEMA_VERSION: u32 = 1;

/// `received` is at schema version 2: version 1 had no `source` (every incoming
/// document was a scan) and stored the clerk's unit as `registry_unit`.
pub const RECEIVED_SCHEMA_VERSION: u32 = 2;

/// The current schema version of an event type (what the writer stores now).
pub fn current_schema_version(event_type: &str) -> u32 {
    if event_type == "received" {
        RECEIVED_SCHEMA_VERSION
    } else {
        SCHEMA_VERSION
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("event type {event_type} at schema version {version} is unknown")]
    UnknownVersion { event_type: String, version: u32 },
    #[error("event payload is not valid: {0}")]
    Payload(#[from] serde_json::Error),
}

impl DocumentEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            DocumentEvent::Received { .. } => "received",
            DocumentEvent::Registered { .. } => "registered",
            DocumentEvent::SubmittedToLeader { .. } => "submitted_to_leader",
            DocumentEvent::Directed { .. } => "directed",
            DocumentEvent::Forwarded { .. } => "forwarded",
            DocumentEvent::Accepted { .. } => "accepted",
            DocumentEvent::ProgressReported { .. } => "progress_reported",
            DocumentEvent::Completed { .. } => "completed",
            DocumentEvent::Returned { .. } => "returned",
            DocumentEvent::Filed { .. } => "filed",
            DocumentEvent::Recalled { .. } => "recalled",
            DocumentEvent::Drafted { .. } => "drafted",
            DocumentEvent::RevisionAdded { .. } => "revision_added",
            DocumentEvent::SubmittedForReview { .. } => "submitted_for_review",
            DocumentEvent::ReviewApproved { .. } => "review_approved",
            DocumentEvent::ReturnedForChanges { .. } => "returned_for_changes",
            DocumentEvent::Numbered { .. } => "numbered",
            DocumentEvent::Signed { .. } => "signed",
            DocumentEvent::AttachmentAdded { .. } => "attachment_added",
            DocumentEvent::AttachmentSealed { .. } => "attachment_sealed",
            DocumentEvent::Dispatched { .. } => "dispatched",
        }
    }

    pub fn schema_version(&self) -> u32 {
        current_schema_version(self.event_type())
    }

    pub fn at(&self) -> Timestamp {
        match self {
            DocumentEvent::Received { at, .. }
            | DocumentEvent::Registered { at, .. }
            | DocumentEvent::SubmittedToLeader { at, .. }
            | DocumentEvent::Directed { at, .. }
            | DocumentEvent::Forwarded { at, .. }
            | DocumentEvent::Accepted { at, .. }
            | DocumentEvent::ProgressReported { at, .. }
            | DocumentEvent::Completed { at, .. }
            | DocumentEvent::Returned { at, .. }
            | DocumentEvent::Filed { at, .. }
            | DocumentEvent::Recalled { at, .. }
            | DocumentEvent::Drafted { at, .. }
            | DocumentEvent::RevisionAdded { at, .. }
            | DocumentEvent::SubmittedForReview { at, .. }
            | DocumentEvent::ReviewApproved { at, .. }
            | DocumentEvent::ReturnedForChanges { at, .. }
            | DocumentEvent::Numbered { at, .. }
            | DocumentEvent::Signed { at, .. }
            | DocumentEvent::AttachmentAdded { at, .. }
            | DocumentEvent::AttachmentSealed { at, .. }
            | DocumentEvent::Dispatched { at, .. } => *at,
        }
    }

    pub fn by(&self) -> &UserId {
        match self {
            DocumentEvent::Received { by, .. }
            | DocumentEvent::Registered { by, .. }
            | DocumentEvent::SubmittedToLeader { by, .. }
            | DocumentEvent::Directed { by, .. }
            | DocumentEvent::Forwarded { by, .. }
            | DocumentEvent::Accepted { by, .. }
            | DocumentEvent::ProgressReported { by, .. }
            | DocumentEvent::Completed { by, .. }
            | DocumentEvent::Returned { by, .. }
            | DocumentEvent::Filed { by, .. }
            | DocumentEvent::Recalled { by, .. }
            | DocumentEvent::Drafted { by, .. }
            | DocumentEvent::RevisionAdded { by, .. }
            | DocumentEvent::SubmittedForReview { by, .. }
            | DocumentEvent::ReviewApproved { by, .. }
            | DocumentEvent::ReturnedForChanges { by, .. }
            | DocumentEvent::Numbered { by, .. }
            | DocumentEvent::Signed { by, .. }
            | DocumentEvent::AttachmentAdded { by, .. }
            | DocumentEvent::AttachmentSealed { by, .. }
            | DocumentEvent::Dispatched { by, .. } => by,
        }
    }

    /// The PDFs this event references (for `log verify`).
    pub fn pdfs(&self) -> Vec<&PdfRef> {
        match self {
            DocumentEvent::Received { pdf, .. } | DocumentEvent::Drafted { pdf, .. } => {
                pdf.iter().collect()
            }
            DocumentEvent::RevisionAdded { pdf, .. }
            | DocumentEvent::AttachmentAdded { pdf, .. } => {
                vec![pdf]
            }
            DocumentEvent::Signed { file, .. } | DocumentEvent::AttachmentSealed { file, .. } => {
                vec![&file.pdf]
            }
            _ => Vec::new(),
        }
    }

    /// The stored payload: the fields as a JSON object with sorted keys.
    pub fn to_payload(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.remove("type");
        }
        v.to_string()
    }

    /// Decodes a stored event, upcasting older schema versions.
    pub fn decode(
        event_type: &str,
        schema_version: u32,
        payload: &str,
    ) -> Result<Self, DecodeError> {
        let mut v: Value = serde_json::from_str(payload)?;
        upcast(event_type, schema_version, &mut v)?;
        if let Value::Object(m) = &mut v {
            m.insert("type".into(), Value::String(event_type.to_string()));
        }
        Ok(serde_json::from_value(v)?)
    }
}

/// Brings an old payload shape to the current one.
fn upcast(event_type: &str, version: u32, v: &mut Value) -> Result<(), DecodeError> {
    let unknown = || DecodeError::UnknownVersion {
        event_type: event_type.to_string(),
        version,
    };
    if version == current_schema_version(event_type) {
        return Ok(());
    }
    match (event_type, version) {
        ("received", 1) => {
            let m = v.as_object_mut().ok_or_else(unknown)?;
            m.insert("source".into(), serde_json::json!({"kind": "scan"}));
            if let Some(u) = m.remove("registry_unit") {
                m.insert("clerk_unit".into(), u);
            }
            Ok(())
        }
        _ => Err(unknown()),
    }
}

fn new_row(
    id: RowId,
    parent: Option<RowId>,
    holder: Holder,
    task: Task,
    role: Option<Role>,
    at: Timestamp,
    by: &UserId,
) -> Row {
    Row {
        id,
        parent,
        holder,
        task,
        role,
        status: RowStatus::Pending,
        since: at,
        deadline: None,
        assigned_by: by.clone(),
        instruction: None,
        progress: None,
        completed_at: None,
    }
}

/// Completes row `from` and opens the next task for `holder` below it.
fn hand_on(
    doc: &mut Document,
    from: RowId,
    holder: Holder,
    task: Task,
    at: Timestamp,
    by: &UserId,
) {
    set_status(doc, from, RowStatus::Completed, at);
    let r = new_row(doc.next_row_id(), Some(from), holder, task, None, at, by);
    doc.rows.push(r);
}

fn set_status(doc: &mut Document, id: RowId, status: RowStatus, at: Timestamp) {
    if let Some(r) = doc.row_mut(id) {
        r.status = status;
        r.since = at;
        if status == RowStatus::Completed {
            r.completed_at = Some(at);
        }
    }
}

fn add_assignments(
    doc: &mut Document,
    parent: RowId,
    instruction: &Option<Text>,
    assignments: &[Assignment],
    at: Timestamp,
    by: &UserId,
) {
    for a in assignments {
        let mut r = new_row(
            doc.next_row_id(),
            Some(parent),
            a.holder.clone(),
            Task::Handle,
            Some(a.role),
            at,
            by,
        );
        r.deadline = a.deadline;
        r.instruction = instruction.clone();
        doc.rows.push(r);
    }
}

/// The role of the children that carry a row's responsibility: a direction
/// is carried by its leads; a handling row by children of its own role.
fn responsible_role(row: &Row) -> Option<Role> {
    match row.task {
        Task::Direct => Some(Role::Lead),
        Task::Handle => row.role,
        _ => None,
    }
}

/// Whether every child carrying the row's responsibility (returned ones
/// aside) has completed, and there is at least one.
fn responsibility_done(doc: &Document, row: &Row) -> bool {
    let Some(role) = responsible_role(row) else {
        return false;
    };
    let carriers: Vec<&Row> = doc
        .children(row.id)
        .filter(|c| c.role == Some(role) && c.status != RowStatus::Returned)
        .collect();
    !carriers.is_empty() && carriers.iter().all(|c| c.status == RowStatus::Completed)
}

/// Completion propagates up: a row completes when every child carrying its
/// responsibility has completed (only leads carry a direction); the document
/// completes when its direction does. A parent reopened by a return still
/// completes this way once the remaining carriers are done.
fn propagate(doc: &mut Document, from: RowId, at: Timestamp) {
    let mut current = doc.row(from).and_then(|r| r.parent);
    while let Some(pid) = current {
        let Some(parent) = doc.row(pid) else { break };
        let live = matches!(
            parent.status,
            RowStatus::Forwarded | RowStatus::Pending | RowStatus::InProgress
        );
        if !live || !responsibility_done(doc, parent) {
            break;
        }
        let task = parent.task;
        let next = parent.parent;
        set_status(doc, pid, RowStatus::Completed, at);
        if task == Task::Direct {
            doc.status = Status::Completed;
            break;
        }
        current = next;
    }
}

/// A new document with its first row; incoming documents await
/// registration, outgoing ones start as drafts.
#[expect(clippy::too_many_arguments, reason = "the fields of a creation event")]
fn new_document(
    id: DocumentId,
    direction: Direction,
    metadata: &Metadata,
    pdf: &Option<PdfRef>,
    at: Timestamp,
    by: &UserId,
    clerk_unit: &UnitId,
    first_row: Row,
) -> Document {
    Document {
        id,
        direction,
        status: match direction {
            Direction::Incoming => Status::AwaitingRegistration,
            Direction::Outgoing => Status::Draft,
        },
        metadata: metadata.clone(),
        source: None,
        created_by: by.clone(),
        created_at: at,
        clerk_unit: clerk_unit.clone(),
        drafting_unit: None,
        revisions: pdf
            .iter()
            .map(|p| Revision {
                pdf: p.clone(),
                by: by.clone(),
                at,
            })
            .collect(),
        arrival: None,
        issued: None,
        case_file: None,
        recall_reason: None,
        rows: vec![first_row],
        signatures: Vec::new(),
        incoming_signatures: None,
        attachments: Vec::new(),
    }
}

/// Applies one event to the state. Total: an event that does not fit the state
/// (which `decide` never produces) leaves the state unchanged.
pub fn evolve(state: Option<Document>, event: &DocumentEvent) -> Option<Document> {
    use DocumentEvent as E;
    match event {
        E::Received {
            document_id,
            at,
            by,
            source,
            metadata,
            pdf,
            clerk_unit,
        } => {
            let register = new_row(
                RowId(1),
                None,
                Holder::Unit(clerk_unit.clone()),
                Task::Register,
                None,
                *at,
                by,
            );
            let mut doc = new_document(
                *document_id,
                Direction::Incoming,
                metadata,
                pdf,
                *at,
                by,
                clerk_unit,
                register,
            );
            doc.source = Some(source.clone());
            return Some(doc);
        }
        E::Drafted {
            document_id,
            at,
            by,
            metadata,
            pdf,
            drafting_unit,
            clerk_unit,
        } => {
            let mut draft = new_row(
                RowId(1),
                None,
                Holder::User(by.clone()),
                Task::Draft,
                None,
                *at,
                by,
            );
            draft.status = RowStatus::InProgress;
            let mut doc = new_document(
                *document_id,
                Direction::Outgoing,
                metadata,
                pdf,
                *at,
                by,
                clerk_unit,
                draft,
            );
            doc.drafting_unit = Some(drafting_unit.clone());
            return Some(doc);
        }
        _ => {}
    }
    let mut doc = state?;
    match event {
        E::Received { .. } | E::Drafted { .. } => {}
        E::Registered {
            at,
            by,
            arrival_number,
            year,
            arrival_date,
            on_time,
            signatures,
            ..
        } => {
            doc.incoming_signatures = signatures.clone();
            if let Some(id) = doc.open_row_of(Task::Register).map(|r| r.id) {
                let clerks = Holder::Unit(doc.clerk_unit.clone());
                hand_on(&mut doc, id, clerks, Task::Submit, *at, by);
            }
            doc.arrival = Some(Arrival {
                number: *arrival_number,
                year: *year,
                date: *arrival_date,
                registered_at: *at,
                on_time: *on_time,
            });
            doc.status = Status::Registered;
        }
        E::SubmittedToLeader {
            at,
            by,
            row,
            leader,
        } => {
            set_status(&mut doc, *row, RowStatus::Forwarded, *at);
            let mut r = new_row(
                doc.next_row_id(),
                Some(*row),
                Holder::User(leader.clone()),
                Task::Direct,
                None,
                *at,
                by,
            );
            r.deadline = doc.metadata.due_date;
            doc.rows.push(r);
            doc.status = Status::AwaitingDirection;
        }
        E::Directed {
            at,
            by,
            row,
            instruction,
            assignments,
        } => {
            set_status(&mut doc, *row, RowStatus::Forwarded, *at);
            if let Some(r) = doc.row_mut(*row) {
                r.instruction = instruction.clone();
            }
            add_assignments(&mut doc, *row, instruction, assignments, *at, by);
            doc.status = Status::InProgress;
            if !assignments.iter().any(|a| a.role == Role::Lead) {
                // For information only: nothing to handle.
                set_status(&mut doc, *row, RowStatus::Completed, *at);
                doc.status = Status::Completed;
            }
        }
        E::Forwarded {
            at,
            by,
            row,
            instruction,
            assignments,
        } => {
            add_assignments(&mut doc, *row, instruction, assignments, *at, by);
            // Handed on only when someone below carries the row's own role;
            // otherwise the forwarder keeps handling it (and completes it).
            let role = doc.row(*row).and_then(|r| r.role);
            if assignments.iter().any(|a| Some(a.role) == role) {
                set_status(&mut doc, *row, RowStatus::Forwarded, *at);
            }
        }
        E::Accepted { at, row, .. } => {
            let info = doc.row(*row).and_then(|r| r.role) == Some(Role::ForInformation);
            let s = if info {
                RowStatus::Completed
            } else {
                RowStatus::InProgress
            };
            set_status(&mut doc, *row, s, *at);
        }
        E::ProgressReported {
            at, row, percent, ..
        } => {
            if let Some(r) = doc.row_mut(*row) {
                r.progress = Some(*percent);
                if r.status == RowStatus::Pending {
                    r.status = RowStatus::InProgress;
                    r.since = *at;
                }
            }
        }
        E::Completed { at, row, .. } => {
            set_status(&mut doc, *row, RowStatus::Completed, *at);
            if let Some(r) = doc.row_mut(*row) {
                r.progress = Some(100);
            }
            propagate(&mut doc, *row, *at);
        }
        E::Returned { at, row, .. } => {
            let (task, parent) = match doc.row(*row) {
                Some(r) => (r.task, r.parent),
                None => return Some(doc),
            };
            set_status(&mut doc, *row, RowStatus::Returned, *at);
            if task == Task::Register {
                doc.status = Status::ReturnedToSender;
            } else if let Some(p) = parent {
                let ptask = doc.row(p).map(|r| r.task);
                set_status(&mut doc, p, RowStatus::Pending, *at);
                if let Some(r) = doc.row_mut(p) {
                    r.completed_at = None;
                }
                match ptask {
                    Some(Task::Submit) => doc.status = Status::Registered,
                    Some(Task::Direct)
                        if !doc
                            .open_rows()
                            .any(|r| r.task == Task::Handle && r.role == Some(Role::Lead)) =>
                    {
                        doc.status = Status::AwaitingDirection
                    }
                    _ => {}
                }
            }
        }
        E::Filed { case_file, .. } => doc.case_file = Some(case_file.clone()),
        E::Recalled { at, reason, .. } => {
            let open: Vec<RowId> = doc.open_rows().map(|r| r.id).collect();
            for id in open {
                set_status(&mut doc, id, RowStatus::Recalled, *at);
            }
            doc.recall_reason = Some(reason.clone());
            doc.status = Status::Recalled;
        }
        E::RevisionAdded { at, by, pdf, .. } => doc.revisions.push(Revision {
            pdf: pdf.clone(),
            by: by.clone(),
            at: *at,
        }),
        E::AttachmentAdded { at, by, name, pdf } => doc.attachments.push(Attachment {
            name: name.clone(),
            pdf: pdf.clone(),
            by: by.clone(),
            at: *at,
            seal: None,
        }),
        E::AttachmentSealed {
            at,
            by,
            attachment,
            file,
        } => {
            if let Some(a) = (*attachment as usize)
                .checked_sub(1)
                .and_then(|i| doc.attachments.get_mut(i))
            {
                a.pdf = file.pdf.clone();
                a.seal = Some(SignatureRecord {
                    kind: SignatureKind::AgencySeal,
                    by: by.clone(),
                    at: *at,
                    file: file.clone(),
                });
            }
        }
        E::Signed { at, by, kind, file } => {
            doc.revisions.push(Revision {
                pdf: file.pdf.clone(),
                by: by.clone(),
                at: *at,
            });
            doc.signatures.push(SignatureRecord {
                kind: *kind,
                by: by.clone(),
                at: *at,
                file: file.clone(),
            });
        }
        E::SubmittedForReview {
            at,
            by,
            row,
            reviewer,
        } => {
            set_status(&mut doc, *row, RowStatus::Forwarded, *at);
            let r = new_row(
                doc.next_row_id(),
                Some(*row),
                Holder::User(reviewer.clone()),
                Task::Review,
                None,
                *at,
                by,
            );
            doc.rows.push(r);
            doc.status = Status::InReview;
        }
        E::ReviewApproved {
            at,
            by,
            row,
            next_reviewer,
            ..
        } => {
            let (holder, task) = match next_reviewer {
                Some(u) => (Holder::User(u.clone()), Task::Review),
                None => (Holder::Unit(doc.clerk_unit.clone()), Task::Number),
            };
            hand_on(&mut doc, *row, holder, task, *at, by);
            if next_reviewer.is_none() {
                doc.status = Status::Approved;
            }
        }
        E::ReturnedForChanges { at, row, .. } => {
            set_status(&mut doc, *row, RowStatus::Returned, *at);
            if let Some(draft) = doc
                .rows
                .iter()
                .find(|r| r.task == Task::Draft)
                .map(|r| r.id)
            {
                set_status(&mut doc, draft, RowStatus::InProgress, *at);
            }
            doc.status = Status::Draft;
        }
        E::Numbered {
            at,
            by,
            row,
            number_notation,
            year,
            series,
            issue_date,
        } => {
            let clerks = Holder::Unit(doc.clerk_unit.clone());
            hand_on(&mut doc, *row, clerks, Task::Dispatch, *at, by);
            doc.issued = Some(Issued {
                number_notation: number_notation.clone(),
                year: *year,
                series: *series,
                issue_date: *issue_date,
            });
            doc.metadata.issue_date = Some(*issue_date);
            doc.status = Status::Numbered;
        }
        E::Dispatched {
            at,
            by,
            row,
            assignments,
        } => {
            set_status(&mut doc, *row, RowStatus::Completed, *at);
            add_assignments(&mut doc, *row, &None, assignments, *at, by);
            doc.status = Status::Issued;
        }
    }
    Some(doc)
}

/// Folds a sequence of events from nothing.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a DocumentEvent>) -> Option<Document> {
    events.into_iter().fold(None, evolve)
}

/// The notation a number is issued under, from the draft's type and the agency's
/// abbreviation (e.g. "QĐ-UBND"); công văn use the agency and the drafting unit.
pub fn default_notation(
    metadata: &Metadata,
    agency_abbreviation: &str,
    drafting_unit: &str,
) -> Result<Notation, super::values::ValueError> {
    let text = match metadata.document_type.abbreviation() {
        Some(a) => format!("{a}-{agency_abbreviation}"),
        None => format!("{agency_abbreviation}-{drafting_unit}"),
    };
    Notation::parse(&text)
}

fn assignments_text(assignments: &[Assignment]) -> String {
    assignments
        .iter()
        .map(|a| {
            let role = match a.role {
                Role::Lead => "lead",
                Role::Coordinate => "coordinate",
                Role::ForInformation => "for information",
            };
            match a.deadline {
                Some(d) => format!("{} ({role}, due {d})", a.holder),
                None => format!("{} ({role})", a.holder),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line for the audit trail, in plain words.
pub fn describe(event: &DocumentEvent) -> String {
    use DocumentEvent as E;
    match event {
        E::Received {
            source, metadata, ..
        } => {
            let how = match source {
                Source::Scan => "received on paper and scanned".to_string(),
                Source::Delivered { from } => {
                    format!("delivered electronically by {}", from.as_str())
                }
            };
            format!(
                "{how}: {} {}",
                metadata.document_type.name_vi(),
                metadata
                    .number_notation
                    .as_ref()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            )
        }
        E::Registered {
            arrival_number,
            year,
            on_time,
            possible_duplicates,
            signatures,
            ..
        } => {
            let mut s = format!("registered as arrival number {arrival_number}/{year}");
            match signatures.as_deref() {
                Some([]) => s.push_str("; its PDF carries no signature"),
                Some(list) => {
                    let passed = list.iter().filter(|v| v.passed()).count();
                    s.push_str(&format!(
                        "; {passed} of {} signature(s) verified",
                        list.len()
                    ));
                }
                None => {}
            }
            if !on_time {
                s.push_str(" (later than the next working day)");
            }
            if !possible_duplicates.is_empty() {
                s.push_str(&format!(
                    "; warning: {} document(s) with the same issuer, number and notation are registered already",
                    possible_duplicates.len()
                ));
            }
            s
        }
        E::SubmittedToLeader { leader, .. } => format!("submitted to {leader} for direction"),
        E::Directed {
            instruction,
            assignments,
            ..
        } => format!(
            "directed{}: {}",
            instruction
                .as_ref()
                .map(|i| format!(" \"{}\"", i.as_str()))
                .unwrap_or_default(),
            assignments_text(assignments)
        ),
        E::Forwarded {
            row, assignments, ..
        } => format!("row {row} forwarded to {}", assignments_text(assignments)),
        E::Accepted { row, .. } => format!("row {row} accepted"),
        E::ProgressReported {
            row, percent, note, ..
        } => format!("row {row}: {percent}% — {}", note.as_str()),
        E::Completed { row, result, .. } => format!(
            "row {row} completed{}",
            result
                .as_ref()
                .map(|r| format!(": {}", r.as_str()))
                .unwrap_or_default()
        ),
        E::Returned { row, reason, .. } => format!("row {row} returned: {}", reason.as_str()),
        E::Filed { case_file, .. } => format!("filed in case file {}", case_file.code.as_str()),
        E::Recalled { reason, .. } => format!("recalled: {}", reason.as_str()),
        E::Drafted { metadata, .. } => format!(
            "drafted: {} — {}",
            metadata.document_type.name_vi(),
            metadata.subject.as_str()
        ),
        E::RevisionAdded { pdf, .. } => format!("new revision {}", pdf.sha256),
        E::SubmittedForReview { reviewer, .. } => format!("submitted to {reviewer} for review"),
        E::ReviewApproved { next_reviewer, .. } => match next_reviewer {
            Some(u) => format!("approved and passed to {u} for review"),
            None => "approved".to_string(),
        },
        E::ReturnedForChanges { comment, .. } => {
            format!("returned for changes: {}", comment.as_str())
        }
        E::Numbered {
            number_notation,
            issue_date,
            ..
        } => format!("numbered {number_notation}, issued {issue_date}"),
        E::AttachmentAdded { name, .. } => format!("attachment added: {}", name.as_str()),
        E::AttachmentSealed {
            attachment, file, ..
        } => format!(
            "attachment {attachment} sealed with the agency's signature ({})",
            file.verdict.indication
        ),
        E::Signed { kind, file, .. } => {
            let what = match kind {
                SignatureKind::Personal => "signed by the competent person",
                SignatureKind::AgencySeal => "sealed with the agency's signature",
            };
            format!("{what} ({})", file.verdict.indication)
        }
        E::Dispatched { assignments, .. } => {
            format!("dispatched to {}", assignments_text(assignments))
        }
    }
}
