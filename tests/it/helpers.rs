//! Shared test helpers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use congvan::store::{ExpectedVersion, NewEvent, StreamAppend};
use sqlx::Connection;
use uuid::Uuid;

pub fn event(n: u64) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        event_type: "test_event".to_string(),
        schema_version: 1,
        payload: format!("{{\"n\":{n},\"x\":0}}"),
        metadata: "{\"actor\":\"test\"}".to_string(),
    }
}

pub fn append(stream: &str, expected: ExpectedVersion, events: Vec<NewEvent>) -> Vec<StreamAppend> {
    vec![StreamAppend {
        stream: stream.to_string(),
        expected,
        events,
    }]
}

/// The path of the built `congvan` binary.
pub fn bin() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_congvan"))
}

/// Whether a tool is on PATH; in CI (CI=true) a missing tool fails the test.
pub fn have_tool(name: &str) -> bool {
    let found = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{name} is required in CI but is not installed");
        }
        eprintln!("SKIPPED: {name} is not installed");
    }
    found
}

/// The development PKI (keys-dev/).
pub fn keys() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("keys-dev")
}

pub fn have_pyhanko() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import pyhanko.sign.validation"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("pyHanko is required in CI but cannot be imported");
        }
        eprintln!("SKIPPED: pyHanko is not installed (pip install pyHanko)");
    }
    ok
}

/// pyHanko's judgement of every signature of every file, in one process.
pub fn pyhanko(files: &[PathBuf]) -> BTreeMap<PathBuf, Value> {
    pyhanko_with_roots(&keys().join("root-ca.cert.pem"), files)
}

/// [`pyhanko`] with the trust anchors in `roots` (one or more PEM certificates).
pub fn pyhanko_with_roots(roots: &Path, files: &[PathBuf]) -> BTreeMap<PathBuf, Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pades/validate.py");
    let o = Command::new("python3")
        .arg(script)
        .arg(roots)
        .args(files)
        .stderr(Stdio::null())
        .output()
        .expect("python3");
    assert!(o.status.success(), "validate.py failed");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON line");
            (PathBuf::from(v["file"].as_str().expect("file")), v)
        })
        .collect()
}

pub const PG_SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// A fresh PostgreSQL database, dropped (best effort) when this is dropped —
/// also when the test fails.
pub struct Pg {
    pub name: String,
    pub url: String,
}

impl Pg {
    /// None (after printing SKIPPED) when no server answers, unless CI=true.
    pub async fn create() -> Option<Pg> {
        let admin = format!("{PG_SERVER}/postgres");
        let conn =
            tokio::time::timeout(Duration::from_secs(10), sqlx::PgConnection::connect(&admin))
                .await;
        let mut conn = match conn {
            Ok(Ok(c)) => c,
            other => {
                let why = match other {
                    Ok(Err(e)) => e.to_string(),
                    _ => "connecting timed out".to_string(),
                };
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!(
                        "PostgreSQL is required in CI but 127.0.0.1:5432 does not answer: {why}"
                    );
                }
                eprintln!("SKIPPED: no PostgreSQL at 127.0.0.1:5432 ({why})");
                return None;
            }
        };
        let name = format!("congvan_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        let _ = conn.close().await;
        Some(Pg {
            url: format!("{PG_SERVER}/{name}"),
            name,
        })
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let name = self.name.clone();
        // A runtime of its own: this runs inside (or after) the test's runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) =
                    sqlx::PgConnection::connect(&format!("{PG_SERVER}/postgres")).await
                {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// For each `case(database_url: Option<&str>)`: the tests `case::sqlite`
/// (the embedded store) and `case::postgres` (a fresh database; skipped with
/// a printed reason where no server answers, except under CI=true).
#[macro_export]
macro_rules! on_sqlite_and_postgres {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$case(None).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = $crate::helpers::Pg::create().await else {
                    return;
                };
                super::$case(Some(&db.url)).await;
            }
        }
    )*};
}

/// A process killed when dropped.
pub struct Kill(pub std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// tests/pades/certomancer.yml and keys-dev's keys in a temp dir (Certomancer
/// reads keys only from under its config's directory).
pub fn certomancer_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("keys")).expect("keys dir");
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        here.join("tests/pades/certomancer.yml"),
        dir.path().join("certomancer.yml"),
    )
    .expect("config");
    for entry in std::fs::read_dir(keys()).expect("keys-dev").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with(".key.pem") {
            std::fs::copy(entry.path(), dir.path().join("keys").join(&name)).expect("copy key");
        }
    }
    dir
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Certomancer (tests/pades/certomancer.yml) serving its TSA on a free
/// port until dropped; `root` is its root certificate (PEM).
pub struct CertomancerTsa {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub root: PathBuf,
    _server: Kill,
}

impl CertomancerTsa {
    pub fn start() -> CertomancerTsa {
        let dir = certomancer_dir();
        let port = free_port();
        let server = Kill(
            Command::new("certomancer")
                .current_dir(dir.path())
                .args([
                    "--config",
                    "certomancer.yml",
                    "animate",
                    "--port",
                    &port.to_string(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start certomancer"),
        );
        let root = dir.path().join("tsa-root.pem");
        let o = Command::new("certomancer")
            .current_dir(dir.path())
            .args(["--config", "certomancer.yml", "summon", "demo", "root"])
            .arg(&root)
            .output()
            .expect("summon");
        assert!(o.status.success(), "{o:?}");
        CertomancerTsa {
            dir,
            url: format!("http://127.0.0.1:{port}/demo/tsa/tsa"),
            root,
            _server: server,
        }
    }
}
