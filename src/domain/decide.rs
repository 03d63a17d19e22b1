//! Commands and `decide`: whether a command may happen, and which events it makes.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::calendar::WorkingCalendar;
use super::events::{Assignment, DocumentEvent};
use super::model::{
    Actor, CaseFile, Direction, Document, DocumentId, Holder, Metadata, OfficialRole, PdfRef, Role,
    Row, RowId, RowStatus, Series, SignatureKind, SignatureVerdict, SignedFile, Source, Status,
    Task,
};
use super::values::{DocumentNumber, Notation, NumberNotation, Text, UnitId, UserId};

/// Rules that are settings of a deployment, not facts of one command.
#[derive(Clone, Debug)]
pub struct Policy {
    pub calendar: WorkingCalendar,
    /// Content (PDFs) of secret documents may be stored only on an isolated
    /// deployment (the law on state secrets). Off by default.
    pub allow_secret_content: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            calendar: WorkingCalendar::vietnam(),
            allow_secret_content: false,
        }
    }
}

/// A deadline as a date, or as a number of working days from today.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DeadlineSpec {
    Date(Date),
    WorkingDays { working_days: u32 },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentSpec {
    pub holder: Holder,
    pub role: Role,
    #[serde(default)]
    pub deadline: Option<DeadlineSpec>,
}

/// The register entry a registration takes (the number comes from the
/// register stream, appended in the same transaction).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationFacts {
    pub arrival_number: u32,
    pub year: i16,
    pub arrival_date: Date,
    pub possible_duplicates: Vec<DocumentId>,
    /// The signatures of the document's PDF as the server judged them (null
    /// when it has no PDF).
    pub signatures: Option<Vec<SignatureVerdict>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReviewDecision {
    Approve {
        comment: Option<Text>,
        next_reviewer: Option<UserId>,
    },
    Return {
        comment: Text,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// The clerk receives an incoming document; with `register`, it is also
    /// registered in the same step (a scanned paper document).
    Receive {
        document_id: DocumentId,
        source: Source,
        metadata: Metadata,
        pdf: Option<PdfRef>,
        register: Option<RegistrationFacts>,
    },
    Register(RegistrationFacts),
    SubmitToLeader {
        leader: UserId,
    },
    Direct {
        instruction: Option<Text>,
        assignments: Vec<AssignmentSpec>,
    },
    /// Forward inside the forwarder's unit.
    Forward {
        row: RowId,
        instruction: Option<Text>,
        assignments: Vec<AssignmentSpec>,
        /// The officials of the forwarder's unit (a fact from the directory):
        /// the only people the document can be forwarded to.
        unit_members: Vec<UserId>,
    },
    Accept {
        row: RowId,
    },
    ReportProgress {
        row: RowId,
        percent: u8,
        note: Text,
    },
    Complete {
        row: RowId,
        result: Option<Text>,
        reply_document: Option<DocumentId>,
    },
    Return {
        row: RowId,
        reason: Text,
    },
    File {
        case_file: CaseFile,
    },
    Recall {
        reason: Text,
    },
    Draft {
        document_id: DocumentId,
        metadata: Metadata,
        pdf: Option<PdfRef>,
        /// The agency's clerical office, which will number and dispatch it.
        clerk_unit: UnitId,
    },
    AddRevision {
        pdf: PdfRef,
        note: Option<Text>,
    },
    SubmitForReview {
        reviewer: UserId,
    },
    Review(ReviewDecision),
    Number {
        number: u32,
        year: i16,
        series: Series,
        notation: Notation,
        issue_date: Date,
    },
    Dispatch {
        assignments: Vec<AssignmentSpec>,
    },
    /// Record a signature the server made (its checks are [`may_sign`]'s,
    /// and the signed file must have verified).
    Sign {
        kind: SignatureKind,
        facts: Box<SignedFile>,
        /// With the seal: each attachment's signed file, in order (empty
        /// for a personal signature).
        attachments: Vec<SignedFile>,
    },
    /// Add an attachment (phụ lục) in a file of its own to the draft.
    AddAttachment {
        name: Text,
        pdf: PdfRef,
    },
}

/// The most attachments a document takes.
pub const MAX_ATTACHMENTS: usize = 50;

fn verdict_refusal(what: &str, v: &SignatureVerdict) -> DomainError {
    refuse(format!(
        "{what} does not verify ({}{}); nothing was recorded",
        v.indication,
        v.sub_indication
            .as_deref()
            .map(|s| format!(" / {s}"))
            .unwrap_or_default()
    ))
}

/// A command: who, when, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub actor: Actor,
    pub at: Timestamp,
    /// Today in the agency's time zone (Asia/Ho_Chi_Minh).
    pub today: Date,
    pub action: Action,
}

