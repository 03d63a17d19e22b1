//! Every route, one file per area. Handlers extract, build the command,
//! call the application and map the result; rules live in `decide`.

pub mod admin;
pub mod auth;
pub mod commands;
pub mod documents;
pub mod health;
pub mod lists;
pub mod signatures;
pub mod verify;

use actix_web::error::PathError;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::error::{ApiError, Code};
use crate::settings::Settings;

pub fn configure(cfg: &mut web::ServiceConfig, settings: &Settings) {
    // JSON bodies and query strings are parsed by `json_body` and `query`
    // after the caller is known; only paths go through an extractor config.
    cfg.app_data(web::PathConfig::default().error_handler(path_error))
        // Bodies read whole (JSON commands and administration); uploads stream
        // through `read_form`. A body up to 4 × the JSON limit is read and then
        // refused with a 413 answer the client can read; a larger one is refused
        // before it is read, and the connection closed.
        .app_data(web::PayloadConfig::new(
            settings.max_json_bytes.saturating_mul(4),
        ))
        .configure(health::configure)
        .configure(super::docs::configure)
        .service(
            web::scope("/api/v1")
                .configure(super::openapi::configure)
                .configure(auth::configure)
                .configure(admin::configure)
                .configure(documents::configure)
                .configure(commands::configure)
                .configure(signatures::configure)
                .configure(lists::configure)
                .configure(verify::configure),
        )
        .default_service(web::to(not_found));
}

/// No route matched: 405 with `Allow` when the path exists with other
/// methods (per the OpenAPI document), else 404.
async fn not_found(
    req: HttpRequest,
    doc: web::Data<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let allowed = allowed_methods(&doc, req.path());
    if allowed.is_empty() {
        return Err(ApiError::detail(
            Code::NotFound,
            format!("no route {}", req.path()),
        ));
    }
    let allow = allowed.join(", ");
    let mut res = actix_web::ResponseError::error_response(&ApiError::detail(
        Code::MethodNotAllowed,
        format!("{} is not allowed here; allowed: {allow}", req.method()),
    ));
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&allow) {
        res.headers_mut().insert(actix_web::http::header::ALLOW, v);
    }
    Ok(res)
}

fn allowed_methods(doc: &serde_json::Value, path: &str) -> Vec<String> {
    let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (template, ops) in paths {
        if actix_web::dev::ResourceDef::new(template.as_str()).is_match(path)
            && let Some(ops) = ops.as_object()
        {
            out.extend(
                ops.keys()
                    .filter(|k| k.as_str() != "parameters")
                    .map(|k| k.to_uppercase()),
            );
        }
    }
    out.sort();
    out.dedup();
    out
}

/// 400 for bytes that are not JSON; 422 naming the field for JSON that
/// breaks the schema (unknown or missing field, wrong type or enum value).
pub fn serde_error(e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let message = e.to_string();
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::detail(Code::MalformedJson, message)
        }
        Category::Data => match backticked(&message) {
            Some(field)
                if message.starts_with("unknown field") || message.starts_with("missing field") =>
            {
                ApiError::field(Code::InvalidBody, field, message)
            }
            _ => ApiError::detail(Code::InvalidBody, message),
        },
    }
}

fn backticked(s: &str) -> Option<String> {
    let start = s.find('`')? + 1;
    let end = start + s[start..].find('`')?;
    Some(s[start..end].to_string())
}

fn path_error(_: PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::new(Code::NotFound).into()
}

/// Parses a JSON body already read (multipart parts, optional bodies).
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| serde_error(&e))
}

/// Reads a JSON body already read as bytes (415 unless JSON; 413 over the limit).
pub fn json_body<T: serde::de::DeserializeOwned>(
    state: &super::Shared,
    req: &HttpRequest,
    bytes: &[u8],
) -> Result<T, ApiError> {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| {
            m.essence_str() == "application/json" || m.suffix().is_some_and(|s| s == "json")
        });
    if !json {
        return Err(ApiError::detail(
            Code::UnsupportedMediaType,
            "send the body as Content-Type: application/json",
        ));
    }
    if bytes.len() > state.settings.max_json_bytes {
        return Err(ApiError::detail(
            Code::PayloadTooLarge,
            format!(
                "the body is larger than {} bytes",
                state.settings.max_json_bytes
            ),
        ));
    }
    parse_json(bytes)
}

/// Parses the query string (after the caller is known: extractors run
/// together, and a bad query must not answer before a missing role does).
pub fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::detail(Code::InvalidQuery, e.to_string()))
}
