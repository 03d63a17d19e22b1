//! Documents: create (multipart: metadata + PDF), list and search, read
//! (every read is recorded in `views-<id>`), the event stream, the PDF.

use actix_multipart::Multipart;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt as _;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::commands::{Reply, reply};
use super::parse_json;
use crate::app::{AppError, Upload};
use crate::domain::access::ViewKind;
use crate::domain::decide::{Action, RegistrationFacts, agency_date};
use crate::domain::model::{Document, DocumentId, Metadata, Source};
use crate::domain::values::UnitId;
use crate::http::Shared;
use crate::http::error::{ApiError, Code, Problem};
use crate::http::extract::{Caller, Seen};
use crate::projections::access::{DocumentSummary, ListFilter, Sight};
use crate::projections::{self, LocationRow};
use crate::store::EventStore as _;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get_document)
        .service(events)
        .service(pdf)
        .service(pdf_revision)
        .service(attachment_pdf);
}

/// The `metadata` part of `POST /documents`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(tag = "direction", rename_all = "snake_case", deny_unknown_fields)]
pub enum NewDocument {
    /// The clerk registers a received paper document (scanned): receive and
    /// register in one step.
    Incoming {
        metadata: Metadata,
        /// The arrival date; today (Asia/Ho_Chi_Minh) when omitted.
        #[serde(default)]
        arrival_date: Option<Date>,
    },
    /// A draft of an outgoing document.
    Outgoing { metadata: Metadata },
}

/// The parts of `POST /documents` (multipart/form-data): `metadata` (JSON,
/// a [`NewDocument`]) and `file` (the PDF; omitted for secret documents).
/// Its schema is written by hand in `openapi.rs`.
pub struct NewDocumentForm;

