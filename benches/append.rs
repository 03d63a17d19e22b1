//! Durable append throughput and latency, fsync on, with the SAME workload
//! on the embedded store (SQLite) and on PostgreSQL, in one run.
//!
//! `cargo bench --bench append` (add `-- --events N` to change the volume,
//! `-- --writers 1,8,64` the writer counts).
//! Each writer appends one event at a time to its own stream with an exact
//! expected version and waits for the acknowledgement (= durable commit), as
//! a command handler does. For each writer count the workload runs on a fresh
//! SQLite file, then on a fresh PostgreSQL database. Reports events/s, p50 /
//! p99 / max latency, and how many events one group commit carried (counted
//! from the log afterwards: the rows of one group commit share their
//! `recorded_at`).
//!
//! PostgreSQL: the server at `postgres://postgres@127.0.0.1:5432`, or the one
//! in `CONGVAN_BENCH_PG` (a server URL; a database name in it is replaced).
//! Each run creates a database `congvan_bench_<uuid>` and drops it
//! afterwards. When no server answers, the bench prints
//! `SKIPPED postgres: <reason>` and runs SQLite only.

use std::collections::HashSet;
use std::error::Error;
use std::time::{Duration, Instant};

use congvan::store::postgres::PgStore;
use congvan::store::sqlite::SqliteStore;
use sqlx::Connection;

// The allocator the product runs with (glibc's malloc spent a quarter of the
// projector's time in consolidation under this load).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use congvan::store::{EventStore, ExpectedVersion, NewEvent, StreamAppend};

type BoxError = Box<dyn Error>;

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// One store at one writer count.
struct Outcome {
    store: &'static str,
    writers: usize,
    events: u64,
    elapsed: Duration,
    /// Sorted.
    latencies: Vec<Duration>,
    commits: u64,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    fn ms(&self, p: f64) -> f64 {
        percentile(&self.latencies, p).as_secs_f64() * 1e3
    }

    fn print(&self) {
        println!(
            "{:<8} writers {:>3}: {:>7} events in {:>6.2} s = {:>7.0} events/s; latency p50 {:>7.2} ms, p99 {:>7.2} ms, max {:>7.2} ms; {} commits, {:.1} events/commit",
            self.store,
            self.writers,
            self.events,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.ms(0.50),
            self.ms(0.99),
            self.ms(1.0),
            self.commits,
            self.events as f64 / self.commits.max(1) as f64,
        );
    }
}

/// The workload: `writers` tasks, each appending `total / writers` events one
/// at a time to its own stream, with exact expected versions. Then reads the
/// log back to count events and group commits.
async fn measure<S: EventStore + Clone>(
    name: &'static str,
    store: &S,
    writers: usize,
    total: usize,
) -> Result<Outcome, BoxError> {
    let each = (total / writers).max(1);
    let payload = format!(
        "{{\"subject\":\"{}\",\"n\":0}}",
        "Về việc hướng dẫn xây dựng dự toán ngân sách nhà nước".repeat(3)
    );
    let started = Instant::now();
    let mut handles = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let payload = payload.clone();
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(each);
            let stream = format!("document-bench-{w}");
            for i in 0..each {
                let expected = if i == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(i as u64)
                };
                let t = Instant::now();
                store
                    .append(vec![StreamAppend {
                        stream: stream.clone(),
                        expected,
                        events: vec![NewEvent {
                            event_id: uuid::Uuid::now_v7(),
                            event_type: "bench".into(),
                            schema_version: 1,
                            payload: payload.clone(),
                            metadata: "{\"actor\":\"bench\"}".into(),
                        }],
                    }])
                    .await
                    .expect("append");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(writers * each);
    for h in handles {
        latencies.extend(h.await?);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();

    // Not timed: count what the log holds, and the group commits (one
    // `recorded_at` per commit).
    let mut events = 0u64;
    let mut stamps = HashSet::new();
    loop {
        let page = store.read_all(events + 1, 10_000).await?;
        if page.is_empty() {
            break;
        }
        events += page.len() as u64;
        stamps.extend(page.iter().map(|e| e.recorded_at));
    }
    if events != (writers * each) as u64 {
        return Err(format!(
            "{name}: the log holds {events} events, {} were acknowledged",
            writers * each
        )
        .into());
    }
    Ok(Outcome {
        store: name,
        writers,
        events,
        elapsed,
        latencies,
        commits: stamps.len() as u64,
    })
}

async fn run_sqlite(writers: usize, total: usize) -> Result<Outcome, BoxError> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open_dir(dir.path()).await?;
    measure("sqlite", &store, writers, total).await
}

