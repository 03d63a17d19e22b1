//! Read models, each a fold over the global log into its own tables.
//!
//! One projector task applies the log in order, in batches; each batch updates
//! the rows of every projection AND each projection's checkpoint in ONE
//! transaction, so a projection is always exactly "the log up to its
//! checkpoint". Positions must arrive consecutively (the log is gap-free); the
//! projector refuses anything else, and counts what it applied, so `check`
//! can prove that no position was skipped.
//!
//! The embedded read models live in `<data-dir>/projections.db`, beside the
//! log (`congvan.db`), so that the projector never contends with the log's
//! writer for SQLite's single write lock.
//!
//! Projections:
//! - `documents`: one row per document (metadata, status, the folded state);
//! - `location`: the open recipient rows — holder, task, role, status, since, deadline;
//! - `inbox`: the same open rows keyed by holder (official or unit), with the
//!   document's summary, for listing what someone holds;
//! - `incoming_register`, `outgoing_register`: the registers per year, with
//!   the columns of Decree 30 appendix IV;
//! - `trail`: one line per document event — actor, action, time, position, hash;
//! - `stats`: one row per completed handling row (lead or coordinate) with its
//!   unit, deadline and completion date (see [`stats`] for the definitions);
//! - `officials`, `units`, `agency`: the directory;
//! - `access`: every holder a document was ever routed to, and its creator:
//!   who may see it (see `crate::http` for the whole rule);
//! - the `trail` also lists every read of a document (streams `views-<id>`).
//!
//! "Overdue" and "due soon" are never stored: they are computed when read,
//! from the deadline and the current date.

pub mod access;
pub mod apply;
pub mod queries;

use std::path::Path;
use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection};
use tokio::sync::watch;

use crate::db::{Arg, Backend, Conn, Pool};
use crate::store::{Store, StoreError};

pub use queries::*;

/// The embedded read models' file in the data directory.
pub const DB_FILE: &str = "projections.db";

/// The names of the projections, each with its checkpoint row.
pub const NAMES: &[&str] = &[
    "documents",
    "location",
    "inbox",
    "registers",
    "trail",
    "stats",
    "directory",
];