/// Reads a multipart body: the JSON part `metadata` and an optional PDF
/// part `file`. Other parts are refused by name.
pub async fn read_form(
    mut form: Multipart,
    max_json: usize,
    max_file: usize,
) -> Result<(Option<Vec<u8>>, Option<Vec<u8>>), ApiError> {
    let mut metadata = None;
    let mut file = None;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(multipart_error)?;
        let name = field.name().unwrap_or_default().to_string();
        let (limit, slot) = match name.as_str() {
            "metadata" => (max_json, &mut metadata),
            "file" => {
                if let Some(ct) = field.content_type()
                    && ct.essence_str() != "application/pdf"
                    && ct.essence_str() != "application/octet-stream"
                {
                    return Err(ApiError::field(
                        Code::UnsupportedMediaType,
                        "file",
                        format!(
                            "the part `file` is declared as {}; send application/pdf",
                            ct.essence_str()
                        ),
                    ));
                }
                (max_file, &mut file)
            }
            other => {
                return Err(ApiError::field(
                    Code::InvalidBody,
                    other,
                    format!("unknown part `{other}`: send `metadata` (JSON) and `file` (PDF)"),
                ));
            }
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(multipart_error)?;
            if bytes.len() + chunk.len() > limit {
                return Err(ApiError::field(
                    Code::PayloadTooLarge,
                    name.clone(),
                    format!("the part `{name}` is larger than {limit} bytes"),
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        if slot.replace(bytes).is_some() {
            return Err(ApiError::field(
                Code::InvalidBody,
                name.clone(),
                format!("the part `{name}` is sent twice"),
            ));
        }
    }
    Ok((metadata, file))
}

/// 415 when the body is not multipart/form-data; 400 when it is broken.
fn multipart_error(e: actix_multipart::MultipartError) -> ApiError {
    use actix_web::ResponseError as _;
    if e.status_code() == StatusCode::UNSUPPORTED_MEDIA_TYPE
        || matches!(e, actix_multipart::MultipartError::ContentTypeMissing)
    {
        ApiError::detail(
            Code::UnsupportedMediaType,
            "send the body as multipart/form-data with the parts `metadata` (JSON) and `file` (PDF)",
        )
    } else {
        ApiError::detail(
            Code::MalformedMultipart,
            format!("multipart/form-data: {e}"),
        )
    }
}

/// Parses an uploaded PDF under the concurrency limit.
pub async fn inspect(state: &Shared, bytes: Vec<u8>) -> Result<Upload, ApiError> {
    let _permit = state
        .pdf_checks
        .acquire()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(state.app.inspect_upload(bytes).await?)
}

/// Register an incoming document (clerk) or create an outgoing draft.
#[utoipa::path(post, path = "/api/v1/documents", tag = "documents", security(("bearer" = [])),
    request_body(content = NewDocumentForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Created", body = DocumentView, headers(("Location" = String), ("ETag" = String))),
        (status = 400, description = "Malformed", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a PDF part", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json")))]
#[post("/documents")]
pub async fn create(
    state: Shared,
    req: HttpRequest,
    caller: Caller,
    form: Multipart,
) -> Result<HttpResponse, ApiError> {
    let (metadata, file) = read_form(
        form,
        state.settings.max_json_bytes,
        state.settings.max_upload_bytes,
    )
    .await?;
    let metadata = metadata.ok_or_else(|| {
        ApiError::field(
            Code::InvalidBody,
            "metadata",
            "the part `metadata` (JSON) is missing",
        )
    })?;
    let new: NewDocument = parse_json(&metadata)?;
    // Incoming: `decide` admits only the clerk. Outgoing: the roles that
    // draft (and can then revise and submit their draft).
    if matches!(new, NewDocument::Outgoing { .. })
        && !super::commands::DRAFTING_ROLES
            .iter()
            .any(|r| caller.has(*r))
    {
        return Err(ApiError::forbidden(
            "drafting needs one of the roles clerk, leader, unit_head, specialist",
        ));
    }
    let upload = match file {
        Some(bytes) => Some(inspect(&state, bytes).await?),
        None => None,
    };
    let id = DocumentId(uuid::Uuid::now_v7());
    let pdf_ref = upload.as_ref().map(|u| u.pdf.clone());
    let action = match new {
        NewDocument::Incoming {
            metadata,
            arrival_date,
        } => Action::Receive {
            document_id: id,
            source: Source::Scan,
            metadata,
            pdf: pdf_ref,
            register: Some(RegistrationFacts {
                arrival_number: 0,
                year: 0,
                arrival_date: arrival_date.unwrap_or_else(|| agency_date(Timestamp::now())),
                possible_duplicates: vec![],
                signatures: None,
            }),
        },
        NewDocument::Outgoing { metadata } => {
            let agency = projections::agency(state.app.projections.pool())
                .await?
                .ok_or_else(|| {
                    ApiError::detail(Code::InvalidTransition, "the agency is not defined yet")
                })?;
            Action::Draft {
                document_id: id,
                metadata,
                pdf: pdf_ref,
                clerk_unit: UnitId::parse(&agency.clerk_unit)
                    .map_err(|e| ApiError::internal(&e))?,
            }
        }
    };
    let reply_to = Reply {
        status: StatusCode::CREATED,
        location: true,
    };
    // A repeat under the same Idempotency-Key must carry the same metadata
    // and the same file.
    let mut print = metadata.clone();
    if let Some(u) = &upload {
        print.extend_from_slice(u.pdf.sha256.to_string().as_bytes());
    }
    reply(
        &state,
        &req,
        &caller,
        id,
        action,
        upload.as_ref(),
        reply_to,
        Some(&print),
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// A status, e.g. `in_progress`.
    pub status: Option<String>,
    /// Documents where the caller (or their unit) holds an open row with this role: lead, coordinate, information.
    pub role: Option<String>,
    /// Only documents with (true) or without (false) an open row past its deadline.
    pub overdue: Option<bool>,
    /// Number, notation, subject or issuer; case and diacritics ignored.
    pub q: Option<String>,
    pub year: Option<i16>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1..=200 (default 50).
    pub limit: Option<u32>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct DocumentPage {
    pub items: Vec<DocumentSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Search and list the documents the caller may see, newest first.
#[utoipa::path(get, path = "/api/v1/documents", tag = "documents", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page", body = DocumentPage),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json")))]
#[get("/documents")]
pub async fn list(
    state: Shared,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q: ListQuery = super::query(&req)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field(
            Code::InvalidQuery,
            "limit",
            "limit must be between 1 and 200",
        ));
    }
    if let Some(r) = &q.role
        && !["lead", "coordinate", "information"].contains(&r.as_str())
    {
        return Err(ApiError::field(
            Code::InvalidQuery,
            "role",
            "role must be lead, coordinate or information",
        ));
    }
    let after = match &q.cursor {
        None => None,
        Some(c) => Some(decode_cursor(c).ok_or_else(|| {
            ApiError::field(
                Code::InvalidQuery,
                "cursor",
                "the cursor is not one this server gave",
            )
        })?),
    };
    let filter = ListFilter {
        status: q.status,
        role: q.role,
        overdue: q.overdue,
        q: q.q.filter(|s| !s.trim().is_empty()),
        year: q.year,
        after,
        limit,
    };
    let today = agency_date(Timestamp::now());
    let (items, more) =
        projections::access::list(state.app.projections.pool(), &caller.viewer, &filter, today)
            .await?;
    let next_cursor = more
        .then(|| items.last().map(|d| encode_cursor(&d.created_at, &d.id)))
        .flatten();
    Ok(HttpResponse::Ok().json(DocumentPage { items, next_cursor }))
}

fn encode_cursor(at: &str, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{at}\n{id}"))
}

fn decode_cursor(c: &str) -> Option<(String, String)> {
    let bytes = URL_SAFE_NO_PAD.decode(c).ok()?;
    let s = String::from_utf8(bytes).ok()?;
    let (a, b) = s.split_once('\n')?;
    Some((a.to_string(), b.to_string()))
}

/// A document as its reader sees it.
#[derive(Serialize, schemars::JsonSchema)]
pub struct DocumentView {
    pub document: Document,
    /// The document stream's version (also the ETag).
    pub version: u64,
    /// The open recipient rows: where the document sits now.
    pub location: Vec<LocationRow>,
}

pub async fn view(state: &Shared, id: DocumentId) -> Result<(DocumentView, u64), ApiError> {
    let pool = state.app.projections.pool();
    let (document, version) = projections::document(pool, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let today = agency_date(Timestamp::now());
    let location =
        projections::location(pool, id, today, &state.app.config.policy.calendar).await?;
    Ok((
        DocumentView {
            document,
            version,
            location,
        },
        version,
    ))
}

pub fn etag(version: u64) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}

/// Metadata, status and location. Each read is recorded (view history).
#[utoipa::path(get, path = "/api/v1/documents/{id}", tag = "documents", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The document")),
    responses(
        (status = 200, description = "The document", body = DocumentView, headers(("ETag" = String))),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such document, or not visible to the caller", body = Problem, content_type = "application/problem+json")))]
#[get("/documents/{id}")]
pub async fn get_document(state: Shared, seen: Seen) -> Result<HttpResponse, ApiError> {
    seen.full()?;
    let (body, version) = view(&state, seen.id).await?;
    state
        .app
        .record_view(
            &seen.caller.user,
            seen.id,
            ViewKind::Metadata,
            None,
            &seen.caller.meta,
        )
        .await?;
    Ok(HttpResponse::Ok().insert_header(etag(version)).json(body))
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct EventView {
    pub position: u64,
    pub version: u64,
    pub stream: String,
    pub event_type: String,
    pub schema_version: u32,
    /// When the event was committed (RFC 3339).
    pub recorded_at: String,
    pub actor: Option<String>,
    /// The stored payload; null for an auditor reading a secret document.
    pub payload: Option<serde_json::Value>,
    pub hash: String,
    pub prev_hash: String,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct EventsPage {
    /// The document's events and its views, by position.
    pub events: Vec<EventView>,
    /// One line per step and per view; for an auditor reading a secret
    /// document, `summary` is only the action.
    pub trail: Vec<projections::TrailRow>,
}

/// The document's stream and its trail (every step and every view).
#[utoipa::path(get, path = "/api/v1/documents/{id}/events", tag = "documents", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The document")),
    responses(
        (status = 200, description = "Events and trail", body = EventsPage),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json")))]
#[get("/documents/{id}/events")]
pub async fn events(state: Shared, seen: Seen) -> Result<HttpResponse, ApiError> {
    state
        .app
        .record_view(
            &seen.caller.user,
            seen.id,
            ViewKind::Events,
            None,
            &seen.caller.meta,
        )
        .await?;
    let content = seen.sight == Sight::Full;
    let mut out = Vec::new();
    for stream in [
        seen.id.stream(),
        crate::domain::access::Viewed::stream(seen.id),
    ] {
        let mut from = 1;
        loop {
            let batch = state
                .app
                .store
                .read_stream(&stream, from, 1000)
                .await
                .map_err(|e| ApiError::internal(&e))?;
            let Some(last) = batch.last() else { break };
            from = last.version + 1;
            for e in batch {
                let actor = serde_json::from_str::<serde_json::Value>(&e.metadata)
                    .ok()
                    .and_then(|m| m.get("actor").and_then(|a| a.as_str()).map(str::to_string));
                out.push(EventView {
                    position: e.position,
                    version: e.version,
                    stream: e.stream,
                    event_type: e.event_type,
                    schema_version: e.schema_version,
                    recorded_at: Timestamp::from_microsecond(e.recorded_at)
                        .map(|t| t.to_string())
                        .unwrap_or_default(),
                    actor,
                    payload: if content {
                        serde_json::from_str(&e.payload).ok()
                    } else {
                        None
                    },
                    hash: e.hash,
                    prev_hash: e.prev_hash,
                });
            }
        }
    }
    out.sort_by_key(|e| e.position);
    let mut trail = projections::trail(state.app.projections.pool(), seen.id).await?;
    if !content {
        // The summaries quote the document (number, subject, instructions).
        for t in &mut trail {
            t.summary = t.action.clone();
        }
    }
    Ok(HttpResponse::Ok().json(EventsPage { events: out, trail }))
}

/// Which file of a document.
enum Which {
    /// A revision of the document's PDF (the current one when None).
    Revision(Option<u32>),
    /// An attachment, numbered from 1.
    Attachment(u32),
}

async fn send_pdf(state: &Shared, seen: &Seen, which: Which) -> Result<HttpResponse, ApiError> {
    seen.full()?;
    let (document, _) = projections::document(state.app.projections.pool(), seen.id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let nth = |n: u32, len: usize| (n >= 1 && n as usize <= len).then(|| n as usize - 1);
    let (file, view, n, name) = match which {
        Which::Revision(revision) => {
            let n = revision.unwrap_or(document.revisions.len() as u32);
            let rev = nth(n, document.revisions.len())
                .map(|i| &document.revisions[i])
                .ok_or_else(|| {
                    ApiError::detail(Code::NotFound, "the document has no such PDF revision")
                })?;
            (
                rev.pdf.clone(),
                ViewKind::Pdf,
                n,
                format!("{}-r{n}", seen.id),
            )
        }
        Which::Attachment(n) => {
            let a = nth(n, document.attachments.len())
                .map(|i| &document.attachments[i])
                .ok_or_else(|| {
                    ApiError::detail(Code::NotFound, "the document has no such attachment")
                })?;
            (
                a.pdf.clone(),
                ViewKind::Attachment,
                n,
                format!("{}-a{n}", seen.id),
            )
        }
    };
    let blobs = state.app.blobs.clone();
    let digest = file.sha256;
    let bytes = tokio::task::spawn_blocking(move || blobs.get(&digest))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::from(AppError::Io(e)))?;
    state
        .app
        .record_view(&seen.caller.user, seen.id, view, Some(n), &seen.caller.meta)
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((header::ETAG, format!("\"{}\"", file.sha256)))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{name}.pdf\""),
        ))
        .body(bytes))
}

/// The current PDF revision.
#[utoipa::path(get, path = "/api/v1/documents/{id}/pdf", tag = "documents", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The document")),
    responses(
        (status = 200, description = "The PDF", content_type = "application/pdf", body = Vec<u8>),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found or no PDF", body = Problem, content_type = "application/problem+json")))]
#[get("/documents/{id}/pdf")]
pub async fn pdf(state: Shared, seen: Seen) -> Result<HttpResponse, ApiError> {
    send_pdf(&state, &seen, Which::Revision(None)).await
}

/// One PDF revision, numbered from 1.
#[utoipa::path(get, path = "/api/v1/documents/{id}/pdf/revisions/{n}", tag = "documents", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The document"), ("n" = u32, Path, description = "Revision, from 1")),
    responses(
        (status = 200, description = "The PDF", content_type = "application/pdf", body = Vec<u8>),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found or no such revision", body = Problem, content_type = "application/problem+json")))]
#[get("/documents/{id}/pdf/revisions/{n}")]
pub async fn pdf_revision(
    state: Shared,
    seen: Seen,
    path: web::Path<(String, u32)>,
) -> Result<HttpResponse, ApiError> {
    send_pdf(&state, &seen, Which::Revision(Some(path.1))).await
}

/// One attachment's file, numbered from 1 (the sealed file once the
/// document is sealed).
#[utoipa::path(get, path = "/api/v1/documents/{id}/attachments/{n}/pdf", tag = "documents", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The document"), ("n" = u32, Path, description = "Attachment, from 1")),
    responses(
        (status = 200, description = "The PDF", content_type = "application/pdf", body = Vec<u8>),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found or no such attachment", body = Problem, content_type = "application/problem+json")))]
#[get("/documents/{id}/attachments/{n}/pdf")]
pub async fn attachment_pdf(
    state: Shared,
    seen: Seen,
    path: web::Path<(String, u32)>,
) -> Result<HttpResponse, ApiError> {
    send_pdf(&state, &seen, Which::Attachment(path.1)).await
}
