//! `POST /documents/{id}/<command>`: one command each. Every command honours
//! `If-Match` (the document's version; stale -> 412) and `Idempotency-Key`
//! (a repeat returns the first response and appends nothing).

use actix_multipart::Multipart;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, post, web};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::Deserialize;

use super::documents::{DocumentView, etag, inspect, read_form, view};
use super::{json_body as body, parse_json};
use crate::app::Upload;
use crate::domain::decide::{
    Action, AssignmentSpec, DeadlineSpec, RegistrationFacts, ReviewDecision, agency_date,
};
use crate::domain::model::{
    CaseFile, Direction, Document, DocumentId, Holder, OfficialRole, Role, RowId, Series,
    SignatureKind,
};
use crate::domain::values::{Notation, Text, UserId};
use crate::http::Shared;
use crate::http::error::{ApiError, Code, Problem};
use crate::http::extract::{Caller, CommandKind, Commanding, if_match};
use crate::http::idempotency::Stored;
use crate::projections;
use crate::signing::{Finish, SignRequest};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(registration)
        .service(submissions)
        .service(directions)
        .service(forwards)
        .service(acceptances)
        .service(progress)
        .service(completion)
        .service(returns)
        .service(filing)
        .service(recall)
        .service(revisions)
        .service(attachments)
        .service(reviews)
        .service(numbering)
        .service(dispatches);
}

/// How a command's success is answered.
#[derive(Clone, Copy)]
pub struct Reply {
    pub status: StatusCode,
    /// Send `Location: /api/v1/documents/{id}`.
    pub location: bool,
}

const OK: Reply = Reply {
    status: StatusCode::OK,
    location: false,
};

fn fingerprint(req: &HttpRequest, body: Option<&[u8]>) -> String {
    let mut input = format!("{} {}\n", req.method(), req.path()).into_bytes();
    input.extend_from_slice(body.unwrap_or_default());
    crate::digest::Sha256Digest::of(&input).to_string()
}

fn stored_response(s: &Stored) -> HttpResponse {
    let mut r = HttpResponse::build(StatusCode::from_u16(s.status).unwrap_or(StatusCode::OK));
    r.insert_header(("Idempotency-Replayed", "true"));
    if let Some(l) = &s.location {
        r.insert_header((header::LOCATION, l.as_str()));
    }
    if let Some(e) = &s.etag {
        r.insert_header((header::ETAG, e.as_str()));
    }
    let ct = if s.status >= 400 {
        crate::http::error::PROBLEM_JSON
    } else {
        "application/json"
    };
    r.content_type(ct).body(s.body.clone())
}

/// Runs a command and answers with the document as it is afterwards; keeps
/// the answer under the request's `Idempotency-Key`, if it has one.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site per command kind; a struct would only rename them"
)]
pub async fn reply(
    state: &Shared,
    req: &HttpRequest,
    caller: &Caller,
    id: DocumentId,
    action: Action,
    upload: Option<&Upload>,
    reply: Reply,
    body: Option<&[u8]>,
) -> Result<HttpResponse, ApiError> {
    reply_work(
        state,
        req,
        caller,
        id,
        Work::Command {
            action: Box::new(action),
            upload,
        },
        reply,
        body,
    )
    .await
}

/// What a command request asks the application to do.
pub enum Work<'a> {
    /// Decide and append.
    Command {
        action: Box<Action>,
        upload: Option<&'a Upload>,
    },
    /// Sign with the keystore's key, verify, and record.
    Sign {
        kind: SignatureKind,
        request: SignRequest,
    },
    /// Finish a two-phase signature, verify, and record.
    Finish { session: uuid::Uuid, value: Finish },
}

