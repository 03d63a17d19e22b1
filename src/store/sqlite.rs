//! The embedded event store: one SQLite file in WAL mode with `synchronous=FULL`.
//!
//! One writer task owns the only write connection. Appends are sent to it over a
//! channel; it takes every request that is waiting (group commit), checks each
//! against the log, writes the accepted ones in ONE transaction, and answers
//! each caller only after that transaction has committed — so one fsync covers
//! the whole batch, and an acknowledged append is durable. A refused request in
//! a batch does not affect the others. Because one task assigns positions and
//! hashes in commit order, positions are gap-free and the chain is inline.
//! Readers use a separate pool of connections (WAL lets them read while the
//! writer writes).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection, QueryBuilder, Row, SqliteConnection};
use tokio::sync::{mpsc, oneshot, watch};

use super::batch::{self, PendingRow, Request, StoredId, WriterState};
use super::{AppendResult, EventStore, RecordedEvent, StoreError, StreamAppend};

/// The file name of the embedded store inside the data directory.
pub const DB_FILE: &str = "congvan.db";

/// The log's tables, versioned: applied in order on open and recorded in
/// `_sqlx_migrations` (with checksums: an applied migration never changes).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/migrations/sqlite");

/// Largest number of requests one group commit takes.
const MAX_BATCH_REQUESTS: usize = 512;
/// Rows per INSERT statement (11 binds each, below SQLite's 32766 limit).
const INSERT_CHUNK: usize = 500;
/// Bound on the writer's cache of stream versions.
const VERSION_CACHE_LIMIT: usize = 100_000;

enum Message {
    Append(Request),
    /// Ask the writer connection for `PRAGMA journal_mode` and `PRAGMA synchronous`.
    Durability(oneshot::Sender<Result<(String, i64), StoreError>>),
}

/// Counters of the writer task, for benchmarks and diagnostics.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Transactions committed (one per group commit that stored something).
    pub commits: AtomicU64,
    /// Events stored.
    pub events: AtomicU64,
}

/// The SQLite event store. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    stats: Arc<WriterStats>,
    tx: mpsc::Sender<Message>,
    pool: SqlitePool,
    head: watch::Receiver<u64>,
}

fn connect_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(30))
        .foreign_keys(true)
        // Checkpoint less often: pages rewritten by many commits (the tails of
        // the per-stream index) are then copied into the database file once.
        .pragma("wal_autocheckpoint", "10000")
        .pragma("cache_size", "-65536")
        // Statement journals (a multi-row INSERT keeps one) stay in memory.
        .pragma("temp_store", "memory")
        // Batches of every size up to MAX_BATCH_REQUESTS prepare their own
        // INSERT and SELECT statements; keep them all prepared.
        .statement_cache_capacity(2048)
}

