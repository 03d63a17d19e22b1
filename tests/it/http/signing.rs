//! Signing in the journey over HTTP: the competent person signs the
//! approved draft, the clerk numbers it and applies the agency's seal, and
//! only then may it be dispatched; the issued PDF validates in pyHanko.
//! Two-phase signing over HTTP; incoming documents' signatures verified at
//! registration.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{TestApp, spawn_db, spawn_on, spawn_with};
use crate::helpers::{have_pyhanko, keys, pyhanko_with_roots};
use congvan::pdf::sample::sample_pdf;

async fn post_ok(app: &TestApp, token: &str, id: &str, name: &str, body: Value) -> Value {
    let r = app
        .post(token, &format!("/api/v1/documents/{id}/{name}"), &body)
        .await;
    let status = r.status();
    let v: Value = r.json().await.expect("json");
    assert!(status.is_success(), "{name}: {status} {v}");
    v
}

async fn refused(app: &TestApp, token: &str, id: &str, name: &str, body: Value) -> Value {
    let r = app
        .post(token, &format!("/api/v1/documents/{id}/{name}"), &body)
        .await;
    let status = r.status();
    let v: Value = r.json().await.expect("json");
    assert_eq!(status, StatusCode::CONFLICT, "{name}: {v}");
    v
}

/// A draft by the specialist, reviewed by the unit head and approved by
/// the chairman; returns its id.
async fn approved_draft(app: &TestApp, subject: &str) -> String {
    approved_draft_with(app, subject, &[]).await
}

/// As [`approved_draft`], with attachments in files of their own.
async fn approved_draft_with(app: &TestApp, subject: &str, attachments: &[&str]) -> String {
    let cv = app.token("chuyenvien").await;
    let tp = app.token("truongphong").await;
    let ld = app.token("lanhdao").await;
    let metadata = json!({"direction": "outgoing", "metadata": {
        "document_type": "quyet_dinh", "subject": subject, "secrecy": "normal"}});
    let r = app
        .create(&cv, &metadata, Some(sample_pdf(subject, 1)))
        .await;
    let v: Value = r.json().await.expect("json");
    let id = v["document"]["id"].as_str().expect("id").to_string();
    for name in attachments {
        let form = reqwest::multipart::Form::new()
            .part(
                "metadata",
                reqwest::multipart::Part::text(json!({ "name": name }).to_string())
                    .mime_str("application/json")
                    .expect("mime"),
            )
            .part(
                "file",
                reqwest::multipart::Part::bytes(sample_pdf(name, 1))
                    .file_name("attachment.pdf")
                    .mime_str("application/pdf")
                    .expect("mime"),
            );
        let r = app
            .client
            .post(app.url(&format!("/api/v1/documents/{id}/attachments")))
            .bearer_auth(&cv)
            .multipart(form)
            .send()
            .await
            .expect("attachment");
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    }
    post_ok(app, &cv, &id, "submissions", json!({"to": "truongphong"})).await;
    post_ok(
        app,
        &tp,
        &id,
        "reviews",
        json!({"decision": "approve", "next_reviewer": "lanhdao"}),
    )
    .await;
    post_ok(app, &ld, &id, "reviews", json!({"decision": "approve"})).await;
    id
}

async fn download(app: &TestApp, token: &str, id: &str, to: &Path) {
    let r = app.get(token, &format!("/api/v1/documents/{id}/pdf")).await;
    assert_eq!(r.status(), StatusCode::OK);
    std::fs::write(to, r.bytes().await.expect("pdf")).expect("write");
}

/// pyHanko's judgement of `file` (None when pyHanko is missing, outside CI):
/// exactly `fields`, each valid and intact.
fn assert_valid_in_pyhanko(file: &Path, fields: &[&str]) -> Option<Value> {
    if !have_pyhanko() {
        return None;
    }
    let judged = pyhanko_with_roots(&keys().join("root-ca.cert.pem"), &[file.to_path_buf()]);
    let v = &judged[file];
    assert_eq!(v["error"], Value::Null, "{v}");
    let sigs = v["signatures"].as_object().expect("signatures");
    assert_eq!(sigs.len(), fields.len(), "{v}");
    for f in fields {
        assert_eq!(sigs[*f]["valid"], true, "{f}: {v}");
        assert_eq!(sigs[*f]["intact"], true, "{f}: {v}");
    }
    Some(v.clone())
}

crate::on_sqlite_and_postgres!(a_document_is_issued_only_with_both_signatures_verified);

