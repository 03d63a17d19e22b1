//! One error envelope: RFC 9457 `application/problem+json` with a stable
//! machine `code`, for every failure — handlers, extractors (bad JSON, bad
//! query, too large), unknown routes and wrong methods alike.
//!
//! `title` and `detail` are English, or Vietnamese when the request's
//! `Accept-Language` prefers `vi`: errors are rendered in English where they
//! arise and re-rendered by the [`localize`] middleware, which knows the
//! request. 5xx bodies are opaque; the cause goes to the log, once, here.

use std::fmt;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::app::AppError;
use crate::domain::DomainError;
use crate::pdf::PdfError;

/// The stable codes, each with its status and its titles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    MalformedJson,
    MalformedMultipart,
    InvalidBody,
    InvalidField,
    InvalidQuery,
    PayloadTooLarge,
    UnsupportedMediaType,
    NotAPdf,
    SecretContent,
    InvalidTransition,
    SigningFailed,
    Contention,
    StaleVersion,
    PreconditionRequired,
    IdempotencyKeyReused,
    Unauthorized,
    BadCredentials,
    Throttled,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    NotAcceptable,
    Unavailable,
    Internal,
}

impl Code {
    pub fn status(self) -> StatusCode {
        use Code::*;
        match self {
            MalformedJson | MalformedMultipart | InvalidQuery | PreconditionRequired => {
                StatusCode::BAD_REQUEST
            }
            InvalidBody | InvalidField | NotAPdf | SecretContent | IdempotencyKeyReused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            InvalidTransition | SigningFailed | Contention => StatusCode::CONFLICT,
            StaleVersion => StatusCode::PRECONDITION_FAILED,
            Unauthorized | BadCredentials => StatusCode::UNAUTHORIZED,
            Throttled => StatusCode::TOO_MANY_REQUESTS,
            Forbidden => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn as_str(self) -> &'static str {
        use Code::*;
        match self {
            MalformedJson => "malformed_json",
            MalformedMultipart => "malformed_multipart",
            InvalidBody => "invalid_body",
            InvalidField => "invalid_field",
            InvalidQuery => "invalid_query",
            PayloadTooLarge => "payload_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            NotAPdf => "not_a_pdf",
            SecretContent => "secret_content",
            InvalidTransition => "invalid_transition",
            SigningFailed => "signing_failed",
            Contention => "contention",
            StaleVersion => "stale_version",
            PreconditionRequired => "bad_precondition",
            IdempotencyKeyReused => "idempotency_key_reused",
            Unauthorized => "unauthorized",
            BadCredentials => "bad_credentials",
            Throttled => "throttled",
            Forbidden => "forbidden",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            NotAcceptable => "not_acceptable",
            Unavailable => "unavailable",
            Internal => "internal",
        }
    }

    /// (English title, Vietnamese title, Vietnamese detail when there is no
    /// more specific one).
    fn titles(self) -> (&'static str, &'static str, &'static str) {
        use Code::*;
        match self {
            MalformedJson => (
                "Malformed JSON",
                "JSON không hợp lệ",
                "Nội dung yêu cầu không phải là JSON hợp lệ.",
            ),
            MalformedMultipart => (
                "Malformed multipart body",
                "Nội dung multipart không hợp lệ",
                "Nội dung multipart/form-data không đọc được.",
            ),
            InvalidBody => (
                "The request body breaks the schema",
                "Nội dung yêu cầu không đúng cấu trúc",
                "Nội dung yêu cầu thiếu trường, thừa trường hoặc sai kiểu dữ liệu.",
            ),
            InvalidField => (
                "A field breaks a rule",
                "Trường dữ liệu không hợp lệ",
                "Một trường dữ liệu vi phạm quy tắc.",
            ),
            InvalidQuery => (
                "Invalid query parameter",
                "Tham số truy vấn không hợp lệ",
                "Một tham số truy vấn không hợp lệ.",
            ),
            PayloadTooLarge => (
                "Payload too large",
                "Dung lượng quá lớn",
                "Nội dung gửi lên vượt quá dung lượng cho phép.",
            ),
            UnsupportedMediaType => (
                "Unsupported media type",
                "Kiểu nội dung không được hỗ trợ",
                "Kiểu nội dung (Content-Type) không được hỗ trợ.",
            ),
            NotAPdf => (
                "The file is not a usable PDF",
                "Tệp không phải là PDF hợp lệ",
                "Tệp đính kèm không phải là tệp PDF đọc được.",
            ),
            SecretContent => (
                "Secret documents are kept as metadata only",
                "Văn bản mật chỉ được quản lý thông tin",
                "Luật Bảo vệ bí mật nhà nước cấm lưu nội dung văn bản mật trên hệ thống kết nối Internet; không đính kèm tệp.",
            ),
            InvalidTransition => (
                "The document's state does not allow this",
                "Trạng thái văn bản không cho phép thao tác này",
                "Trạng thái hiện tại của văn bản không cho phép thao tác này.",
            ),
            SigningFailed => (
                "The document could not be signed",
                "Không ký được văn bản",
                "Không ký được văn bản: khóa ký chưa được cấu hình, tệp không ký được, hoặc chữ ký không được xác thực.",
            ),
            Contention => (
                "Changed concurrently",
                "Văn bản đang được thay đổi đồng thời",
                "Văn bản vừa được người khác thay đổi; hãy thử lại.",
            ),
            StaleVersion => (
                "The document has changed",
                "Văn bản đã thay đổi",
                "Phiên bản trong If-Match không còn là phiên bản hiện tại; hãy tải lại văn bản.",
            ),
            PreconditionRequired => (
                "Invalid precondition header",
                "Tiêu đề điều kiện không hợp lệ",
                "Tiêu đề If-Match hoặc Idempotency-Key không hợp lệ.",
            ),
            IdempotencyKeyReused => (
                "Idempotency-Key reused for another request",
                "Idempotency-Key đã dùng cho yêu cầu khác",
                "Khóa Idempotency-Key này đã được dùng cho một yêu cầu khác.",
            ),
            Unauthorized => (
                "Authentication required",
                "Cần đăng nhập",
                "Thiếu mã truy cập hoặc mã truy cập không hợp lệ, đã hết hạn hoặc đã bị thu hồi.",
            ),
            BadCredentials => (
                "Wrong username or password",
                "Sai tên đăng nhập hoặc mật khẩu",
                "Tên đăng nhập hoặc mật khẩu không đúng.",
            ),
            Throttled => (
                "Too many failed sign-ins",
                "Đăng nhập sai quá nhiều lần",
                "Đăng nhập sai quá nhiều lần; hãy thử lại sau.",
            ),
            Forbidden => (
                "Not allowed",
                "Không có quyền",
                "Vai trò của bạn không được thực hiện thao tác này.",
            ),
            NotFound => (
                "Not found",
                "Không tìm thấy",
                "Không tìm thấy tài nguyên được yêu cầu.",
            ),
            MethodNotAllowed => (
                "Method not allowed",
                "Phương thức không được phép",
                "Phương thức HTTP này không được hỗ trợ tại địa chỉ này.",
            ),
            NotAcceptable => (
                "Not acceptable",
                "Không đáp ứng được định dạng yêu cầu",
                "Không có định dạng phản hồi phù hợp với tiêu đề Accept.",
            ),
            Unavailable => ("Not ready", "Chưa sẵn sàng", "Máy chủ chưa sẵn sàng."),
            Internal => (
                "Internal error",
                "Lỗi máy chủ",
                "Đã có lỗi ở máy chủ; lỗi đã được ghi lại.",
            ),
        }
    }

    /// The code a bare status stands for (responses made outside our handlers).
    fn for_status(status: StatusCode) -> Code {
        match status.as_u16() {
            400 => Code::MalformedJson,
            401 => Code::Unauthorized,
            403 => Code::Forbidden,
            404 => Code::NotFound,
            405 => Code::MethodNotAllowed,
            406 => Code::NotAcceptable,
            412 => Code::StaleVersion,
            413 => Code::PayloadTooLarge,
            415 => Code::UnsupportedMediaType,
            422 => Code::InvalidBody,
            429 => Code::Throttled,
            503 => Code::Unavailable,
            _ => Code::Internal,
        }
    }
}

/// An error answered to the client.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub code: Code,
    /// English detail (for 5xx: never sent; logged).
    pub detail: Option<String>,
    /// The field (JSON pointer-ish path or parameter name) at fault.
    pub field: Option<String>,
    /// Seconds to wait, for 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: Code) -> Self {
        ApiError {
            code,
            detail: None,
            field: None,
            retry_after: None,
        }
    }

    pub fn detail(code: Code, detail: impl Into<String>) -> Self {
        ApiError {
            detail: Some(detail.into()),
            ..ApiError::new(code)
        }
    }

    pub fn field(code: Code, field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.into()),
            ..ApiError::detail(code, detail)
        }
    }

    pub fn not_found() -> Self {
        ApiError::new(Code::NotFound)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::detail(Code::Forbidden, detail)
    }

    /// An internal failure: logged here with its cause chain; the client
    /// gets an opaque 500.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = cause.to_string();
        let mut source = cause.source();
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        tracing::error!(error.cause_chain = %chain, "request failed");
        ApiError::new(Code::Internal)
    }

    /// The English body.
    pub fn problem(&self) -> Problem {
        self.body(false)
    }

    fn body(&self, vi: bool) -> Problem {
        let (en, vi_title, vi_detail) = self.code.titles();
        let status = self.code.status().as_u16();
        let internal = status >= 500;
        let detail = if internal {
            None
        } else if vi {
            Some(match &self.field {
                Some(f) => format!("{vi_detail} (trường: {f})"),
                None => vi_detail.to_string(),
            })
        } else {
            self.detail.clone()
        };
        Problem {
            r#type: format!("https://congvan.invalid/problems/{}", self.code.as_str()),
            title: if vi { vi_title } else { en }.to_string(),
            status,
            code: self.code,
            detail,
            // The English reason stays machine-visible in both languages.
            reason: if vi && !internal {
                self.detail.clone()
            } else {
                None
            },
            field: if internal { None } else { self.field.clone() },
        }
    }

    fn render(&self, vi: bool) -> HttpResponse {
        let mut res = HttpResponse::build(self.code.status());
        res.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if self.code == Code::Unauthorized || self.code == Code::BadCredentials {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        let mut out = res.json(self.body(vi));
        out.extensions_mut().insert(self.clone());
        out
    }
}

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The body of every error response (RFC 9457, with `code`).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Problem {
    /// A URI naming the problem type (not an address to fetch).
    pub r#type: String,
    pub title: String,
    pub status: u16,
    /// The stable machine code.
    pub code: Code,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The English reason, when `detail` is in Vietnamese.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The field or parameter at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.detail {
            Some(d) => write!(f, "{}: {d}", self.code.as_str()),
            None => f.write_str(self.code.as_str()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        self.render(false)
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::State(s) => ApiError::detail(Code::InvalidTransition, s),
            DomainError::Forbidden(s) => ApiError::detail(Code::Forbidden, s),
            DomainError::Invalid { field, rule } => {
                ApiError::field(Code::InvalidField, field, format!("{field}: {rule}"))
            }
            DomainError::NotFound => ApiError::not_found(),
            e @ DomainError::SecretContent { .. } => {
                ApiError::field(Code::SecretContent, "file", e.to_string())
            }
        }
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Domain(d) => d.into(),
            AppError::Pdf(p @ PdfError::TooLarge { .. }) => {
                ApiError::field(Code::PayloadTooLarge, "file", p.to_string())
            }
            AppError::Pdf(p) => ApiError::field(Code::NotAPdf, "file", p.to_string()),
            AppError::UnknownOfficial(u) => {
                ApiError::field(Code::InvalidField, "user", format!("unknown official {u}"))
            }
            AppError::Contention => ApiError::detail(Code::Contention, e.to_string()),
            AppError::StaleVersion { .. } => {
                ApiError::field(Code::StaleVersion, "If-Match", e.to_string())
            }
            AppError::Signing(m) => ApiError::detail(Code::SigningFailed, m),
            other => ApiError::internal(&other),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::internal(&e)
    }
}