impl SqliteStore {
    /// Opens (creating when missing) `<data_dir>/congvan.db`.
    pub async fn open_dir(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)?;
        Self::open(&data_dir.join(DB_FILE)).await
    }

    /// Opens (creating when missing) the store in the given file.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let opts = connect_options(path);
        let mut writer = SqliteConnection::connect_with(&opts).await?;
        MIGRATOR
            .run(&mut writer)
            .await
            .map_err(super::migrate_error)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts.clone().read_only(true))
            .await?;
        let state = load_state(&mut writer).await?;
        let (head_tx, head) = watch::channel(state.head);
        let (tx, rx) = mpsc::channel(4096);
        let stats = Arc::new(WriterStats::default());
        tokio::spawn(writer_task(writer, state, rx, head_tx, stats.clone()));
        Ok(SqliteStore {
            stats,
            tx,
            pool,
            head,
        })
    }

    /// The read pool (for checks and tools that read the log directly).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The writer task's counters.
    pub fn writer_stats(&self) -> &WriterStats {
        &self.stats
    }

    /// `PRAGMA journal_mode` and `PRAGMA synchronous` (2 = FULL) as the live
    /// writer connection — the one that commits appends — has them.
    pub async fn durability_settings(&self) -> Result<(String, i64), StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Message::Durability(reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

async fn load_state(conn: &mut SqliteConnection) -> Result<WriterState, StoreError> {
    let row: Option<(i64, String, i64)> = sqlx::query_as(
        "SELECT position, hash, recorded_at FROM events ORDER BY position DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?;
    WriterState::from_head(row)
}

async fn writer_task(
    mut conn: SqliteConnection,
    mut state: WriterState,
    mut rx: mpsc::Receiver<Message>,
    head_tx: watch::Sender<u64>,
    stats: Arc<WriterStats>,
) {
    let mut next = rx.recv().await;
    while let Some(msg) = next.take() {
        let first = match msg {
            Message::Durability(reply) => {
                let _ = reply.send(durability(&mut conn).await);
                next = rx.recv().await;
                continue;
            }
            Message::Append(r) => r,
        };
        // Let writers that were just answered submit their next appends
        // before the batch is closed: larger batches, fewer fsyncs.
        tokio::task::yield_now().await;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_REQUESTS {
            match rx.try_recv() {
                Ok(Message::Append(r)) => batch.push(r),
                Ok(other) => {
                    next = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        let before = state.head;
        process_batch(&mut conn, &mut state, batch, &head_tx).await;
        if state.head > before {
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats
                .events
                .fetch_add(state.head - before, Ordering::Relaxed);
        }
        if next.is_none() {
            next = rx.recv().await;
        }
    }
    let _ = conn.close().await;
}

async fn durability(conn: &mut SqliteConnection) -> Result<(String, i64), StoreError> {
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await?;
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await?;
    Ok((mode, sync))
}

/// Checks, writes and commits one batch; publishes the new head BEFORE
/// answering, so a caller that reads the head after its append returned
/// never sees an older one.
async fn process_batch(
    conn: &mut SqliteConnection,
    state: &mut WriterState,
    batch: Vec<Request>,
    head_tx: &watch::Sender<u64>,
) {
    let (ids, streams) = batch::lookup_keys(state, &batch);
    let lookups = async {
        let existing = load_existing_ids(&mut *conn, &ids).await?;
        let versions = load_versions(&mut *conn, &streams).await?;
        Ok::<_, StoreError>((existing, versions))
    };
    let (existing, versions) = match lookups.await {
        Ok(v) => v,
        Err(e) => {
            state.versions.clear();
            batch::refuse_all(batch.into_iter().map(|r| r.reply).collect(), &e);
            return;
        }
    };
    state.versions.extend(versions);
    let prepared = batch::assign(state, existing, batch);
    let outcome = if prepared.rows.is_empty() {
        Ok(())
    } else {
        insert_rows(conn, &prepared.rows).await
    };
    batch::answer(state, prepared, outcome, head_tx);
    if state.versions.len() > VERSION_CACHE_LIMIT {
        state.versions.clear();
    }
}

async fn load_existing_ids(
    conn: &mut SqliteConnection,
    ids: &[String],
) -> Result<HashMap<String, StoredId>, StoreError> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::new(
            "SELECT event_id, position, stream, version, event_type, schema_version, payload \
             FROM events WHERE event_id IN (",
        );
        let mut sep = q.separated(", ");
        for id in chunk {
            sep.push_bind(id);
        }
        q.push(")");
        for r in q.build().fetch_all(&mut *conn).await? {
            let id: String = r.try_get(0)?;
            out.insert(
                id,
                StoredId {
                    position: r.try_get::<i64, _>(1)? as u64,
                    stream: r.try_get(2)?,
                    version: r.try_get::<i64, _>(3)? as u64,
                    event_type: r.try_get(4)?,
                    schema_version: r.try_get::<i64, _>(5)? as u32,
                    payload: r.try_get(6)?,
                },
            );
        }
    }
    Ok(out)
}

async fn load_versions(
    conn: &mut SqliteConnection,
    streams: &HashSet<&str>,
) -> Result<HashMap<String, u64>, StoreError> {
    let mut out: HashMap<String, u64> = streams.iter().map(|s| (s.to_string(), 0)).collect();
    let list: Vec<&str> = streams.iter().copied().collect();
    for chunk in list.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::new("SELECT stream, MAX(version) FROM events WHERE stream IN (");
        let mut sep = q.separated(", ");
        for s in chunk {
            sep.push_bind(*s);
        }
        q.push(") GROUP BY stream");
        for r in q.build().fetch_all(&mut *conn).await? {
            let s: String = r.try_get(0)?;
            let v: i64 = r.try_get(1)?;
            out.insert(s, v as u64);
        }
    }
    Ok(out)
}

async fn insert_rows(conn: &mut SqliteConnection, rows: &[PendingRow]) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::new(
            "INSERT INTO events (position, stream, version, event_id, event_type, schema_version, \
             payload, metadata, recorded_at, prev_hash, hash) ",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.position as i64)
                .push_bind(&r.stream)
                .push_bind(r.version as i64)
                .push_bind(&r.event_id)
                .push_bind(&r.event.event_type)
                .push_bind(r.event.schema_version as i64)
                .push_bind(&r.event.payload)
                .push_bind(&r.event.metadata)
                .push_bind(r.recorded_at)
                .push_bind(&r.prev_hash)
                .push_bind(&r.hash);
        });
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await
}

const SELECT_EVENT: &str = "SELECT position, stream, version, event_id, event_type, schema_version, \
     payload, metadata, recorded_at, prev_hash, hash FROM events";

