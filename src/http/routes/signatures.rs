//! Signatures of a document: the competent person's and the agency's seal
//! (`POST /signatures`, or in two phases `…/prepare` then `…/finish` for a
//! key the server cannot reach), and the report (`GET /signatures`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use super::commands::{Reply, Work, reply_work};
use super::json_body as body;
use crate::domain::access::ViewKind;
use crate::domain::model::{OfficialRole, SignatureKind, SignatureRecord, SignatureVerdict};
use crate::http::Shared;
use crate::http::error::{ApiError, Code, Problem};
use crate::http::extract::{CommandKind, Commanding, Seen, if_match};
use crate::pades::verify::Report;
use crate::signing::{Finish, Prepared, SignRequest};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(sign)
        .service(prepare)
        .service(finish)
        .service(report);
}

/// Who may sign: a leader (the person), a clerk (the seal). Whether this
/// official may sign this document now is `decide`'s business.
pub struct Signing;

impl CommandKind for Signing {
    const NAME: &'static str = "signatures";
    const ROLES: &'static [OfficialRole] = &[OfficialRole::Leader, OfficialRole::Clerk];
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignBody {
    /// `personal`: the competent person signs the approved draft;
    /// `agency_seal`: the clerk seals the numbered document.
    pub kind: SignatureKind,
    /// /Reason of the signature (default: "Ký ban hành văn bản" or
    /// "Đóng dấu cơ quan").
    #[serde(default)]
    #[schemars(length(min = 1, max = 200))]
    pub reason: Option<String>,
    /// /Location of the signature.
    #[serde(default)]
    #[schemars(length(min = 1, max = 200))]
    pub location: Option<String>,
    /// Where the signature shows (default: the person at the lower right of
    /// the last page, the seal over the left third of the person's
    /// signature).
    #[serde(default)]
    pub placement: Option<Placement>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// The page, from 1.
    #[schemars(range(min = 1))]
    pub page: u32,
    /// [x, y, width, height] in points from the page's lower-left corner.
    pub rect: [f32; 4],
}

fn request_of(b: &SignBody) -> Result<SignRequest, ApiError> {
    for (field, v) in [("reason", &b.reason), ("location", &b.location)] {
        if let Some(v) = v
            && (v.trim().is_empty() || v.chars().count() > 200 || v.chars().any(char::is_control))
        {
            return Err(ApiError::field(
                Code::InvalidField,
                field,
                format!("{field} is 1 to 200 characters, without control characters"),
            ));
        }
    }
    let placement = match &b.placement {
        None => None,
        Some(p) => {
            let [x, y, w, h] = p.rect;
            if p.page == 0
                || !p.rect.iter().all(|v| v.is_finite())
                || x < 0.0
                || y < 0.0
                || w <= 0.0
                || h <= 0.0
            {
                return Err(ApiError::field(
                    Code::InvalidField,
                    "placement",
                    "placement is a page from 1 and a rectangle [x, y, width, height] with x, y >= 0 and a positive width and height",
                ));
            }
            Some((p.page, p.rect))
        }
    };
    Ok(SignRequest {
        reason: b.reason.clone(),
        location: b.location.clone(),
        placement,
    })
}

const CREATED: Reply = Reply {
    status: StatusCode::CREATED,
    location: false,
};

/// Sign the document's PDF with the keystore's key (PAdES B-B): the
/// competent person signs the approved draft, the clerk seals the numbered
/// one. The signed file is verified before the signature is recorded; the
/// answer is the document, whose `signatures` lists it.
#[utoipa::path(post, path = "/api/v1/documents/{id}/signatures", tag = "commands", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body(content = SignBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Signed; the document as it is now", body = super::documents::DocumentView, headers(("ETag" = String))),
        (status = "4XX", description = "400 malformed, 401 no valid token, 403 role may not, 404 no such document, 409 refused or the file could not be signed, 412 stale If-Match, 413 too large, 415 not JSON, 422 invalid", body = Problem, content_type = "application/problem+json")))]
#[post("/documents/{id}/signatures")]
pub async fn sign(
    state: Shared,
    req: HttpRequest,
    c: Commanding<Signing>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: SignBody = body(&state, &req, &bytes)?;
    let request = request_of(&b)?;
    reply_work(
        &state,
        &req,
        &c.seen.caller,
        c.seen.id,
        Work::Sign {
            kind: b.kind,
            request,
        },
        CREATED,
        Some(&bytes),
    )
    .await
}

