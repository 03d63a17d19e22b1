//! The event stores: expected versions, atomic multi-stream appends,
//! idempotency, concurrency, gap-free positions, subscription, tampering —
//! each case runs against SQLite and against PostgreSQL (`<case>::sqlite`,
//! `<case>::postgres`); durability settings are SQLite's own, and two
//! PostgreSQL stores on one database must serialise their appends.
//!
//! The PostgreSQL tests use the server at 127.0.0.1:5432 (user postgres, no
//! password), each in a fresh database that is dropped afterwards. Where no
//! server answers they print "SKIPPED: …" — except with CI=true, where they
//! fail.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use congvan::store::postgres::PgStore;
use congvan::store::sqlite::SqliteStore;
use congvan::store::{
    AppendResult, ChainVerifier, EventStore, ExpectedVersion, RecordedEvent, StoreError,
    StreamAppend, Subscription,
};
use sqlx::Connection;
use tokio::sync::{Barrier, oneshot};
use uuid::Uuid;

use crate::helpers::{Pg, append, event};

/// A store under test, which can be opened (again) on the same data.
trait Backend {
    type Store: EventStore + Clone;
    async fn open(&self) -> Self::Store;
}

struct Sqlite(tempfile::TempDir);

impl Sqlite {
    fn new() -> Self {
        Sqlite(tempfile::tempdir().expect("temp dir"))
    }
}

impl Backend for Sqlite {
    type Store = SqliteStore;
    async fn open(&self) -> SqliteStore {
        SqliteStore::open_dir(self.0.path())
            .await
            .expect("open store")
    }
}

impl Backend for Pg {
    type Store = PgStore;
    async fn open(&self) -> PgStore {
        PgStore::connect(&self.url).await.expect("connect store")
    }
}

/// For each case `x`: the tests `x::sqlite` and `x::postgres`.
macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$case(&super::Sqlite::new()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let Some(db) = super::Pg::create().await else {
                    return;
                };
                super::$case(&db).await;
            }
        }
    )*};
}

on_both_stores!(
    expected_versions_are_enforced_and_name_the_actual_version,
    multi_stream_appends_are_all_or_nothing,
    appends_are_idempotent_by_event_id_forever,
    invalid_appends_are_refused,
    sixteen_writers_on_one_stream_exactly_one_wins_each_version,
    sixteen_writers_on_sixteen_streams_all_succeed_gap_free,
    a_subscriber_sees_every_position_once_and_in_order,
    thirty_two_writers_with_a_live_subscriber_see_every_position_once_in_order,
);

async fn open() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open_dir(dir.path()).await.expect("open store");
    (dir, store)
}

async fn all_events<S: EventStore>(store: &S) -> Vec<RecordedEvent> {
    store.read_all(1, 1_000_000).await.expect("read all")
}

fn assert_gap_free(events: &[RecordedEvent]) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e.position,
            i as u64 + 1,
            "positions must be 1, 2, 3, … without gaps"
        );
    }
    let mut chain = ChainVerifier::default();
    for e in events {
        chain.check(e).expect("hash chain holds");
    }
}

async fn expected_versions_are_enforced_and_name_the_actual_version<B: Backend>(b: &B) {
    let store = b.open().await;
    let r = store
        .append(append(
            "s-1",
            ExpectedVersion::NoStream,
            vec![event(1), event(2)],
        ))
        .await
        .expect("first append");
    assert_eq!((r.first_position, r.last_position), (1, 2));
    assert_eq!(r.streams[0].first_version, 1);
    assert_eq!(r.streams[0].last_version, 2);

    let err = store
        .append(append("s-1", ExpectedVersion::NoStream, vec![event(3)]))
        .await
        .expect_err("the stream exists");
    match &err {
        StoreError::WrongExpectedVersion { actual, .. } => assert_eq!(*actual, Some(2)),
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err.to_string().contains("version 2"), "{err}");

    let err = store
        .append(append("s-1", ExpectedVersion::Exact(1), vec![event(3)]))
        .await
        .expect_err("stale version");
    assert!(matches!(
        err,
        StoreError::WrongExpectedVersion {
            actual: Some(2),
            ..
        }
    ));

    let err = store
        .append(append("s-2", ExpectedVersion::Exact(1), vec![event(3)]))
        .await
        .expect_err("no such stream");
    assert!(matches!(
        err,
        StoreError::WrongExpectedVersion { actual: None, .. }
    ));
    assert!(err.to_string().contains("does not exist"), "{err}");

    store
        .append(append("s-1", ExpectedVersion::Exact(2), vec![event(3)]))
        .await
        .expect("exact version");
    store
        .append(append("s-1", ExpectedVersion::Any, vec![event(4)]))
        .await
        .expect("any");
    assert_eq!(store.stream_version("s-1").await.expect("version"), Some(4));
    assert_eq!(store.stream_version("nope").await.expect("version"), None);
    let tail = store.read_stream("s-1", 3, 10).await.expect("read stream");
    assert_eq!(
        tail.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![3, 4]
    );
    // Refused appends left nothing behind.
    assert_eq!(all_events(&store).await.len(), 4);
}