/// As [`reply`], for any [`Work`].
pub async fn reply_work(
    state: &Shared,
    req: &HttpRequest,
    caller: &Caller,
    id: DocumentId,
    work: Work<'_>,
    reply: Reply,
    body: Option<&[u8]>,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match(req)?;
    let key = match req.headers().get("Idempotency-Key") {
        None => None,
        Some(v) => {
            let k = v.to_str().unwrap_or("").trim();
            if k.is_empty() || k.len() > 255 {
                return Err(ApiError::field(
                    Code::PreconditionRequired,
                    "Idempotency-Key",
                    "Idempotency-Key must be 1 to 255 visible characters",
                ));
            }
            Some(k.to_string())
        }
    };
    let Some(key) = key else {
        return run(state, caller, id, work, reply, expected)
            .await
            .map(respond);
    };
    let print = fingerprint(req, body);
    let user = caller.user.as_str();
    let _guard = state.idempotency.lock(user, &key).await;
    if let Some(s) = state.idempotency.get(user, &key).await? {
        if s.fingerprint != print {
            return Err(ApiError::field(
                Code::IdempotencyKeyReused,
                "Idempotency-Key",
                "this Idempotency-Key was used for another request",
            ));
        }
        return Ok(stored_response(&s));
    }
    let result = run(state, caller, id, work, reply, expected).await;
    let stored = match &result {
        Ok((status, body, location, etag)) => Stored {
            fingerprint: print,
            status: status.as_u16(),
            body: body.clone(),
            location: location.clone(),
            etag: etag.clone(),
        },
        // Refusals are kept too (a repeat gets the same answer); failures
        // of the server are not, so that a repeat can succeed.
        Err(e) if e.code.status().is_client_error() => Stored {
            fingerprint: print,
            status: e.code.status().as_u16(),
            body: serde_json::to_string(&e.problem()).unwrap_or_default(),
            location: None,
            etag: None,
        },
        Err(_) => return result.map(respond),
    };
    state.idempotency.put(user, &key, &stored).await?;
    result.map(respond)
}

type Answer = (StatusCode, String, Option<String>, Option<String>);

fn respond((status, body, location, etag): Answer) -> HttpResponse {
    let mut r = HttpResponse::build(status);
    if let Some(l) = location {
        r.insert_header((header::LOCATION, l));
    }
    if let Some(e) = etag {
        r.insert_header((header::ETAG, e));
    }
    r.content_type("application/json").body(body)
}

async fn run(
    state: &Shared,
    caller: &Caller,
    id: DocumentId,
    work: Work<'_>,
    reply: Reply,
    expected: Option<u64>,
) -> Result<Answer, ApiError> {
    let app = &state.app;
    let (user, meta) = (&caller.user, &caller.meta);
    let outcome = match work {
        Work::Command { action, upload } => {
            app.execute_if(user, id, *action, meta, upload, expected)
                .await?
        }
        Work::Sign { kind, request } => {
            let _permit = state
                .pdf_checks
                .acquire()
                .await
                .map_err(|e| ApiError::internal(&e))?;
            app.sign(user, id, kind, &request, meta, expected).await?
        }
        Work::Finish { session, value } => {
            let _permit = state
                .pdf_checks
                .acquire()
                .await
                .map_err(|e| ApiError::internal(&e))?;
            app.finish_signature(user, id, session, value, meta).await?
        }
    };
    let (body, version): (DocumentView, u64) = view(state, id).await?;
    debug_assert!(version >= outcome.version);
    let (_, tag) = etag(version);
    Ok((
        reply.status,
        serde_json::to_string(&body).map_err(|e| ApiError::internal(&e))?,
        reply.location.then(|| format!("/api/v1/documents/{id}")),
        Some(tag),
    ))
}

/// The document as projected (the extractor has checked it exists).
async fn document(state: &Shared, id: DocumentId) -> Result<Document, ApiError> {
    projections::document(state.app.projections.pool(), id)
        .await?
        .map(|(d, _)| d)
        .ok_or_else(ApiError::not_found)
}