/// The session-level advisory lock the projector holds on PostgreSQL: one
/// projector per database ("congproj" in ASCII).
pub const PROJECTOR_LOCK: i64 = 0x636f_6e67_7072_6f6a;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS checkpoints (
    name     TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    applied  INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS documents (
    id              TEXT PRIMARY KEY,
    direction       TEXT NOT NULL,
    status          TEXT NOT NULL,
    document_type   TEXT NOT NULL,
    number_notation TEXT,
    issuer_code     TEXT,
    issuer_name     TEXT,
    issue_date      TEXT,
    subject         TEXT NOT NULL,
    urgency         TEXT NOT NULL,
    secrecy         TEXT NOT NULL,
    pages           INTEGER,
    arrival_number  INTEGER,
    arrival_year    INTEGER,
    case_file       TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    version         INTEGER NOT NULL,
    search_text     TEXT NOT NULL,
    state           TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS documents_dup ON documents (issuer_code, number_notation);
CREATE TABLE IF NOT EXISTS location (
    document_id TEXT NOT NULL,
    row_id      INTEGER NOT NULL,
    parent_row  INTEGER,
    holder_kind TEXT NOT NULL,
    holder_id   TEXT NOT NULL,
    task        TEXT NOT NULL,
    role        TEXT,
    status      TEXT NOT NULL,
    since       TEXT NOT NULL,
    deadline    TEXT,
    assigned_by TEXT NOT NULL,
    PRIMARY KEY (document_id, row_id)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbox (
    holder_kind     TEXT NOT NULL,
    holder_id       TEXT NOT NULL,
    document_id     TEXT NOT NULL,
    row_id          INTEGER NOT NULL,
    task            TEXT NOT NULL,
    role            TEXT,
    status          TEXT NOT NULL,
    since           TEXT NOT NULL,
    deadline        TEXT,
    direction       TEXT NOT NULL,
    number_notation TEXT,
    subject         TEXT NOT NULL,
    urgency         TEXT NOT NULL,
    PRIMARY KEY (holder_kind, holder_id, document_id, row_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS inbox_document ON inbox (document_id);
CREATE TABLE IF NOT EXISTS incoming_register (
    year            INTEGER NOT NULL,
    arrival_number  INTEGER NOT NULL,
    arrival_date    TEXT NOT NULL,
    issuer          TEXT NOT NULL,
    number_notation TEXT,
    issue_date      TEXT,
    type_and_subject TEXT NOT NULL,
    recipients      TEXT NOT NULL,
    transferred_on  TEXT,
    received_by     TEXT NOT NULL,
    note            TEXT NOT NULL,
    document_id     TEXT NOT NULL,
    PRIMARY KEY (year, arrival_number)
) STRICT;
CREATE TABLE IF NOT EXISTS outgoing_register (
    year            INTEGER NOT NULL,
    series          TEXT NOT NULL,
    number          INTEGER NOT NULL,
    number_notation TEXT NOT NULL,
    issue_date      TEXT NOT NULL,
    type_and_subject TEXT NOT NULL,
    signer          TEXT NOT NULL,
    recipients      TEXT NOT NULL,
    filing_unit     TEXT NOT NULL,
    copies          INTEGER NOT NULL,
    transferred_on  TEXT,
    received_by     TEXT NOT NULL,
    note            TEXT NOT NULL,
    document_id     TEXT NOT NULL,
    PRIMARY KEY (year, series, number)
) STRICT;
CREATE TABLE IF NOT EXISTS trail (
    position    INTEGER PRIMARY KEY,
    document_id TEXT NOT NULL,
    version     INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    at          TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    summary     TEXT NOT NULL,
    hash        TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS trail_document ON trail (document_id, version);
CREATE TABLE IF NOT EXISTS stats (
    document_id  TEXT NOT NULL,
    row_id       INTEGER NOT NULL,
    unit_id      TEXT NOT NULL,
    holder       TEXT NOT NULL,
    role         TEXT NOT NULL,
    deadline     TEXT,
    completed_on TEXT NOT NULL,
    PRIMARY KEY (document_id, row_id)
) STRICT;
CREATE INDEX IF NOT EXISTS stats_unit ON stats (unit_id, completed_on);
CREATE TABLE IF NOT EXISTS agency (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    code         TEXT NOT NULL,
    name         TEXT NOT NULL,
    abbreviation TEXT NOT NULL,
    clerk_unit   TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS units (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS officials (
    "user"         TEXT PRIMARY KEY,
    full_name      TEXT NOT NULL,
    position       TEXT NOT NULL,
    unit           TEXT NOT NULL,
    roles          TEXT NOT NULL,
    active         INTEGER NOT NULL DEFAULT 1,
    password_hash  TEXT,
    signing_titles TEXT NOT NULL DEFAULT '[]'
) STRICT;
CREATE INDEX IF NOT EXISTS officials_unit ON officials (unit);
CREATE TABLE IF NOT EXISTS access (
    document_id TEXT NOT NULL,
    holder_kind TEXT NOT NULL,
    holder_id   TEXT NOT NULL,
    PRIMARY KEY (holder_kind, holder_id, document_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS access_document ON access (document_id);
CREATE INDEX IF NOT EXISTS documents_created ON documents (created_at, id);
"#;

/// The tables a rebuild drops (all but the checkpoints, which it resets).
const TABLES: &[&str] = &[
    "documents",
    "location",
    "inbox",
    "incoming_register",
    "outgoing_register",
    "trail",
    "stats",
    "agency",
    "units",
    "officials",
    "access",
];

/// The version of the tables above, kept in `projection_schema`. Read
/// models of another version are dropped and rebuilt from the log.
pub const SCHEMA_VERSION: i64 = 4;

/// The tables in the backend's dialect: the same shape on both. SQLite's
/// `INTEGER` is 64 bits, PostgreSQL's is not; `STRICT` and `WITHOUT ROWID`
/// are SQLite's own; text compares by bytes on both.
fn schema(backend: Backend) -> String {
    match backend {
        Backend::Sqlite => SCHEMA.to_string(),
        Backend::Postgres => SCHEMA
            .replace(" STRICT, WITHOUT ROWID;", ";")
            .replace(" STRICT;", ";")
            .replace(" INTEGER", " BIGINT")
            // Byte order, as SQLite's BINARY: lists sort the same on both.
            .replace(" TEXT", " TEXT COLLATE \"C\""),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("projection database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("position {position}: {reason}")]
    Event { position: u64, reason: String },
    #[error("the projector has stopped")]
    Stopped,
    #[error(
        "another congvan process is projecting into this PostgreSQL database (run one server per database, and stop it before a rebuild)"
    )]
    Busy,
}

fn options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(30))
}

/// Where the read models of a store live: `<data_dir>/projections.db` for
/// the embedded store, the store's own database for PostgreSQL.
async fn connect_writer(
    data_dir: &Path,
    store: &Store,
    rebuilding: bool,
) -> Result<Conn, ProjectionError> {
    match store {
        Store::Sqlite(_) => {
            let mut opts = options(&data_dir.join(DB_FILE));
            if rebuilding {
                // Everything is rebuilt from scratch: no fsync per batch (a
                // crash mid-rebuild is mended by rebuilding again), few
                // checkpoints.
                opts = opts
                    .synchronous(SqliteSynchronous::Off)
                    .pragma("wal_autocheckpoint", "100000")
                    .pragma("cache_size", "-262144");
            }
            Ok(Conn::Sqlite(SqliteConnection::connect_with(&opts).await?))
        }
        Store::Postgres(s) => {
            let opts = s.pool().connect_options();
            let mut conn = PgConnection::connect_with(&opts).await?;
            // Held for the connection's life: a second server on the same
            // database, or a rebuild while a server runs, is refused.
            // A server that has just stopped releases the lock when its
            // connection's backend ends: wait a little for that.
            for attempt in 0.. {
                let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(PROJECTOR_LOCK)
                    .fetch_one(&mut conn)
                    .await?;
                if locked {
                    break;
                }
                if attempt == 50 {
                    return Err(ProjectionError::Busy);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(Conn::Postgres(conn))
        }
    }
}

/// Creates the tables, first dropping every projection when they are of
/// another [`SCHEMA_VERSION`] (or `drop` is set).
async fn prepare(conn: &mut Conn, drop: bool) -> Result<(), ProjectionError> {
    conn.batch("CREATE TABLE IF NOT EXISTS projection_schema (version BIGINT NOT NULL)")
        .await?;
    let version = conn
        .fetch_ints("SELECT version FROM projection_schema", &[])
        .await?;
    if drop || version != [SCHEMA_VERSION] {
        // Derived data of another shape: drop it; the projector rebuilds
        // it from the log as it catches up.
        let mut tx = conn.begin().await?;
        for t in TABLES.iter().chain(&["checkpoints"]) {
            tx.execute(&format!("DROP TABLE IF EXISTS {t}"), &[])
                .await?;
        }
        tx.execute("DELETE FROM projection_schema", &[]).await?;
        tx.execute(
            "INSERT INTO projection_schema (version) VALUES ($1)",
            &[Arg::I(SCHEMA_VERSION)],
        )
        .await?;
        tx.commit().await?;
    }
    let ddl = schema(conn.backend());
    conn.batch(&ddl).await?;
    Ok(())
}

/// The read-model database and the projector feeding it.
#[derive(Clone)]
pub struct Projections {
    pool: Pool,
    checkpoint: watch::Receiver<u64>,
    /// Stops the projector (closing its connection, which on PostgreSQL
    /// releases the projector lock) when the last clone is dropped.
    _projector: std::sync::Arc<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Projections {
    /// Opens the read models of `store` (see [`connect_writer`]) and starts
    /// the projector task, which catches up with the log and then follows it.
    pub async fn start(data_dir: &Path, store: Store) -> Result<Self, ProjectionError> {
        let mut writer = connect_writer(data_dir, &store, false).await?;
        prepare(&mut writer, false).await?;
        let projector = apply::Projector::load(writer).await?;
        let (tx, checkpoint) = watch::channel(projector.position());
        let pool = match &store {
            // Readers map the file (no copy from the page cache per page
            // read) and keep a larger page cache each.
            Store::Sqlite(_) => Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(
                        options(&data_dir.join(DB_FILE))
                            .read_only(true)
                            .pragma("mmap_size", "4294967296")
                            .pragma("cache_size", "-65536"),
                    )
                    .await?,
            ),
            Store::Postgres(s) => Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(8)
                    .connect_with((*s.pool().connect_options()).clone())
                    .await?,
            ),
        };
        let task = tokio::spawn(projector.run(store, tx));
        Ok(Projections {
            pool,
            checkpoint,
            _projector: std::sync::Arc::new(AbortOnDrop(task)),
        })
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The last position every projection has applied.
    pub fn position(&self) -> u64 {
        *self.checkpoint.borrow()
    }

    /// Waits until every projection has applied `position` (read-your-writes).
    pub async fn wait_for(&self, position: u64) -> Result<(), ProjectionError> {
        let mut rx = self.checkpoint.clone();
        rx.wait_for(|p| *p >= position)
            .await
            .map_err(|_| ProjectionError::Stopped)?;
        Ok(())
    }
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy)]
pub struct RebuildReport {
    pub events: u64,
    pub seconds: f64,
}

/// Drops every projection and rebuilds it from the log, offline (no server
/// may run on the same data directory or database; on PostgreSQL this is
/// enforced by the projector's lock).
pub async fn rebuild(data_dir: &Path, store: &Store) -> Result<RebuildReport, ProjectionError> {
    let started = std::time::Instant::now();
    let mut conn = connect_writer(data_dir, store, true).await?;
    prepare(&mut conn, true).await?;
    let mut projector = apply::Projector::load(conn).await?;
    let head = *crate::store::EventStore::head(store).borrow();
    projector.catch_up(store, head, 20_000).await?;
    let events = projector.position();
    projector.close().await;
    Ok(RebuildReport {
        events,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The read pool of the projections of `store`, for tools (checks, dumps)
/// that run beside or instead of a server.
pub async fn open_pool(data_dir: &Path, store: &Store) -> Result<Pool, ProjectionError> {
    Ok(match store {
        Store::Sqlite(_) => Pool::Sqlite(
            SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options(&data_dir.join(DB_FILE)))
                .await?,
        ),
        Store::Postgres(s) => Pool::Postgres(s.pool().clone()),
    })
}

/// The result of checking projection checkpoints against the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub head: u64,
    pub checkpoints: Vec<(String, u64, u64)>,
    pub problems: Vec<String>,
}

/// Proves that no position was skipped: the log is gap-free (its count equals
/// its last position), and every projection's checkpoint equals the number of
/// events it applied, one by one in order, and is not beyond the log.
pub async fn check(data_dir: &Path, store: &Store) -> Result<CheckReport, ProjectionError> {
    let (count, max): (i64, Option<i64>) = crate::with_pool!(&store.pool(), p => {
        sqlx::query_as("SELECT COUNT(*), MAX(position) FROM events")
            .fetch_one(p)
            .await?
    });
    let head = max.unwrap_or(0) as u64;
    let mut problems = Vec::new();
    if count as u64 != head {
        problems.push(format!(
            "the log has {count} events but its last position is {head}: positions are missing"
        ));
    }
    let pool = open_pool(data_dir, store).await?;
    // No checkpoints table: nothing was ever projected (reported below).
    let rows = if pool.columns("checkpoints").await?.is_empty() {
        Vec::new()
    } else {
        pool.text_rows(
            "SELECT name, CAST(position AS TEXT), CAST(applied AS TEXT) FROM checkpoints ORDER BY name",
        )
        .await?
    };
    if matches!(store, Store::Sqlite(_)) {
        pool.close().await;
    }
    let rows: Vec<(String, i64, i64)> = rows
        .into_iter()
        .map(|r| {
            let int = |v: &Option<String>| v.as_deref().and_then(|s| s.parse().ok()).unwrap_or(-1);
            (r[0].clone().unwrap_or_default(), int(&r[1]), int(&r[2]))
        })
        .collect();
    for name in NAMES {
        match rows.iter().find(|r| r.0 == *name) {
            None => problems.push(format!("projection {name} has no checkpoint")),
            Some((_, pos, applied)) => {
                if pos != applied {
                    problems.push(format!(
                        "projection {name}: checkpoint {pos} but {applied} events applied: a position was skipped or applied twice"
                    ));
                }
                if *pos as u64 > head {
                    problems.push(format!(
                        "projection {name}: checkpoint {pos} is beyond the log's last position {head}"
                    ));
                }
            }
        }
    }
    Ok(CheckReport {
        head,
        checkpoints: rows
            .into_iter()
            .map(|(n, p, a)| (n, p as u64, a as u64))
            .collect(),
        problems,
    })
}
