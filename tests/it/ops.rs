//! Operations: `congvan backup` and `restore` run as a restore drill against
//! a live application under load, their refusals, and `congvan migrate` from
//! an embedded data directory into PostgreSQL.
//!
//! The CLI binary is run for backup, restore and migrate, as an operator
//! runs it; the live application is in this process, so the backups are
//! taken while another process writes the log.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use congvan::app::{App, RequestMeta};
use congvan::audit::verify_log;
use congvan::blobs::BlobStore;
use congvan::domain::decide::{Action, AssignmentSpec};
use congvan::domain::model::{DocumentId, Holder, Role};
use congvan::domain::values::{Secrecy, Text, UnitId};
use congvan::pdf::sample::sample_pdf;
use congvan::projections;
use congvan::store::postgres::PgStore;
use congvan::store::sqlite::SqliteReader;
use congvan::store::{EventStore, ExpectedVersion, RecordedEvent};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::helpers::{Pg, append, bin, event};
use crate::journey::{demo_app, incoming_metadata, receive, user};

/// Runs the CLI off the async reactor.
async fn congvan(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(bin())
            .args(&args)
            .output()
            .expect("run congvan")
    })
    .await
    .expect("join")
}

fn args(list: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<String> {
    list.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed: {}{}",
        stdout(o),
        stderr(o)
    );
}