async fn multi_stream_appends_are_all_or_nothing<B: Backend>(b: &B) {
    let store = b.open().await;
    store
        .append(append("a", ExpectedVersion::NoStream, vec![event(1)]))
        .await
        .expect("seed a");
    let both = vec![
        StreamAppend {
            stream: "a".into(),
            expected: ExpectedVersion::Exact(1),
            events: vec![event(2)],
        },
        StreamAppend {
            stream: "b".into(),
            expected: ExpectedVersion::Exact(5),
            events: vec![event(3)],
        },
    ];
    let err = store.append(both).await.expect_err("b is not at 5");
    assert!(matches!(err, StoreError::WrongExpectedVersion { ref stream, .. } if stream == "b"));
    assert_eq!(
        store.stream_version("a").await.expect("a"),
        Some(1),
        "a must not move"
    );
    assert_eq!(store.stream_version("b").await.expect("b"), None);

    let ok = vec![
        StreamAppend {
            stream: "a".into(),
            expected: ExpectedVersion::Exact(1),
            events: vec![event(2)],
        },
        StreamAppend {
            stream: "b".into(),
            expected: ExpectedVersion::NoStream,
            events: vec![event(3), event(4)],
        },
    ];
    let r = store.append(ok).await.expect("both move");
    assert_eq!((r.first_position, r.last_position), (2, 4));
    assert_eq!(store.stream_version("a").await.expect("a"), Some(2));
    assert_eq!(store.stream_version("b").await.expect("b"), Some(2));
    assert_gap_free(&all_events(&store).await);
}

async fn appends_are_idempotent_by_event_id_forever<B: Backend>(b: &B) {
    let store = b.open().await;
    let batch = vec![event(1), event(2)];
    let first = store
        .append(append("s", ExpectedVersion::NoStream, batch.clone()))
        .await
        .expect("first");
    store
        .append(append("s", ExpectedVersion::Exact(2), vec![event(3)]))
        .await
        .expect("more");
    // The same batch again — even with an expected version that is now stale.
    let again = store
        .append(append("s", ExpectedVersion::NoStream, batch.clone()))
        .await
        .expect("repeat returns the original result");
    assert!(again.replayed);
    assert_eq!(again.streams, first.streams);
    assert_eq!(
        (again.first_position, again.last_position),
        (first.first_position, first.last_position)
    );
    assert_eq!(all_events(&store).await.len(), 3, "nothing duplicated");

    // Reused id with different content.
    let mut changed = batch[0].clone();
    changed.payload = "{\"n\":99}".into();
    let err = store
        .append(append("s", ExpectedVersion::Any, vec![changed]))
        .await
        .expect_err("different content");
    assert!(
        matches!(err, StoreError::IdempotencyConflict { .. }),
        "{err:?}"
    );

    // Reused id in another stream.
    let err = store
        .append(append(
            "other",
            ExpectedVersion::Any,
            vec![batch[0].clone()],
        ))
        .await
        .expect_err("other stream");
    assert!(err.to_string().contains("stream s"), "{err}");

    // A batch only partly stored.
    let err = store
        .append(append(
            "s",
            ExpectedVersion::Any,
            vec![batch[0].clone(), event(9)],
        ))
        .await
        .expect_err("partly stored");
    assert!(matches!(err, StoreError::IdempotencyConflict { .. }));
    assert_eq!(
        all_events(&store).await.len(),
        3,
        "conflicts appended nothing"
    );

    // Idempotency survives a restart (it is the unique index, not memory).
    drop(store);
    let store = b.open().await;
    let again = store
        .append(append("s", ExpectedVersion::NoStream, batch))
        .await
        .expect("repeat after restart");
    assert!(again.replayed);
    assert_eq!(all_events(&store).await.len(), 3);
}

