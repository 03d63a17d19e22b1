//! Crash: a child process appending from several writers is killed with
//! SIGKILL at random moments; every append it acknowledged (printed after the
//! commit returned) must be there after a restart, and the chain must hold.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use congvan::audit::verify_log;
use congvan::blobs::BlobStore;
use congvan::store::EventStore;
use congvan::store::sqlite::SqliteStore;
use rand::Rng;

use crate::helpers::bin;

const KILLS: usize = 24;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_appends_survive_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut acked: Vec<(u64, String)> = Vec::new();
    let mut rng = rand::rng();
    for round in 0..KILLS {
        let mut child = Command::new(bin())
            .args(["debug", "append-loop", "--writers", "8", "--data-dir"])
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the appender");
        let stdout = child.stdout.take().expect("stdout");
        let (first_tx, first_rx) = std::sync::mpsc::channel::<()>();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if lines.is_empty() {
                            let _ = first_tx.send(());
                        }
                        lines.push(l);
                    }
                    Err(_) => break,
                }
            }
            lines
        });
        // Once it has acknowledged its first append (however slowly the
        // machine starts it), let it run a random while, then kill it.
        let started = Instant::now();
        first_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("round {round}: no acknowledgement within 60 s"));
        std::thread::sleep(Duration::from_millis(rng.random_range(0..400)));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let lines = reader.join().expect("reader");
        let before = acked.len();
        for l in lines {
            let mut parts = l.split_whitespace();
            if parts.next() == Some("ack")
                && let (Some(p), Some(id)) = (parts.next(), parts.next())
            {
                acked.push((p.parse().expect("position"), id.to_string()));
            }
        }
        assert!(
            acked.len() > before,
            "round {round}: the child acknowledged nothing in {:?}",
            started.elapsed()
        );
    }
    let store = SqliteStore::open_dir(dir.path()).await.expect("restart");
    let events = store.read_all(1, usize::MAX).await.expect("read");
    let stored: HashSet<String> = events.iter().map(|e| e.event_id.to_string()).collect();
    let missing: Vec<_> = acked
        .iter()
        .filter(|(_, id)| !stored.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged appends are missing, e.g. {:?}",
        missing.len(),
        acked.len(),
        missing.first()
    );
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.position, i as u64 + 1, "gap-free after crashes");
    }
    let blobs = BlobStore::open(dir.path().join("pdf")).expect("blobs");
    let report = verify_log(&store, &blobs).await.expect("verify");
    assert_eq!(report.finding, None);
    assert_eq!(report.events, events.len() as u64);
    eprintln!(
        "{KILLS} kills, {} acknowledged appends, {} events stored",
        acked.len(),
        events.len()
    );
}

/// A real server on `data` (and PostgreSQL when `database_url` is given),
/// killed with SIGKILL while eight clients register and submit documents.
struct Server {
    child: std::process::Child,
    base: String,
}