/// Phase one of a two-phase signature, for an official whose key the
/// server cannot reach (a USB token, a remote signing service): the
/// revision is prepared and kept for 15 minutes; sign `data_to_sign` (or
/// have a CSC service sign `digest_to_sign`) and send it to `…/finish`.
#[utoipa::path(post, path = "/api/v1/documents/{id}/signatures/prepare", tag = "commands", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body(content = SignBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Prepared", body = Prepared),
        (status = "4XX", description = "400 malformed, 401 no valid token, 403 role may not, 404 no such document, 409 refused or the file could not be signed, 412 stale If-Match, 413 too large, 415 not JSON, 422 invalid", body = Problem, content_type = "application/problem+json")))]
#[post("/documents/{id}/signatures/prepare")]
pub async fn prepare(
    state: Shared,
    req: HttpRequest,
    c: Commanding<Signing>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: SignBody = body(&state, &req, &bytes)?;
    let request = request_of(&b)?;
    let expected = if_match(&req)?;
    let _permit = state
        .pdf_checks
        .acquire()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let prepared = state
        .app
        .prepare_signature(&c.seen.caller.user, c.seen.id, b.kind, &request, expected)
        .await?;
    Ok(HttpResponse::Ok().json(prepared))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishBody {
    /// The `session_id` that `…/prepare` returned.
    pub session_id: uuid::Uuid,
    /// The raw signature over `data_to_sign`, base64.
    #[serde(default)]
    pub signature: Option<String>,
    /// Or a complete CMS SignedData (DER, base64) made by a remote signing
    /// service over the revision.
    #[serde(default)]
    pub cms: Option<String>,
}

/// Phase two: the device's signature goes into the prepared revision; the
/// file is verified and the signature recorded.
#[utoipa::path(post, path = "/api/v1/documents/{id}/signatures/finish", tag = "commands", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body(content = FinishBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Signed; the document as it is now", body = super::documents::DocumentView, headers(("ETag" = String))),
        (status = "4XX", description = "400 malformed, 401 no valid token, 403 role may not, 404 no such document, 409 refused or the file could not be signed, 412 stale If-Match, 413 too large, 415 not JSON, 422 invalid", body = Problem, content_type = "application/problem+json")))]
#[post("/documents/{id}/signatures/finish")]
pub async fn finish(
    state: Shared,
    req: HttpRequest,
    c: Commanding<Signing>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: FinishBody = body(&state, &req, &bytes)?;
    let decode = |field: &'static str, v: &str| {
        BASE64.decode(v.trim()).map_err(|e| {
            ApiError::field(
                Code::InvalidField,
                field,
                format!("{field} is not base64: {e}"),
            )
        })
    };
    let value = match (&b.signature, &b.cms) {
        (Some(s), None) => Finish::Signature(decode("signature", s)?),
        (None, Some(c)) => Finish::Cms(decode("cms", c)?),
        _ => {
            return Err(ApiError::field(
                Code::InvalidBody,
                "signature",
                "give exactly one of `signature` (raw) and `cms`",
            ));
        }
    };
    reply_work(
        &state,
        &req,
        &c.seen.caller,
        c.seen.id,
        Work::Finish {
            session: b.session_id,
            value,
        },
        CREATED,
        Some(&bytes),
    )
    .await
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct SignaturesView {
    /// The signatures the server made on this (outgoing) document, as
    /// recorded when they were made.
    pub recorded: Vec<SignatureRecord>,
    /// For an incoming document: its signatures as judged when it was
    /// registered (null when registered without its file).
    pub at_registration: Option<Vec<SignatureVerdict>>,
    /// Every signature of the current PDF, verified now with the server's
    /// trust anchors and CRLs (null when the document has no PDF).
    pub report: Option<Report>,
}

/// The document's signatures: those recorded, and a verification of the
/// current PDF now. Each read is recorded (view history).
#[utoipa::path(get, path = "/api/v1/documents/{id}/signatures", tag = "documents", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The document")),
    responses(
        (status = 200, description = "The signatures", body = SignaturesView),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such document, or not visible to the caller", body = Problem, content_type = "application/problem+json")))]
#[get("/documents/{id}/signatures")]
pub async fn report(state: Shared, seen: Seen) -> Result<HttpResponse, ApiError> {
    seen.full()?;
    let (doc, _) = crate::projections::document(state.app.projections.pool(), seen.id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    state
        .app
        .record_view(
            &seen.caller.user,
            seen.id,
            ViewKind::Signatures,
            None,
            &seen.caller.meta,
        )
        .await?;
    let _permit = state
        .pdf_checks
        .acquire()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let report = state.app.signature_report(&doc).await?;
    Ok(HttpResponse::Ok().json(SignaturesView {
        recorded: doc.signatures,
        at_registration: doc.incoming_signatures,
        report,
    }))
}