async fn invalid_appends_are_refused<B: Backend>(b: &B) {
    let store = b.open().await;
    assert!(matches!(
        store.append(vec![]).await,
        Err(StoreError::InvalidAppend(_))
    ));
    assert!(matches!(
        store
            .append(append("s", ExpectedVersion::Any, vec![]))
            .await,
        Err(StoreError::InvalidAppend(_))
    ));
    let e = event(1);
    assert!(matches!(
        store
            .append(append("s", ExpectedVersion::Any, vec![e.clone(), e]))
            .await,
        Err(StoreError::InvalidAppend(_))
    ));
    assert!(all_events(&store).await.is_empty());
}

async fn sixteen_writers_on_one_stream_exactly_one_wins_each_version<B: Backend>(b: &B) {
    let store = b.open().await;
    const TASKS: usize = 16;
    const ROUNDS: u64 = 25;
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let store = store.clone();
        let barrier = barrier.clone();
        handles.push(tokio::spawn(async move {
            let mut wins = Vec::new();
            for round in 0..ROUNDS {
                barrier.wait().await;
                let expected = if round == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(round)
                };
                match store
                    .append(append("contended", expected, vec![event(t as u64)]))
                    .await
                {
                    Ok(r) => wins.push(r.streams[0].last_version),
                    Err(StoreError::WrongExpectedVersion { .. }) => {}
                    Err(e) => panic!("unexpected error {e}"),
                }
                // Everyone waits for the round's winner before the next round.
                barrier.wait().await;
            }
            wins
        }));
    }
    let mut versions = Vec::new();
    for h in handles {
        versions.extend(h.await.expect("task"));
    }
    versions.sort_unstable();
    let expected: Vec<u64> = (1..=ROUNDS).collect();
    assert_eq!(versions, expected, "exactly one winner per version");
    let events = all_events(&store).await;
    assert_eq!(events.len() as u64, ROUNDS, "no duplicates");
    assert_gap_free(&events);
}

async fn sixteen_writers_on_sixteen_streams_all_succeed_gap_free<B: Backend>(b: &B) {
    let store = b.open().await;
    let mut handles = Vec::new();
    for t in 0..16u64 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..20u64 {
                let expected = if i == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(i)
                };
                let r = store
                    .append(append(&format!("s-{t}"), expected, vec![event(i)]))
                    .await
                    .expect("own stream never conflicts");
                assert!(
                    *store.head().borrow() >= r.last_position,
                    "the head is published before the append is acknowledged"
                );
            }
        }));
    }
    for h in handles {
        h.await.expect("task");
    }
    let events = all_events(&store).await;
    assert_eq!(events.len(), 16 * 20);
    assert_gap_free(&events);
    let ids: HashSet<_> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), events.len());
}

async fn a_subscriber_sees_every_position_once_and_in_order<B: Backend>(b: &B) {
    let store = b.open().await;
    const WRITERS: u64 = 32;
    const EACH: u64 = 20;
    // Some history before the subscriber starts (catch-up), the rest live.
    for i in 0..10 {
        store
            .append(append("history", ExpectedVersion::Any, vec![event(i)]))
            .await
            .expect("history");
    }
    let total = 10 + WRITERS * EACH;
    let sub_store = store.clone();
    let subscriber = tokio::spawn(async move {
        let mut sub = Subscription::new(&sub_store, 1);
        let mut seen = Vec::new();
        while (seen.len() as u64) < total {
            seen.push(sub.next().await.expect("next").position);
        }
        seen
    });
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..EACH {
                store
                    .append(append(
                        &format!("w-{w}"),
                        ExpectedVersion::Any,
                        vec![event(i)],
                    ))
                    .await
                    .expect("append");
            }
        }));
    }
    for w in writers {
        w.await.expect("writer");
    }
    let seen = tokio::time::timeout(std::time::Duration::from_secs(30), subscriber)
        .await
        .expect("the subscriber keeps up")
        .expect("subscriber task");
    let expected: Vec<u64> = (1..=total).collect();
    assert_eq!(seen, expected);
}