/// A failure with exit code 2 and one line "congvan: …" on stderr.
fn assert_refused(o: &Output, what: &str) -> String {
    assert_eq!(
        o.status.code(),
        Some(2),
        "{what} must fail: {}{}",
        stdout(o),
        stderr(o)
    );
    let err = stderr(o);
    assert!(err.starts_with("congvan: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// The entries of a directory, by name.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

async fn all_events<S: EventStore>(store: &S) -> Vec<RecordedEvent> {
    store.read_all(1, usize::MAX).await.expect("read all")
}

/// A data directory made by `congvan demo` (documents with PDFs).
async fn demo_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let o = congvan(args(&[&"demo", &"--data-dir", &data])).await;
    assert_ok(&o, "demo");
    (dir, data)
}

/// One incoming document with a PDF of its own, registered, submitted and
/// directed: 4 commands, new PDF stored before its event commits.
async fn one_document(app: &App, t: usize, n: usize) {
    let meta = RequestMeta::default();
    let upload = app
        .inspect_upload(sample_pdf(&format!("Tai lieu tai {t}-{n}"), 1))
        .await
        .expect("inspect");
    let id = DocumentId(uuid::Uuid::now_v7());
    let number = format!("{}/BTC-NSNN", t * 100_000 + n + 1);
    let action = receive(
        id,
        incoming_metadata(&number, Secrecy::Normal),
        Some(upload.pdf.clone()),
    );
    app.execute_with_upload(&user("vanthu"), id, action, &meta, &upload)
        .await
        .expect("receive");
    app.execute(
        &user("vanthu"),
        id,
        Action::SubmitToLeader {
            leader: user("lanhdao"),
        },
        &meta,
    )
    .await
    .expect("submit");
    app.execute(
        &user("lanhdao"),
        id,
        Action::Direct {
            instruction: Some(Text::parse("instruction", "Giao xử lý", 100).expect("text")),
            assignments: vec![AssignmentSpec {
                holder: Holder::Unit(UnitId::parse("TH").expect("unit")),
                role: Role::Lead,
                deadline: None,
            }],
        },
        &meta,
    )
    .await
    .expect("direct");
    app.record_view(
        &user("lanhdao"),
        id,
        congvan::domain::access::ViewKind::Metadata,
        None,
        &meta,
    )
    .await
    .expect("view");
}

/// `congvan backup` of the live `data`, then `congvan restore` of it into
/// `restored`; both must succeed.
async fn backup_and_restore(data: &Path, backup: &Path, restored: &Path) {
    let o = congvan(args(&[&"backup", &"--data-dir", &data, &backup])).await;
    assert_ok(&o, "backup");
    assert!(stdout(&o).starts_with("backed up "), "{}", stdout(&o));
    let o = congvan(args(&[&"restore", &backup, &"--data-dir", &restored])).await;
    assert_ok(&o, "restore");
    assert!(stdout(&o).starts_with("restored "), "{}", stdout(&o));
}

/// The restored directory verifies, its log is an exact prefix of the live
/// one, and `projections check` passes. Returns its event count.
async fn check_restored(app: &App, backup: &Path, restored: &Path) -> u64 {
    let store = SqliteReader::open(&restored.join("congvan.db"))
        .await
        .expect("open restored log");
    let blobs = BlobStore::open(restored.join("pdf")).expect("pdf");
    let report = verify_log(&store, &blobs).await.expect("verify");
    assert_eq!(report.finding, None, "the restored log verifies");
    let events = all_events(&store).await;
    store.close().await;
    assert_eq!(events.len() as u64, report.events);
    let live = app
        .store
        .read_all(1, events.len())
        .await
        .expect("read live");
    assert!(
        events == live,
        "the restored log is byte for byte the live log's first {} events",
        events.len()
    );
    let manifest = congvan::backup::read_manifest(backup).expect("manifest");
    assert_eq!(manifest.events, report.events);
    assert_eq!(manifest.last_position, report.events);
    assert_eq!(
        manifest.last_hash.as_deref(),
        events.last().map(|e| e.hash.as_str())
    );
    let o = congvan(args(&[&"projections", &"check", &"--data-dir", &restored])).await;
    assert_ok(&o, "projections check");
    report.events
}

/// The restore drill: backups of a data directory taken while two tasks
/// keep running commands (each with a new PDF) restore to a log that
/// verifies, is an exact prefix of the live log, and whose rebuilt
/// projections check; with the load stopped (the application still open),
/// the restored projections equal the live ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_drill_under_load() {
    let (dir, app) = demo_app().await;
    congvan::demo::run(&app).await.expect("demo");
    let app = Arc::new(app);
    let data = dir.path().to_path_buf();
    let work = tempfile::tempdir().expect("temp dir");

    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for t in 0..2 {
        let app = app.clone();
        let stop = stop.clone();
        load.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                one_document(&app, t, n).await;
                n += 1;
            }
            n
        }));
    }

    let mut restored_sizes = Vec::new();
    for round in 0..3 {
        // Let the load append more between backups.
        let from = *app.store.head().borrow();
        let mut head = app.store.head();
        tokio::time::timeout(Duration::from_secs(60), head.wait_for(|h| *h >= from + 15))
            .await
            .expect("the load appends")
            .expect("store open");
        let backup = work.path().join(format!("b{round}"));
        let restored = work.path().join(format!("r{round}"));
        backup_and_restore(&data, &backup, &restored).await;
        let n = check_restored(&app, &backup, &restored).await;
        assert!(
            n > from,
            "the backup holds what the load appended before it"
        );
        restored_sizes.push(n);
    }
    stop.store(true, Ordering::Relaxed);
    let mut documents = 0;
    for h in load {
        documents += h.await.expect("load task");
    }
    let head = *app.store.head().borrow();
    assert!(
        restored_sizes.iter().all(|n| *n < head),
        "every backup was taken under load: {restored_sizes:?} < {head}"
    );
    eprintln!("{documents} documents under load; backups at {restored_sizes:?} of {head} events");

    // Quiet, the application still open: the restored projections equal
    // the live ones once those have caught up with the same head.
    let backup = work.path().join("b9");
    let restored = work.path().join("r9");
    backup_and_restore(&data, &backup, &restored).await;
    assert_eq!(check_restored(&app, &backup, &restored).await, head);
    app.projections.wait_for(head).await.expect("caught up");
    let live = projections::dump(app.projections.pool())
        .await
        .expect("dump live");
    let pool = SqlitePoolOptions::new()
        .connect_with(
            SqliteConnectOptions::new()
                .filename(restored.join("projections.db"))
                .read_only(true),
        )
        .await
        .expect("open restored projections");
    let restored_dump = projections::dump(&congvan::db::Pool::Sqlite(pool.clone()))
        .await
        .expect("dump restored");
    pool.close().await;
    if live != restored_dump {
        let diff: Vec<_> = live
            .lines()
            .zip(restored_dump.lines())
            .filter(|(a, b)| a != b)
            .take(3)
            .collect();
        panic!("the restored projections differ from the live ones: {diff:?}");
    }
    assert!(live.contains("## documents ("), "{}", &live[..200]);
    // Nothing but the backups and the restored directories was left.
    assert_eq!(
        entries(work.path()),
        ["b0", "b1", "b2", "b9", "r0", "r1", "r2", "r9"]
    );
}

