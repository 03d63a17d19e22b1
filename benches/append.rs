//! Durable append throughput and latency on the embedded store, fsync on.
//!
//! `cargo bench --bench append` (add `-- --events N` to change the volume).
//! Each writer appends one event at a time to its own stream with an exact
//! expected version and waits for the acknowledgement (= durable commit), as
//! a command handler does. Reports events/s, p50 / p99 / max latency, and
//! how many events one group commit carried.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use congvan::store::sqlite::SqliteStore;

// The allocator the product runs with (glibc's malloc spent a quarter of the
// projector's time in consolidation under this load).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use congvan::store::{EventStore, ExpectedVersion, NewEvent, StreamAppend};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn run(writers: usize, total: usize) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open_dir(dir.path()).await?;
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
    let mut all = Vec::with_capacity(writers * each);
    for h in handles {
        all.extend(h.await?);
    }
    let elapsed = started.elapsed();
    all.sort_unstable();
    let stats = store.writer_stats();
    let commits = stats.commits.load(Ordering::Relaxed).max(1);
    let events = stats.events.load(Ordering::Relaxed);
    println!(
        "writers {writers:>3}: {events:>7} events in {:>6.2} s = {:>7.0} events/s; latency p50 {:>7.2} ms, p99 {:>7.2} ms, max {:>7.2} ms; {commits} commits, {:.1} events/commit",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64(),
        percentile(&all, 0.50).as_secs_f64() * 1e3,
        percentile(&all, 0.99).as_secs_f64() * 1e3,
        percentile(&all, 1.0).as_secs_f64() * 1e3,
        events as f64 / commits as f64,
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    for w in writers {
        // One writer commits one event per fsync: keep its run short.
        let n = if w == 1 { total.min(5_000) } else { total };
        rt.block_on(run(w, n))?;
    }
    Ok(())
}
