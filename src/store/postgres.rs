//! The PostgreSQL event store: the same log, the same table shape and the same
//! hash chain as the SQLite store, for deployments where several servers share
//! one database.
//!
//! `payload` and `metadata` are `TEXT`, not `JSONB` (which would reorder keys
//! and drop whitespace): the chain covers the exact bytes on both stores, so a
//! log can move between them and be verified the same way.
//!
//! # Gap-free, commit-ordered positions with several processes
//!
//! As with SQLite, one writer task per process owns the writes: appends are
//! sent to it, it takes every request that is waiting (group commit), checks
//! them with the shared logic of `batch`, writes the accepted ones in ONE
//! transaction and answers only after that transaction has committed.
//!
//! Several processes (servers) may append to the same database, so the
//! writer cannot trust anything it remembers between transactions. Every
//! append transaction therefore
//!
//! 1. first takes `pg_advisory_xact_lock(LOCK_KEY)` — one transaction-scoped
//!    lock shared by every process that appends to this database;
//! 2. then, INSIDE the locked transaction, reads the head of the log (last
//!    position, hash and timestamp), the stored rows of the batch's event ids
//!    (idempotency) and the versions of the batch's streams (expected
//!    versions) — nothing is cached across transactions;
//! 3. assigns positions, versions and hashes after that head, inserts the
//!    rows, sends a `NOTIFY` with the new head, and commits, which releases
//!    the lock.
//!
//! Appends thus serialise across processes and positions never interleave.
//! Readers never see a gap: positions are assigned under the lock, the lock
//! is released only once the transaction's commit is visible, and the next
//! transaction can only take positions after it has the lock — so a
//! transaction that commits later always has larger positions, and whenever
//! a position is visible, every smaller one is too. The cost is one lock
//! round trip and a few indexed reads per group commit, not per append.
//!
//! # The head
//!
//! [`EventStore::head`] is advanced by this process's writer after each
//! commit (before the callers are answered) and, for appends by OTHER
//! processes, by a background task that `LISTEN`s on [`NOTIFY_CHANNEL`]; the
//! notification is delivered only after the appending transaction committed.
//! Notifications lost while the listening connection reconnects are made up
//! for by reading `max(position)` after every reconnect.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, QueryBuilder, Row, Transaction};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::batch::{self, PendingRow, Request, StoredId, WriterState};
use super::{
    AppendResult, ChainBreak, ChainVerifier, EventStore, RecordedEvent, StoreError, StreamAppend,
};

/// The log's tables, versioned: applied in order on connect (under sqlx's
/// own advisory lock, so servers starting together do not race) and
/// recorded in `_sqlx_migrations`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/migrations/postgres");

/// The advisory lock every appending transaction (and the migration) takes:
/// "congvan" in ASCII.
pub const LOCK_KEY: i64 = 0x0063_6f6e_6776_616e;

/// The channel on which each append transaction notifies its last position.
pub const NOTIFY_CHANNEL: &str = "congvan_events";

/// Largest number of requests one group commit takes.
const MAX_BATCH_REQUESTS: usize = 512;
/// Rows per INSERT statement (11 binds each, below PostgreSQL's 65535 limit).
const INSERT_CHUNK: usize = 500;

