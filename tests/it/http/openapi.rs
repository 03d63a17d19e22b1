//! `schemas/openapi.json` is what the server serves; rewrite it with
//! `CONGVAN_UPDATE_SCHEMAS=1 cargo test --test it openapi`.

use std::path::Path;

use serde_json::Value;

use super::spawn_on;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_on_disk_matches_the_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_on(dir.path()).await;
    let r = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("GET openapi.json");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let mut served: Value = r.json().await.expect("JSON");
    app.stop().await;
    // A `servers` entry would name the live port.
    if let Some(m) = served.as_object_mut() {
        m.remove("servers");
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/openapi.json");
    let pretty = serde_json::to_string_pretty(&served).expect("serialise") + "\n";
    if std::env::var_os("CONGVAN_UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &pretty).expect("write schemas/openapi.json");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == pretty,
        "schemas/openapi.json differs from what the server serves; \
         run CONGVAN_UPDATE_SCHEMAS=1 cargo test --test it openapi and commit it"
    );
    // Every path the document names has its operations, and every
    // operation a 4xx answer in problem+json.
    let paths = served["paths"].as_object().expect("paths");
    assert!(paths.len() >= 30, "{} paths", paths.len());
    assert!(paths.contains_key("/api/v1/documents/{id}/directions"));
}
