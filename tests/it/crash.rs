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