/// What one writer task got back from the store.
#[derive(Default)]
struct Acks {
    /// (position, event id, stream, version) of every acknowledged event, as
    /// its append's result assigned them.
    acked: Vec<(u64, Uuid, String, u64)>,
    /// Appends refused with `WrongExpectedVersion`, and their event ids.
    refused_appends: u64,
    refused: Vec<Uuid>,
}

impl Acks {
    /// An acknowledged append: its events have consecutive positions from
    /// `first_position`, in the order of its streams and their events.
    fn ack(&mut self, appends: &[StreamAppend], r: &AppendResult) {
        assert!(!r.replayed, "fresh event ids are never a replay");
        assert_eq!(r.streams.len(), appends.len(), "one result per stream");
        let mut position = r.first_position;
        for (a, w) in appends.iter().zip(&r.streams) {
            assert_eq!(w.stream, a.stream);
            assert_eq!(
                w.last_version + 1 - w.first_version,
                a.events.len() as u64,
                "stream {}: one version per event",
                a.stream
            );
            for (i, e) in a.events.iter().enumerate() {
                self.acked.push((
                    position,
                    e.event_id,
                    a.stream.clone(),
                    w.first_version + i as u64,
                ));
                position += 1;
            }
        }
        assert_eq!(position - 1, r.last_position, "one position per event");
    }

    fn refuse(&mut self, appends: &[StreamAppend]) {
        self.refused_appends += 1;
        for a in appends {
            self.refused.extend(a.events.iter().map(|e| e.event_id));
        }
    }

    fn extend(&mut self, other: Acks) {
        self.acked.extend(other.acked);
        self.refused_appends += other.refused_appends;
        self.refused.extend(other.refused);
    }
}

fn expect_version(v: u64) -> ExpectedVersion {
    if v == 0 {
        ExpectedVersion::NoStream
    } else {
        ExpectedVersion::Exact(v)
    }
}