async fn a_document_is_issued_only_with_both_signatures_verified(database_url: Option<&str>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_db(dir.path(), database_url).await;
    let id = approved_draft_with(
        &app,
        "Quyết định giao dự toán ngân sách năm 2027",
        &["Phụ lục I: Dự toán chi tiết"],
    )
    .await;
    let vt = app.token("vanthu").await;
    let ld = app.token("lanhdao").await;
    let tp = app.token("truongphong").await;

    // Numbered only after the competent person has signed; the seal only
    // after numbering; a unit head is not the competent person.
    let v = refused(&app, &vt, &id, "numbering", json!({})).await;
    assert!(
        v["detail"].as_str().unwrap_or("").contains("not signed"),
        "{v}"
    );
    let v = refused(&app, &vt, &id, "signatures", json!({"kind": "agency_seal"})).await;
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or("")
            .contains("has not signed"),
        "{v}"
    );
    let r = app
        .post(
            &tp,
            &format!("/api/v1/documents/{id}/signatures"),
            &json!({"kind": "personal"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let v = post_ok(&app, &ld, &id, "signatures", json!({"kind": "personal"})).await;
    let doc = &v["document"];
    assert_eq!(doc["status"], "approved");
    let sig = &doc["signatures"][0];
    assert_eq!(sig["kind"], "personal", "{sig}");
    assert_eq!(sig["by"], "lanhdao");
    assert_eq!(sig["verdict"]["indication"], "TOTAL-PASSED", "{sig}");
    assert_eq!(doc["revisions"].as_array().map(Vec::len), Some(2));
    let again = refused(&app, &ld, &id, "signatures", json!({"kind": "personal"})).await;
    assert!(
        again["detail"].as_str().unwrap_or("").contains("already"),
        "{again}"
    );

    post_ok(&app, &vt, &id, "numbering", json!({})).await;
    let v = refused(
        &app,
        &vt,
        &id,
        "dispatches",
        json!({"assignments": [{"holder": {"kind": "unit", "id": "TH"}, "role": "lead"}]}),
    )
    .await;
    assert!(v["detail"].as_str().unwrap_or("").contains("seal"), "{v}");
    let v = post_ok(&app, &vt, &id, "signatures", json!({"kind": "agency_seal"})).await;
    let doc = &v["document"];
    assert_eq!(doc["signatures"].as_array().map(Vec::len), Some(2), "{doc}");
    assert_eq!(doc["signatures"][1]["kind"], "agency_seal");
    assert_eq!(
        doc["signatures"][1]["verdict"]["indication"],
        "TOTAL-PASSED"
    );
    let v = post_ok(
        &app,
        &vt,
        &id,
        "dispatches",
        json!({"assignments": [{"holder": {"kind": "unit", "id": "TH"}, "role": "lead"}]}),
    )
    .await;
    assert_eq!(v["document"]["status"], "issued");

    // The report: both signatures verify now, and the events record them.
    let r = app
        .get(&vt, &format!("/api/v1/documents/{id}/signatures"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = r.json().await.expect("json");
    assert_eq!(report["recorded"].as_array().map(Vec::len), Some(2));
    let now = report["report"]["signatures"].as_array().expect("report");
    assert_eq!(now.len(), 2, "{report}");
    for s in now {
        assert_eq!(s["indication"], "TOTAL-PASSED", "{s}");
    }
    let r = app
        .get(&vt, &format!("/api/v1/documents/{id}/events"))
        .await;
    let events: Value = r.json().await.expect("json");
    let signed: Vec<&Value> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["event_type"] == "signed")
        .collect();
    assert_eq!(signed.len(), 2);
    for e in signed {
        let p = &e["payload"];
        assert_eq!(
            p["certificate_sha256"].as_str().map(str::len),
            Some(64),
            "{p}"
        );
        assert_eq!(p["revision_sha256"].as_str().map(str::len), Some(64), "{p}");
        assert_eq!(p["byte_range"][0], 0, "{p}");
        assert_eq!(p["verdict"]["indication"], "TOTAL-PASSED", "{p}");
    }

    // The issued PDF, as downloaded, validates in pyHanko with both.
    let file = dir.path().join("issued.pdf");
    download(&app, &vt, &id, &file).await;
    let judged = assert_valid_in_pyhanko(&file, &["ChuKyNguoiCoThamQuyen", "ChuKyCoQuan"]);
    if let Some(v) = judged {
        // The number and date were filled into fields the person's
        // signature left unlocked: form filling, not a change of content.
        let sigs = &v["signatures"];
        assert_eq!(
            sigs["ChuKyNguoiCoThamQuyen"]["modification_level"], "FORM_FILLING",
            "{v}"
        );
        assert_eq!(sigs["ChuKyCoQuan"]["coverage"], "ENTIRE_FILE", "{v}");
    }
    let ours = &report["report"]["signatures"];
    assert_eq!(ours[0]["modifications"], "form_filling", "{report}");
    assert_eq!(ours[1]["modifications"], "none", "{report}");
    // The attachment carries the agency's signature alone.
    let r = app
        .get(&vt, &format!("/api/v1/documents/{id}/attachments/1/pdf"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let sealed = dir.path().join("attachment.pdf");
    std::fs::write(&sealed, r.bytes().await.expect("pdf")).expect("write");
    assert_valid_in_pyhanko(&sealed, &["ChuKyCoQuanPhuLuc"]);
    app.stop().await;
}

/// A keystore in which the chairman signs on a device the server cannot
/// reach (two phases) and the seal is the demo's.
fn external_keystore(dir: &Path) -> std::path::PathBuf {
    let k = keys();
    let path = dir.join("keystore.toml");
    let p = |f: &str| k.join(f).display().to_string();
    std::fs::write(
        &path,
        format!(
            "[seal]\ncert = {:?}\nchain = {:?}\nkey = {:?}\n\n[officials.lanhdao]\nsigner = \"external\"\ncert = {:?}\nchain = {:?}\n",
            p("agency-seal.cert.pem"),
            p("chain.pem"),
            p("agency-seal.key.pem"),
            p("lanhdao.cert.pem"),
            p("chain.pem"),
        ),
    )
    .expect("keystore");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_signer_signs_in_two_phases_over_http() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let dir = tempfile::tempdir().expect("temp dir");
    let keystore = external_keystore(dir.path());
    let data = dir.path().join("data");
    let app = spawn_with(&data, |s| s.keystore = Some(keystore)).await;
    let id = approved_draft(&app, "Quyết định phê duyệt kế hoạch").await;
    let ld = app.token("lanhdao").await;

    // One step is refused: the key is not the server's.
    let v = refused(&app, &ld, &id, "signatures", json!({"kind": "personal"})).await;
    assert!(
        v["detail"].as_str().unwrap_or("").contains("prepare"),
        "{v}"
    );

    let prepared = post_ok(
        &app,
        &ld,
        &id,
        "signatures/prepare",
        json!({"kind": "personal"}),
    )
    .await;
    let session = prepared["session_id"]
        .as_str()
        .expect("session")
        .to_string();
    let finish = format!("/api/v1/documents/{id}/signatures/finish");
    assert_eq!(prepared["algorithm"], "rsa_pkcs1_sha256");
    let to_sign = b64
        .decode(prepared["data_to_sign"].as_str().expect("data"))
        .expect("base64");

    // A wrong signature is refused and records nothing.
    let bad = post_ok(
        &app,
        &ld,
        &id,
        "signatures/prepare",
        json!({"kind": "personal"}),
    )
    .await;
    let r = app
        .post(
            &ld,
            &finish,
            &json!({"session_id": bad["session_id"], "signature": b64.encode([7u8; 256])}),
        )
        .await;
    assert!(r.status().is_client_error(), "{}", r.status());
    let doc: Value = app
        .get(&ld, &format!("/api/v1/documents/{id}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(doc["document"]["signatures"], json!([]), "{doc}");

    // The device: the chairman's key, outside the server.
    let k = keys();
    let read = |f: &str| std::fs::read_to_string(k.join(f)).expect("key");
    let device = congvan::pades::KeyFileSigner::from_pem(
        &read("lanhdao.key.pem"),
        &read("lanhdao.cert.pem"),
        None,
        false,
    )
    .expect("device key");
    let signature = congvan::pades::Signer::sign(&device, &to_sign).expect("sign");
    let v = post_ok(
        &app,
        &ld,
        &id,
        "signatures/finish",
        json!({"session_id": session, "signature": b64.encode(&signature)}),
    )
    .await;
    assert_eq!(
        v["document"]["signatures"][0]["verdict"]["indication"],
        "TOTAL-PASSED"
    );
    // A session is finished once.
    let r = app
        .post(
            &ld,
            &finish,
            &json!({"session_id": session, "signature": b64.encode(&signature)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let file = dir.path().join("signed.pdf");
    download(&app, &ld, &id, &file).await;
    assert_valid_in_pyhanko(&file, &["ChuKyNguoiCoThamQuyen"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_signatures_are_verified_at_registration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_on(dir.path()).await;
    let vt = app.token("vanthu").await;

    // A PDF signed by another agency (keys-dev's seal), and an unsigned one.
    let k = keys();
    let read = |f: &str| std::fs::read_to_string(k.join(f)).expect("key");
    let signer = congvan::pades::KeyFileSigner::from_pem(
        &read("agency-seal.key.pem"),
        &read("agency-seal.cert.pem"),
        Some(&read("chain.pem")),
        false,
    )
    .expect("signer");
    let signed = congvan::pades::sign::sign_pdf(
        &sample_pdf("Cong van 55/BTC", 1),
        &signer,
        &Default::default(),
        &Default::default(),
    )
    .expect("sign")
    .pdf;
    let with = app
        .register_incoming(&vt, "55/BTC-NSNN", "normal", Some(signed))
        .await;
    let without = app
        .register_incoming(
            &vt,
            "56/BTC-NSNN",
            "normal",
            Some(sample_pdf("Cong van 56", 1)),
        )
        .await;
    for (id, expected) in [(&with, 1usize), (&without, 0)] {
        let r = app.get(&vt, &format!("/api/v1/documents/{id}")).await;
        let doc: Value = r.json().await.expect("json");
        let doc = &doc["document"];
        if doc["status"] == "awaiting_registration" {
            post_ok(&app, &vt, id, "registration", json!({})).await;
        }
        let r = app
            .get(&vt, &format!("/api/v1/documents/{id}/signatures"))
            .await;
        let v: Value = r.json().await.expect("json");
        let at = v["at_registration"]
            .as_array()
            .expect("verified at registration");
        assert_eq!(at.len(), expected, "{v}");
        for s in at {
            assert_eq!(s["indication"], "TOTAL-PASSED", "{s}");
        }
    }
    app.stop().await;
}
