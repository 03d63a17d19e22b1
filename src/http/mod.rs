//! The HTTP API (actix-web): routes, authentication and authorisation in
//! extractors, problem+json errors, the OpenAPI document.
//!
//! [`Application::build`] opens the data directory, binds (port 0 picks a
//! free port; read it back with [`Application::port`]) and returns a server
//! to run — the same code in `main` and in the tests.

pub mod docs;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod metrics;
pub mod openapi;
pub mod routes;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App as ActixApp, HttpServer, web};
use tokio::sync::Semaphore;
use tracing_actix_web::TracingLogger;

use crate::app::{App, AppError, Config};
use crate::auth::Revocations;
use crate::auth::throttle::{Throttle, ThrottlePolicy};
use crate::auth::token::TokenKey;
use crate::domain::access::AuthEvent;
use crate::domain::calendar::WorkingCalendar;
use crate::domain::decide::Policy;
use crate::settings::Settings;

/// What every handler shares.
pub struct State {
    pub app: App,
    pub settings: Settings,
    pub tokens: TokenKey,
    /// Tokens of an external OpenID Connect issuer, when configured.
    pub oidc: Option<crate::auth::oidc::OidcVerifier>,
    pub revocations: Revocations,
    pub throttle: Throttle,
    pub idempotency: idempotency::Records,
    /// Bounds the PDF parses running at once (CPU-bound, in blocking threads).
    pub pdf_checks: Semaphore,
    /// Trust anchors and CRLs for verifying signatures.
    pub trust: std::sync::Arc<Trust>,
    pub metrics: metrics::Metrics,
}

pub type Shared = web::Data<State>;

