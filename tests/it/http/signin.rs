//! Sign-in: failures are throttled per user, and sign-ins, failures and the
//! start of a lockout are events in the stream `auth`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::spawn_on;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_lock_the_user_out_and_are_recorded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_on(dir.path()).await;
    let sign_in = |user: &'static str, password: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/token"))
            .json(&json!({"username": user, "password": password}))
            .send()
    };
    for _ in 0..5 {
        let r = sign_in("lanhdao", "wrong").await.expect("sign in");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let p: Value = r.json().await.expect("problem");
        assert_eq!(p["code"], "bad_credentials");
    }
    // Locked now, even with the right password.
    for _ in 0..3 {
        let r = sign_in("lanhdao", "demo").await.expect("sign in");
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("Retry-After in seconds");
        assert!(wait > 0 && wait <= 15 * 60, "{wait}");
    }
    // Another official is not affected; an unknown name is a plain 401.
    assert_eq!(
        sign_in("vanthu", "demo").await.expect("sign in").status(),
        StatusCode::OK
    );
    assert_eq!(
        sign_in("nobody", "demo").await.expect("sign in").status(),
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;

    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(dir.path().join(congvan::store::sqlite::DB_FILE))
                .read_only(true),
        )
        .await
        .expect("open the log");
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT event_type, payload FROM events WHERE stream = 'auth' ORDER BY position",
    )
    .fetch_all(&pool)
    .await
    .expect("auth events");
    let summary: Vec<String> = rows
        .iter()
        .map(|(t, p)| {
            let p: Value = serde_json::from_str(p).expect("payload");
            let who = p["user"]
                .as_str()
                .or(p["username"].as_str())
                .unwrap_or("?")
                .to_string();
            match p["reason"].as_str() {
                Some(r) => format!("{t} {who} {r}"),
                None => format!("{t} {who}"),
            }
        })
        .collect();
    let mut expected = vec!["sign_in_failed lanhdao bad_credentials".to_string(); 5];
    expected.push("sign_in_failed lanhdao throttled".into());
    expected.push("signed_in vanthu".into());
    expected.push("sign_in_failed nobody bad_credentials".into());
    assert_eq!(summary, expected);
    assert!(
        rows.iter()
            .all(|(_, p)| !p.contains("demo") && !p.contains("wrong")),
        "no password is recorded"
    );
}
