//! `POST /api/v1/verify`: the signatures of any uploaded PDF, judged with the
//! server's trust anchors and CRLs (setting `trust_dir`).

use actix_multipart::Multipart;
use actix_web::{HttpResponse, post, web};

use crate::http::Shared;
use crate::http::error::Problem;
use crate::http::error::{ApiError, Code};
use crate::http::extract::Caller;
use crate::pades::verify::{Report, VerifyOptions, verify_pdf};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(verify);
}

/// The part of `POST /verify` (multipart/form-data): `file`, the PDF. Its
/// schema is written by hand in `openapi.rs`.
pub struct VerifyForm;

/// Verify every signature of an uploaded PDF (ETSI EN 319 102-1
/// indications), against the server's trust anchors and CRLs. Nothing is
/// stored.
#[utoipa::path(post, path = "/api/v1/verify", tag = "documents", security(("bearer" = [])),
    request_body(content = VerifyForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The report, one entry per signature (none when unsigned)", body = Report),
        (status = 400, description = "Malformed", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a PDF part", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a readable PDF", body = Problem, content_type = "application/problem+json")))]
#[post("/verify")]
pub async fn verify(
    state: Shared,
    _caller: Caller,
    form: Multipart,
) -> Result<HttpResponse, ApiError> {
    let (metadata, file) = super::documents::read_form(
        form,
        state.settings.max_json_bytes,
        state.settings.max_upload_bytes,
    )
    .await?;
    if metadata.is_some() {
        return Err(ApiError::field(
            Code::InvalidBody,
            "metadata",
            "POST /verify takes only the part `file`",
        ));
    }
    let bytes = file.ok_or_else(|| {
        ApiError::field(
            Code::InvalidField,
            "file",
            "attach the PDF to verify as the part `file`",
        )
    })?;
    let _permit = state
        .pdf_checks
        .acquire()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let trust = state.trust.clone();
    let limits = state.app.config.pdf_limits;
    let report = tokio::task::spawn_blocking(move || {
        let options = VerifyOptions {
            trust: trust.anchors.clone(),
            crls: trust.crls.clone(),
            now: jiff::Timestamp::now(),
        };
        verify_pdf(&bytes, &options, &limits)
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(|e| ApiError::field(Code::NotAPdf, "file", e.to_string()))?;
    Ok(HttpResponse::Ok().json(report))
}