/// The row a command acts on: the one named, or the caller's only open row
/// (their own, or their unit's when they act for it).
fn row_of(doc: &Document, caller: &Caller, row: Option<u32>) -> Result<RowId, ApiError> {
    if let Some(r) = row {
        return Ok(RowId(r));
    }
    let acts_for_unit = caller.has(OfficialRole::UnitHead) || caller.has(OfficialRole::Clerk);
    let mine: Vec<RowId> = doc
        .rows
        .iter()
        .filter(|r| r.status.is_open())
        .filter(|r| match &r.holder {
            Holder::User(u) => u == &caller.user,
            Holder::Unit(u) => acts_for_unit && u.as_str() == caller.viewer.unit,
        })
        .map(|r| r.id)
        .collect();
    match mine.as_slice() {
        [one] => Ok(*one),
        [] => Err(ApiError::field(
            Code::InvalidTransition,
            "row",
            "you hold no open row of this document",
        )),
        _ => Err(ApiError::field(
            Code::InvalidBody,
            "row",
            "you hold several open rows of this document: name one in `row`",
        )),
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum DeadlineBody {
    /// A date (YYYY-MM-DD, Asia/Ho_Chi_Minh).
    Date(Date),
    /// A number of working days from today.
    WorkingDays { working_days: u32 },
}

/// One recipient of a direction, forward or dispatch.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentBody {
    /// `{"kind": "user", "id": "chuyenvien"}` or `{"kind": "unit", "id": "TH"}`.
    pub holder: Holder,
    /// lead (chủ trì), coordinate (phối hợp) or for_information (để biết).
    pub role: Role,
    #[serde(default)]
    pub deadline: Option<DeadlineBody>,
}

fn assignments(list: Vec<AssignmentBody>) -> Vec<AssignmentSpec> {
    list.into_iter()
        .map(|a| AssignmentSpec {
            holder: a.holder,
            role: a.role,
            deadline: a.deadline.map(|d| match d {
                DeadlineBody::Date(d) => DeadlineSpec::Date(d),
                DeadlineBody::WorkingDays { working_days } => {
                    DeadlineSpec::WorkingDays { working_days }
                }
            }),
        })
        .collect()
}

macro_rules! kind {
    ($name:ident, $label:literal, [$($role:ident),*]) => {
        pub struct $name;
        impl CommandKind for $name {
            const NAME: &'static str = $label;
            const ROLES: &'static [OfficialRole] = &[$(OfficialRole::$role),*];
        }
    };
}

kind!(Registration, "registration", [Clerk]);
kind!(
    Submission,
    "submissions",
    [Clerk, UnitHead, Specialist, Leader]
);
kind!(DirectionK, "directions", [Leader, UnitHead]);
kind!(ForwardK, "forwards", [Leader, UnitHead, Specialist]);
kind!(RowWork, "row work", [Clerk, Leader, UnitHead, Specialist]);
kind!(Filing, "filing", [Clerk, Leader, UnitHead, Specialist]);
kind!(RecallK, "recall", [Clerk, Leader]);
kind!(Drafting, "revisions", [Clerk, Leader, UnitHead, Specialist]);

/// Who may create and revise drafts.
pub const DRAFTING_ROLES: &[OfficialRole] = Drafting::ROLES;
kind!(Reviewing, "reviews", [Leader, UnitHead]);
kind!(Clerical, "numbering and dispatch", [Clerk]);

/// What every command answers (a description for the OpenAPI document,
/// never built).
#[derive(utoipa::IntoResponses)]
#[expect(
    clippy::large_enum_variant,
    reason = "only describes responses; never constructed"
)]
pub enum CommandAnswers {
    /// Done: the document as it is now (with its ETag).
    #[response(status = 200)]
    Done(DocumentView),
    /// 401: no valid token; 403: the role may not; 404: not visible; 409: the
    /// state does not allow it; 412: stale If-Match; 415/422: bad body.
    #[response(status = "4XX", content_type = "application/problem+json")]
    Refused(Problem),
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationBody {
    /// Today when omitted.
    #[serde(default)]
    pub arrival_date: Option<Date>,
}

/// Register a delivered document (clerk).
#[utoipa::path(post, path = "/api/v1/documents/{id}/registration", tag = "commands", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body(content = RegistrationBody, content_type = "application/json"),
    responses(CommandAnswers))]
