//! The authorisation matrix over HTTP: which official gets which status
//! from which route. The tables are written out in full, one column per
//! demo official (see [`USERS`]), so that a reader sees the rules:
//!
//! - no token, a garbage token or a signed-out token: 401 on every route
//!   but the public ones;
//! - a document the caller may not see: 404, whatever the route (its
//!   existence is not revealed);
//! - a visible document and a command the caller's role may not give: 403;
//! - a command the role may give but the document's state forbids: 409;
//! - administration: the admin role only; registers: clerk, leader,
//!   auditor; statistics: those, and a unit head for their own unit.

use std::collections::BTreeSet;

use reqwest::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{TestApp, incoming_metadata, spawn_on};
use congvan::pdf::sample::sample_pdf;

/// The demo officials, in the order of the tables' columns (headed by
/// their initials).
const USERS: [&str; 7] = [
    "vanthu",        // vt: clerk, unit VT
    "lanhdao",       // ld: leader, unit LD
    "truongphong",   // tp: unit head, unit TH
    "chuyenvien",    // cv: specialist, unit TH
    "truongphongkt", // tpkt: unit head, unit KT
    "thanhtra",      // tt: auditor, unit TTr
    "quantri",       // qt: admin, unit VP
];

/// What a request carries.
#[derive(Clone)]
enum Body {
    None,
    Json(Value),
    /// multipart/form-data: the JSON part `metadata` and, optionally, a PDF part `file`.
    Form(Value, Option<Vec<u8>>),
    /// Bytes as they are, with a Content-Type.
    Raw(&'static str, &'static [u8]),
    /// multipart/form-data with only the PDF part `file`.
    File(Vec<u8>),
}

struct Answer {
    status: StatusCode,
    content_type: String,
    www_authenticate: Option<String>,
    /// The JSON body; null for an empty or non-JSON body.
    body: Value,
}

