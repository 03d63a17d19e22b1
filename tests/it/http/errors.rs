//! Refusals over HTTP. Every command endpoint answers a bad request — bytes
//! that are not JSON, an unknown or missing field, a wrong value, the wrong
//! media type, too large a body, a stale `If-Match`, a transition the state
//! forbids — with RFC 9457 `application/problem+json` (`type`, `title`,
//! `status`, `code`) and appends nothing to the document. Uploads likewise,
//! and create no document. Then unknown routes, wrong methods, the
//! language of errors, and `Idempotency-Key`.

use reqwest::StatusCode;
use reqwest::header::{ALLOW, CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};

use super::{TestApp, incoming_metadata, spawn_on};
use congvan::pdf::sample::sample_pdf;

/// More than the server's 256 KiB limit for JSON.
const OVERSIZED: usize = 300 * 1024;

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.expect("the body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        text,
        body,
    }
}

/// POSTs `bytes` as `content_type`, with extra headers.
async fn post_raw(
    app: &TestApp,
    token: &str,
    path: &str,
    content_type: &str,
    bytes: Vec<u8>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut req = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .header(CONTENT_TYPE, content_type)
        .body(bytes);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    answer(req.send().await.expect("POST")).await
}

async fn post_json(
    app: &TestApp,
    token: &str,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> Answer {
    post_raw(
        app,
        token,
        path,
        "application/json",
        body.to_string().into_bytes(),
        headers,
    )
    .await
}

/// One part of a multipart body: name, declared type, bytes.
type Part = (&'static str, &'static str, Vec<u8>);

/// A refused upload: what it is, its parts, extra headers, and the expected
/// status, code and `field`.
type Refusal = (
    &'static str,
    Vec<Part>,
    Vec<(&'static str, &'static str)>,
    u16,
    &'static str,
    Option<&'static str>,
);

async fn post_form(
    app: &TestApp,
    token: &str,
    path: &str,
    parts: Vec<Part>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut form = reqwest::multipart::Form::new();
    for (name, mime, bytes) in parts {
        let mut part = reqwest::multipart::Part::bytes(bytes)
            .mime_str(mime)
            .expect("mime");
        if name == "file" {
            part = part.file_name("scan.pdf");
        }
        form = form.part(name, part);
    }
    let mut req = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .multipart(form);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    answer(req.send().await.expect("POST")).await
}

/// The answer is problem+json with the status and code, and the RFC 9457 members.
fn assert_problem(what: &str, a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status.as_u16(), status, "{what}: {}", a.text);
    assert_eq!(
        a.header("content-type"),
        Some("application/problem+json"),
        "{what}"
    );
    assert_eq!(a.body["code"], code, "{what}: {}", a.body);
    assert_eq!(a.body["status"], status, "{what}: {}", a.body);
    assert!(
        a.body["type"].as_str().is_some_and(|t| !t.is_empty()),
        "{what}: {}",
        a.body
    );
    assert!(
        a.body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{what}: {}",
        a.body
    );
}