#[post("/documents/{id}/registration")]
pub async fn registration(
    state: Shared,
    req: HttpRequest,
    c: Commanding<Registration>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: RegistrationBody = body(&state, &req, &bytes)?;
    let action = Action::Register(RegistrationFacts {
        arrival_number: 0,
        year: 0,
        arrival_date: b
            .arrival_date
            .unwrap_or_else(|| agency_date(Timestamp::now())),
        possible_duplicates: vec![],
        signatures: None,
    });
    reply(
        &state,
        &req,
        &c.seen.caller,
        c.seen.id,
        action,
        None,
        OK,
        Some(&bytes),
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmissionBody {
    /// The leader (incoming: trình for direction) or the reviewer (outgoing draft).
    pub to: UserId,
}

/// Hand up: an incoming document to the leader for direction, or a draft to its reviewer.
#[utoipa::path(post, path = "/api/v1/documents/{id}/submissions", tag = "commands", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body(content = SubmissionBody, content_type = "application/json"),
    responses(CommandAnswers))]
#[post("/documents/{id}/submissions")]
pub async fn submissions(
    state: Shared,
    req: HttpRequest,
    c: Commanding<Submission>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: SubmissionBody = body(&state, &req, &bytes)?;
    let doc = document(&state, c.seen.id).await?;
    let action = match doc.direction {
        Direction::Incoming => Action::SubmitToLeader { leader: b.to },
        Direction::Outgoing => Action::SubmitForReview { reviewer: b.to },
    };
    reply(
        &state,
        &req,
        &c.seen.caller,
        c.seen.id,
        action,
        None,
        OK,
        Some(&bytes),
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectionBody {
    /// The leader's annotation (bút phê).
    #[serde(default)]
    pub instruction: Option<Text>,
    pub assignments: Vec<AssignmentBody>,
}

/// The leader's direction (bút phê): units or officials to lead, coordinate, or be informed, with deadlines.
#[utoipa::path(post, path = "/api/v1/documents/{id}/directions", tag = "commands", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body(content = DirectionBody, content_type = "application/json"),
    responses(CommandAnswers))]
#[post("/documents/{id}/directions")]
pub async fn directions(
    state: Shared,
    req: HttpRequest,
    c: Commanding<DirectionK>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: DirectionBody = body(&state, &req, &bytes)?;
    let action = Action::Direct {
        instruction: b.instruction,
        assignments: assignments(b.assignments),
    };
    reply(
        &state,
        &req,
        &c.seen.caller,
        c.seen.id,
        action,
        None,
        OK,
        Some(&bytes),
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardBody {
    /// The caller's row; their only open row when omitted.
    #[serde(default)]
    pub row: Option<u32>,
    #[serde(default)]
    pub instruction: Option<Text>,
    pub assignments: Vec<AssignmentBody>,
}

/// Forward inside the caller's unit.
#[utoipa::path(post, path = "/api/v1/documents/{id}/forwards", tag = "commands", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body(content = ForwardBody, content_type = "application/json"),
    responses(CommandAnswers))]
#[post("/documents/{id}/forwards")]
pub async fn forwards(
    state: Shared,
    req: HttpRequest,
    c: Commanding<ForwardK>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: ForwardBody = body(&state, &req, &bytes)?;
    let doc = document(&state, c.seen.id).await?;
    let action = Action::Forward {
        row: row_of(&doc, &c.seen.caller, b.row)?,
        instruction: b.instruction,
        assignments: assignments(b.assignments),
        unit_members: vec![],
    };
    reply(
        &state,
        &req,
        &c.seen.caller,
        c.seen.id,
        action,
        None,
        OK,
        Some(&bytes),
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RowBody {
    /// The caller's row; their only open row when omitted.
    #[serde(default)]
    pub row: Option<u32>,
}

/// Accept a row (nhận xử lý).
#[utoipa::path(post, path = "/api/v1/documents/{id}/acceptances", tag = "commands", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body(content = RowBody, content_type = "application/json"),
    responses(CommandAnswers))]