#[tokio::test]
async fn backup_refuses_an_out_directory_that_is_not_empty() {
    let (dir, data) = demo_dir().await;
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::write(out.join("keep.txt"), b"mine").expect("write");
    let o = congvan(args(&[&"backup", &"--data-dir", &data, &out])).await;
    let err = assert_refused(&o, "backup into a non-empty directory");
    assert!(err.contains("exists and is not empty"), "{err}");
    assert_eq!(entries(&out), ["keep.txt"], "OUT is untouched");
    assert_eq!(entries(dir.path()), ["data", "out"], "nothing left behind");

    // An existing empty directory is fine.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let o = congvan(args(&[&"backup", &"--data-dir", &data, &empty])).await;
    assert_ok(&o, "backup into an empty directory");
    assert_eq!(entries(&empty), ["MANIFEST.json", "congvan.db", "pdf"]);
}

#[tokio::test]
async fn restore_refuses_a_target_that_is_not_empty() {
    let (dir, data) = demo_dir().await;
    let backup = dir.path().join("backup");
    let o = congvan(args(&[&"backup", &"--data-dir", &data, &backup])).await;
    assert_ok(&o, "backup");
    let o = congvan(args(&[&"restore", &backup, &"--data-dir", &data])).await;
    let err = assert_refused(&o, "restore over the live data directory");
    assert!(err.contains("exists and is not empty"), "{err}");
    let target = dir.path().join("target");
    std::fs::create_dir(&target).expect("mkdir");
    std::fs::write(target.join("x"), b"x").expect("write");
    let o = congvan(args(&[&"restore", &backup, &"--data-dir", &target])).await;
    let err = assert_refused(&o, "restore into a non-empty directory");
    assert!(err.contains("exists and is not empty"), "{err}");
    assert_eq!(entries(&target), ["x"]);
    assert_eq!(entries(dir.path()), ["backup", "data", "target"]);
}

#[tokio::test]
async fn restore_refuses_a_tampered_backup() {
    let (dir, data) = demo_dir().await;
    let backup = dir.path().join("backup");
    let o = congvan(args(&[&"backup", &"--data-dir", &data, &backup])).await;
    assert_ok(&o, "backup");

    // Change one character of one document event's payload.
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::new().filename(backup.join("congvan.db")))
        .await
        .expect("open the backup's log");
    let position: i64 = sqlx::query_scalar(
        "SELECT position FROM events WHERE stream LIKE 'document-%' ORDER BY position LIMIT 1 OFFSET 3",
    )
    .fetch_one(&pool)
    .await
    .expect("a document event");
    let changed = sqlx::query(
        "UPDATE events SET payload = substr(payload, 1, 10) \
         || CASE substr(payload, 11, 1) WHEN 'a' THEN 'b' ELSE 'a' END \
         || substr(payload, 12) WHERE position = ?",
    )
    .bind(position)
    .execute(&pool)
    .await
    .expect("tamper");
    assert_eq!(changed.rows_affected(), 1);
    pool.close().await;

    let target = dir.path().join("restored");
    let o = congvan(args(&[&"restore", &backup, &"--data-dir", &target])).await;
    let err = assert_refused(&o, "restore of a tampered backup");
    assert!(err.contains("does not verify"), "{err}");
    assert!(err.contains(&format!("position {position}:")), "{err}");
    assert!(!target.exists(), "no target was created");
    assert_eq!(
        entries(dir.path()),
        ["backup", "data"],
        "nothing left behind"
    );

    // A PDF removed from the backup is refused as well.
    let o = congvan(args(&[
        &"backup",
        &"--data-dir",
        &data,
        &dir.path().join("b2"),
    ]))
    .await;
    assert_ok(&o, "backup");
    let pdf = BlobStore::open(dir.path().join("b2").join("pdf")).expect("pdf");
    let victim = pdf.list().expect("list")[0];
    std::fs::remove_file(pdf.path(&victim)).expect("remove");
    let o = congvan(args(&[
        &"restore",
        &dir.path().join("b2"),
        &"--data-dir",
        &target,
    ]))
    .await;
    assert_refused(&o, "restore of a backup without one of its PDFs");
    assert!(!target.exists(), "no target was created");
}