/// Why a command was refused, in words a clerk understands.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The document's state does not allow the command now.
    #[error("{0}")]
    State(String),
    /// The caller may not give this command on this document.
    #[error("{0}")]
    Forbidden(String),
    /// A field of the command breaks a rule.
    #[error("{field}: {rule}")]
    Invalid { field: &'static str, rule: String },
    /// The document does not exist.
    #[error("the document does not exist")]
    NotFound,
    /// The content of a secret document may not be stored here.
    #[error(
        "this document is marked {secrecy}: the law on state secrets forbids keeping the content of secret documents on an Internet-connected system, so it is registered and routed by its metadata only; do not attach the file"
    )]
    SecretContent { secrecy: &'static str },
}

fn refuse(msg: impl Into<String>) -> DomainError {
    DomainError::State(msg.into())
}

fn forbidden(msg: impl Into<String>) -> DomainError {
    DomainError::Forbidden(msg.into())
}

fn invalid(field: &'static str, rule: impl Into<String>) -> DomainError {
    DomainError::Invalid {
        field,
        rule: rule.into(),
    }
}

/// Whether the actor acts for the holder of a row: the official themself, or
/// for a unit its head (or, for clerical tasks, a clerk of that unit).
pub fn acts_for(actor: &Actor, row: &Row) -> bool {
    match &row.holder {
        Holder::User(u) => *u == actor.user,
        Holder::Unit(u) => {
            *u == actor.unit
                && (actor.has(OfficialRole::UnitHead)
                    || (actor.has(OfficialRole::Clerk)
                        && matches!(
                            row.task,
                            Task::Register | Task::Submit | Task::Number | Task::Dispatch
                        )))
        }
    }
}

/// Decides a command against the document's state.
pub fn decide(
    policy: &Policy,
    cmd: &Command,
    state: Option<&Document>,
) -> Result<Vec<DocumentEvent>, DomainError> {
    let at = cmd.at;
    let by = cmd.actor.user.clone();
    match &cmd.action {
        Action::Receive {
            document_id,
            source,
            metadata,
            pdf,
            register,
        } => {
            if state.is_some() {
                return Err(state_err_exists());
            }
            if !cmd.actor.has(OfficialRole::Clerk) {
                return Err(forbidden("only a clerk receives incoming documents"));
            }
            check_content(policy, metadata, pdf.as_ref())?;
            if metadata.issuer.is_none() {
                return Err(invalid(
                    "issuer",
                    "an incoming document names its issuing agency",
                ));
            }
            if let Some(d) = metadata.issue_date
                && d > cmd.today
            {
                return Err(invalid(
                    "issue_date",
                    "the issue date cannot be in the future",
                ));
            }
            let received = DocumentEvent::Received {
                document_id: *document_id,
                at,
                by: by.clone(),
                source: source.clone(),
                metadata: metadata.clone(),
                pdf: pdf.clone(),
                clerk_unit: cmd.actor.unit.clone(),
            };
            let mut events = vec![received];
            if let Some(reg) = register {
                let doc = super::events::fold(events.iter())
                    .ok_or_else(|| refuse("the document could not be received"))?;
                events.push(registered(policy, cmd, &doc, reg)?);
            }
            Ok(events)
        }
        Action::Draft {
            document_id,
            metadata,
            pdf,
            clerk_unit,
        } => {
            if state.is_some() {
                return Err(state_err_exists());
            }
            check_content(policy, metadata, pdf.as_ref())?;
            if metadata.number_notation.is_some() {
                return Err(invalid(
                    "number_notation",
                    "an outgoing document gets its number from the register when it is issued; leave it empty in the draft",
                ));
            }
            Ok(vec![DocumentEvent::Drafted {
                document_id: *document_id,
                at,
                by,
                metadata: metadata.clone(),
                pdf: pdf.clone(),
                drafting_unit: cmd.actor.unit.clone(),
                clerk_unit: clerk_unit.clone(),
            }])
        }
        _ => {
            let doc = state.ok_or(DomainError::NotFound)?;
            decide_existing(policy, cmd, doc)
        }
    }
}

