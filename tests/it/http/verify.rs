//! `POST /api/v1/verify` with the server's trust anchors (keys-dev).

use reqwest::StatusCode;
use serde_json::Value;

use super::spawn_with;

fn form(bytes: Vec<u8>) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes)
            .file_name("x.pdf")
            .mime_str("application/pdf")
            .expect("mime"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_pdf_is_verified_against_the_servers_anchors() {
    let keys = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("keys-dev");
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_with(dir.path(), |s| s.trust_dir = Some(keys.clone())).await;
    let token = app.token("vanthu").await;
    let read = |f: &str| std::fs::read_to_string(keys.join(f)).expect("key file");
    let signer = congvan::pades::KeyFileSigner::from_pem(
        &read("lanhdao.key.pem"),
        &read("lanhdao.cert.pem"),
        Some(&read("chain.pem")),
        false,
    )
    .expect("signer");
    let unsigned = congvan::pdf::sample::sample_pdf("Công văn", 1);
    let signed = congvan::pades::sign::sign_pdf(
        &unsigned,
        &signer,
        &Default::default(),
        &Default::default(),
    )
    .expect("sign")
    .pdf;
    let post = |bytes: Vec<u8>, token: Option<String>| {
        let mut r = app
            .client
            .post(app.url("/api/v1/verify"))
            .multipart(form(bytes));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };

    let r = post(signed.clone(), Some(token.clone()))
        .await
        .expect("verify");
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("json");
    let s = &v["signatures"][0];
    assert_eq!(s["indication"], "TOTAL-PASSED", "{v}");
    assert_eq!(s["revocation"], "good", "{v}");
    assert_eq!(s["coverage"], "entire_file", "{v}");

    // A byte changed inside the signed range: in the binary comment that
    // follows the header, so the file still reads.
    let mut broken = signed.clone();
    let at = broken
        .iter()
        .position(|&b| b == b'\n')
        .expect("a header line")
        + 2;
    broken[at] ^= 0x01;
    let v: Value = post(broken, Some(token.clone()))
        .await
        .expect("verify")
        .json()
        .await
        .expect("json");
    assert_eq!(v["signatures"][0]["indication"], "TOTAL-FAILED", "{v}");

    let v: Value = post(unsigned, Some(token.clone()))
        .await
        .expect("verify")
        .json()
        .await
        .expect("json");
    assert_eq!(v["signatures"], serde_json::json!([]));

    let r = post(b"not a pdf".to_vec(), Some(token.clone()))
        .await
        .expect("verify");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = r.json().await.expect("problem");
    assert_eq!(p["field"], "file", "{p}");

    let r = post(signed, None).await.expect("verify");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}
