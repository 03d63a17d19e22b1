//! Sign-in (`POST /auth/token`) and sign-out (`POST /auth/logout`).
//! Both, and every failed sign-in, are events in the stream `auth`.

use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};

use crate::auth::password;
use crate::domain::access::{AuthEvent, SignInFailure};
use crate::domain::values::UserId;
use crate::http::Shared;
use crate::http::error::{ApiError, Code, Problem};
use crate::http::extract::{Caller, request_meta};
use crate::projections;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(token).service(logout).service(me);
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// Sign in with a username and password; returns a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth",
    request_body(content = TokenRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong username or password", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failures", body = Problem, content_type = "application/problem+json")))]
#[post("/auth/token")]
pub async fn token(
    state: Shared,
    req: HttpRequest,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: TokenRequest = crate::http::routes::json_body(&state, &req, &bytes)?;
    let meta = request_meta(&req);
    let address = meta.client_address.clone().unwrap_or_default();
    let username = body.username.trim().to_lowercase();
    let now = Instant::now();
    let fail = |reason: SignInFailure| AuthEvent::SignInFailed {
        at: jiff::Timestamp::now(),
        username: username.chars().take(64).collect(),
        reason,
        client_address: meta.client_address.clone(),
    };
    if let Err(wait) = state.throttle.check(&username, &address, now) {
        // Refused before any password check, and not recorded as an event
        // each time (that would let a client grow the log at will): the
        // lockout's start is recorded once, below.
        tracing::warn!(client.address = %address, "sign-in refused: locked out after failures");
        return Err(ApiError {
            retry_after: Some(wait.as_secs().max(1)),
            ..ApiError::detail(
                Code::Throttled,
                "too many failed sign-ins; wait before trying again",
            )
        });
    }
    let pool = state.app.projections.pool();
    let official = projections::official(pool, &username).await?;
    let hash = match &official {
        Some(_) => projections::password_hash(pool, &username).await?,
        None => None,
    };
    let password = body.password.clone();
    let ok = tokio::task::spawn_blocking(move || match hash {
        Some(h) => password::verify_password(&h, &password),
        None => {
            // Same work for an unknown user as for a wrong password.
            password::dummy_verify(&password);
            false
        }
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    let official = match official {
        Some(o) if ok => o,
        _ => {
            state.throttle.record_failure(&username, &address, now);
            state
                .app
                .record_auth(&fail(SignInFailure::BadCredentials), &meta)
                .await?;
            if state.throttle.check(&username, &address, now).is_err() {
                // This failure starts a lockout: recorded once.
                state
                    .app
                    .record_auth(&fail(SignInFailure::Throttled), &meta)
                    .await?;
            }
            return Err(ApiError::detail(
                Code::BadCredentials,
                "wrong username or password",
            ));
        }
    };
    if !official.active {
        state
            .app
            .record_auth(&fail(SignInFailure::Deactivated), &meta)
            .await?;
        return Err(ApiError::detail(
            Code::BadCredentials,
            "the account is deactivated",
        ));
    }
    state.throttle.record_success(&username, &address, now);
    let ttl = Duration::from_secs(state.settings.token_ttl_seconds);
    let (access_token, claims) = state
        .tokens
        .issue(&official.user, jiff::Timestamp::now(), ttl);
    let user = UserId::parse(&official.user).map_err(|e| ApiError::internal(&e))?;
    state
        .app
        .record_auth(
            &AuthEvent::SignedIn {
                at: jiff::Timestamp::now(),
                user,
                token_id: claims.jti,
                client_address: meta.client_address.clone(),
            },
            &meta,
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: ttl.as_secs(),
        }))
}

/// Sign out: the token stops working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json")))]
#[post("/auth/logout")]
pub async fn logout(state: Shared, caller: Caller) -> Result<HttpResponse, ApiError> {
    state
        .app
        .record_auth(
            &AuthEvent::TokenRevoked {
                at: jiff::Timestamp::now(),
                user: caller.user.clone(),
                token_id: caller.claims.jti.clone(),
                expires: caller.claims.exp,
            },
            &caller.meta,
        )
        .await?;
    state
        .revocations
        .revoke(&caller.claims.jti, caller.claims.exp);
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Me {
    pub user: String,
    pub unit: String,
    pub roles: Vec<crate::domain::model::OfficialRole>,
    /// When the token expires (seconds since the Unix epoch).
    pub token_expires: i64,
}

/// Who the token belongs to.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json")))]
#[get("/me")]
pub async fn me(caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(Me {
        user: caller.viewer.user,
        unit: caller.viewer.unit,
        roles: caller.viewer.roles,
        token_expires: caller.claims.exp,
    })
}
