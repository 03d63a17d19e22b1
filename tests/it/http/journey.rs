//! The acceptance journey over HTTP: register, direct, forward, progress,
//! complete; `location` after every step; events and trail with views;
//! everything identical after a restart.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{TestApp, open_rows, spawn_db};
use congvan::pdf::sample::sample_pdf;

async fn document(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app.get(token, &format!("/api/v1/documents/{id}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let request_id = r
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok());
    assert!(
        request_id.is_some_and(|v| uuid::Uuid::parse_str(v).is_ok()),
        "{request_id:?}"
    );
    let etag = r
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let v: Value = r.json().await.expect("json");
    assert_eq!(
        etag,
        Some(format!("\"{}\"", v["version"])),
        "ETag is the version"
    );
    v
}

async fn command(app: &TestApp, token: &str, id: &str, name: &str, body: Value) -> Value {
    let r = app
        .post(token, &format!("/api/v1/documents/{id}/{name}"), &body)
        .await;
    let status = r.status();
    let v: Value = r.json().await.expect("json");
    assert_eq!(status, StatusCode::OK, "{name}: {v}");
    v
}

crate::on_sqlite_and_postgres!(an_incoming_document_walks_from_registration_to_completion);

async fn an_incoming_document_walks_from_registration_to_completion(database_url: Option<&str>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_db(dir.path(), database_url).await;
    let clerk = app.token("vanthu").await;
    let leader = app.token("lanhdao").await;
    let head = app.token("truongphong").await;
    let specialist = app.token("chuyenvien").await;
    let auditor = app.token("thanhtra").await;

    let id = app
        .register_incoming(
            &clerk,
            "1234/BTC-NSNN",
            "normal",
            Some(sample_pdf("Cong van 1234", 2)),
        )
        .await;
    let d = document(&app, &clerk, &id).await;
    assert_eq!(d["document"]["status"], "registered");
    assert_eq!(d["document"]["arrival"]["number"], 1);
    assert_eq!(open_rows(&d), vec!["unit:VT submit - pending"]);

    let d = command(&app, &clerk, &id, "submissions", json!({"to": "lanhdao"})).await;
    assert_eq!(open_rows(&d), vec!["user:lanhdao direct - pending"]);

    let d = command(&app, &leader, &id, "directions", json!({
        "instruction": "Giao Phòng Tổng hợp chủ trì, phối hợp Phòng Kinh tế.",
        "assignments": [
            {"holder": {"kind": "unit", "id": "TH"}, "role": "lead", "deadline": {"working_days": 5}},
            {"holder": {"kind": "unit", "id": "KT"}, "role": "coordinate", "deadline": "2099-01-05"},
        ]
    })).await;
    assert_eq!(
        open_rows(&d),
        vec![
            "unit:KT handle coordinate pending",
            "unit:TH handle lead pending"
        ]
    );
    let deadlines: Vec<&Value> = d["location"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| &r["deadline"])
        .collect();
    assert!(
        deadlines.iter().all(|x| x.is_string()),
        "every row has a deadline: {deadlines:?}"
    );

    // The unit head forwards to the specialist (their only open row: TH's).
    let d = command(
        &app,
        &head,
        &id,
        "forwards",
        json!({
            "instruction": "Đồng chí Hoa nghiên cứu, dự thảo báo cáo.",
            "assignments": [{"holder": {"kind": "user", "id": "chuyenvien"}, "role": "lead"}]
        }),
    )
    .await;
    let rows = open_rows(&d);
    assert!(
        rows.contains(&"user:chuyenvien handle lead pending".to_string()),
        "{rows:?}"
    );
    assert!(
        rows.contains(&"unit:KT handle coordinate pending".to_string()),
        "{rows:?}"
    );

    // The specialist finds it in the inbox.
    let inbox: Value = app
        .get(&specialist, "/api/v1/inbox")
        .await
        .json()
        .await
        .expect("inbox");
    let items = inbox["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{inbox}");
    assert_eq!(items[0]["document_id"], id.as_str());

    let d = command(&app, &specialist, &id, "acceptances", json!({})).await;
    assert!(
        open_rows(&d).contains(&"user:chuyenvien handle lead in_progress".to_string()),
        "{:?}",
        open_rows(&d)
    );
    let d = command(
        &app,
        &specialist,
        &id,
        "progress",
        json!({"percent": 50, "note": "Đã tổng hợp số liệu."}),
    )
    .await;
    assert!(
        open_rows(&d).contains(&"user:chuyenvien handle lead in_progress".to_string()),
        "{:?}",
        open_rows(&d)
    );
    let d = command(
        &app,
        &specialist,
        &id,
        "completion",
        json!({"result": "Đã dự thảo báo cáo."}),
    )
    .await;
    let rows = open_rows(&d);
    assert!(
        !rows.iter().any(|r| r.starts_with("user:chuyenvien")),
        "{rows:?}"
    );
    assert!(
        rows.contains(&"unit:KT handle coordinate pending".to_string()),
        "{rows:?}"
    );
    let inbox: Value = app
        .get(&specialist, "/api/v1/inbox")
        .await
        .json()
        .await
        .expect("inbox");
    assert_eq!(inbox["items"].as_array().map(Vec::len), Some(0));

    // Events and trail: every step with actor and hash, and the views.
    let r = app
        .get(&auditor, &format!("/api/v1/documents/{id}/events"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let ev: Value = r.json().await.expect("events");
    let types: Vec<&str> = ev["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["event_type"].as_str().unwrap_or(""))
        .collect();
    for t in [
        "received",
        "registered",
        "submitted_to_leader",
        "directed",
        "forwarded",
        "progress_reported",
        "completed",
        "viewed",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    for e in ev["events"].as_array().expect("events") {
        assert_eq!(e["hash"].as_str().map(str::len), Some(64), "{e}");
        assert!(e["actor"].is_string(), "{e}");
    }
    let trail = ev["trail"].as_array().expect("trail");
    let actors: Vec<&str> = trail
        .iter()
        .map(|t| t["actor"].as_str().unwrap_or(""))
        .collect();
    for who in ["vanthu", "lanhdao", "truongphong", "chuyenvien", "thanhtra"] {
        assert!(
            actors.contains(&who),
            "{who} missing from the trail {actors:?}"
        );
    }
    assert!(
        trail
            .iter()
            .any(|t| t["action"] == "viewed" && t["actor"] == "vanthu")
    );
    let versions_before = document(&app, &clerk, &id).await["version"].clone();

    // The metrics listener counts requests by route template.
    let metrics = app.metrics.clone().expect("a metrics listener");
    let text = app
        .client
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains(r#"congvan_http_requests_total{method="POST",route="/api/v1/documents/{id}/directions",status="200"} 1"#),
        "{text}"
    );

    // A restart shows the same document, location, events and trail.
    let before_doc = document(&app, &clerk, &id).await;
    let before_events: Value = app
        .get(&auditor, &format!("/api/v1/documents/{id}/events"))
        .await
        .json()
        .await
        .expect("events");
    app.stop().await;
    let app = spawn_db(dir.path(), database_url).await;
    let clerk = app.token("vanthu").await;
    let auditor = app.token("thanhtra").await;
    let after_doc = document(&app, &clerk, &id).await;
    assert_eq!(after_doc, before_doc);
    assert_eq!(
        after_doc["version"], versions_before,
        "reads never change the version"
    );
    let after_events: Value = app
        .get(&auditor, &format!("/api/v1/documents/{id}/events"))
        .await
        .json()
        .await
        .expect("events");
    let n = before_events["events"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    // The same events, plus the views recorded since (the reads above).
    assert_eq!(
        after_events["events"].as_array().map(|a| a[..n].to_vec()),
        before_events["events"].as_array().cloned()
    );
    app.stop().await;
}