fn state_err_exists() -> DomainError {
    refuse("a document with this id exists already")
}

fn check_content(policy: &Policy, m: &Metadata, pdf: Option<&PdfRef>) -> Result<(), DomainError> {
    if m.secrecy.is_secret() {
        if pdf.is_some() && !policy.allow_secret_content {
            return Err(DomainError::SecretContent {
                secrecy: m.secrecy.name_vi(),
            });
        }
    } else if pdf.is_none() {
        return Err(invalid("file", "attach the document's PDF"));
    }
    Ok(())
}

fn registered(
    policy: &Policy,
    cmd: &Command,
    doc: &Document,
    reg: &RegistrationFacts,
) -> Result<DocumentEvent, DomainError> {
    if doc.status != Status::AwaitingRegistration {
        return Err(refuse(match doc.status {
            Status::Recalled => "the document has been recalled".to_string(),
            _ => "the document is registered already".to_string(),
        }));
    }
    let row = doc
        .open_row_of(Task::Register)
        .ok_or_else(|| refuse("the document is registered already"))?;
    if !acts_for(&cmd.actor, row) || !cmd.actor.has(OfficialRole::Clerk) {
        return Err(forbidden(
            "only a clerk of the clerical office registers documents",
        ));
    }
    if reg.arrival_number == 0 {
        return Err(invalid("arrival_number", "arrival numbers start at 1"));
    }
    if reg.arrival_date > cmd.today {
        return Err(invalid(
            "arrival_date",
            "the arrival date cannot be in the future",
        ));
    }
    if i32::from(reg.year) != i32::from(reg.arrival_date.year()) {
        return Err(invalid(
            "year",
            "the register's year is the year of arrival",
        ));
    }
    let received_on = agency_date(doc.created_at);
    // The same or the next working day; urgent documents the same day.
    let due = if doc.metadata.urgency.is_urgent() {
        received_on
    } else {
        policy.calendar.next_working_day(received_on)
    };
    Ok(DocumentEvent::Registered {
        at: cmd.at,
        by: cmd.actor.user.clone(),
        arrival_number: reg.arrival_number,
        year: reg.year,
        arrival_date: reg.arrival_date,
        on_time: cmd.today <= due,
        possible_duplicates: reg
            .possible_duplicates
            .iter()
            .copied()
            .filter(|d| *d != doc.id)
            .collect(),
        signatures: reg.signatures.clone(),
    })
}

