//! Authentication and authorisation, as extractors: a handler that takes a
//! [`Caller`] runs only for a valid, unrevoked token of an active official;
//! one that takes a [`Seen`] only for a document the caller may see (else
//! 404: existence is not revealed); one that takes a [`Commanding`] only
//! when, in addition, the caller's role may give that command (else 403).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest};

use super::Shared;
use super::error::{ApiError, Code};
use crate::app::RequestMeta;
use crate::auth::token::Claims;
use crate::domain::model::{DocumentId, OfficialRole};
use crate::domain::values::UserId;
use crate::projections::{self, access::Sight, access::Viewer};

/// The authenticated official.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: UserId,
    pub viewer: Viewer,
    pub claims: Claims,
    pub meta: RequestMeta,
}

impl Caller {
    pub fn has(&self, role: OfficialRole) -> bool {
        self.viewer.roles.contains(&role)
    }
}

fn state(req: &HttpRequest) -> Result<Shared, ApiError> {
    req.app_data::<Shared>()
        .cloned()
        .ok_or_else(|| ApiError::detail(Code::Internal, "no state"))
}

/// The request's facts recorded with the events it causes.
pub fn request_meta(req: &HttpRequest) -> RequestMeta {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect::<String>())
    };
    RequestMeta {
        on_behalf_of: None,
        correlation_id: header("x-correlation-id"),
        causation_id: None,
        request_id: req
            .extensions()
            .get::<tracing_actix_web::RequestId>()
            .map(|r| r.to_string()),
        client_address: req.peer_addr().map(|a| a.ip().to_string()),
        traceparent: header("traceparent"),
    }
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn authenticate(req: HttpRequest) -> Result<Caller, ApiError> {
    let state = state(&req)?;
    let token = bearer(&req).ok_or_else(|| {
        ApiError::detail(Code::Unauthorized, "send Authorization: Bearer <token>")
    })?;
    let now = jiff::Timestamp::now();
    let claims = match &state.oidc {
        Some(oidc) if crate::auth::oidc::OidcVerifier::claims_token(token) => {
            oidc.verify(token, now)
        }
        _ => state.tokens.verify(token, now),
    }
    .map_err(|e| ApiError::detail(Code::Unauthorized, e.to_string()))?;
    if state.revocations.is_revoked(&claims.jti) {
        return Err(ApiError::detail(
            Code::Unauthorized,
            "the token was revoked (signed out)",
        ));
    }
    let official = projections::official(state.app.projections.pool(), &claims.sub)
        .await?
        .filter(|o| o.active)
        .ok_or_else(|| {
            ApiError::detail(Code::Unauthorized, "the account is deactivated or unknown")
        })?;
    let user = UserId::parse(&official.user)
        .map_err(|e| ApiError::detail(Code::Unauthorized, e.to_string()))?;
    Ok(Caller {
        user,
        viewer: Viewer {
            user: official.user,
            unit: official.unit,
            roles: official.roles,
        },
        claims,
        meta: request_meta(&req),
    })
}

type Fut<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(authenticate(req.clone()))
    }
}

/// An official with the admin role.
pub struct Admin(pub Caller);

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let caller = authenticate(req).await?;
            if !caller.has(OfficialRole::Admin) {
                return Err(ApiError::forbidden("administration needs the admin role"));
            }
            Ok(Admin(caller))
        })
    }
}

/// The document `{id}` of the path, which the caller may see at least in
/// part (an auditor sees a secret document's trail only).
pub struct Seen {
    pub caller: Caller,
    pub id: DocumentId,
    pub sight: Sight,
}

impl Seen {
    /// Refuses (404, as if it did not exist) unless the caller may see the content.
    pub fn full(&self) -> Result<(), ApiError> {
        if self.sight == Sight::Full {
            Ok(())
        } else {
            Err(ApiError::not_found())
        }
    }
}

async fn see(req: HttpRequest) -> Result<Seen, ApiError> {
    let caller = authenticate(req.clone()).await?;
    let state = state(&req)?;
    let id = req
        .match_info()
        .get("id")
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .map(DocumentId)
        .ok_or_else(ApiError::not_found)?;
    let sight =
        projections::access::sight(state.app.projections.pool(), id, &caller.viewer).await?;
    if sight == Sight::None {
        return Err(ApiError::not_found());
    }
    Ok(Seen { caller, id, sight })
}

impl FromRequest for Seen {
    type Error = ApiError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(see(req.clone()))
    }
}

/// A command on a document and the roles that may give it. Whether the
/// particular official may give it on this document now (the holder of the
/// row, the drafter, ...) is `decide`'s business: it answers 403 or 409.
pub trait CommandKind {
    const NAME: &'static str;
    const ROLES: &'static [OfficialRole];
}

/// A visible document and a caller whose role may give command `K`.
pub struct Commanding<K> {
    pub seen: Seen,
    kind: PhantomData<K>,
}

impl<K: CommandKind + 'static> FromRequest for Commanding<K> {
    type Error = ApiError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let seen = see(req).await?;
            seen.full()?;
            if !K::ROLES.iter().any(|r| seen.caller.has(*r)) {
                return Err(ApiError::forbidden(format!(
                    "the command `{}` needs one of the roles {}",
                    K::NAME,
                    K::ROLES
                        .iter()
                        .map(|r| format!("{r:?}").to_lowercase())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            Ok(Commanding {
                seen,
                kind: PhantomData,
            })
        })
    }
}

/// `If-Match: "<version>"` (or `W/"<version>"`, or a bare number).
pub fn if_match(req: &HttpRequest) -> Result<Option<u64>, ApiError> {
    let Some(v) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v.to_str().unwrap_or("").trim();
    let s = s.strip_prefix("W/").unwrap_or(s).trim_matches('"');
    s.parse::<u64>().map(Some).map_err(|_| {
        ApiError::field(
            Code::PreconditionRequired,
            "If-Match",
            "If-Match must be the document's version as an entity tag, e.g. \"3\"",
        )
    })
}