async fn call(app: &TestApp, token: Option<&str>, method: &str, path: &str, body: &Body) -> Answer {
    let method = Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let mut req = app.client.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req = match body {
        Body::None => req,
        Body::Json(v) => req.json(v),
        Body::Form(metadata, file) => {
            let mut form = reqwest::multipart::Form::new().part(
                "metadata",
                reqwest::multipart::Part::text(metadata.to_string())
                    .mime_str("application/json")
                    .expect("mime"),
            );
            if let Some(bytes) = file {
                form = form.part(
                    "file",
                    reqwest::multipart::Part::bytes(bytes.clone())
                        .file_name("scan.pdf")
                        .mime_str("application/pdf")
                        .expect("mime"),
                );
            }
            req.multipart(form)
        }
        Body::Raw(content_type, bytes) => req.header(CONTENT_TYPE, *content_type).body(*bytes),
        Body::File(bytes) => req.multipart(
            reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(bytes.clone())
                    .file_name("signed.pdf")
                    .mime_str("application/pdf")
                    .expect("mime"),
            ),
        ),
    };
    let r = req.send().await.expect("the request is answered");
    let header = |name| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header(CONTENT_TYPE).unwrap_or_default();
    let www_authenticate = header(WWW_AUTHENTICATE);
    let status = r.status();
    let bytes = r.bytes().await.expect("the body");
    Answer {
        status,
        content_type,
        www_authenticate,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// Signs every demo official in; tokens in the order of [`USERS`].
async fn tokens(app: &TestApp) -> Vec<String> {
    let mut out = Vec::new();
    for u in USERS {
        out.push(app.token(u).await);
    }
    out
}

/// One row of a matrix: method, path, body, and the status each official
/// (in the order of [`USERS`]) gets.
type Row = (&'static str, String, Body, [u16; 7]);

/// Sends every row as every official, in order (row by row, left to
/// right); returns the cells that differ from the table.
async fn run_matrix(app: &TestApp, tokens: &[String], rows: &[Row]) -> Vec<String> {
    let mut wrong = Vec::new();
    for (method, path, body, expected) in rows {
        for ((user, token), want) in USERS.iter().zip(tokens).zip(expected) {
            let a = call(app, Some(token.as_str()), method, path, body).await;
            if a.status.as_u16() != *want {
                wrong.push(format!(
                    "{method} {path} as {user}: expected {want}, got {} {}",
                    a.status.as_u16(),
                    a.body
                ));
            } else if a.status.is_client_error() {
                assert_eq!(
                    a.content_type, "application/problem+json",
                    "{method} {path} as {user}"
                );
            }
        }
    }
    wrong
}

fn assert_matrix(wrong: Vec<String>) {
    assert!(
        wrong.is_empty(),
        "{} cells differ from the matrix:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// A command that must succeed (setting a document up).
async fn command(app: &TestApp, token: &str, id: &str, name: &str, body: Value) -> Value {
    let a = call(
        app,
        Some(token),
        "POST",
        &format!("/api/v1/documents/{id}/{name}"),
        &Body::Json(body),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{name}: {}", a.body);
    a.body
}

fn incoming_form(number: &str) -> Body {
    Body::Form(
        json!({"direction": "incoming", "metadata": incoming_metadata(number, "normal")}),
        Some(sample_pdf(number, 1)),
    )
}

/// The public routes: (method, path, body).
fn public_routes() -> Vec<(&'static str, &'static str, Body)> {
    vec![
        ("GET", "/healthz", Body::None),
        ("GET", "/readyz", Body::None),
        ("GET", "/api/v1/openapi.json", Body::None),
        ("GET", "/docs", Body::None),
        (
            "POST",
            "/api/v1/auth/token",
            Body::Json(json!({"username": "vanthu", "password": "demo"})),
        ),
    ]
}

/// Every other route, as (method, path template, a well-formed body): the
/// paths of the OpenAPI document but the public ones.
fn protected_routes() -> Vec<(&'static str, &'static str, Body)> {
    let j = Body::Json;
    let lead_th =
        json!({"assignments": [{"holder": {"kind": "unit", "id": "TH"}, "role": "lead"}]});
    vec![
        ("GET", "/api/v1/me", Body::None),
        ("POST", "/api/v1/auth/logout", Body::None),
        ("GET", "/api/v1/admin/units", Body::None),
        (
            "POST",
            "/api/v1/admin/units",
            j(json!({"id": "KH", "name": "Phòng Kế hoạch"})),
        ),
        (
            "PATCH",
            "/api/v1/admin/units/{unit}",
            j(json!({"name": "Phòng Tổng hợp"})),
        ),
        ("GET", "/api/v1/admin/users", Body::None),
        ("POST", "/api/v1/admin/users", j(new_user("nhanvien"))),
        (
            "PATCH",
            "/api/v1/admin/users/{user}",
            j(json!({"position": "Chuyên viên chính"})),
        ),
        (
            "POST",
            "/api/v1/admin/users/{user}/deactivation",
            Body::None,
        ),
        ("POST", "/api/v1/admin/users/{user}/activation", Body::None),
        (
            "PUT",
            "/api/v1/admin/users/{user}/password",
            j(json!({"password": "mat-khau-moi-2026"})),
        ),
        (
            "PUT",
            "/api/v1/admin/users/{user}/signing-titles",
            j(json!({"titles": ["KT."]})),
        ),
        ("POST", "/api/v1/documents", incoming_form("77/BTC-NSNN")),
        ("GET", "/api/v1/documents", Body::None),
        ("GET", "/api/v1/documents/{id}", Body::None),
        ("GET", "/api/v1/documents/{id}/events", Body::None),
        ("GET", "/api/v1/documents/{id}/pdf", Body::None),
        (
            "GET",
            "/api/v1/documents/{id}/pdf/revisions/{n}",
            Body::None,
        ),
        ("POST", "/api/v1/documents/{id}/registration", j(json!({}))),
        (
            "POST",
            "/api/v1/documents/{id}/submissions",
            j(json!({"to": "lanhdao"})),
        ),
        (
            "POST",
            "/api/v1/documents/{id}/directions",
            j(lead_th.clone()),
        ),
        (
            "POST",
            "/api/v1/documents/{id}/forwards",
            j(lead_th.clone()),
        ),
        ("POST", "/api/v1/documents/{id}/acceptances", j(json!({}))),
        (
            "POST",
            "/api/v1/documents/{id}/progress",
            j(json!({"percent": 10, "note": "Đang xử lý."})),
        ),
        ("POST", "/api/v1/documents/{id}/completion", j(json!({}))),
        (
            "POST",
            "/api/v1/documents/{id}/returns",
            j(json!({"reason": "Không đúng thẩm quyền."})),
        ),
        (
            "POST",
            "/api/v1/documents/{id}/filing",
            j(json!({"case_file": {"code": "HS-01"}})),
        ),
        (
            "POST",
            "/api/v1/documents/{id}/recall",
            j(json!({"reason": "Ban hành nhầm."})),
        ),
        (
            "POST",
            "/api/v1/documents/{id}/revisions",
            Body::Form(json!({"note": "Sửa"}), Some(sample_pdf("Du thao", 1))),
        ),
        (
            "POST",
            "/api/v1/documents/{id}/reviews",
            j(json!({"decision": "approve"})),
        ),
        ("POST", "/api/v1/documents/{id}/numbering", j(json!({}))),
        ("POST", "/api/v1/documents/{id}/dispatches", j(lead_th)),
        (
            "POST",
            "/api/v1/documents/{id}/signatures",
            j(json!({"kind": "personal"})),
        ),
        (
            "POST",
            "/api/v1/documents/{id}/signatures/prepare",
            j(json!({"kind": "personal"})),
        ),
        (
            "POST",
            "/api/v1/documents/{id}/signatures/finish",
            j(json!({"session_id": uuid::Uuid::nil(), "signature": "AAAA"})),
        ),
        ("GET", "/api/v1/documents/{id}/signatures", Body::None),
        (
            "POST",
            "/api/v1/documents/{id}/attachments",
            Body::Form(json!({"name": "Phụ lục I"}), Some(sample_pdf("Phu luc", 1))),
        ),
        (
            "GET",
            "/api/v1/documents/{id}/attachments/{n}/pdf",
            Body::None,
        ),
        ("GET", "/api/v1/inbox", Body::None),
        ("GET", "/api/v1/registers/incoming/{year}", Body::None),
        ("GET", "/api/v1/registers/outgoing/{year}", Body::None),
        ("GET", "/api/v1/stats", Body::None),
        (
            "POST",
            "/api/v1/verify",
            Body::File(sample_pdf("Kiem tra chu ky", 1)),
        ),
    ]
}

fn new_user(user: &str) -> Value {
    json!({
        "user": user,
        "full_name": "Ngô Văn Tâm",
        "position": "Chuyên viên",
        "unit": "TH",
        "roles": ["specialist"],
        "password": "mat-khau-dai-2026",
    })
}

/// A template's path with its parameters filled in.
fn concrete(template: &str, id: &str) -> String {
    template
        .replace("{id}", id)
        .replace("{n}", "1")
        .replace("{unit}", "TH")
        .replace("{user}", "chuyenvien")
        .replace("{year}", "2026")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_valid_token_only_the_public_routes_answer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_on(dir.path()).await;
    let clerk = app.token("vanthu").await;
    let id = app
        .register_incoming(&clerk, "12/UBND-VP", "normal", Some(sample_pdf("12", 1)))
        .await;

    // The public routes answer without a token (and ignore a garbage one).
    for (method, path, body) in public_routes() {
        for token in [None, Some("garbage")] {
            let a = call(&app, token, method, path, &body).await;
            assert_eq!(a.status, StatusCode::OK, "{method} {path} with {token:?}");
        }
    }

    // Every route of the OpenAPI document is either public or protected here.
    let doc = call(&app, None, "GET", "/api/v1/openapi.json", &Body::None).await;
    let listed: BTreeSet<(String, String)> = doc.body["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .expect("operations")
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let known: BTreeSet<(String, String)> = public_routes()
        .into_iter()
        .chain(protected_routes())
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .filter(|(_, p)| !matches!(p.as_str(), "/api/v1/openapi.json" | "/docs"))
        .collect();
    assert_eq!(
        listed, known,
        "the OpenAPI paths and this test's routes differ"
    );

    // A signed-out token stops working at once.
    let signed_out = app.token("vanthu").await;
    let a = call(
        &app,
        Some(&signed_out),
        "POST",
        "/api/v1/auth/logout",
        &Body::None,
    )
    .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);

    let mut wrong = Vec::new();
    for (method, template, body) in protected_routes() {
        let path = concrete(template, &id);
        // The clerk's valid token is not refused as unauthenticated (not
        // tried on logout, which would end it).
        if template != "/api/v1/auth/logout" {
            let ok = call(&app, Some(&clerk), method, &path, &body).await;
            assert_ne!(ok.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        }
        for (label, token) in [
            ("no token", None),
            ("a garbage token", Some("garbage.token.value")),
            ("a signed-out token", Some(signed_out.as_str())),
        ] {
            let a = call(&app, token, method, &path, &body).await;
            if a.status != StatusCode::UNAUTHORIZED {
                wrong.push(format!(
                    "{method} {path} with {label}: expected 401, got {} {}",
                    a.status, a.body
                ));
                continue;
            }
            assert_eq!(
                a.content_type, "application/problem+json",
                "{method} {path}"
            );
            assert_eq!(a.body["code"], "unauthorized", "{method} {path}");
            assert_eq!(a.www_authenticate.as_deref(), Some("Bearer"));
        }
    }
    assert_matrix(wrong);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_and_commands_follow_visibility_and_roles() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_on(dir.path()).await;
    let t = tokens(&app).await;
    let (clerk, leader, head) = (&t[0], &t[1], &t[2]);

    // R: routed — registered, submitted, directed to unit TH as lead; the
    // head of TH has accepted it (so TH's row is in progress).
    let r = app
        .register_incoming(
            clerk,
            "1234/BTC-NSNN",
            "normal",
            Some(sample_pdf("Cong van 1234", 1)),
        )
        .await;
    command(&app, clerk, &r, "submissions", json!({"to": "lanhdao"})).await;
    command(&app, leader, &r, "directions", json!({
        "instruction": "Giao Phòng Tổng hợp chủ trì.",
        "assignments": [{"holder": {"kind": "unit", "id": "TH"}, "role": "lead", "deadline": {"working_days": 5}}]
    }))
    .await;
    command(&app, head, &r, "acceptances", json!({})).await;
    // S: secret, metadata only, registered by the clerk (not yet submitted).
    let s = app
        .register_incoming(clerk, "05/BQP-M", "secret", None)
        .await;

    let get = |path: &str| {
        (
            "GET",
            path.replace("{R}", &r).replace("{S}", &s),
            Body::None,
        )
    };
    let row = |(m, p, b): (&'static str, String, Body), expected: [u16; 7]| (m, p, b, expected);

    // Reading.
    #[rustfmt::skip]
    let reads: Vec<Row> = vec![
                                                        // vt   ld   tp   cv   tpkt tt   qt
        row(get("/api/v1/documents/{R}"),                 [200, 200, 200, 200, 404, 200, 404]),
        row(get("/api/v1/documents/{R}/events"),          [200, 200, 200, 200, 404, 200, 404]),
        row(get("/api/v1/documents/{R}/pdf"),             [200, 200, 200, 200, 404, 200, 404]),
        row(get("/api/v1/documents/{R}/pdf/revisions/1"), [200, 200, 200, 200, 404, 200, 404]),
        row(get("/api/v1/documents/{R}/signatures"),      [200, 200, 200, 200, 404, 200, 404]),
        row(get("/api/v1/documents/{S}/signatures"),      [200, 200, 404, 404, 404, 404, 404]),
        // An incoming document has no attachments of its own.
        row(get("/api/v1/documents/{R}/attachments/1/pdf"), [404, 404, 404, 404, 404, 404, 404]),
        row(get("/api/v1/documents/{S}"),                 [200, 200, 404, 404, 404, 404, 404]),
        // The auditor reads a secret document's trail, not its content.
        row(get("/api/v1/documents/{S}/events"),          [200, 200, 404, 404, 404, 200, 404]),
        // No file is kept for a secret document.
        row(get("/api/v1/documents/{S}/pdf"),             [404, 404, 404, 404, 404, 404, 404]),
    ];
    let mut wrong = run_matrix(&app, &t, &reads).await;

    // The auditor's events of S: every payload withheld; the leader's: all there.
    for (who, token, withheld) in [("thanhtra", &t[5], true), ("lanhdao", leader, false)] {
        let a = call(
            &app,
            Some(token.as_str()),
            "GET",
            &format!("/api/v1/documents/{s}/events"),
            &Body::None,
        )
        .await;
        let events = a.body["events"].as_array().expect("events");
        assert!(!events.is_empty(), "{who}: {}", a.body);
        for e in events {
            assert_eq!(e["payload"].is_null(), withheld, "{who}: {e}");
        }
        // The trail's summaries quote the document: only the action is left.
        let trail = a.body["trail"].as_array().expect("trail");
        assert!(!trail.is_empty(), "{who}: {}", a.body);
        for line in trail {
            assert_eq!(line["summary"] == line["action"], withheld, "{who}: {line}");
        }
    }

    // The list holds what the official may see.
    #[rustfmt::skip]
    let (lists_r, lists_s): ([bool; 7], [bool; 7]) = (
        // vt    ld    tp     cv     tpkt   tt     qt
        [true, true, true,  true,  false, true,  false],
        [true, true, false, false, false, false, false],
    );
    for (i, user) in USERS.iter().enumerate() {
        let a = call(
            &app,
            Some(t[i].as_str()),
            "GET",
            "/api/v1/documents?limit=200",
            &Body::None,
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{user}");
        let ids: Vec<&str> = a.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|d| d["id"].as_str())
            .collect();
        if ids.contains(&r.as_str()) != lists_r[i] {
            wrong.push(format!(
                "GET /api/v1/documents as {user}: R listed: {}",
                !lists_r[i]
            ));
        }
        if ids.contains(&s.as_str()) != lists_s[i] {
            wrong.push(format!(
                "GET /api/v1/documents as {user}: S listed: {}",
                !lists_s[i]
            ));
        }
    }

    // Commands on R. Officials who may not see R: 404; who see it but whose
    // role may not give the command: 403; the role may but the state
    // forbids: 409. The rows run in order: the head reports progress, then
    // completes TH's row (so R is completed), then nothing more may change.
    let post = |name: &str, body: Value| {
        (
            "POST",
            format!("/api/v1/documents/{r}/{name}"),
            Body::Json(body),
        )
    };
    let to_kt = |role: &str| json!({"assignments": [{"holder": {"kind": "unit", "id": "KT"}, "role": role}]});
    #[rustfmt::skip]
    let commands: Vec<Row> = vec![
                                                                                    // vt   ld   tp   cv   tpkt tt   qt
        row(post("registration", json!({})),                                          [409, 403, 403, 403, 404, 403, 404]),
        row(post("submissions", json!({"to": "lanhdao"})),                            [409, 409, 409, 409, 404, 403, 404]),
        row(post("directions", to_kt("lead")),                                        [403, 409, 409, 403, 404, 403, 404]),
        // Past the gate: the leader and the specialist hold no open row
        // (409); the head holds TH's, but forwards only inside TH (422).
        row(post("forwards", to_kt("lead")),                                          [403, 409, 422, 409, 404, 403, 404]),
        row(post("acceptances", json!({})),                                           [409, 409, 409, 409, 404, 403, 404]),
        row(post("progress", json!({"percent": 40, "note": "Đang tổng hợp."})),       [409, 409, 200, 409, 404, 403, 404]),
        row(
            ("POST", format!("/api/v1/documents/{r}/revisions"),
             Body::Form(json!({"note": "Bản sửa"}), Some(sample_pdf("Ban sua", 1)))),
                                                                                      [409, 409, 409, 409, 404, 403, 404]),
        row(post("reviews", json!({"decision": "approve"})),                          [403, 409, 409, 403, 404, 403, 404]),
        row(post("numbering", json!({"notation": "UBND-TH"})),                        [409, 403, 403, 403, 404, 403, 404]),
        row(post("dispatches", to_kt("for_information")),                             [409, 403, 403, 403, 404, 403, 404]),
        // Incoming documents are verified, not signed; a leader or a clerk
        // gets past the role gate and is refused by the state.
        row(post("signatures", json!({"kind": "personal"})),                          [409, 409, 403, 403, 404, 403, 404]),
        row(post("signatures/prepare", json!({"kind": "agency_seal"})),               [409, 409, 403, 403, 404, 403, 404]),
        row(
            ("POST", format!("/api/v1/documents/{r}/attachments"),
             Body::Form(json!({"name": "Phụ lục"}), Some(sample_pdf("Phu luc", 1)))),
                                                                                      [409, 409, 409, 409, 404, 403, 404]),
        row(post("signatures/finish", json!({"session_id": uuid::Uuid::nil(), "cms": "AAAA"})),
                                                                                      [422, 422, 403, 403, 404, 403, 404]),
        row(post("filing", json!({"case_file": {"code": "HS-01"}})),                  [409, 409, 409, 409, 404, 403, 404]),
        row(post("completion", json!({"result": "Đã báo cáo."})),                     [409, 409, 200, 409, 404, 403, 404]),
        row(post("returns", json!({"reason": "Không thuộc thẩm quyền."})),            [409, 409, 409, 409, 404, 403, 404]),
        row(post("recall", json!({"reason": "Văn bản gửi nhầm."})),                   [409, 409, 403, 403, 404, 403, 404]),
    ];
    wrong.extend(run_matrix(&app, &t, &commands).await);

    // On S, the auditor sees the trail only: every command is 404 for them too.
    let on_s = |name: &str, body: Value| {
        (
            "POST",
            format!("/api/v1/documents/{s}/{name}"),
            Body::Json(body),
        )
    };
    #[rustfmt::skip]
    let secret: Vec<Row> = vec![
                                                                           // vt   ld   tp   cv   tpkt tt   qt
        row(on_s("registration", json!({})),                                 [409, 403, 404, 404, 404, 404, 404]),
        row(on_s("progress", json!({"percent": 40, "note": "Đang xử lý."})), [409, 409, 404, 404, 404, 404, 404]),
    ];
    wrong.extend(run_matrix(&app, &t, &secret).await);

    // Creating: only the clerk registers incoming documents.
    #[rustfmt::skip]
    let create: Vec<Row> = vec![
        ("POST", "/api/v1/documents".to_string(), incoming_form("88/BTC-NSNN"),
                                                           // vt   ld   tp   cv   tpkt tt   qt
                                                             [201, 403, 403, 403, 403, 403, 403]),
    ];
    wrong.extend(run_matrix(&app, &t, &create).await);
    assert_matrix(wrong);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administration_registers_and_statistics_follow_roles() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_on(dir.path()).await;
    let t = tokens(&app).await;
    let json_row =
        |m: &'static str, p: &str, b: Value, e: [u16; 7]| (m, p.to_string(), Body::Json(b), e);
    let bare = |m: &'static str, p: &str, e: [u16; 7]| (m, p.to_string(), Body::None, e);
    const ADMIN_ONLY: [u16; 7] = [403, 403, 403, 403, 403, 403, 200];

    #[rustfmt::skip]
    let admin: Vec<Row> = vec![
                                                                      // vt   ld   tp   cv   tpkt tt   qt
        bare("GET", "/api/v1/admin/units",                              ADMIN_ONLY),
        json_row("POST", "/api/v1/admin/units", json!({"id": "KH", "name": "Phòng Kế hoạch"}),
                                                                        [403, 403, 403, 403, 403, 403, 201]),
        json_row("PATCH", "/api/v1/admin/units/KH", json!({"name": "Phòng Kế hoạch - Đầu tư"}),
                                                                        ADMIN_ONLY),
        bare("GET", "/api/v1/admin/users",                              ADMIN_ONLY),
        json_row("POST", "/api/v1/admin/users", new_user("nhanvien"),   [403, 403, 403, 403, 403, 403, 201]),
        json_row("PATCH", "/api/v1/admin/users/nhanvien", json!({"position": "Chuyên viên chính", "unit": "KH"}),
                                                                        ADMIN_ONLY),
        bare("POST", "/api/v1/admin/users/nhanvien/deactivation",       ADMIN_ONLY),
        bare("POST", "/api/v1/admin/users/nhanvien/activation",         ADMIN_ONLY),
        json_row("PUT", "/api/v1/admin/users/nhanvien/password", json!({"password": "mat-khau-moi-2026"}),
                                                                        [403, 403, 403, 403, 403, 403, 204]),
        json_row("PUT", "/api/v1/admin/users/nhanvien/signing-titles", json!({"titles": ["KT.", "TL."]}),
                                                                        ADMIN_ONLY),
        // An administrator cannot lock themself out.
        bare("POST", "/api/v1/admin/users/quantri/deactivation",        [403, 403, 403, 403, 403, 403, 409]),
    ];
    let mut wrong = run_matrix(&app, &t, &admin).await;

    #[rustfmt::skip]
    let lists: Vec<Row> = vec![
                                                     // vt   ld   tp   cv   tpkt tt   qt
        bare("GET", "/api/v1/registers/incoming/2026", [200, 200, 403, 403, 403, 200, 403]),
        bare("GET", "/api/v1/registers/outgoing/2026", [200, 200, 403, 403, 403, 200, 403]),
        // A unit head: their own unit only (the default when no unit is asked).
        bare("GET", "/api/v1/stats",                   [200, 200, 200, 403, 200, 200, 403]),
        bare("GET", "/api/v1/stats?unit=TH",           [200, 200, 200, 403, 403, 200, 403]),
        bare("GET", "/api/v1/stats?unit=KT",           [200, 200, 403, 403, 200, 200, 403]),
        bare("GET", "/api/v1/inbox",                   [200, 200, 200, 200, 200, 200, 200]),
        bare("GET", "/api/v1/me",                      [200, 200, 200, 200, 200, 200, 200]),
        // Anyone signed in may have a PDF's signatures checked.
        ("POST", "/api/v1/verify".to_string(), Body::File(sample_pdf("Kiem tra", 1)),
                                                       [200, 200, 200, 200, 200, 200, 200]),
    ];
    wrong.extend(run_matrix(&app, &t, &lists).await);
    assert_matrix(wrong);

    // The new official signs in with the password the admin set.
    let r = call(
        &app,
        None,
        "POST",
        "/api/v1/auth/token",
        &Body::Json(json!({"username": "nhanvien", "password": "mat-khau-moi-2026"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Deactivation: the specialist's token stops working, and so does signing in.
    let specialist = &t[3];
    let me = call(
        &app,
        Some(specialist.as_str()),
        "GET",
        "/api/v1/me",
        &Body::None,
    )
    .await;
    assert_eq!(me.status, StatusCode::OK);
    let a = call(
        &app,
        Some(t[6].as_str()),
        "POST",
        "/api/v1/admin/users/chuyenvien/deactivation",
        &Body::None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["active"], false, "{}", a.body);
    for path in ["/api/v1/me", "/api/v1/inbox", "/api/v1/documents"] {
        let a = call(&app, Some(specialist.as_str()), "GET", path, &Body::None).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}: {}", a.body);
        assert_eq!(a.body["code"], "unauthorized");
    }
    let a = call(
        &app,
        None,
        "POST",
        "/api/v1/auth/token",
        &Body::Json(json!({"username": "chuyenvien", "password": "demo"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    assert_eq!(a.content_type, "application/problem+json");
    app.stop().await;
}

fn outgoing_form(subject: &str) -> Body {
    Body::Form(
        json!({"direction": "outgoing", "metadata": {
            "document_type": "cong_van", "subject": subject, "secrecy": "normal"}}),
        Some(sample_pdf(subject, 1)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_drafting_roles_create_outgoing_drafts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_on(dir.path()).await;
    let t = tokens(&app).await;
    // Revisions (`Drafting`) and submissions need clerk, leader, unit head
    // or specialist; so does creating the draft.
    #[rustfmt::skip]
    let create: Vec<Row> = vec![
        ("POST", "/api/v1/documents".to_string(), outgoing_form("Báo cáo tháng"),
                                                           // vt   ld   tp   cv   tpkt tt   qt
                                                             [201, 201, 201, 201, 201, 403, 403]),
    ];
    assert_matrix(run_matrix(&app, &t, &create).await);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_role_is_judged_before_the_body() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_on(dir.path()).await;
    let t = tokens(&app).await;
    let bodies: [(&str, Body); 3] = [
        ("missing fields", Body::Raw("application/json", b"{}")),
        ("malformed", Body::Raw("application/json", b"{bad")),
        ("text/plain", Body::Raw("text/plain", b"{}")),
    ];
    let mut wrong = Vec::new();
    for (method, path) in [
        ("POST", "/api/v1/admin/units"),
        ("PATCH", "/api/v1/admin/units/TH"),
        ("POST", "/api/v1/admin/users"),
        ("PATCH", "/api/v1/admin/users/chuyenvien"),
        ("PUT", "/api/v1/admin/users/chuyenvien/password"),
        ("PUT", "/api/v1/admin/users/chuyenvien/signing-titles"),
    ] {
        for (label, body) in &bodies {
            for (user, token) in USERS.iter().zip(&t).take(6) {
                let a = call(&app, Some(token.as_str()), method, path, body).await;
                if a.status != StatusCode::FORBIDDEN {
                    wrong.push(format!(
                        "{method} {path} ({label}) as {user}: expected 403, got {}",
                        a.status
                    ));
                }
            }
        }
    }
    // Statistics: the specialist may not ask, whatever the query.
    let a = call(
        &app,
        Some(t[3].as_str()),
        "GET",
        "/api/v1/stats?from=not-a-date",
        &Body::None,
    )
    .await;
    if a.status != StatusCode::FORBIDDEN {
        wrong.push(format!(
            "GET /api/v1/stats?from=not-a-date as chuyenvien: expected 403, got {}",
            a.status
        ));
    }
    assert_matrix(wrong);
    app.stop().await;
}
