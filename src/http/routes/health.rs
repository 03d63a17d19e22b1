//! Liveness and readiness, without a token.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use crate::http::Shared;
use crate::http::error::{ApiError, Code, Problem};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Alive", body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Ready {
    pub status: &'static str,
    /// The log's last position.
    pub log_head: u64,
    /// The last position the read models have applied.
    pub projected: u64,
}

/// How far the read models may lag behind the log for the server to be ready.
const READY_LAG: u64 = 1000;

/// The store answers and the projections are open.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "Ready", body = Ready),
              (status = 503, description = "Not ready", body = Problem, content_type = "application/problem+json")))]
#[get("/readyz")]
pub async fn readyz(state: Shared) -> Result<HttpResponse, ApiError> {
    let ok: Result<i64, sqlx::Error> = crate::with_pool!(state.app.projections.pool(), p => {
        sqlx::query_scalar("SELECT CAST(1 AS BIGINT)").fetch_one(p).await
    });
    if ok.is_err() {
        return Err(ApiError::detail(
            Code::Unavailable,
            "the read models do not answer",
        ));
    }
    let head = *crate::store::EventStore::head(&state.app.store).borrow();
    let projected = state.app.projections.position();
    // After a start with a new projection layout, the read models are
    // rebuilt from the log: not ready until they have nearly caught up.
    if head.saturating_sub(projected) > READY_LAG {
        return Err(ApiError::detail(
            Code::Unavailable,
            format!("the read models are catching up: {projected} of {head} events applied"),
        ));
    }
    Ok(HttpResponse::Ok().json(Ready {
        status: "ready",
        log_head: head,
        projected,
    }))
}