/// 32 writers at once while a subscriber, started before them, follows the
/// log live: 20 on their own streams with exact expected versions, 8 racing
/// in rounds on 2 shared streams (each round one wins, three are refused),
/// and 4 appending atomically to three streams, every fifth time with a
/// stale expected version (refused whole). The subscriber must see positions
/// 1..=head once each, in order, exactly the acknowledged events at the
/// positions their appends were given, nothing refused, and a hash chain
/// that holds.
async fn thirty_two_writers_with_a_live_subscriber_see_every_position_once_in_order<B: Backend>(
    b: &B,
) {
    const OWN: u64 = 20;
    const OWN_APPENDS: u64 = 60;
    const SHARED_STREAMS: u64 = 2;
    const RACERS: u64 = 4; // per shared stream
    const ROUNDS: u64 = 25;
    const MULTI: u64 = 4;
    const MULTI_APPENDS: u64 = 40;
    const _: () = assert!(OWN + SHARED_STREAMS * RACERS + MULTI == 32);

    let store = b.open().await;

    // The subscriber starts (and says so) before any writer appends; it
    // stops at the sentinel, appended once every writer has finished.
    let sentinel = event(u64::MAX);
    let sentinel_id = sentinel.event_id;
    let writers_done = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = oneshot::channel();
    let subscriber = {
        let store = store.clone();
        let writers_done = writers_done.clone();
        tokio::spawn(async move {
            let mut sub = Subscription::new(&store, 1);
            ready_tx
                .send(())
                .expect("the test waits for the subscriber");
            let mut seen = Vec::new();
            let mut seen_while_writing = 0u64;
            loop {
                let e = sub.next().await.expect("next event");
                if !writers_done.load(Ordering::SeqCst) {
                    seen_while_writing += 1;
                }
                let last = e.event_id == sentinel_id;
                seen.push(e);
                if last {
                    return (seen, seen_while_writing);
                }
            }
        })
    };
    ready_rx.await.expect("the subscriber started");

    let start = Arc::new(Barrier::new(32));
    let mut writers = Vec::new();

    for w in 0..OWN {
        let (store, start) = (store.clone(), start.clone());
        writers.push(tokio::spawn(async move {
            start.wait().await;
            let mut acks = Acks::default();
            let stream = format!("own-{w}");
            let mut version = 0;
            for i in 0..OWN_APPENDS {
                let events = (0..1 + (i + w) % 3).map(|k| event(i * 10 + k)).collect();
                let appends = append(&stream, expect_version(version), events);
                let r = store
                    .append(appends.clone())
                    .await
                    .expect("an own stream with its exact version never conflicts");
                assert_eq!(r.streams[0].first_version, version + 1);
                acks.ack(&appends, &r);
                version = r.streams[0].last_version;
            }
            acks
        }));
    }

    for s in 0..SHARED_STREAMS {
        // Each round: all racers append expecting the version the round
        // starts at; the first the store takes wins, the others are refused.
        let round_barrier = Arc::new(Barrier::new(RACERS as usize));
        for k in 0..RACERS {
            let (store, start, round_barrier) =
                (store.clone(), start.clone(), round_barrier.clone());
            writers.push(tokio::spawn(async move {
                start.wait().await;
                let mut acks = Acks::default();
                let stream = format!("shared-{s}");
                let mut version = 0;
                for round in 0..ROUNDS {
                    let n = 1 + round % 2;
                    let events = (0..n).map(|i| event(1000 * k + 10 * round + i)).collect();
                    let appends = append(&stream, expect_version(version), events);
                    round_barrier.wait().await;
                    match store.append(appends.clone()).await {
                        Ok(r) => acks.ack(&appends, &r),
                        Err(StoreError::WrongExpectedVersion {
                            stream: refused_stream,
                            actual,
                            ..
                        }) => {
                            assert_eq!(refused_stream, stream);
                            assert_eq!(actual, Some(version + n), "refused after the winner");
                            acks.refuse(&appends);
                        }
                        Err(e) => panic!("unexpected error {e}"),
                    }
                    // Everyone waits for the round's winner.
                    round_barrier.wait().await;
                    version += n;
                }
                acks
            }));
        }
    }

    for m in 0..MULTI {
        let (store, start) = (store.clone(), start.clone());
        writers.push(tokio::spawn(async move {
            start.wait().await;
            let mut acks = Acks::default();
            let (a, b) = (format!("multi-{m}-a"), format!("multi-{m}-b"));
            let (mut va, mut vb) = (0, 0);
            for i in 0..MULTI_APPENDS {
                let stale = i % 5 == 4;
                let appends = vec![
                    StreamAppend {
                        stream: a.clone(),
                        expected: expect_version(va),
                        events: vec![event(i)],
                    },
                    StreamAppend {
                        stream: b.clone(),
                        expected: if stale {
                            ExpectedVersion::Exact(vb + 7)
                        } else {
                            expect_version(vb)
                        },
                        events: vec![event(i), event(i + 1)],
                    },
                    StreamAppend {
                        stream: "multi-log".into(),
                        expected: ExpectedVersion::Any,
                        events: vec![event(i)],
                    },
                ];
                match store.append(appends.clone()).await {
                    Ok(r) => {
                        assert!(!stale, "append {i}: a stale version was accepted");
                        acks.ack(&appends, &r);
                        va += 1;
                        vb += 2;
                    }
                    Err(StoreError::WrongExpectedVersion { stream, actual, .. }) if stale => {
                        assert_eq!(stream, b, "the stale stream is named");
                        assert_eq!(actual, Some(vb));
                        acks.refuse(&appends);
                    }
                    Err(e) => panic!("append {i} (stale: {stale}): unexpected error {e}"),
                }
            }
            acks
        }));
    }

    // A failed writer leaves the others waiting at a barrier: time out
    // rather than hang.
    let mut acks = Acks::default();
    tokio::time::timeout(Duration::from_secs(60), async {
        for w in writers {
            acks.extend(w.await.expect("writer"));
        }
    })
    .await
    .expect("the writers finish");
    writers_done.store(true, Ordering::SeqCst);
    let appends = append("end", ExpectedVersion::NoStream, vec![sentinel]);
    let r = store.append(appends.clone()).await.expect("sentinel");
    acks.ack(&appends, &r);

    let (seen, seen_while_writing) = tokio::time::timeout(Duration::from_secs(30), subscriber)
        .await
        .expect("the subscriber reaches the sentinel")
        .expect("subscriber task");

    // The subscriber followed the writers live, not only afterwards.
    assert!(
        seen_while_writing > 0,
        "the subscriber saw nothing while the writers were appending"
    );

    // Positions 1..=head, once each, in order; nothing after the head.
    let head = *store.head().borrow();
    assert_eq!(head, r.last_position, "the sentinel is the last event");
    let positions: Vec<u64> = seen.iter().map(|e| e.position).collect();
    let expected: Vec<u64> = (1..=head).collect();
    assert_eq!(
        positions, expected,
        "positions 1..=head, once each, in order"
    );
    assert!(
        store.read_all(head + 1, 10).await.expect("read").is_empty(),
        "nothing after the head"
    );
    assert_eq!(seen, all_events(&store).await, "the subscriber saw the log");

    // Exactly the acknowledged events, each where its append's result put it.
    let acked_ids: HashSet<Uuid> = acks.acked.iter().map(|a| a.1).collect();
    let seen_ids: HashSet<Uuid> = seen.iter().map(|e| e.event_id).collect();
    assert_eq!(
        acked_ids.len(),
        acks.acked.len(),
        "an id acknowledged twice"
    );
    assert_eq!(seen_ids.len(), seen.len(), "an event seen twice");
    assert_eq!(
        seen_ids.difference(&acked_ids).count(),
        0,
        "seen but never acknowledged"
    );
    assert_eq!(
        acked_ids.difference(&seen_ids).count(),
        0,
        "acknowledged but not seen"
    );
    acks.acked.sort_unstable_by_key(|a| a.0);
    for (e, (position, id, stream, version)) in seen.iter().zip(&acks.acked) {
        assert_eq!(
            (e.position, e.event_id, &e.stream, e.version),
            (*position, *id, stream, *version),
            "the event at position {} is not the one acknowledged there",
            e.position
        );
    }

    // The refusals the workload makes: every round of a shared stream has
    // one winner and RACERS - 1 refused; every fifth multi-stream append is
    // stale. Nothing refused was stored, not even the other streams of a
    // refused multi-stream append.
    assert_eq!(
        acks.refused_appends,
        SHARED_STREAMS * ROUNDS * (RACERS - 1) + MULTI * (MULTI_APPENDS / 5),
        "refused appends"
    );
    for id in &acks.refused {
        assert!(!seen_ids.contains(id), "refused event {id} was stored");
    }

    // Each stream's versions are 1, 2, 3, … in the order of positions, and
    // each shared stream got every round's winner once.
    let mut versions: HashMap<&str, u64> = HashMap::new();
    for e in &seen {
        let v = versions.entry(&e.stream).or_default();
        *v += 1;
        assert_eq!(
            e.version, *v,
            "stream {}: versions follow positions",
            e.stream
        );
    }
    for s in 0..SHARED_STREAMS {
        let rounds_events: u64 = (0..ROUNDS).map(|r| 1 + r % 2).sum();
        assert_eq!(
            versions.get(format!("shared-{s}").as_str()),
            Some(&rounds_events)
        );
    }

    // The hash chain holds over what the subscriber saw.
    let mut chain = ChainVerifier::default();
    for e in &seen {
        chain.check(e).expect("hash chain holds");
    }
    assert_eq!(chain.checked(), head);
}