/// Whether `actor` may sign `doc` now with a signature of `kind`: the
/// competent person (a leader) signs the approved draft once; a clerk of
/// the clerical office seals the numbered document, after the person's
/// signature. Checked before the server signs (so nothing is signed in
/// vain) and again when the signature is recorded.
pub fn may_sign(actor: &Actor, doc: &Document, kind: SignatureKind) -> Result<(), DomainError> {
    if doc.direction == Direction::Incoming {
        return Err(refuse(
            "only outgoing documents are signed here; an incoming document's signatures are verified when it is registered",
        ));
    }
    if let Some(e) = not_open(doc) {
        return Err(e);
    }
    if doc.current_pdf().is_none() {
        return Err(refuse(
            "the document has no PDF to sign (a secret document is signed on paper)",
        ));
    }
    match kind {
        SignatureKind::Personal => {
            if doc.signature(SignatureKind::Personal).is_some() {
                return Err(refuse(
                    "the competent person has signed this document already",
                ));
            }
            if doc.status != Status::Approved {
                return Err(refuse(match doc.status {
                    Status::Draft | Status::InReview => "the draft is not approved yet",
                    _ => "the document is numbered already; it can no longer be signed by a person",
                }));
            }
            if !actor.has(OfficialRole::Leader) {
                return Err(forbidden(
                    "only a leader of the agency (the competent person) signs its documents",
                ));
            }
        }
        SignatureKind::AgencySeal => {
            if doc.signature(SignatureKind::AgencySeal).is_some() {
                return Err(refuse("the document carries the agency's seal already"));
            }
            if doc.signature(SignatureKind::Personal).is_none() {
                return Err(refuse(
                    "the competent person has not signed the document yet",
                ));
            }
            let row = doc
                .open_row_of(Task::Dispatch)
                .ok_or_else(|| match doc.status {
                    Status::Issued => refuse("the document has been dispatched already"),
                    _ => refuse("the document is not numbered yet; number it before sealing"),
                })?;
            if !acts_for(actor, row) || !actor.has(OfficialRole::Clerk) {
                return Err(forbidden(
                    "only a clerk of the clerical office applies the agency's seal",
                ));
            }
        }
    }
    Ok(())
}

/// The calendar date of an instant in Vietnam (UTC+7, no daylight saving).
pub fn agency_date(t: Timestamp) -> Date {
    let offset = jiff::tz::Offset::constant(7);
    offset.to_datetime(t).date()
}

fn not_open(doc: &Document) -> Option<DomainError> {
    match doc.status {
        Status::Recalled => Some(refuse("the document has been recalled")),
        Status::ReturnedToSender => Some(refuse("the document was returned to its sender")),
        _ => None,
    }
}

fn held_row<'d>(cmd: &Command, doc: &'d Document, id: RowId) -> Result<&'d Row, DomainError> {
    let row = doc
        .row(id)
        .ok_or_else(|| invalid("row", format!("the document has no recipient row {id}")))?;
    if !acts_for(&cmd.actor, row) {
        return Err(forbidden(format!(
            "row {id} is held by {}; only its holder can act on it",
            row.holder
        )));
    }
    if !row.status.is_open() {
        return Err(refuse(match row.status {
            RowStatus::Forwarded => format!(
                "row {id} has been forwarded; it completes when the lead recipients it was forwarded to complete"
            ),
            RowStatus::Completed => format!("row {id} is completed already"),
            RowStatus::Returned => format!("row {id} was returned"),
            _ => format!("row {id} is closed"),
        }));
    }
    Ok(row)
}

