//! The error matrix for the administration and sign-in bodies and for query
//! parameters: each bad request gets its problem+json 4xx and changes
//! nothing in the directory.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{TestApp, spawn_on};

struct Route {
    method: reqwest::Method,
    path: &'static str,
    /// A valid body, to be broken one way at a time.
    valid: Value,
    /// A required field, and a field with a wrong enum value or type.
    required: Option<&'static str>,
    wrong: (&'static str, Value),
}

async fn send(
    app: &TestApp,
    token: Option<&str>,
    route: &Route,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let len = body.len();
    let mut req = app
        .client
        .request(route.method.clone(), app.url(route.path))
        .header("content-type", content_type)
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap_or_else(|e| {
        panic!(
            "{} {} ({content_type}, {} bytes): {e}",
            route.method, route.path, len
        )
    });
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    if status.is_client_error() {
        assert_eq!(
            ct, "application/problem+json",
            "{} {}: {body}",
            route.method, route.path
        );
        for k in ["type", "title", "status", "code"] {
            assert!(body.get(k).is_some(), "{k} missing: {body}");
        }
    }
    (status, body)
}

async fn directory(app: &TestApp, admin: &str) -> (Value, Value) {
    let users: Value = app
        .get(admin, "/api/v1/admin/users")
        .await
        .json()
        .await
        .expect("users");
    let units: Value = app
        .get(admin, "/api/v1/admin/units")
        .await
        .json()
        .await
        .expect("units");
    (users, units)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administration_and_sign_in_refuse_bad_bodies_and_change_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_on(dir.path()).await;
    let admin = app.token("quantri").await;
    let routes = [
        Route {
            method: reqwest::Method::POST,
            path: "/api/v1/admin/units",
            valid: json!({"id": "NEW", "name": "Phòng Mới"}),
            required: Some("name"),
            wrong: ("id", json!(42)),
        },
        Route {
            method: reqwest::Method::PATCH,
            path: "/api/v1/admin/units/TH",
            valid: json!({"name": "Phòng Tổng hợp"}),
            required: Some("name"),
            wrong: ("name", json!(["x"])),
        },
        Route {
            method: reqwest::Method::POST,
            path: "/api/v1/admin/users",
            valid: json!({"user": "moi", "full_name": "Nguyễn Văn Mới", "position": "Chuyên viên", "unit": "TH", "roles": ["specialist"], "password": "mat-khau-dai"}),
            required: Some("unit"),
            wrong: ("roles", json!(["boss"])),
        },
        Route {
            method: reqwest::Method::PATCH,
            path: "/api/v1/admin/users/chuyenvien",
            valid: json!({"position": "Chuyên viên chính"}),
            required: None,
            wrong: ("roles", json!(["boss"])),
        },
        Route {
            method: reqwest::Method::PUT,
            path: "/api/v1/admin/users/chuyenvien/password",
            valid: json!({"password": "mat-khau-moi"}),
            required: Some("password"),
            wrong: ("password", json!(12345678)),
        },
        Route {
            method: reqwest::Method::PUT,
            path: "/api/v1/admin/users/chuyenvien/signing-titles",
            valid: json!({"titles": ["KT."]}),
            required: Some("titles"),
            wrong: ("titles", json!(["XX."])),
        },
        Route {
            method: reqwest::Method::POST,
            path: "/api/v1/auth/token",
            valid: json!({"username": "vanthu", "password": "wrong"}),
            required: Some("password"),
            wrong: ("username", json!(7)),
        },
    ];
    let before = directory(&app, &admin).await;
    for route in &routes {
        let what = format!("{} {}", route.method, route.path);
        let json_of = |v: &Value| v.to_string().into_bytes();
        let (s, p) = send(
            &app,
            Some(&admin),
            route,
            "application/json",
            b"{not json".to_vec(),
        )
        .await;
        assert_eq!(
            (s, p["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("malformed_json")),
            "{what}: {p}"
        );
        let mut unknown = route.valid.clone();
        unknown["bogus"] = json!(1);
        let (s, p) = send(
            &app,
            Some(&admin),
            route,
            "application/json",
            json_of(&unknown),
        )
        .await;
        assert_eq!(
            (s, p["code"].as_str(), p["field"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("invalid_body"),
                Some("bogus")
            ),
            "{what}: {p}"
        );
        if let Some(field) = route.required {
            let mut missing = route.valid.clone();
            missing.as_object_mut().expect("object").remove(field);
            let (s, p) = send(
                &app,
                Some(&admin),
                route,
                "application/json",
                json_of(&missing),
            )
            .await;
            assert_eq!(
                (s, p["code"].as_str(), p["field"].as_str()),
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some("invalid_body"),
                    Some(field)
                ),
                "{what}: {p}"
            );
        }
        let mut wrong = route.valid.clone();
        wrong[route.wrong.0] = route.wrong.1.clone();
        let (s, p) = send(
            &app,
            Some(&admin),
            route,
            "application/json",
            json_of(&wrong),
        )
        .await;
        assert_eq!(
            (s, p["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body")),
            "{what}: {p}"
        );
        let (s, p) = send(
            &app,
            Some(&admin),
            route,
            "text/plain",
            json_of(&route.valid),
        )
        .await;
        assert_eq!(
            (s, p["code"].as_str()),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Some("unsupported_media_type")
            ),
            "{what}: {p}"
        );
        let mut big = route.valid.clone();
        big["padding"] = json!("x".repeat(300 * 1024));
        let (s, p) = send(&app, Some(&admin), route, "application/json", json_of(&big)).await;
        assert_eq!(
            (s, p["code"].as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")),
            "{what}: {p}"
        );
    }
    // A rule broken inside a well-formed body: a short password, an unknown unit.
    let (s, p) = send(
        &app,
        Some(&admin),
        &routes[4],
        "application/json",
        json!({"password": "ngan"}).to_string().into_bytes(),
    )
    .await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("password")),
        "{p}"
    );
    let mut no_unit = routes[2].valid.clone();
    no_unit["unit"] = json!("NOPE");
    let (s, p) = send(
        &app,
        Some(&admin),
        &routes[2],
        "application/json",
        no_unit.to_string().into_bytes(),
    )
    .await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("unit")),
        "{p}"
    );
    assert_eq!(directory(&app, &admin).await, before, "nothing changed");

    // Query parameters.
    let clerk = app.token("vanthu").await;
    for (path, code) in [
        ("/api/v1/documents?limit=0", "invalid_query"),
        ("/api/v1/documents?overdue=maybe", "invalid_query"),
        ("/api/v1/documents?role=boss", "invalid_query"),
        ("/api/v1/documents?cursor=not-ours", "invalid_query"),
        ("/api/v1/documents?bogus=1", "invalid_query"),
        ("/api/v1/stats?from=yesterday", "invalid_query"),
        (
            "/api/v1/stats?from=2026-12-01&to=2026-01-01",
            "invalid_query",
        ),
        ("/api/v1/registers/incoming/0", "invalid_query"),
    ] {
        let r = app.get(&clerk, path).await;
        let status = r.status();
        let p: Value = r.json().await.expect("problem");
        assert_eq!(
            (status, p["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{path}: {p}"
        );
    }
    let r = app.get(&clerk, "/api/v1/registers/incoming/abc").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