/// Decodes one row of `events`.
pub fn decode_row(r: &SqliteRow) -> Result<RecordedEvent, StoreError> {
    let position = r.try_get::<i64, _>(0)? as u64;
    let id_text: String = r.try_get(3)?;
    let event_id = batch::parse_event_id(position, &id_text)?;
    Ok(RecordedEvent {
        position,
        stream: r.try_get(1)?,
        version: r.try_get::<i64, _>(2)? as u64,
        event_id,
        event_type: r.try_get(4)?,
        schema_version: r.try_get::<i64, _>(5)? as u32,
        payload: r.try_get(6)?,
        metadata: r.try_get(7)?,
        recorded_at: r.try_get(8)?,
        prev_hash: r.try_get(9)?,
        hash: r.try_get(10)?,
    })
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn append(&self, appends: Vec<StreamAppend>) -> Result<AppendResult, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Message::Append(Request { appends, reply }))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        stream_version_in(&self.pool, stream).await
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        read_stream_in(&self.pool, stream, from_version, limit).await
    }

    async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        read_all_in(&self.pool, from_position, limit).await
    }

    fn head(&self) -> watch::Receiver<u64> {
        self.head.clone()
    }
}

async fn stream_version_in(pool: &SqlitePool, stream: &str) -> Result<Option<u64>, StoreError> {
    let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM events WHERE stream = ?")
        .bind(stream)
        .fetch_one(pool)
        .await?;
    Ok(v.map(|v| v as u64))
}

async fn read_stream_in(
    pool: &SqlitePool,
    stream: &str,
    from_version: u64,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = sqlx::query(&format!(
        "{SELECT_EVENT} WHERE stream = ? AND version >= ? ORDER BY version LIMIT ?"
    ))
    .bind(stream)
    .bind(from_version as i64)
    .bind(limit.min(i64::MAX as usize) as i64)
    .fetch_all(pool)
    .await?;
    rows.iter().map(decode_row).collect()
}

async fn read_all_in(
    pool: &SqlitePool,
    from_position: u64,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = sqlx::query(&format!(
        "{SELECT_EVENT} WHERE position >= ? ORDER BY position LIMIT ?"
    ))
    .bind(from_position as i64)
    .bind(limit.min(i64::MAX as usize) as i64)
    .fetch_all(pool)
    .await?;
    rows.iter().map(decode_row).collect()
}

/// A read-only view of an embedded log file, for the tools that must not
/// change it (backup, restore, migration): every connection is opened with
/// `SQLITE_OPEN_READONLY`, nothing creates the file or its table, there is
/// no writer task, and [`EventStore::append`] is refused.
///
/// It is safe beside a server that writes the same file (WAL readers do not
/// block the writer). Its [`EventStore::head`] is the last position when it
/// was opened and does not move; [`SqliteReader::last_position`] reads the
/// current one.
#[derive(Clone)]
pub struct SqliteReader {
    pool: SqlitePool,
    head: watch::Receiver<u64>,
    // Keeps the head's channel open: a subscriber that caught up waits
    // instead of seeing a closed store.
    _head_tx: Arc<watch::Sender<u64>>,
}

impl SqliteReader {
    /// Opens an existing log file read-only; a missing file is an error
    /// (`NotFound`), never created.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("there is no event log at {}", path.display()),
            )));
        }
        // No journal mode or other pragma that writes: the file is used as it is.
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(opts)
            .await?;
        let head = last_position_in(&pool).await?;
        let (head_tx, head) = watch::channel(head);
        Ok(SqliteReader {
            pool,
            head,
            _head_tx: Arc::new(head_tx),
        })
    }

    /// The read pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The log's last position now (0 for an empty log).
    pub async fn last_position(&self) -> Result<u64, StoreError> {
        last_position_in(&self.pool).await
    }

    /// Closes every connection (the file is no longer open when this returns).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

async fn last_position_in(pool: &SqlitePool) -> Result<u64, StoreError> {
    let v: Option<i64> = sqlx::query_scalar("SELECT MAX(position) FROM events")
        .fetch_one(pool)
        .await?;
    Ok(v.unwrap_or(0) as u64)
}

#[async_trait]
impl EventStore for SqliteReader {
    async fn append(&self, _appends: Vec<StreamAppend>) -> Result<AppendResult, StoreError> {
        Err(StoreError::InvalidAppend(
            "the event log is opened read-only".into(),
        ))
    }

    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        stream_version_in(&self.pool, stream).await
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        read_stream_in(&self.pool, stream, from_version, limit).await
    }

    async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        read_all_in(&self.pool, from_position, limit).await
    }

    fn head(&self) -> watch::Receiver<u64> {
        self.head.clone()
    }
}