/// Migration of a demo data directory into a fresh PostgreSQL database:
/// every event identical, the chain verifies there (with the PDFs copied to
/// the new data directory), a second migration is refused naming the count,
/// and appends on PostgreSQL continue the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_moves_the_log_to_postgres_verbatim() {
    let Some(db) = Pg::create().await else {
        return;
    };
    let (dir, data) = demo_dir().await;
    let pg_data = dir.path().join("pg-data");
    let o = congvan(args(&[
        &"migrate",
        &"--from",
        &data,
        &"--to",
        &db.url,
        &"--to-data-dir",
        &pg_data,
    ]))
    .await;
    assert_ok(&o, "migrate");
    assert!(stdout(&o).contains("copied "), "{}", stdout(&o));

    let source = SqliteReader::open(&data.join("congvan.db"))
        .await
        .expect("open source");
    let expected = all_events(&source).await;
    let pg = PgStore::connect(&db.url).await.expect("connect");
    assert_eq!(all_events(&pg).await, expected, "every event as stored");
    let blobs = BlobStore::open(pg_data.join("pdf")).expect("pdf");
    assert_eq!(
        blobs.list().expect("list"),
        BlobStore::open(data.join("pdf"))
            .expect("pdf")
            .list()
            .expect("list"),
        "every PDF copied"
    );
    let report = verify_log(&pg, &blobs).await.expect("verify");
    assert_eq!(report.finding, None);
    assert_eq!(report.events, expected.len() as u64);
    let o = congvan(args(&[
        &"log",
        &"verify",
        &"--data-dir",
        &pg_data,
        &"--database-url",
        &db.url,
    ]))
    .await;
    assert_ok(&o, "log verify on PostgreSQL");

    // The read models built from either store are the same rows.
    for store in [vec![], vec!["--database-url".to_string(), db.url.clone()]] {
        let dir = if store.is_empty() { &data } else { &pg_data };
        let mut a = args(&[&"projections", &"rebuild", &"--data-dir", dir]);
        a.extend(store);
        assert_ok(&congvan(a).await, "projections rebuild");
    }
    let sqlite_dump = {
        let pool = SqlitePoolOptions::new()
            .connect_with(
                SqliteConnectOptions::new()
                    .filename(data.join(projections::DB_FILE))
                    .read_only(true),
            )
            .await
            .expect("open the SQLite read models");
        let dump = projections::dump(&congvan::db::Pool::Sqlite(pool.clone()))
            .await
            .expect("dump");
        pool.close().await;
        dump
    };
    let pg_dump = projections::dump(&congvan::db::Pool::Postgres(pg.pool().clone()))
        .await
        .expect("dump");
    assert!(
        sqlite_dump.contains("## documents (2 rows)"),
        "{sqlite_dump}"
    );
    assert_eq!(pg_dump, sqlite_dump, "the same read models on both stores");

    // A second migration into the same database is refused, before any
    // PDF is copied.
    let other = dir.path().join("other");
    let o = congvan(args(&[
        &"migrate",
        &"--from",
        &data,
        &"--to",
        &db.url,
        &"--to-data-dir",
        &other,
    ]))
    .await;
    let err = assert_refused(&o, "a second migration");
    assert!(
        err.contains(&format!("already holds {} events", expected.len())),
        "{err}"
    );
    assert!(!other.exists(), "no data directory was created");
    assert_eq!(all_events(&pg).await, expected, "nothing changed");

    // Appending on PostgreSQL continues the chain.
    let r = pg
        .append(append(
            "after-migration",
            ExpectedVersion::NoStream,
            vec![event(1)],
        ))
        .await
        .expect("append");
    assert_eq!(r.first_position, expected.len() as u64 + 1);
    let report = verify_log(&pg, &blobs).await.expect("verify");
    assert_eq!(report.finding, None);
    assert_eq!(report.events, expected.len() as u64 + 1);
    let events = all_events(&pg).await;
    assert_eq!(
        events[expected.len()].prev_hash,
        expected[expected.len() - 1].hash
    );
    source.close().await;

    // One payload changed with psql: `log verify` names its position.
    if !crate::helpers::have_tool("psql") {
        return;
    }
    let n = events[events.len() / 2].position;
    let o = Command::new("psql")
        .args([db.url.as_str(), "-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!(
            "UPDATE events SET payload = jsonb_set(payload::jsonb, '{{x}}', '1')::text WHERE position = {n}"
        ))
        .output()
        .expect("psql");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = congvan(args(&[
        &"log",
        &"verify",
        &"--data-dir",
        &pg_data,
        &"--database-url",
        &db.url,
    ]))
    .await;
    assert_eq!(o.status.code(), Some(1), "verify fails after tampering");
    assert!(
        stdout(&o).contains(&format!("FAILED: position {n}:")),
        "names position {n}: {}",
        stdout(&o)
    );
}