#[tokio::test]
async fn the_live_writer_connection_is_wal_with_synchronous_full() {
    let (_d, store) = open().await;
    store
        .append(append("s", ExpectedVersion::Any, vec![event(1)]))
        .await
        .expect("append");
    let (mode, sync) = store.durability_settings().await.expect("pragmas");
    assert_eq!(mode.to_lowercase(), "wal");
    assert_eq!(sync, 2, "PRAGMA synchronous = 2 is FULL");
}

/// Where the chain first breaks, reading the whole log.
async fn chain_break<S: EventStore>(store: &S) -> Option<u64> {
    let mut chain = ChainVerifier::default();
    for e in all_events(store).await {
        if let Err(b) = chain.check(&e) {
            return Some(b.position);
        }
    }
    None
}

/// Tampering through a separate read-write connection, as an attacker would.
mod a_changed_row_breaks_the_chain_at_its_position {
    use super::*;

    #[tokio::test]
    async fn sqlite() {
        let (dir, store) = open().await;
        for i in 0..5 {
            store
                .append(append("s", ExpectedVersion::Any, vec![event(i)]))
                .await
                .expect("append");
        }
        drop(store);
        let path = dir.path().join("congvan.db");
        let url = format!("sqlite://{}", path.display());
        let pool = sqlx::SqlitePool::connect(&url).await.expect("connect");
        sqlx::query("UPDATE events SET payload = json_set(payload, '$.x', 1) WHERE position = 3")
            .execute(&pool)
            .await
            .expect("tamper");
        pool.close().await;
        let store = SqliteStore::open_dir(dir.path()).await.expect("reopen");
        assert_eq!(chain_break(&store).await, Some(3));
    }