#[post("/documents/{id}/acceptances")]
pub async fn acceptances(
    state: Shared,
    req: HttpRequest,
    c: Commanding<RowWork>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: RowBody = body(&state, &req, &bytes)?;
    let doc = document(&state, c.seen.id).await?;
    let action = Action::Accept {
        row: row_of(&doc, &c.seen.caller, b.row)?,
    };
    reply(
        &state,
        &req,
        &c.seen.caller,
        c.seen.id,
        action,
        None,
        OK,
        Some(&bytes),
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressBody {
    #[serde(default)]
    pub row: Option<u32>,
    /// 0..=100.
    pub percent: u8,
    pub note: Text,
}

/// Report progress on a row.
#[utoipa::path(post, path = "/api/v1/documents/{id}/progress", tag = "commands", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body(content = ProgressBody, content_type = "application/json"),
    responses(CommandAnswers))]
#[post("/documents/{id}/progress")]
pub async fn progress(
    state: Shared,
    req: HttpRequest,
    c: Commanding<RowWork>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: ProgressBody = body(&state, &req, &bytes)?;
    let doc = document(&state, c.seen.id).await?;
    let action = Action::ReportProgress {
        row: row_of(&doc, &c.seen.caller, b.row)?,
        percent: b.percent,
        note: b.note,
    };
    reply(
        &state,
        &req,
        &c.seen.caller,
        c.seen.id,
        action,
        None,
        OK,
        Some(&bytes),
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletionBody {
    #[serde(default)]
    pub row: Option<u32>,
    #[serde(default)]
    pub result: Option<Text>,
    /// The outgoing document that answers this one.
    #[serde(default)]
    pub reply_document: Option<uuid::Uuid>,
}

/// Complete a row.
#[utoipa::path(post, path = "/api/v1/documents/{id}/completion", tag = "commands", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body(content = CompletionBody, content_type = "application/json"),
    responses(CommandAnswers))]
#[post("/documents/{id}/completion")]
pub async fn completion(
    state: Shared,
    req: HttpRequest,
    c: Commanding<RowWork>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: CompletionBody = body(&state, &req, &bytes)?;
    let doc = document(&state, c.seen.id).await?;
    let action = Action::Complete {
        row: row_of(&doc, &c.seen.caller, b.row)?,
        result: b.result,
        reply_document: b.reply_document.map(DocumentId),
    };
    reply(
        &state,
        &req,
        &c.seen.caller,
        c.seen.id,
        action,
        None,
        OK,
        Some(&bytes),
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnBody {
    #[serde(default)]
    pub row: Option<u32>,
    pub reason: Text,
}

/// Return a row to whoever assigned it.
#[utoipa::path(post, path = "/api/v1/documents/{id}/returns", tag = "commands", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body(content = ReturnBody, content_type = "application/json"),
    responses(CommandAnswers))]
#[post("/documents/{id}/returns")]
pub async fn returns(
    state: Shared,
    req: HttpRequest,
    c: Commanding<RowWork>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: ReturnBody = body(&state, &req, &bytes)?;
    let doc = document(&state, c.seen.id).await?;
    let action = Action::Return {
        row: row_of(&doc, &c.seen.caller, b.row)?,
        reason: b.reason,
    };
    reply(
        &state,
        &req,
        &c.seen.caller,
        c.seen.id,
        action,
        None,
        OK,
        Some(&bytes),
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilingBody {
    pub case_file: CaseFile,
}

/// File the document into a case file (hồ sơ).
#[utoipa::path(post, path = "/api/v1/documents/{id}/filing", tag = "commands", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body(content = FilingBody, content_type = "application/json"),
    responses(CommandAnswers))]
#[post("/documents/{id}/filing")]
pub async fn filing(
    state: Shared,
    req: HttpRequest,
    c: Commanding<Filing>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: FilingBody = body(&state, &req, &bytes)?;
    let action = Action::File {
        case_file: b.case_file,
    };
    reply(
        &state,
        &req,
        &c.seen.caller,
        c.seen.id,
        action,
        None,
        OK,
        Some(&bytes),
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecallBody {
    pub reason: Text,
}

/// Recall (thu hồi) a document.
#[utoipa::path(post, path = "/api/v1/documents/{id}/recall", tag = "commands", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body(content = RecallBody, content_type = "application/json"),
    responses(CommandAnswers))]