/// Without --to-data-dir the PDFs stay where they are; a source whose chain
/// does not verify is not migrated at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_names_where_the_pdfs_are_and_refuses_a_broken_source() {
    let Some(db) = Pg::create().await else {
        return;
    };
    let (dir, data) = demo_dir().await;
    let broken = dir.path().join("broken");
    let o = congvan(args(&[&"backup", &"--data-dir", &data, &broken])).await;
    assert_ok(&o, "backup");
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::new().filename(broken.join("congvan.db")))
        .await
        .expect("open");
    sqlx::query("UPDATE events SET metadata = metadata || ' ' WHERE position = 2")
        .execute(&pool)
        .await
        .expect("tamper");
    pool.close().await;
    let o = congvan(args(&[&"migrate", &"--from", &broken, &"--to", &db.url])).await;
    let err = assert_refused(&o, "migrating a broken log");
    assert!(err.contains("does not verify"), "{err}");
    assert!(err.contains("position 2:"), "{err}");

    let o = congvan(args(&[&"migrate", &"--from", &data, &"--to", &db.url])).await;
    assert_ok(&o, "migrate");
    assert!(stdout(&o).contains("PDFs stay in"), "{}", stdout(&o));
    let pg = PgStore::connect(&db.url).await.expect("connect");
    let report = verify_log(&pg, &BlobStore::open(data.join("pdf")).expect("pdf"))
        .await
        .expect("verify");
    assert_eq!(report.finding, None);
    assert!(report.events > 0);
}

/// Opening a store applies the log's migrations and records them; opening it
/// again applies nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_applied_on_open_and_recorded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pg = Pg::create().await;
    let mut urls = vec![None];
    if let Some(db) = &pg {
        urls.push(Some(db.url.clone()));
    }
    for url in urls {
        for _ in 0..2 {
            let store = congvan::store::Store::open(dir.path(), url.as_deref())
                .await
                .expect("open");
            let versions: Vec<i64> = congvan::with_pool!(&store.pool(), p => {
                sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                    .fetch_all(p)
                    .await
                    .expect("the migrations table")
            });
            assert_eq!(versions, vec![1], "{url:?}");
        }
    }
}
