//! The real server (port 0, a real SQLite file in a temp dir) over HTTP.

pub mod admin_errors;
pub mod authz;
pub mod errors;
pub mod journey;
pub mod oidc;
pub mod openapi;
pub mod signin;
pub mod signing;
pub mod verify;

use std::path::Path;

use congvan::http::Application;
use congvan::settings::{Overrides, Settings};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

pub struct TestApp {
    dir: std::path::PathBuf,
    database_url: Option<String>,
    pub base: String,
    /// The Prometheus listener's base URL.
    pub metrics: Option<String>,
    pub client: Client,
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts the server on `dir` (seeding the demo organisation into an empty one).
pub async fn spawn_on(dir: &Path) -> TestApp {
    spawn_with(dir, |_| {}).await
}

/// As [`spawn_on`], with the log and read models in `database_url` when given.
pub async fn spawn_db(dir: &Path, database_url: Option<&str>) -> TestApp {
    spawn_with(dir, |s| {
        s.database_url = database_url.map(|u| secrecy::SecretString::from(u.to_string()));
    })
    .await
}

/// As [`spawn_on`], with settings changed by `edit`.
pub async fn spawn_with(dir: &Path, edit: impl FnOnce(&mut Settings)) -> TestApp {
    // CONGVAN_LOG=<filter> shows the server's logs (e.g. a 500's cause).
    if let Ok(filter) = std::env::var("CONGVAN_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
    let overrides = Overrides {
        data_dir: Some(dir.to_path_buf()),
        listen: Some("127.0.0.1:0".into()),
        metrics_listen: Some("127.0.0.1:0".into()),
        ..Default::default()
    };
    let mut settings = Settings::load(&overrides, Vec::new()).expect("settings");
    settings.workers = 2;
    edit(&mut settings);
    let database_url = settings
        .database_url
        .as_ref()
        .map(|u| secrecy::ExposeSecret::expose_secret(u).to_string());
    let app = Application::build(settings, true)
        .await
        .expect("build the server");
    let base = format!("http://127.0.0.1:{}", app.port());
    let metrics = app.metrics_port().map(|p| format!("http://127.0.0.1:{p}"));
    let handle = app.handle();
    let task = tokio::spawn(app.run_until_stopped());
    TestApp {
        dir: dir.to_path_buf(),
        database_url,
        base,
        metrics,
        client: Client::new(),
        handle,
        task,
    }
}

impl TestApp {
    /// Stops the server gracefully and waits until it has; then checks
    /// every event stored so far against its committed JSON Schema.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
        let store = congvan::store::Store::open(&self.dir, self.database_url.as_deref())
            .await
            .expect("open the log");
        crate::schemas::assert_store_matches_schemas(&store).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn token(&self, user: &str) -> String {
        let r = self
            .client
            .post(self.url("/api/v1/auth/token"))
            .json(&json!({"username": user, "password": "demo"}))
            .send()
            .await
            .expect("token request");
        assert_eq!(r.status(), StatusCode::OK, "sign in {user}");
        let v: Value = r.json().await.expect("token json");
        v["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    pub async fn get(&self, token: &str, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET")
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// `POST /api/v1/documents`: `metadata` as the JSON part, `pdf` as `file`.
    pub async fn create(&self, token: &str, metadata: &Value, pdf: Option<Vec<u8>>) -> Response {
        let mut form = reqwest::multipart::Form::new().part(
            "metadata",
            reqwest::multipart::Part::text(metadata.to_string())
                .mime_str("application/json")
                .expect("mime"),
        );
        if let Some(bytes) = pdf {
            form = form.part(
                "file",
                reqwest::multipart::Part::bytes(bytes)
                    .file_name("document.pdf")
                    .mime_str("application/pdf")
                    .expect("mime"),
            );
        }
        self.client
            .post(self.url("/api/v1/documents"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("create")
    }

    /// Registers an incoming document as the clerk; returns its id.
    pub async fn register_incoming(
        &self,
        clerk: &str,
        number: &str,
        secrecy: &str,
        pdf: Option<Vec<u8>>,
    ) -> String {
        let metadata = json!({
            "direction": "incoming",
            "metadata": incoming_metadata(number, secrecy),
        });
        let r = self.create(clerk, &metadata, pdf).await;
        let status = r.status();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body: Value = r.json().await.expect("json");
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["document"]["id"].as_str().expect("id").to_string();
        assert_eq!(location, Some(format!("/api/v1/documents/{id}")));
        id
    }
}

pub fn incoming_metadata(number: &str, secrecy: &str) -> Value {
    json!({
        "document_type": "cong_van",
        "number_notation": number,
        "issuer": {"code": "000.00.00.G12", "name": "Bộ Tài chính"},
        "issue_date": "2026-11-20",
        "subject": "Về việc hướng dẫn xây dựng dự toán ngân sách",
        "urgency": "normal",
        "secrecy": secrecy,
    })
}

/// The open rows of `location` as (holder_kind:holder_id, task, role, status), sorted.
pub fn open_rows(doc: &Value) -> Vec<String> {
    let mut rows: Vec<String> = doc["location"]
        .as_array()
        .expect("location")
        .iter()
        .map(|r| {
            format!(
                "{}:{} {} {} {}",
                r["holder_kind"].as_str().unwrap_or(""),
                r["holder_id"].as_str().unwrap_or(""),
                r["task"].as_str().unwrap_or(""),
                r["role"].as_str().unwrap_or("-"),
                r["status"].as_str().unwrap_or("")
            )
        })
        .collect();
    rows.sort();
    rows
}