#[post("/documents/{id}/recall")]
pub async fn recall(
    state: Shared,
    req: HttpRequest,
    c: Commanding<RecallK>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: RecallBody = body(&state, &req, &bytes)?;
    let action = Action::Recall { reason: b.reason };
    reply(
        &state,
        &req,
        &c.seen.caller,
        c.seen.id,
        action,
        None,
        OK,
        Some(&bytes),
    )
    .await
}

/// A multipart command's parts: the `metadata` JSON (if any), the `file`
/// (required) parsed, and the fingerprint of both for `Idempotency-Key`.
async fn form_upload(
    state: &Shared,
    form: Multipart,
) -> Result<(Option<Vec<u8>>, Upload, Vec<u8>), ApiError> {
    let (metadata, file) = read_form(
        form,
        state.settings.max_json_bytes,
        state.settings.max_upload_bytes,
    )
    .await?;
    let file = file.ok_or_else(|| {
        ApiError::field(
            Code::InvalidBody,
            "file",
            "the part `file` (the PDF) is missing",
        )
    })?;
    let mut print = metadata.clone().unwrap_or_default();
    print.extend_from_slice(
        crate::digest::Sha256Digest::of(&file)
            .to_string()
            .as_bytes(),
    );
    let upload = inspect(state, file).await?;
    Ok((metadata, upload, print))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentMetadata {
    /// What the attachment is (e.g. "Phụ lục I: Dự toán chi tiết").
    pub name: Text,
}

/// The parts of `POST /attachments` (multipart/form-data): `file` (the
/// attachment's PDF) and `metadata` (JSON, an [`AttachmentMetadata`]). Its
/// schema is written by hand in `openapi.rs`.
pub struct AttachmentForm;

/// Add an attachment (phụ lục) in a file of its own to the draft (the
/// drafter). The agency's seal signs it, text only, with the document.
#[utoipa::path(post, path = "/api/v1/documents/{id}/attachments", tag = "commands", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body(content = AttachmentForm, content_type = "multipart/form-data"),
    responses(CommandAnswers))]
#[post("/documents/{id}/attachments")]
pub async fn attachments(
    state: Shared,
    req: HttpRequest,
    c: Commanding<Drafting>,
    form: Multipart,
) -> Result<HttpResponse, ApiError> {
    let (metadata, upload, print) = form_upload(&state, form).await?;
    let metadata = metadata.ok_or_else(|| {
        ApiError::field(
            Code::InvalidBody,
            "metadata",
            "the part `metadata` ({\"name\": …}) is missing",
        )
    })?;
    let name = parse_json::<AttachmentMetadata>(&metadata)?.name;
    let action = Action::AddAttachment {
        name,
        pdf: upload.pdf.clone(),
    };
    reply(
        &state,
        &req,
        &c.seen.caller,
        c.seen.id,
        action,
        Some(&upload),
        OK,
        Some(&print),
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevisionNote {
    #[serde(default)]
    pub note: Option<Text>,
}

/// The parts of `POST /revisions` (multipart/form-data): `file` (the new
/// draft PDF) and optionally `metadata` (JSON, a [`RevisionNote`]). Its
/// schema is written by hand in `openapi.rs`.
pub struct RevisionForm;

/// A new draft PDF (multipart: `file`, optional `metadata` {"note"}).
#[utoipa::path(post, path = "/api/v1/documents/{id}/revisions", tag = "commands", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body(content = RevisionForm, content_type = "multipart/form-data"),
    responses(CommandAnswers))]