pub use crate::signing::Trust;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("trust_dir {0}")]
    Trust(crate::signing::ConfigError),
    #[error("keystore {0}")]
    Keystore(crate::signing::ConfigError),
    #[error("token key: {0}")]
    Key(#[from] crate::auth::AuthError),
    #[error("calendar {path}: {message}")]
    Calendar { path: String, message: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("OpenID Connect: {0}")]
    Oidc(#[from] crate::auth::oidc::JwksError),
    #[error("idempotency records: {0}")]
    Idempotency(#[from] sqlx::Error),
}

pub struct Application {
    port: u16,
    metrics_port: Option<u16>,
    server: Server,
    metrics_server: Option<Server>,
    state: Shared,
}

/// Echoes the request's id (the one in every log line of its span) as
/// `X-Request-Id`, so that a user's report can be matched to the log.
async fn request_id_header(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::HttpMessage as _;
    let id = req
        .extensions()
        .get::<tracing_actix_web::RequestId>()
        .map(|r| r.to_string());
    let mut res = next.call(req).await?;
    if let Some(id) = id
        && let Ok(v) = actix_web::http::header::HeaderValue::from_str(&id)
    {
        res.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("x-request-id"),
            v,
        );
    }
    Ok(res)
}

impl Application {
    /// Opens the store and binds the listeners. With `seed_demo`, an empty
    /// data directory gets the demo organisation and its users (password
    /// `demo`); a directory that holds data is left as it is.
    pub async fn build(settings: Settings, seed_demo: bool) -> Result<Application, StartError> {
        let mut policy = Policy {
            allow_secret_content: settings.allow_secret_content,
            ..Policy::default()
        };
        if let Some(path) = &settings.calendar {
            let text = std::fs::read_to_string(path)?;
            policy.calendar =
                WorkingCalendar::from_json(&text).map_err(|e| StartError::Calendar {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
        }
        let mut config = Config::new(&settings.data_dir);
        config.database_url = settings
            .database_url
            .as_ref()
            .map(|u| secrecy::ExposeSecret::expose_secret(u).to_string());
        config.policy = policy;
        config.pdf_limits.max_bytes = settings.max_upload_bytes.min(config.pdf_limits.max_bytes);
        let dev = |file: &str| {
            let p = std::path::Path::new(crate::signing::DEV_KEYS).join(file);
            (seed_demo && p.exists()).then_some(p)
        };
        if let Some(dir) = settings.trust_dir.clone().or_else(|| dev("")) {
            config.trust = std::sync::Arc::new(Trust::load(&dir).map_err(StartError::Trust)?);
        }
        if let Some(file) = settings.keystore.clone().or_else(|| dev("keystore.toml")) {
            config.keystore = std::sync::Arc::new(
                crate::signing::Keystore::load(&file).map_err(StartError::Keystore)?,
            );
        }
        let app = App::open(config).await?;
        if seed_demo {
            crate::demo::seed_users(&app).await?;
        }
        let tokens = match &settings.token_key {
            Some(k) => TokenKey::from_base64(secrecy::ExposeSecret::expose_secret(k))?,
            None => TokenKey::load_or_create(&settings.data_dir.join("token.key"))?,
        };
        let oidc = match (
            &settings.oidc_issuer,
            &settings.oidc_audience,
            &settings.oidc_jwks_file,
        ) {
            (Some(iss), Some(aud), Some(file)) => Some(crate::auth::oidc::OidcVerifier::from_file(
                iss,
                aud,
                &settings.oidc_username_claim,
                file,
            )?),
            _ => None,
        };
        let revocations = Revocations::default();
        for e in app.auth_events().await? {
            if let AuthEvent::TokenRevoked {
                token_id, expires, ..
            } = e
            {
                revocations.revoke(&token_id, expires);
            }
        }
        revocations.prune(jiff::Timestamp::now().as_second());
        let idempotency = idempotency::Records::open(&settings.data_dir).await?;
        let listener =
            TcpListener::bind(&settings.listen).map_err(|source| StartError::Listen {
                addr: settings.listen.clone(),
                source,
            })?;
        let port = listener.local_addr()?.port();
        let metrics = metrics::Metrics::default();
        let (metrics_server, metrics_port) = if settings.metrics_listen.is_empty() {
            (None, None)
        } else {
            let l = TcpListener::bind(&settings.metrics_listen).map_err(|source| {
                StartError::Listen {
                    addr: settings.metrics_listen.clone(),
                    source,
                }
            })?;
            let p = l.local_addr()?.port();
            (Some(metrics::server(l, metrics.clone())?), Some(p))
        };
        let state = web::Data::new(State {
            trust: app.config.trust.clone(),
            pdf_checks: Semaphore::new(settings.max_concurrent_pdf_checks),
            app,
            tokens,
            oidc,
            revocations,
            throttle: Throttle::new(ThrottlePolicy::default()),
            idempotency,
            metrics: metrics.clone(),
            settings: settings.clone(),
        });
        let data = state.clone();
        let openapi = web::Data::new(openapi::document());
        let mut server = HttpServer::new(move || {
            ActixApp::new()
                .app_data(data.clone())
                .app_data(openapi.clone())
                .app_data(web::Data::new(data.metrics.clone()))
                .configure(|cfg| routes::configure(cfg, &data.settings))
                .wrap(from_fn(error::localize))
                .wrap(from_fn(request_id_header))
                .wrap(from_fn(metrics::track))
                .wrap(TracingLogger::default())
        })
        .shutdown_timeout(settings.shutdown_timeout_seconds)
        .listen(listener)?;
        if settings.workers > 0 {
            server = server.workers(settings.workers);
        }
        Ok(Application {
            port,
            metrics_port,
            server: server.run(),
            metrics_server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    pub fn state(&self) -> Shared {
        self.state.clone()
    }

    /// Serves until SIGINT or SIGTERM (or the server handle's `stop`); then
    /// stops accepting, lets requests in flight finish (up to
    /// `shutdown_timeout_seconds`), and returns.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application {
            server,
            metrics_server,
            ..
        } = self;
        let metrics_handle = metrics_server.as_ref().map(|s| s.handle());
        if let Some(m) = metrics_server {
            tokio::spawn(m);
        }
        let result = server.await;
        if let Some(h) = metrics_handle {
            h.stop(true).await;
        }
        result
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}