    #[tokio::test]
    async fn postgres() {
        let Some(db) = Pg::create().await else {
            return;
        };
        let store = db.open().await;
        for i in 0..5 {
            store
                .append(append("s", ExpectedVersion::Any, vec![event(i)]))
                .await
                .expect("append");
        }
        assert_eq!(chain_break(&store).await, None, "intact before tampering");
        let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
        let changed = sqlx::query(
            "UPDATE events SET payload = replace(payload, '\"x\":0', '\"x\":1') WHERE position = 3",
        )
        .execute(&mut conn)
        .await
        .expect("tamper");
        assert_eq!(changed.rows_affected(), 1);
        let _ = conn.close().await;
        assert_eq!(chain_break(&store).await, Some(3));
        drop(store);
        // A store opened afterwards reads the same break.
        let store = db.open().await;
        assert_eq!(chain_break(&store).await, Some(3));
    }
}

/// Two servers on one database: 16 tasks on each append concurrently, to
/// their own streams and, with optimistic retries, to one shared stream.
/// Positions stay gap-free, the chain holds, the shared stream gets every
/// version exactly once, and each store's head follows the other's appends.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_postgres_stores_on_one_database_serialise_their_appends() {
    let Some(db) = Pg::create().await else {
        return;
    };
    let stores = [db.open().await, db.open().await];
    const TASKS: usize = 16;
    const OWN: u64 = 10;
    const SHARED: u64 = 5;
    let barrier = Arc::new(Barrier::new(2 * TASKS));
    let mut handles = Vec::new();
    for (s, store) in stores.iter().enumerate() {
        for t in 0..TASKS {
            let store = store.clone();
            let barrier = barrier.clone();
            handles.push(tokio::spawn(async move {
                barrier.wait().await;
                let stream = format!("p{s}-{t}");
                let mut shared_wins = Vec::new();
                for i in 0..OWN {
                    let expected = if i == 0 {
                        ExpectedVersion::NoStream
                    } else {
                        ExpectedVersion::Exact(i)
                    };
                    let r = store
                        .append(append(&stream, expected, vec![event(i)]))
                        .await
                        .expect("own stream never conflicts");
                    assert_eq!(r.streams[0].last_version, i + 1);
                    if i < SHARED {
                        // Read the version, append expecting it; retry when
                        // the other server (or a neighbour) got there first.
                        loop {
                            let expected = match store.stream_version("shared").await.expect("v") {
                                None => ExpectedVersion::NoStream,
                                Some(v) => ExpectedVersion::Exact(v),
                            };
                            match store
                                .append(append("shared", expected, vec![event(100 + i)]))
                                .await
                            {
                                Ok(r) => {
                                    shared_wins.push(r.streams[0].last_version);
                                    break;
                                }
                                Err(StoreError::WrongExpectedVersion { .. }) => {}
                                Err(e) => panic!("unexpected error {e}"),
                            }
                        }
                    }
                }
                shared_wins
            }));
        }
    }
    let mut shared = Vec::new();
    for h in handles {
        shared.extend(h.await.expect("task"));
    }
    let total = 2 * TASKS as u64 * (OWN + SHARED);
    let events = all_events(&stores[0]).await;
    assert_eq!(events.len() as u64, total);
    assert_gap_free(&events);
    assert_eq!(all_events(&stores[1]).await, events, "both read one log");
    shared.sort_unstable();
    let expected: Vec<u64> = (1..=2 * TASKS as u64 * SHARED).collect();
    assert_eq!(shared, expected, "every shared version won exactly once");
    let versions: Vec<u64> = events
        .iter()
        .filter(|e| e.stream == "shared")
        .map(|e| e.version)
        .collect();
    assert_eq!(versions, expected, "shared versions follow positions");
    for store in &stores {
        let mut head = store.head();
        tokio::time::timeout(Duration::from_secs(10), head.wait_for(|h| *h == total))
            .await
            .expect("each store's head reaches the other's appends")
            .expect("store open");
    }
}