/// Whether the request prefers Vietnamese (`Accept-Language`, by q-value;
/// English otherwise).
pub fn prefers_vietnamese(req: &actix_web::HttpRequest) -> bool {
    let Some(v) = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut best: Option<(f32, bool)> = None;
    for part in v.split(',') {
        let mut it = part.trim().split(';');
        let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = it
            .find_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
            })
            .unwrap_or(1.0);
        let is_vi = tag == "vi" || tag.starts_with("vi-");
        let is_en = tag == "en" || tag.starts_with("en-") || tag == "*";
        if (is_vi || is_en) && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, is_vi));
        }
    }
    best.is_some_and(|(q, vi)| vi && q > 0.0)
}

/// Middleware: every error response becomes problem+json (also those made
/// by actix itself: unknown routes, wrong methods), in the request's
/// language.
pub async fn localize(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let vi = prefers_vietnamese(req.request());
    let res = match next.call(req).await {
        Ok(res) => res.map_into_boxed_body(),
        Err(e) => {
            // An error that escaped as `Err` (e.g. from another middleware).
            let status = e.as_response_error().status_code();
            let problem = ApiError::new(Code::for_status(status));
            return Err(
                actix_web::error::InternalError::from_response(e, problem.render(vi)).into(),
            );
        }
    };
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(res);
    }
    let known = res.response().extensions().get::<ApiError>().cloned();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == HeaderValue::from_static(PROBLEM_JSON));
    let problem = match known {
        Some(_) if !vi => return Ok(res),
        Some(p) => p,
        None if is_problem => return Ok(res),
        None => ApiError::new(Code::for_status(status)),
    };
    let (req, _) = res.into_parts();
    Ok(ServiceResponse::new(req, problem.render(vi)))
}