/// Aborts the head listener when the last clone of the store is dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The PostgreSQL event store. Cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    tx: mpsc::Sender<Request>,
    pool: PgPool,
    head: watch::Receiver<u64>,
    _listener: Arc<AbortOnDrop>,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`) and
    /// creates the `events` table when it is missing.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let opts = PgConnectOptions::from_str(url)?;
        Self::connect_with(opts).await
    }

    /// Like [`PgStore::connect`], with options.
    pub async fn connect_with(opts: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(opts.clone())
            .await?;
        let encoding: String = sqlx::query_scalar("SHOW server_encoding")
            .fetch_one(&pool)
            .await?;
        if encoding != "UTF8" {
            return Err(StoreError::Database(sqlx::Error::Configuration(
                format!(
                    "the database's encoding is {encoding}; the event store needs UTF8 \
                     (the hash chain covers the exact bytes of the text columns)"
                )
                .into(),
            )));
        }
        migrate(&pool).await?;
        // One connection for the writer; the pool reconnects it when it is lost.
        let writer = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await?;
        // One connection for LISTEN, in its own pool (the listener reconnects through it).
        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_with(opts)
            .await?;
        let mut listener = PgListener::connect_with(&listen_pool).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        // Read the head only once LISTEN is active: nothing is missed in between.
        let head_now = max_position(&pool).await?;
        let (head_tx, head) = watch::channel(head_now);
        let head_tx = Arc::new(head_tx);
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(writer_task(writer, rx, head_tx.clone()));
        let listener = tokio::spawn(listen_task(listener, pool.clone(), head_tx));
        Ok(PgStore {
            tx,
            pool,
            head,
            _listener: Arc::new(AbortOnDrop(listener)),
        })
    }

    /// The read pool (for checks and tools that read the log directly).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The number of events the database holds.
    pub async fn count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    /// Copies positions `1..=count` of `source` into this database exactly
    /// as they are stored — positions, stream versions, event ids, the bytes
    /// of payload and metadata, `recorded_at`, `prev_hash` and `hash` — for
    /// moving an embedded log to PostgreSQL (`congvan migrate`).
    ///
    /// Everything happens in ONE transaction that first takes the append
    /// lock ([`LOCK_KEY`]), so no server can append in between: inside it the
    /// database must still be empty ([`ImportError::NotEmpty`] names what it
    /// holds), every event read from `source` must continue the hash chain
    /// from position 1 (so only a verified chain is stored), and the new
    /// head is `NOTIFY`ed on [`NOTIFY_CHANNEL`] with the commit. On any error
    /// the transaction rolls back and the database is left as it was.
    /// Returns the number of events imported.
    pub async fn import<S: EventStore + ?Sized>(
        &self,
        source: &S,
        count: u64,
    ) -> Result<u64, ImportError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(LOCK_KEY)
            .execute(&mut *tx)
            .await?;
        let held: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&mut *tx)
            .await?;
        if held > 0 {
            return Err(ImportError::NotEmpty(held as u64));
        }
        let mut chain = ChainVerifier::default();
        let mut next = 1u64;
        while next <= count {
            let want =
                usize::try_from((count - next + 1).min(IMPORT_PAGE as u64)).unwrap_or(IMPORT_PAGE);
            let page = source
                .read_all(next, want)
                .await
                .map_err(ImportError::Source)?;
            if page.is_empty() {
                return Err(ImportError::Short {
                    expected: count,
                    found: next - 1,
                });
            }
            for e in &page {
                chain.check(e).map_err(ImportError::Chain)?;
                storable(e)?;
            }
            insert_recorded(&mut tx, &page).await?;
            next += page.len() as u64;
        }
        if count > 0 {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(NOTIFY_CHANNEL)
                .bind(count.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(count)
    }
}

/// Events read from the source per round trip of [`PgStore::import`].
const IMPORT_PAGE: usize = 2000;

/// Why [`PgStore::import`] stored nothing.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The target database already holds events.
    #[error("the database already holds {0} events; import only into an empty database")]
    NotEmpty(u64),
    /// The source has fewer events than asked for.
    #[error("the source log ends at position {found}, before position {expected}")]
    Short { expected: u64, found: u64 },
    /// The source's hash chain does not hold.
    #[error("the source log does not verify: {0}")]
    Chain(ChainBreak),
    /// An event PostgreSQL cannot store as it is.
    #[error("position {position}: {reason}")]
    Unstorable { position: u64, reason: String },
    /// Reading the source failed.
    #[error("reading the source log failed")]
    Source(#[source] StoreError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// What PostgreSQL cannot store of a recorded event (see [`check_storable`]).
fn storable(e: &RecordedEvent) -> Result<(), ImportError> {
    let nul = [&e.stream, &e.event_type, &e.payload, &e.metadata]
        .iter()
        .any(|t| t.contains('\0'));
    let reason = if nul {
        "its text contains a NUL character, which PostgreSQL cannot store"
    } else if i32::try_from(e.schema_version).is_err() {
        "its schema version is larger than PostgreSQL's INTEGER"
    } else if i64::try_from(e.position).is_err() || i64::try_from(e.version).is_err() {
        "its position or version is larger than PostgreSQL's BIGINT"
    } else {
        return Ok(());
    };
    Err(ImportError::Unstorable {
        position: e.position,
        reason: reason.to_string(),
    })
}

/// Inserts recorded events as they are (checked by [`storable`]).
async fn insert_recorded(
    tx: &mut Transaction<'static, Postgres>,
    rows: &[RecordedEvent],
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::<Postgres>::new(
            "INSERT INTO events (position, stream, version, event_id, event_type, schema_version, \
             payload, metadata, recorded_at, prev_hash, hash) ",
        );
        q.push_values(chunk, |mut b, e| {
            b.push_bind(e.position as i64)
                .push_bind(&e.stream)
                .push_bind(e.version as i64)
                .push_bind(e.event_id.hyphenated().to_string())
                .push_bind(&e.event_type)
                .push_bind(i32::try_from(e.schema_version).unwrap_or(i32::MAX))
                .push_bind(&e.payload)
                .push_bind(&e.metadata)
                .push_bind(e.recorded_at)
                .push_bind(&e.prev_hash)
                .push_bind(&e.hash);
        });
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await.map_err(super::migrate_error)
}

async fn max_position(pool: &PgPool) -> Result<u64, StoreError> {
    let v: Option<i64> = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(pool)
        .await?;
    Ok(v.unwrap_or(0) as u64)
}

/// Advances the head watch, never backwards.
fn advance(head_tx: &watch::Sender<u64>, to: u64) {
    head_tx.send_if_modified(|h| {
        let newer = to > *h;
        if newer {
            *h = to;
        }
        newer
    });
}

/// Follows the commits of every process (this one's included) through
/// LISTEN/NOTIFY; reads `max(position)` after a reconnect, when notifications
/// may have been lost.
async fn listen_task(mut listener: PgListener, pool: PgPool, head_tx: Arc<watch::Sender<u64>>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) => match n.payload().parse::<u64>() {
                Ok(p) => advance(&head_tx, p),
                Err(_) => tracing::warn!(payload = n.payload(), "unexpected notification"),
            },
            Ok(None) => {
                // The connection was lost and re-established.
                if let Ok(p) = max_position(&pool).await {
                    advance(&head_tx, p);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "listening for appends failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                if let Ok(p) = max_position(&pool).await {
                    advance(&head_tx, p);
                }
            }
        }
    }
}

async fn writer_task(
    pool: PgPool,
    mut rx: mpsc::Receiver<Request>,
    head_tx: Arc<watch::Sender<u64>>,
) {
    while let Some(first) = rx.recv().await {
        // Let writers that were just answered submit their next appends
        // before the batch is closed: larger batches, fewer commits.
        tokio::task::yield_now().await;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_REQUESTS {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        process_batch(&pool, batch, &head_tx).await;
    }
    pool.close().await;
}

/// Reads what the batch needs inside a transaction that holds the append lock.
async fn locked_reads(
    tx: &mut Transaction<'static, Postgres>,
    batch: &[Request],
) -> Result<(WriterState, HashMap<String, StoredId>), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut **tx)
        .await?;
    let row: Option<(i64, String, i64)> = sqlx::query_as(
        "SELECT position, hash, recorded_at FROM events ORDER BY position DESC LIMIT 1",
    )
    .fetch_optional(&mut **tx)
    .await?;
    let mut state = WriterState::from_head(row)?;
    // `state.versions` is empty: every stream of the batch is looked up.
    let (ids, streams) = batch::lookup_keys(&state, batch);
    let existing = load_existing_ids(tx, &ids).await?;
    state.versions = load_versions(tx, &streams).await?;
    Ok((state, existing))
}

/// Checks, writes and commits one batch; publishes the new head BEFORE
/// answering.
async fn process_batch(pool: &PgPool, batch: Vec<Request>, head_tx: &watch::Sender<u64>) {
    let reads = async {
        let mut tx = pool.begin().await?;
        let (state, existing) = locked_reads(&mut tx, &batch).await?;
        Ok::<_, StoreError>((tx, state, existing))
    };
    let (mut tx, mut state, existing) = match reads.await {
        Ok(v) => v,
        Err(e) => {
            batch::refuse_all(batch.into_iter().map(|r| r.reply).collect(), &e);
            return;
        }
    };
    let prepared = batch::assign(&mut state, existing, batch);
    let outcome = match prepared.rows.last() {
        // Nothing to write: dropping the transaction rolls it back.
        None => Ok(()),
        Some(last) => {
            let head = last.position;
            async {
                insert_rows(&mut tx, &prepared.rows).await?;
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(NOTIFY_CHANNEL)
                    .bind(head.to_string())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            }
            .await
        }
    };
    batch::answer(&mut state, prepared, outcome, head_tx);
}

async fn load_existing_ids(
    tx: &mut Transaction<'static, Postgres>,
    ids: &[String],
) -> Result<HashMap<String, StoredId>, StoreError> {
    let mut out = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let rows = sqlx::query(
        "SELECT event_id, position, stream, version, event_type, schema_version, payload \
         FROM events WHERE event_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?;
    for r in rows {
        let id: String = r.try_get(0)?;
        out.insert(
            id,
            StoredId {
                position: r.try_get::<i64, _>(1)? as u64,
                stream: r.try_get(2)?,
                version: r.try_get::<i64, _>(3)? as u64,
                event_type: r.try_get(4)?,
                schema_version: r.try_get::<i32, _>(5)? as u32,
                payload: r.try_get(6)?,
            },
        );
    }
    Ok(out)
}

async fn load_versions(
    tx: &mut Transaction<'static, Postgres>,
    streams: &HashSet<&str>,
) -> Result<HashMap<String, u64>, StoreError> {
    let mut out: HashMap<String, u64> = streams.iter().map(|s| (s.to_string(), 0)).collect();
    if streams.is_empty() {
        return Ok(out);
    }
    let list: Vec<&str> = streams.iter().copied().collect();
    // One backward step on the (stream, version) index per stream: a
    // GROUP BY over `stream = ANY(..)` read every row of those streams, and
    // so slowed each commit down as the log grew.
    let rows = sqlx::query(
        "SELECT s.stream, v.version FROM unnest($1::text[]) AS s(stream) \
         CROSS JOIN LATERAL (SELECT version FROM events e WHERE e.stream = s.stream \
                             ORDER BY version DESC LIMIT 1) AS v",
    )
    .bind(&list)
    .fetch_all(&mut **tx)
    .await?;
    for r in rows {
        let s: String = r.try_get(0)?;
        let v: i64 = r.try_get(1)?;
        out.insert(s, v as u64);
    }
    Ok(out)
}

async fn insert_rows(
    tx: &mut Transaction<'static, Postgres>,
    rows: &[PendingRow],
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::<Postgres>::new(
            "INSERT INTO events (position, stream, version, event_id, event_type, schema_version, \
             payload, metadata, recorded_at, prev_hash, hash) ",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.position as i64)
                .push_bind(&r.stream)
                .push_bind(r.version as i64)
                .push_bind(&r.event_id)
                .push_bind(&r.event.event_type)
                // Checked in `append`: at most i32::MAX.
                .push_bind(i32::try_from(r.event.schema_version).unwrap_or(i32::MAX))
                .push_bind(&r.event.payload)
                .push_bind(&r.event.metadata)
                .push_bind(r.recorded_at)
                .push_bind(&r.prev_hash)
                .push_bind(&r.hash);
        });
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// What PostgreSQL cannot store as given, refused per append (before it can
/// fail a whole group commit): NUL characters in text, and schema versions
/// beyond `INTEGER`.
fn check_storable(appends: &[StreamAppend]) -> Result<(), StoreError> {
    for a in appends {
        if a.stream.contains('\0') {
            return Err(StoreError::InvalidAppend(
                "a stream name must not contain NUL characters".into(),
            ));
        }
        for e in &a.events {
            if e.event_type.contains('\0') || e.payload.contains('\0') || e.metadata.contains('\0')
            {
                return Err(StoreError::InvalidAppend(format!(
                    "event {}: text must not contain NUL characters",
                    e.event_id
                )));
            }
            if i32::try_from(e.schema_version).is_err() {
                return Err(StoreError::InvalidAppend(format!(
                    "event {}: schema version {} is too large",
                    e.event_id, e.schema_version
                )));
            }
        }
    }
    Ok(())
}

const SELECT_EVENT: &str = "SELECT position, stream, version, event_id, event_type, schema_version, \
     payload, metadata, recorded_at, prev_hash, hash FROM events";

/// Decodes one row of `events`.
pub fn decode_row(r: &PgRow) -> Result<RecordedEvent, StoreError> {
    let position = r.try_get::<i64, _>(0)? as u64;
    let id_text: String = r.try_get(3)?;
    let event_id = batch::parse_event_id(position, &id_text)?;
    let schema_version = u32::try_from(r.try_get::<i32, _>(5)?).map_err(|_| {
        StoreError::Corrupt(format!("position {position}: negative schema version"))
    })?;
    Ok(RecordedEvent {
        position,
        stream: r.try_get(1)?,
        version: r.try_get::<i64, _>(2)? as u64,
        event_id,
        event_type: r.try_get(4)?,
        schema_version,
        payload: r.try_get(6)?,
        metadata: r.try_get(7)?,
        recorded_at: r.try_get(8)?,
        prev_hash: r.try_get(9)?,
        hash: r.try_get(10)?,
    })
}

#[async_trait]
impl EventStore for PgStore {
    async fn append(&self, appends: Vec<StreamAppend>) -> Result<AppendResult, StoreError> {
        check_storable(&appends)?;
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request { appends, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM events WHERE stream = $1")
                .bind(stream)
                .fetch_one(&self.pool)
                .await?;
        Ok(v.map(|v| v as u64))
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT_EVENT} WHERE stream = $1 AND version >= $2 ORDER BY version LIMIT $3"
        ))
        .bind(stream)
        .bind(from_version.min(i64::MAX as u64) as i64)
        .bind(limit.min(i64::MAX as usize) as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode_row).collect()
    }

    async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT_EVENT} WHERE position >= $1 ORDER BY position LIMIT $2"
        ))
        .bind(from_position.min(i64::MAX as u64) as i64)
        .bind(limit.min(i64::MAX as usize) as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode_row).collect()
    }

    fn head(&self) -> watch::Receiver<u64> {
        self.head.clone()
    }
}