fn resolve(
    policy: &Policy,
    cmd: &Command,
    specs: &[AssignmentSpec],
    parent: Option<&Row>,
    default_deadline: Option<Date>,
) -> Result<Vec<Assignment>, DomainError> {
    if specs.is_empty() {
        return Err(invalid("assignments", "name at least one recipient"));
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(specs.len());
    for s in specs {
        if !seen.insert(&s.holder) {
            return Err(invalid(
                "assignments",
                format!("{} is named twice", s.holder),
            ));
        }
        if s.holder == Holder::User(cmd.actor.user.clone()) {
            return Err(invalid(
                "assignments",
                "you cannot assign the document to yourself",
            ));
        }
        if let Some(p) = parent {
            if let Some(prole) = p.role
                && !s.role.at_most(prole)
            {
                return Err(invalid(
                    "assignments",
                    format!(
                        "you hold this document as {prole:?}; you can forward it with that role or a lesser one, not as {:?}",
                        s.role
                    )
                    .to_lowercase(),
                ));
            }
        }
        let deadline = match s.deadline {
            Some(DeadlineSpec::Date(d)) => Some(d),
            Some(DeadlineSpec::WorkingDays { working_days }) => {
                Some(policy.calendar.add_working_days(cmd.today, working_days))
            }
            None => default_deadline,
        };
        if let Some(d) = deadline {
            if matches!(s.deadline, Some(DeadlineSpec::Date(_))) && d < cmd.today {
                return Err(invalid("deadline", "a deadline cannot be in the past"));
            }
            if let Some(pd) = parent.and_then(|p| p.deadline)
                && d > pd
            {
                return Err(invalid(
                    "deadline",
                    format!("a deadline cannot be later than your own deadline, {pd}"),
                ));
            }
        }
        out.push(Assignment {
            holder: s.holder.clone(),
            role: s.role,
            deadline: if s.role == Role::ForInformation {
                None
            } else {
                deadline
            },
        });
    }
    let leads = out.iter().filter(|a| a.role == Role::Lead).count();
    let coordinates = out.iter().filter(|a| a.role == Role::Coordinate).count();
    if parent.is_none() && coordinates > 0 && leads == 0 {
        return Err(invalid(
            "assignments",
            "when units coordinate, name the one who leads (chủ trì)",
        ));
    }
    Ok(out)
}

fn decide_existing(
    policy: &Policy,
    cmd: &Command,
    doc: &Document,
) -> Result<Vec<DocumentEvent>, DomainError> {
    let at = cmd.at;
    let by = cmd.actor.user.clone();
    if let Some(e) = not_open(doc)
        && !matches!(cmd.action, Action::File { .. })
    {
        return Err(e);
    }
    let incoming = doc.direction == Direction::Incoming;
    let outgoing = !incoming;
    let only_incoming = || refuse("this applies to incoming documents only");
    let only_outgoing = || refuse("this applies to outgoing documents only");
    match &cmd.action {
        Action::Receive { .. } | Action::Draft { .. } => Err(state_err_exists()),
        Action::Register(reg) => {
            if outgoing {
                return Err(only_incoming());
            }
            Ok(vec![registered(policy, cmd, doc, reg)?])
        }
        Action::SubmitToLeader { leader } => {
            if outgoing {
                return Err(only_incoming());
            }
            if doc.status == Status::AwaitingRegistration {
                return Err(refuse("the document is not registered yet"));
            }
            let row = doc
                .open_row_of(Task::Submit)
                .ok_or_else(|| refuse("the document has been submitted already"))?;
            if !acts_for(&cmd.actor, row) {
                return Err(forbidden(
                    "only the clerical office submits documents to the leader",
                ));
            }
            if *leader == cmd.actor.user {
                return Err(invalid(
                    "leader",
                    "submit the document to a leader, not to yourself",
                ));
            }
            Ok(vec![DocumentEvent::SubmittedToLeader {
                at,
                by,
                row: row.id,
                leader: leader.clone(),
            }])
        }
        Action::Direct {
            instruction,
            assignments,
        } => {
            if outgoing {
                return Err(only_incoming());
            }
            let row = doc
                .open_row_of(Task::Direct)
                .ok_or_else(|| match doc.status {
                    Status::AwaitingRegistration => refuse("the document is not registered yet"),
                    Status::Registered => {
                        refuse("the document has not been submitted to the leader yet")
                    }
                    _ => refuse("the document has been directed already"),
                })?;
            if !acts_for(&cmd.actor, row) {
                return Err(forbidden(format!(
                    "the document was submitted to {}; only they can direct it",
                    row.holder
                )));
            }
            let assignments = resolve(policy, cmd, assignments, None, doc.metadata.due_date)?;
            Ok(vec![DocumentEvent::Directed {
                at,
                by,
                row: row.id,
                instruction: instruction.clone(),
                assignments,
            }])
        }
        Action::Forward {
            row,
            instruction,
            assignments,
            unit_members,
        } => {
            let r = held_row(cmd, doc, *row)?;
            for a in assignments {
                match &a.holder {
                    Holder::User(u) if unit_members.contains(u) => {}
                    Holder::User(u) => {
                        return Err(invalid(
                            "assignments",
                            format!(
                                "{u} is not an official of unit {}; a document is forwarded inside the unit, and another unit is involved by the leader's direction",
                                cmd.actor.unit
                            ),
                        ));
                    }
                    Holder::Unit(u) => {
                        return Err(invalid(
                            "assignments",
                            format!(
                                "unit {u}: a document is forwarded to officials inside the unit; another unit is involved by the leader's direction"
                            ),
                        ));
                    }
                }
            }
            if r.task != Task::Handle {
                return Err(refuse(format!(
                    "row {row} is a {:?} task; only a recipient handling the document forwards it",
                    r.task
                )
                .to_lowercase()));
            }
            let assignments = resolve(policy, cmd, assignments, Some(r), r.deadline)?;
            Ok(vec![DocumentEvent::Forwarded {
                at,
                by,
                row: *row,
                instruction: instruction.clone(),
                assignments,
            }])
        }
        Action::Accept { row } => {
            let r = held_row(cmd, doc, *row)?;
            if r.task != Task::Handle {
                return Err(refuse("only a recipient handling the document accepts it"));
            }
            if r.status != RowStatus::Pending {
                return Err(refuse(format!("row {row} has been accepted already")));
            }
            Ok(vec![DocumentEvent::Accepted { at, by, row: *row }])
        }
        Action::ReportProgress { row, percent, note } => {
            let r = held_row(cmd, doc, *row)?;
            if r.task != Task::Handle || r.role == Some(Role::ForInformation) {
                return Err(refuse(
                    "only a lead or coordinating recipient reports progress",
                ));
            }
            if *percent > 100 {
                return Err(invalid("percent", "progress is a percentage from 0 to 100"));
            }
            if r.status == RowStatus::Pending {
                return Err(refuse("accept the document before reporting progress"));
            }
            Ok(vec![DocumentEvent::ProgressReported {
                at,
                by,
                row: *row,
                percent: *percent,
                note: note.clone(),
            }])
        }
        Action::Complete {
            row,
            result,
            reply_document,
        } => {
            let r = held_row(cmd, doc, *row)?;
            if r.task != Task::Handle {
                return Err(refuse(
                    "only a recipient handling the document completes it",
                ));
            }
            if r.role == Some(Role::ForInformation) {
                return Err(refuse(
                    "you received it for information: acknowledge it; only a lead recipient can complete it",
                ));
            }
            if *reply_document == Some(doc.id) {
                return Err(invalid(
                    "reply_document",
                    "a document cannot reply to itself",
                ));
            }
            Ok(vec![DocumentEvent::Completed {
                at,
                by,
                row: *row,
                result: result.clone(),
                reply_document: *reply_document,
            }])
        }
        Action::Return { row, reason } => {
            let r = held_row(cmd, doc, *row)?;
            match r.task {
                Task::Register | Task::Direct | Task::Handle => {}
                _ => {
                    return Err(refuse(
                        "this task cannot be returned; an outgoing draft is returned through its review",
                    ));
                }
            }
            Ok(vec![DocumentEvent::Returned {
                at,
                by,
                row: *row,
                reason: reason.clone(),
            }])
        }
        Action::File { case_file } => {
            if let Some(f) = &doc.case_file {
                return Err(refuse(format!(
                    "the document is filed already in case file {}",
                    f.code.as_str()
                )));
            }
            let done = matches!(
                doc.status,
                Status::Completed | Status::Issued | Status::Recalled | Status::ReturnedToSender
            );
            if !done {
                return Err(refuse(
                    "the document is still being handled; file it when it is completed or issued",
                ));
            }
            let involved = doc.rows.iter().any(|r| acts_for(&cmd.actor, r));
            if !involved && !cmd.actor.has(OfficialRole::Clerk) {
                return Err(forbidden(
                    "only an official who handled the document, or a clerk, files it",
                ));
            }
            Ok(vec![DocumentEvent::Filed {
                at,
                by,
                case_file: case_file.clone(),
            }])
        }
        Action::Recall { reason } => {
            if !(cmd.actor.has(OfficialRole::Clerk) || cmd.actor.has(OfficialRole::Leader)) {
                return Err(forbidden("only a clerk or the leader records a recall"));
            }
            if outgoing && !matches!(doc.status, Status::Numbered | Status::Issued) {
                return Err(refuse(
                    "the document has not been issued; there is nothing to recall",
                ));
            }
            if incoming && doc.status == Status::Completed {
                return Err(refuse(
                    "the document has been handled to completion already",
                ));
            }
            Ok(vec![DocumentEvent::Recalled {
                at,
                by,
                reason: reason.clone(),
            }])
        }
        Action::AddRevision { pdf, note } => {
            if incoming {
                return Err(only_outgoing());
            }
            if doc.status != Status::Draft {
                return Err(refuse(
                    "the draft is under review or approved; it can be revised only when returned for changes",
                ));
            }
            let draft = doc
                .open_row_of(Task::Draft)
                .ok_or_else(|| refuse("the draft is not open for changes"))?;
            if !acts_for(&cmd.actor, draft) {
                return Err(forbidden("only the drafter revises the draft"));
            }
            check_content(policy, &doc.metadata, Some(pdf))?;
            if doc.current_pdf().map(|p| p.sha256) == Some(pdf.sha256) {
                return Err(invalid("file", "this PDF is the current revision already"));
            }
            Ok(vec![DocumentEvent::RevisionAdded {
                at,
                by,
                pdf: pdf.clone(),
                note: note.clone(),
            }])
        }
        Action::SubmitForReview { reviewer } => {
            if incoming {
                return Err(only_outgoing());
            }
            if doc.status != Status::Draft {
                return Err(refuse("the draft has been submitted for review already"));
            }
            let draft = doc
                .open_row_of(Task::Draft)
                .ok_or_else(|| refuse("the draft is not open"))?;
            if !acts_for(&cmd.actor, draft) {
                return Err(forbidden("only the drafter submits the draft for review"));
            }
            if *reviewer == cmd.actor.user {
                return Err(invalid(
                    "reviewer",
                    "a draft is reviewed by someone other than its drafter",
                ));
            }
            Ok(vec![DocumentEvent::SubmittedForReview {
                at,
                by,
                row: draft.id,
                reviewer: reviewer.clone(),
            }])
        }
        Action::Review(decision) => {
            if incoming {
                return Err(only_outgoing());
            }
            let row = doc
                .open_row_of(Task::Review)
                .ok_or_else(|| match doc.status {
                    Status::Draft => refuse("the draft has not been submitted for review"),
                    _ => refuse("the draft is not awaiting review"),
                })?;
            if !acts_for(&cmd.actor, row) {
                return Err(forbidden(format!(
                    "the draft awaits review by {}; only they can review it",
                    row.holder
                )));
            }
            Ok(vec![match decision {
                ReviewDecision::Approve {
                    comment,
                    next_reviewer,
                } => {
                    if next_reviewer.as_ref() == Some(&cmd.actor.user) {
                        return Err(invalid(
                            "next_reviewer",
                            "pass the draft to another reviewer, not to yourself",
                        ));
                    }
                    DocumentEvent::ReviewApproved {
                        at,
                        by,
                        row: row.id,
                        comment: comment.clone(),
                        next_reviewer: next_reviewer.clone(),
                    }
                }
                ReviewDecision::Return { comment } => DocumentEvent::ReturnedForChanges {
                    at,
                    by,
                    row: row.id,
                    comment: comment.clone(),
                },
            }])
        }
        Action::Number {
            number,
            year,
            series,
            notation,
            issue_date,
        } => {
            if incoming {
                return Err(only_outgoing());
            }
            let row = doc
                .open_row_of(Task::Number)
                .ok_or_else(|| match doc.status {
                    Status::Draft | Status::InReview => refuse("the draft is not approved yet"),
                    _ => refuse("the document is numbered already"),
                })?;
            if !acts_for(&cmd.actor, row) || !cmd.actor.has(OfficialRole::Clerk) {
                return Err(forbidden(
                    "only a clerk of the clerical office numbers documents",
                ));
            }
            if doc.current_pdf().is_some() && doc.signature(SignatureKind::Personal).is_none() {
                return Err(refuse(
                    "the competent person has not signed the document yet; it is numbered after it is signed",
                ));
            }
            if *series != Series::for_secrecy(doc.metadata.secrecy) {
                return Err(invalid(
                    "series",
                    "secret documents are numbered in their own series, other documents in the regular one",
                ));
            }
            if i32::from(*year) != i32::from(issue_date.year()) {
                return Err(invalid(
                    "year",
                    "the number is taken from the register of the issue year",
                ));
            }
            if *issue_date < cmd.today {
                return Err(invalid(
                    "issue_date",
                    "the issue date cannot be before today",
                ));
            }
            let number = DocumentNumber::new(*number).map_err(|e| invalid("number", e.rule))?;
            Ok(vec![DocumentEvent::Numbered {
                at,
                by,
                row: row.id,
                number_notation: NumberNotation::new(number, notation.clone()),
                year: *year,
                series: *series,
                issue_date: *issue_date,
            }])
        }
        Action::Dispatch { assignments } => {
            if incoming {
                return Err(only_outgoing());
            }
            let row = doc
                .open_row_of(Task::Dispatch)
                .ok_or_else(|| match doc.status {
                    Status::Issued => refuse("the document has been dispatched already"),
                    _ => refuse("the document is not numbered yet"),
                })?;
            if !acts_for(&cmd.actor, row) {
                return Err(forbidden("only the clerical office dispatches documents"));
            }
            if doc.current_pdf().is_some() && doc.signature(SignatureKind::AgencySeal).is_none() {
                return Err(refuse(
                    "the document does not carry the agency's seal signature yet; an electronic document is issued only with both signatures verified",
                ));
            }
            if assignments
                .iter()
                .any(|a| matches!(a.holder, Holder::User(_)))
            {
                return Err(invalid(
                    "assignments",
                    "a document is dispatched to units; the unit then forwards it to its officials",
                ));
            }
            let assignments = resolve(policy, cmd, assignments, None, None)?;
            Ok(vec![DocumentEvent::Dispatched {
                at,
                by,
                row: row.id,
                assignments,
            }])
        }
        Action::Sign {
            kind,
            facts,
            attachments,
        } => {
            may_sign(&cmd.actor, doc, *kind)?;
            if !facts.verdict.passed() {
                return Err(verdict_refusal("the signed file", &facts.verdict));
            }
            let expected = match kind {
                SignatureKind::Personal => 0,
                SignatureKind::AgencySeal => doc.attachments.len(),
            };
            if attachments.len() != expected {
                return Err(invalid(
                    "attachments",
                    format!(
                        "the seal signs the document and each of its {expected} attachment(s); {} signed file(s) were given",
                        attachments.len()
                    ),
                ));
            }
            let mut sealed = Vec::new();
            for (n, a) in (1u32..).zip(attachments) {
                if !a.verdict.passed() {
                    return Err(verdict_refusal(&format!("attachment {n}"), &a.verdict));
                }
                sealed.push(DocumentEvent::AttachmentSealed {
                    at,
                    by: by.clone(),
                    attachment: n,
                    file: a.clone(),
                });
            }
            Ok(vec![DocumentEvent::Signed {
                at,
                by,
                kind: *kind,
                file: (**facts).clone(),
            }]
            .into_iter()
            .chain(sealed)
            .collect())
        }
        Action::AddAttachment { name, pdf } => {
            if incoming {
                return Err(only_outgoing());
            }
            if doc.status != Status::Draft {
                return Err(refuse(
                    "attachments are added to the draft; this one is under review or approved",
                ));
            }
            let draft = doc
                .open_row_of(Task::Draft)
                .ok_or_else(|| refuse("the draft is not open for changes"))?;
            if !acts_for(&cmd.actor, draft) {
                return Err(forbidden("only the drafter adds attachments"));
            }
            check_content(policy, &doc.metadata, Some(pdf))?;
            if doc.attachments.len() >= MAX_ATTACHMENTS {
                return Err(invalid(
                    "file",
                    format!("a document takes at most {MAX_ATTACHMENTS} attachments"),
                ));
            }
            if doc.attachments.iter().any(|a| a.name == *name) {
                return Err(invalid("name", "an attachment of this name exists already"));
            }
            Ok(vec![DocumentEvent::AttachmentAdded {
                at,
                by,
                name: name.clone(),
                pdf: pdf.clone(),
            }])
        }
    }
}