#[post("/documents/{id}/revisions")]
pub async fn revisions(
    state: Shared,
    req: HttpRequest,
    c: Commanding<Drafting>,
    form: Multipart,
) -> Result<HttpResponse, ApiError> {
    let (metadata, upload, print) = form_upload(&state, form).await?;
    let note = match &metadata {
        Some(m) => parse_json::<RevisionNote>(m)?.note,
        None => None,
    };
    let action = Action::AddRevision {
        pdf: upload.pdf.clone(),
        note,
    };
    reply(
        &state,
        &req,
        &c.seen.caller,
        c.seen.id,
        action,
        Some(&upload),
        OK,
        Some(&print),
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Return,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    pub decision: Decision,
    /// Required when returning the draft.
    #[serde(default)]
    pub comment: Option<Text>,
    /// Approve and hand on to a further reviewer.
    #[serde(default)]
    pub next_reviewer: Option<UserId>,
}

/// Review a draft: approve, or return it for changes.
#[utoipa::path(post, path = "/api/v1/documents/{id}/reviews", tag = "commands", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body(content = ReviewBody, content_type = "application/json"),
    responses(CommandAnswers))]
#[post("/documents/{id}/reviews")]
pub async fn reviews(
    state: Shared,
    req: HttpRequest,
    c: Commanding<Reviewing>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: ReviewBody = body(&state, &req, &bytes)?;
    let decision = match b.decision {
        Decision::Approve => ReviewDecision::Approve {
            comment: b.comment,
            next_reviewer: b.next_reviewer,
        },
        Decision::Return => ReviewDecision::Return {
            comment: b.comment.ok_or_else(|| {
                ApiError::field(
                    Code::InvalidField,
                    "comment",
                    "comment: say what to change when returning a draft",
                )
            })?,
        },
    };
    reply(
        &state,
        &req,
        &c.seen.caller,
        c.seen.id,
        Action::Review(decision),
        None,
        OK,
        Some(&bytes),
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NumberingBody {
    /// Today when omitted.
    #[serde(default)]
    pub issue_date: Option<Date>,
    /// The notation (ký hiệu), e.g. "QĐ-UBND"; derived from the type and the agency when omitted.
    #[serde(default)]
    pub notation: Option<Notation>,
}

/// Number the approved draft from the year's register (clerk).
#[utoipa::path(post, path = "/api/v1/documents/{id}/numbering", tag = "commands", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body(content = NumberingBody, content_type = "application/json"),
    responses(CommandAnswers))]
#[post("/documents/{id}/numbering")]
pub async fn numbering(
    state: Shared,
    req: HttpRequest,
    c: Commanding<Clerical>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: NumberingBody = body(&state, &req, &bytes)?;
    let doc = document(&state, c.seen.id).await?;
    let notation = match b.notation {
        Some(n) => n,
        None => {
            let agency = projections::agency(state.app.projections.pool())
                .await?
                .ok_or_else(|| {
                    ApiError::detail(Code::InvalidTransition, "the agency is not defined yet")
                })?;
            crate::domain::events::default_notation(
                &doc.metadata,
                &agency.abbreviation,
                doc.drafting_unit
                    .as_ref()
                    .map(|u| u.as_str())
                    .unwrap_or(&agency.clerk_unit),
            )
            .map_err(|e| ApiError::field(Code::InvalidField, "notation", e.to_string()))?
        }
    };
    let action = Action::Number {
        number: 0,
        year: 0,
        series: Series::for_secrecy(doc.metadata.secrecy),
        notation,
        issue_date: b
            .issue_date
            .unwrap_or_else(|| agency_date(Timestamp::now())),
    };
    reply(
        &state,
        &req,
        &c.seen.caller,
        c.seen.id,
        action,
        None,
        OK,
        Some(&bytes),
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DispatchBody {
    /// The internal units (or officials) the issued document goes to.
    pub assignments: Vec<AssignmentBody>,
}

/// Dispatch the issued document to internal units (clerk).
#[utoipa::path(post, path = "/api/v1/documents/{id}/dispatches", tag = "commands", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body(content = DispatchBody, content_type = "application/json"),
    responses(CommandAnswers))]
#[post("/documents/{id}/dispatches")]
pub async fn dispatches(
    state: Shared,
    req: HttpRequest,
    c: Commanding<Clerical>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: DispatchBody = body(&state, &req, &bytes)?;
    let action = Action::Dispatch {
        assignments: assignments(b.assignments),
    };
    reply(
        &state,
        &req,
        &c.seen.caller,
        c.seen.id,
        action,
        None,
        OK,
        Some(&bytes),
    )
    .await
}