/// How many events the document's own stream holds (views are kept apart).
async fn document_events(app: &TestApp, reader: &str, id: &str) -> usize {
    let a = answer(
        app.client
            .get(app.url(&format!("/api/v1/documents/{id}/events")))
            .bearer_auth(reader)
            .send()
            .await
            .expect("GET events"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    a.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| {
            e["stream"]
                .as_str()
                .is_some_and(|s| s.starts_with("document-"))
        })
        .count()
}

/// The ids of the documents the official's list shows.
async fn listed(app: &TestApp, token: &str) -> Vec<String> {
    let v: Value = app
        .get(token, "/api/v1/documents?limit=200")
        .await
        .json()
        .await
        .expect("list");
    v["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|d| d["id"].as_str().map(str::to_string))
        .collect()
}

/// A command that must succeed (setting a document up).
async fn command(app: &TestApp, token: &str, id: &str, name: &str, body: Value) -> Value {
    let a = post_json(
        app,
        token,
        &format!("/api/v1/documents/{id}/{name}"),
        &body,
        &[],
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{name}: {}", a.text);
    a.body
}

/// One JSON command endpoint and the bodies to send it.
struct Case<'a> {
    name: &'static str,
    /// An official whose role may give the command and who sees the document.
    token: &'a str,
    doc: &'a str,
    /// A well-formed body that the document's state refuses (409).
    valid: Value,
    /// A field the body requires, if any.
    required: Option<&'static str>,
    /// A body with a wrong value (an unknown enum variant, a wrong type).
    wrong: Value,
}

/// Sends every kind of bad request to one command endpoint and checks the
/// answer and that the document's stream did not grow.
async fn refuse_everything(app: &TestApp, reader: &str, c: &Case<'_>) {
    let path = format!("/api/v1/documents/{}/{}", c.doc, c.name);
    let before = document_events(app, reader, c.doc).await;
    let what = |check: &str| format!("{} ({check})", c.name);

    let a = post_raw(
        app,
        c.token,
        &path,
        "application/json",
        b"{not json".to_vec(),
        &[],
    )
    .await;
    assert_problem(&what("malformed"), &a, 400, "malformed_json");

    let mut unknown = c.valid.clone();
    unknown["bogus"] = json!(1);
    let a = post_json(app, c.token, &path, &unknown, &[]).await;
    assert_problem(&what("unknown field"), &a, 422, "invalid_body");
    assert_eq!(a.body["field"], "bogus", "{}", a.body);

    if let Some(field) = c.required {
        let mut missing = c.valid.clone();
        missing
            .as_object_mut()
            .expect("an object")
            .remove(field)
            .expect("the required field is in the valid body");
        let a = post_json(app, c.token, &path, &missing, &[]).await;
        assert_problem(&what("missing field"), &a, 422, "invalid_body");
        assert_eq!(a.body["field"], field, "{}", a.body);
    }

    let a = post_json(app, c.token, &path, &c.wrong, &[]).await;
    assert_problem(&what("wrong value"), &a, 422, "invalid_body");

    let a = post_raw(
        app,
        c.token,
        &path,
        "text/plain",
        c.valid.to_string().into_bytes(),
        &[],
    )
    .await;
    assert_problem(&what("text/plain"), &a, 415, "unsupported_media_type");

    let big = json!({"pad": "x".repeat(OVERSIZED)});
    let a = post_json(app, c.token, &path, &big, &[]).await;
    assert_problem(&what("oversized"), &a, 413, "payload_too_large");

    let a = post_json(app, c.token, &path, &c.valid, &[("If-Match", "\"1\"")]).await;
    assert_problem(&what("stale If-Match"), &a, 412, "stale_version");

    let a = post_json(app, c.token, &path, &c.valid, &[]).await;
    assert_problem(&what("state"), &a, 409, "invalid_transition");

    assert_eq!(
        document_events(app, reader, c.doc).await,
        before,
        "{}: a refused command appended events",
        c.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_refuses_bad_requests_and_appends_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_on(dir.path()).await;
    let clerk = app.token("vanthu").await;
    let leader = app.token("lanhdao").await;
    let head = app.token("truongphong").await;
    let specialist = app.token("chuyenvien").await;

    // D: incoming, registered, submitted, directed to unit TH as lead.
    let d = app
        .register_incoming(&clerk, "1234/BTC-NSNN", "normal", Some(sample_pdf("D", 1)))
        .await;
    command(&app, &clerk, &d, "submissions", json!({"to": "lanhdao"})).await;
    let doc = command(
        &app,
        &leader,
        &d,
        "directions",
        json!({"assignments": [{"holder": {"kind": "unit", "id": "TH"}, "role": "lead"}]}),
    )
    .await;
    // The leader's direction row: theirs, and closed.
    let direct_row = doc["document"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["task"] == "direct")
        .map(|r| r["id"].clone())
        .expect("a direction row");

    // O: an outgoing draft by the specialist, revised once (version 2).
    let created = post_form(
        &app,
        &specialist,
        "/api/v1/documents",
        vec![
            (
                "metadata",
                "application/json",
                outgoing_metadata().to_string().into_bytes(),
            ),
            ("file", "application/pdf", sample_pdf("Du thao", 1)),
        ],
        &[],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let o = created.body["document"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let revised = post_form(
        &app,
        &specialist,
        &format!("/api/v1/documents/{o}/revisions"),
        vec![("file", "application/pdf", sample_pdf("Du thao 2", 1))],
        &[],
    )
    .await;
    assert_eq!(revised.status, StatusCode::OK, "{}", revised.text);
    assert_eq!(revised.body["version"], 2);

    let unit_kt = |role: &str| json!({"assignments": [{"holder": {"kind": "unit", "id": "KT"}, "role": role}]});
    let cases = [
        // Registered already.
        Case {
            name: "registration",
            token: &clerk,
            doc: &d,
            valid: json!({}),
            required: None,
            wrong: json!({"arrival_date": "hôm qua"}),
        },
        // Submitted already.
        Case {
            name: "submissions",
            token: &clerk,
            doc: &d,
            valid: json!({"to": "lanhdao"}),
            required: Some("to"),
            wrong: json!({"to": "Lãnh đạo!"}),
        },
        // Directed already.
        Case {
            name: "directions",
            token: &leader,
            doc: &d,
            valid: unit_kt("lead"),
            required: Some("assignments"),
            wrong: unit_kt("boss"),
        },
        // The rest of D's row work names the leader's own direction row,
        // which is closed.
        Case {
            name: "forwards",
            token: &leader,
            doc: &d,
            valid: json!({"row": direct_row, "assignments": [{"holder": {"kind": "user", "id": "chuyenvien"}, "role": "lead"}]}),
            required: Some("assignments"),
            wrong: json!({"row": direct_row, "assignments": [{"holder": {"kind": "user", "id": "chuyenvien"}, "role": "boss"}]}),
        },
        Case {
            name: "acceptances",
            token: &leader,
            doc: &d,
            valid: json!({"row": direct_row}),
            required: None,
            wrong: json!({"row": "first"}),
        },
        Case {
            name: "progress",
            token: &leader,
            doc: &d,
            valid: json!({"row": direct_row, "percent": 10, "note": "Đang xử lý."}),
            required: Some("note"),
            wrong: json!({"row": direct_row, "percent": 300, "note": "Đang xử lý."}),
        },
        Case {
            name: "completion",
            token: &leader,
            doc: &d,
            valid: json!({"row": direct_row, "result": "Xong."}),
            required: None,
            wrong: json!({"row": direct_row, "reply_document": "not-a-uuid"}),
        },
        Case {
            name: "returns",
            token: &leader,
            doc: &d,
            valid: json!({"row": direct_row, "reason": "Không thuộc thẩm quyền."}),
            required: Some("reason"),
            wrong: json!({"row": direct_row, "reason": 42}),
        },
        // Still being handled.
        Case {
            name: "filing",
            token: &clerk,
            doc: &d,
            valid: json!({"case_file": {"code": "HS-2026-01"}}),
            required: Some("case_file"),
            wrong: json!({"case_file": "HS-2026-01"}),
        },
        // A draft: not issued, so nothing to recall.
        Case {
            name: "recall",
            token: &clerk,
            doc: &o,
            valid: json!({"reason": "Ban hành nhầm."}),
            required: Some("reason"),
            wrong: json!({"reason": ["Ban hành nhầm."]}),
        },
        // Not submitted for review.
        Case {
            name: "reviews",
            token: &leader,
            doc: &o,
            valid: json!({"decision": "approve"}),
            required: Some("decision"),
            wrong: json!({"decision": "maybe"}),
        },
        // Not approved.
        Case {
            name: "numbering",
            token: &clerk,
            doc: &o,
            valid: json!({"notation": "UBND-TH"}),
            required: None,
            wrong: json!({"issue_date": "2026-13-45"}),
        },
        // Not numbered.
        Case {
            name: "dispatches",
            token: &clerk,
            doc: &o,
            valid: unit_kt("for_information"),
            required: Some("assignments"),
            wrong: unit_kt("boss"),
        },
    ];
    for c in &cases {
        refuse_everything(&app, &clerk, c).await;
    }

    // Idempotency-Key: the head accepts TH's row, then reports progress twice
    // with one key: one event, the same answer, marked as replayed.
    command(&app, &head, &d, "acceptances", json!({})).await;
    let path = format!("/api/v1/documents/{d}/progress");
    let body = json!({"percent": 50, "note": "Đã tổng hợp số liệu."});
    let key = [("Idempotency-Key", "progress-2026-0001")];
    let before = document_events(&app, &clerk, &d).await;
    let first = post_json(&app, &head, &path, &body, &key).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.header("idempotency-replayed"), None);
    assert_eq!(document_events(&app, &clerk, &d).await, before + 1);
    let again = post_json(&app, &head, &path, &body, &key).await;
    assert_eq!(again.status, first.status);
    assert_eq!(again.text, first.text, "the same body");
    assert_eq!(again.header("idempotency-replayed"), Some("true"));
    assert_eq!(
        document_events(&app, &clerk, &d).await,
        before + 1,
        "a replay appends nothing"
    );
    let other = json!({"percent": 60, "note": "Đã tổng hợp số liệu."});
    let reused = post_json(&app, &head, &path, &other, &key).await;
    assert_problem("reused key", &reused, 422, "idempotency_key_reused");
    assert_eq!(document_events(&app, &clerk, &d).await, before + 1);
    app.stop().await;
}

fn outgoing_metadata() -> Value {
    json!({
        "direction": "outgoing",
        "metadata": {
            "document_type": "cong_van",
            "subject": "Về việc báo cáo tình hình thực hiện dự toán",
            "secrecy": "normal",
        },
    })
}

fn incoming(number: &str, secrecy: &str) -> Value {
    json!({"direction": "incoming", "metadata": incoming_metadata(number, secrecy)})
}

/// A body that is not multipart/form-data (sent as text/plain).
const NOT_MULTIPART: &[u8] = b"metadata={\"direction\":\"incoming\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_routes_and_languages_answer_problems() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_on(dir.path()).await;
    let clerk = app.token("vanthu").await;
    let specialist = app.token("chuyenvien").await;

    // O: an outgoing draft, submitted for review (version 2): a new revision is refused.
    let created = post_form(
        &app,
        &specialist,
        "/api/v1/documents",
        vec![
            (
                "metadata",
                "application/json",
                outgoing_metadata().to_string().into_bytes(),
            ),
            ("file", "application/pdf", sample_pdf("Du thao", 1)),
        ],
        &[],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let o = created.body["document"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    command(
        &app,
        &specialist,
        &o,
        "submissions",
        json!({"to": "truongphong"}),
    )
    .await;

    // The parts of a form.
    let json_part = |v: Value| ("metadata", "application/json", v.to_string().into_bytes());
    let raw_part = |b: &[u8]| ("metadata", "application/json", b.to_vec());
    let meta = |number: &str, secrecy: &str| json_part(incoming(number, secrecy));
    let pdf = || ("file", "application/pdf", sample_pdf("Cong van 99", 1));
    let png = || ("file", "image/png", sample_pdf("png", 1));
    let not_pdf = || ("file", "application/pdf", b"hello, not a PDF".to_vec());
    let big = || raw_part(json!({"pad": "x".repeat(OVERSIZED)}).to_string().as_bytes());
    let stale = || vec![("If-Match", "\"1\"")];
    let bogus = json!({"direction": "incoming", "metadata": incoming_metadata("99/BTC", "normal"), "bogus": 1});
    let sideways =
        json!({"direction": "sideways", "metadata": incoming_metadata("99/BTC", "normal")});

    // POST /documents as the clerk.
    #[rustfmt::skip]
    let creates: Vec<Refusal> = vec![
        // (what, parts, extra headers,                                      status, code, field)
        ("malformed metadata", vec![raw_part(b"{not json"), pdf()],            vec![], 400, "malformed_json", None),
        ("unknown field",      vec![json_part(bogus), pdf()],                  vec![], 422, "invalid_body", Some("bogus")),
        ("missing field",      vec![json_part(json!({"direction": "incoming"})), pdf()],
                                                                               vec![], 422, "invalid_body", Some("metadata")),
        ("wrong enum",         vec![json_part(sideways), pdf()],               vec![], 422, "invalid_body", None),
        ("wrong secrecy",      vec![meta("99/BTC", "top"), pdf()],             vec![], 422, "invalid_body", None),
        ("oversized metadata", vec![big(), pdf()],                             vec![], 413, "payload_too_large", None),
        ("stale If-Match",     vec![meta("99/BTC", "normal"), pdf()],          stale(), 412, "stale_version", None),
        ("no metadata part",   vec![pdf()],                                    vec![], 422, "invalid_body", Some("metadata")),
        ("a PNG",              vec![meta("99/BTC", "normal"), png()],          vec![], 415, "unsupported_media_type", Some("file")),
        ("not a PDF",          vec![meta("99/BTC", "normal"), not_pdf()],      vec![], 422, "not_a_pdf", Some("file")),
        ("a secret's file",    vec![meta("99/BQP-M", "secret"), pdf()],        vec![], 422, "secret_content", Some("file")),
        // (No 409: a new document has no state to forbid it.)
    ];
    let before = listed(&app, &clerk).await;
    for (what, parts, headers, status, code, field) in creates {
        let a = post_form(&app, &clerk, "/api/v1/documents", parts, &headers).await;
        assert_problem(&format!("create: {what}"), &a, status, code);
        if let Some(f) = field {
            assert_eq!(a.body["field"], f, "create: {what}: {}", a.body);
        }
        assert_eq!(
            listed(&app, &clerk).await,
            before,
            "create: {what} made a document"
        );
    }
    // (A body that is not multipart at all: `multipart_endpoints_refuse_other_media_types`.)

    // POST /documents/{O}/revisions, as the drafter.
    let path = format!("/api/v1/documents/{o}/revisions");
    let note = json_part;
    #[rustfmt::skip]
    let revisions: Vec<Refusal> = vec![
        // (what, parts, extra headers,                                      status, code, field)
        ("malformed metadata", vec![raw_part(b"{not json"), pdf()],            vec![], 400, "malformed_json", None),
        ("unknown field",      vec![note(json!({"note": "Sửa", "bogus": 1})), pdf()],
                                                                               vec![], 422, "invalid_body", Some("bogus")),
        ("no file part",       vec![note(json!({"note": "Sửa"}))],             vec![], 422, "invalid_body", Some("file")),
        ("wrong value",        vec![note(json!({"note": 5})), pdf()],          vec![], 422, "invalid_body", None),
        ("oversized metadata", vec![big(), pdf()],                             vec![], 413, "payload_too_large", None),
        ("stale If-Match",     vec![note(json!({"note": "Sửa"})), pdf()],      stale(), 412, "stale_version", None),
        ("a PNG",              vec![png()],                                    vec![], 415, "unsupported_media_type", Some("file")),
        ("not a PDF",          vec![not_pdf()],                                vec![], 422, "not_a_pdf", Some("file")),
        ("under review",       vec![note(json!({"note": "Sửa"})), pdf()],      vec![], 409, "invalid_transition", None),
    ];
    let events = document_events(&app, &clerk, &o).await;
    for (what, parts, headers, status, code, field) in revisions {
        let a = post_form(&app, &specialist, &path, parts, &headers).await;
        assert_problem(&format!("revisions: {what}"), &a, status, code);
        if let Some(f) = field {
            assert_eq!(a.body["field"], f, "revisions: {what}: {}", a.body);
        }
        assert_eq!(
            document_events(&app, &clerk, &o).await,
            events,
            "revisions: {what} appended"
        );
    }

    // Unknown routes and wrong methods.
    for token in [None, Some(clerk.as_str())] {
        let mut req = app.client.get(app.url("/api/v1/nothing-here"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let a = answer(req.send().await.expect("GET")).await;
        assert_problem("unknown route", &a, 404, "not_found");
    }
    for (method, path, allow) in [
        (reqwest::Method::DELETE, "/healthz", "GET"),
        (reqwest::Method::GET, "/api/v1/auth/token", "POST"),
    ] {
        let a = answer(
            app.client
                .request(method.clone(), app.url(path))
                .send()
                .await
                .expect("send"),
        )
        .await;
        assert_problem(&format!("{method} {path}"), &a, 405, "method_not_allowed");
        assert_eq!(
            a.headers.get(ALLOW).and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
    }

    // Titles in the request's language: Vietnamese when preferred, else English.
    let wrong = json!({"username": "vanthu", "password": "sai-mat-khau"});
    for (language, title) in [
        (Some("vi"), "Sai tên đăng nhập hoặc mật khẩu"),
        (Some("vi-VN, en;q=0.5"), "Sai tên đăng nhập hoặc mật khẩu"),
        (Some("en"), "Wrong username or password"),
        (None, "Wrong username or password"),
    ] {
        let mut req = app.client.post(app.url("/api/v1/auth/token")).json(&wrong);
        if let Some(l) = language {
            req = req.header("Accept-Language", l);
        }
        let a = answer(req.send().await.expect("sign in")).await;
        assert_problem(
            &format!("sign in, {language:?}"),
            &a,
            401,
            "bad_credentials",
        );
        assert_eq!(a.body["title"], title, "{language:?}");
    }
    let a = answer(
        app.client
            .get(app.url("/api/v1/nothing-here"))
            .header("Accept-Language", "vi")
            .send()
            .await
            .expect("GET"),
    )
    .await;
    assert_problem("unknown route, vi", &a, 404, "not_found");
    assert_eq!(a.body["title"], "Không tìm thấy");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_endpoints_refuse_other_media_types() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_on(dir.path()).await;
    let clerk = app.token("vanthu").await;
    let specialist = app.token("chuyenvien").await;
    let created = post_form(
        &app,
        &specialist,
        "/api/v1/documents",
        vec![
            (
                "metadata",
                "application/json",
                outgoing_metadata().to_string().into_bytes(),
            ),
            ("file", "application/pdf", sample_pdf("Du thao", 1)),
        ],
        &[],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let o = created.body["document"]["id"]
        .as_str()
        .expect("id")
        .to_string();

    let before = listed(&app, &clerk).await;
    let a = post_raw(
        &app,
        &clerk,
        "/api/v1/documents",
        "text/plain",
        NOT_MULTIPART.to_vec(),
        &[],
    )
    .await;
    assert_problem("create: text/plain", &a, 415, "unsupported_media_type");
    assert_eq!(
        listed(&app, &clerk).await,
        before,
        "create: text/plain made a document"
    );

    let events = document_events(&app, &clerk, &o).await;
    let path = format!("/api/v1/documents/{o}/revisions");
    let a = post_raw(
        &app,
        &specialist,
        &path,
        "text/plain",
        NOT_MULTIPART.to_vec(),
        &[],
    )
    .await;
    assert_problem("revisions: text/plain", &a, 415, "unsupported_media_type");
    assert_eq!(document_events(&app, &clerk, &o).await, events);
    app.stop().await;
}