impl Server {
    fn start(data: &std::path::Path, database_url: Option<&str>) -> Server {
        let mut cmd = Command::new(bin());
        cmd.args([
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "",
        ])
        .arg("--data-dir")
        .arg(data)
        .env("CONGVAN_LOG_FORMAT", "text")
        .env("CONGVAN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        if let Some(url) = database_url {
            cmd.args(["--database-url", url]);
        }
        let mut child = cmd.spawn().expect("spawn the server");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        // Reads (and so drains) the server's stderr until it exits.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("congvan: serving http://") {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    let _ = tx.send(addr.trim_end_matches(',').to_string());
                } else if line.contains("ERROR") || line.starts_with("congvan:") {
                    eprintln!("server: {line}");
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server said where it listens within 60 s");
        Server {
            child,
            base: format!("http://{addr}"),
        }
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

async fn sign_in(client: &reqwest::Client, base: &str, user: &str) -> String {
    let r = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&serde_json::json!({"username": user, "password": "demo"}))
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let v: serde_json::Value = r.json().await.expect("token");
    v["access_token"].as_str().expect("token").to_string()
}

/// Registers and submits documents until the server goes away; returns
/// every (document id, version) the server acknowledged with a 2xx.
async fn client_load(base: String, token: String, client_no: usize) -> Vec<(String, u64)> {
    let client = reqwest::Client::new();
    let mut acked = Vec::new();
    for n in 0.. {
        let metadata = serde_json::json!({
            "direction": "incoming",
            "metadata": crate::http::incoming_metadata(&format!("{}/BTC-NSNN", client_no * 1_000_000 + n + 1), "normal"),
        });
        let form = reqwest::multipart::Form::new()
            .part(
                "metadata",
                reqwest::multipart::Part::text(metadata.to_string())
                    .mime_str("application/json")
                    .expect("mime"),
            )
            .part(
                "file",
                reqwest::multipart::Part::bytes(congvan::pdf::sample::sample_pdf(
                    &format!("{client_no}-{n}"),
                    1,
                ))
                .file_name("scan.pdf")
                .mime_str("application/pdf")
                .expect("mime"),
            );
        let Ok(r) = client
            .post(format!("{base}/api/v1/documents"))
            .bearer_auth(&token)
            .multipart(form)
            .send()
            .await
        else {
            break;
        };
        if r.status() != reqwest::StatusCode::CREATED {
            let status = r.status();
            eprintln!(
                "client {client_no}: create answered {status}: {}",
                r.text().await.unwrap_or_default()
            );
            break;
        }
        let Ok(v) = r.json::<serde_json::Value>().await else {
            break;
        };
        let id = v["document"]["id"].as_str().expect("id").to_string();
        acked.push((id.clone(), v["version"].as_u64().expect("version")));
        let Ok(r) = client
            .post(format!("{base}/api/v1/documents/{id}/submissions"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"to": "lanhdao"}))
            .send()
            .await
        else {
            break;
        };
        if !r.status().is_success() {
            eprintln!("client {client_no}: submission answered {}", r.status());
            break;
        }
        let Ok(v) = r.json::<serde_json::Value>().await else {
            break;
        };
        acked.push((id, v["version"].as_u64().expect("version")));
    }
    acked
}

const SERVER_KILLS: usize = 3;

async fn acknowledged_commands_survive_killing_the_server(database_url: Option<&str>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let mut acked: Vec<(String, u64)> = Vec::new();
    let mut rng = rand::rng();
    for round in 0..SERVER_KILLS {
        let server = Server::start(&data, database_url);
        let token = sign_in(&reqwest::Client::new(), &server.base, "vanthu").await;
        let clients: Vec<_> = (0..8)
            .map(|c| {
                tokio::spawn(client_load(
                    server.base.clone(),
                    token.clone(),
                    round * 8 + c,
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.random_range(1500..2500))).await;
        server.kill();
        let before = acked.len();
        for c in clients {
            acked.extend(c.await.expect("client"));
        }
        assert!(
            acked.len() > before,
            "round {round}: nothing was acknowledged under load"
        );
    }
    // Every acknowledged command is in the log after the kills…
    let store = congvan::store::Store::open(&data, database_url)
        .await
        .expect("reopen the store");
    for (id, version) in &acked {
        let stored = store
            .stream_version(&format!("document-{id}"))
            .await
            .expect("stream version");
        assert!(
            stored >= Some(*version),
            "document {id}: version {version} was acknowledged, the log holds {stored:?}"
        );
    }
    let blobs = BlobStore::open(data.join("pdf")).expect("blobs");
    let report = verify_log(&store, &blobs).await.expect("verify");
    assert_eq!(report.finding, None);
    drop(store);
    // …and the restarted server shows each at (at least) that version.
    let server = Server::start(&data, database_url);
    let client = reqwest::Client::new();
    let token = sign_in(&client, &server.base, "vanthu").await;
    let mut latest = std::collections::HashMap::new();
    for (id, v) in &acked {
        let e = latest.entry(id.clone()).or_insert(0);
        *e = (*e).max(*v);
    }
    for (id, version) in &latest {
        let r = client
            .get(format!("{}/api/v1/documents/{id}", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .expect("read");
        assert_eq!(r.status(), reqwest::StatusCode::OK, "document {id}");
        let v: serde_json::Value = r.json().await.expect("json");
        assert!(
            v["version"].as_u64() >= Some(*version),
            "document {id}: acknowledged {version}, shown {}",
            v["version"]
        );
    }
    server.kill();
    eprintln!(
        "{SERVER_KILLS} kills under load, {} acknowledged commands on {} documents, all present",
        acked.len(),
        latest.len()
    );
}

crate::on_sqlite_and_postgres!(acknowledged_commands_survive_killing_the_server);