/// `url` with its database name replaced by `db` (query parameters kept).
fn with_database(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or_default();
    match query {
        Some(q) => format!("{scheme}://{authority}/{db}?{q}"),
        None => format!("{scheme}://{authority}/{db}"),
    }
}

async fn admin(server: &str) -> Result<sqlx::PgConnection, BoxError> {
    let url = with_database(server, "postgres");
    match tokio::time::timeout(Duration::from_secs(10), sqlx::PgConnection::connect(&url)).await {
        Ok(conn) => Ok(conn?),
        Err(_) => Err("connecting timed out after 10 s".into()),
    }
}

async fn show(conn: &mut sqlx::PgConnection, setting: &str) -> Result<String, sqlx::Error> {
    sqlx::query_scalar(&format!("SHOW {setting}"))
        .fetch_one(conn)
        .await
}

/// The server's version and durability settings, or why it cannot be used.
async fn probe_postgres(server: &str) -> Result<String, BoxError> {
    let mut conn = admin(server).await?;
    let version = show(&mut conn, "server_version").await?;
    let fsync = show(&mut conn, "fsync").await?;
    let sync_commit = show(&mut conn, "synchronous_commit").await?;
    let wal_sync = show(&mut conn, "wal_sync_method").await?;
    let _ = conn.close().await;
    Ok(format!(
        "PostgreSQL {version}: fsync={fsync}, synchronous_commit={sync_commit}, wal_sync_method={wal_sync}"
    ))
}

/// The workload on a fresh database, dropped afterwards (also on failure).
async fn run_postgres(server: &str, writers: usize, total: usize) -> Result<Outcome, BoxError> {
    let name = format!("congvan_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = admin(server).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let outcome = async {
        let store = PgStore::connect(&with_database(server, &name)).await?;
        measure("postgres", &store, writers, total).await
    }
    .await;
    let dropped = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    let outcome = outcome?;
    dropped.map_err(|e| format!("dropping the bench database {name}: {e}"))?;
    Ok(outcome)
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let total: usize = arg("--events")
        .and_then(|s| s.parse().ok())
        .unwrap_or(40_000);
    let writers: Vec<usize> = arg("--writers")
        .map(|s| s.split(',').filter_map(|w| w.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8, 64]);
    let server = std::env::var("CONGVAN_BENCH_PG")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_PG.to_string());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let pg = match rt.block_on(probe_postgres(&server)) {
        Ok(settings) => {
            println!("postgres: {settings}");
            true
        }
        Err(e) => {
            println!("SKIPPED postgres: {e}");
            false
        }
    };
    println!("sqlite:   WAL, synchronous=FULL (the store's settings)");
    let mut outcomes = Vec::new();
    for w in writers {
        // One writer commits one event per fsync: keep its run short.
        let n = if w == 1 { total.min(5_000) } else { total };
        let o = rt.block_on(run_sqlite(w, n))?;
        o.print();
        outcomes.push(o);
        if pg {
            let o = rt.block_on(run_postgres(&server, w, n))?;
            o.print();
            outcomes.push(o);
        }
    }
    println!();
    println!("| store | writers | events | events/s | p50 | p99 | max | events/commit |");
    println!("|---|--:|--:|--:|--:|--:|--:|--:|");
    for o in &outcomes {
        println!(
            "| {} | {} | {} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {:.1} |",
            o.store,
            o.writers,
            o.events,
            o.rate(),
            o.ms(0.50),
            o.ms(0.99),
            o.ms(1.0),
            o.events as f64 / o.commits.max(1) as f64,
        );
    }
    Ok(())
}
