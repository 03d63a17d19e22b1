//! The event store: an append-only log of events in streams, with a gap-free,
//! commit-ordered global position and a SHA-256 hash chain over that order.
//!
//! The store is generic: it knows stream names, event types and JSON text, never
//! the domain. `sqlite` is the embedded default; `postgres` stores the same
//! table and chain in PostgreSQL, for several servers on one database.

mod batch;
pub mod chain;
pub mod postgres;
pub mod sqlite;

use std::fmt;
use std::path::Path;

use async_trait::async_trait;
use tokio::sync::watch;
use uuid::Uuid;

pub use chain::{ChainBreak, ChainVerifier};

/// What the caller believes the stream's version is before the append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last version must be exactly this (versions start at 1).
    Exact(u64),
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
        }
    }
}

/// An event to append. `payload` and `metadata` are JSON texts stored exactly
/// as given: the hash chain covers these bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: String,
    pub metadata: String,
}

/// Events for one stream within an append, with that stream's expected version.
#[derive(Clone, Debug)]
pub struct StreamAppend {
    pub stream: String,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

/// Where one stream's events of an append landed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamWritten {
    pub stream: String,
    pub first_version: u64,
    pub last_version: u64,
}

/// The result of an append; identical for an idempotent repeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendResult {
    pub streams: Vec<StreamWritten>,
    pub first_position: u64,
    pub last_position: u64,
    /// True when every event was already stored (an idempotent repeat).
    pub replayed: bool,
}

/// One stored event, exactly as the row holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedEvent {
    pub position: u64,
    pub stream: String,
    pub version: u64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: String,
    pub metadata: String,
    /// Microseconds since the Unix epoch (UTC), assigned at commit.
    pub recorded_at: i64,
    pub prev_hash: String,
    pub hash: String,
}

#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("stream {stream}: expected {expected}, but the stream is at {}", match actual { Some(v) => format!("version {v}"), None => "no stream (it does not exist)".to_string() })]
    WrongExpectedVersion {
        stream: String,
        expected: ExpectedVersion,
        actual: Option<u64>,
    },
    #[error("event {event_id}: {reason}")]
    IdempotencyConflict { event_id: Uuid, reason: String },
    #[error("invalid append: {0}")]
    InvalidAppend(String),
    #[error("{0}")]
    Config(String),
    #[error("the event store is closed")]
    Closed,
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("i/o error")]
    Io(#[from] std::io::Error),
}

/// A migration that cannot run: a database error, or a database whose
/// recorded migrations do not match ours (changed, or from a newer version).
fn migrate_error(e: sqlx::migrate::MigrateError) -> StoreError {
    match e {
        sqlx::migrate::MigrateError::Execute(e) => StoreError::Database(e),
        other => StoreError::Corrupt(format!("the database's migrations: {other}")),
    }
}

/// The event store. Implementations: [`sqlite::SqliteStore`] and
/// [`postgres::PgStore`].
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends atomically to one or more streams: either every stream's events
    /// are stored, with consecutive versions and positions, or nothing is.
    async fn append(&self, appends: Vec<StreamAppend>) -> Result<AppendResult, StoreError>;

    /// The stream's last version, or None when it has no event.
    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError>;

    /// Events of one stream with version >= `from_version`, in order, at most `limit`.
    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Events of the global log with position >= `from_position`, at most `limit`.
    async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The last committed position (0 for an empty log), updated after each
    /// durable commit. Together with `read_all` this is a subscription: see
    /// [`Subscription`].
    fn head(&self) -> watch::Receiver<u64>;
}

/// The configured event store: the embedded SQLite file in the data
/// directory, or a PostgreSQL database. Cheap to clone.
#[derive(Clone)]
pub enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

impl Store {
    /// Opens the store: PostgreSQL when `database_url` is given (a
    /// `postgres://` URL), else `<data_dir>/congvan.db`.
    pub async fn open(data_dir: &Path, database_url: Option<&str>) -> Result<Self, StoreError> {
        match database_url.filter(|u| !u.is_empty()) {
            Some(url) => {
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return Err(StoreError::Config(format!(
                        "database_url: expected a postgres:// or postgresql:// URL, got {:?}",
                        url.split("://").next().unwrap_or_default()
                    )));
                }
                Ok(Store::Postgres(postgres::PgStore::connect(url).await?))
            }
            None => Ok(Store::Sqlite(
                sqlite::SqliteStore::open_dir(data_dir).await?,
            )),
        }
    }

    /// The store's read pool.
    pub fn pool(&self) -> crate::db::Pool {
        match self {
            Store::Sqlite(s) => crate::db::Pool::Sqlite(s.pool().clone()),
            Store::Postgres(s) => crate::db::Pool::Postgres(s.pool().clone()),
        }
    }
}

#[async_trait]
impl EventStore for Store {
    async fn append(&self, appends: Vec<StreamAppend>) -> Result<AppendResult, StoreError> {
        match self {
            Store::Sqlite(s) => s.append(appends).await,
            Store::Postgres(s) => s.append(appends).await,
        }
    }

    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        match self {
            Store::Sqlite(s) => s.stream_version(stream).await,
            Store::Postgres(s) => s.stream_version(stream).await,
        }
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        match self {
            Store::Sqlite(s) => s.read_stream(stream, from_version, limit).await,
            Store::Postgres(s) => s.read_stream(stream, from_version, limit).await,
        }
    }

    async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        match self {
            Store::Sqlite(s) => s.read_all(from_position, limit).await,
            Store::Postgres(s) => s.read_all(from_position, limit).await,
        }
    }

    fn head(&self) -> watch::Receiver<u64> {
        match self {
            Store::Sqlite(s) => s.head(),
            Store::Postgres(s) => s.head(),
        }
    }
}

/// Catch-up then live: yields every event from a position on, in order, each
/// exactly once, waiting for new commits when it has caught up.
pub struct Subscription<'a, S: EventStore + ?Sized> {
    store: &'a S,
    next: u64,
    head: watch::Receiver<u64>,
    buffer: std::collections::VecDeque<RecordedEvent>,
    page: usize,
}

impl<'a, S: EventStore + ?Sized> Subscription<'a, S> {
    pub fn new(store: &'a S, from_position: u64) -> Self {
        Subscription {
            store,
            next: from_position.max(1),
            head: store.head(),
            buffer: Default::default(),
            page: 1000,
        }
    }

    /// The next event; waits for one when caught up. Returns `Closed` when the
    /// store shuts down.
    pub async fn next(&mut self) -> Result<RecordedEvent, StoreError> {
        loop {
            if let Some(e) = self.buffer.pop_front() {
                return Ok(e);
            }
            let head = *self.head.borrow_and_update();
            if head >= self.next {
                let events = self.store.read_all(self.next, self.page).await?;
                for e in events {
                    if e.position != self.next {
                        return Err(StoreError::Corrupt(format!(
                            "the log skips from position {} to {}",
                            self.next, e.position
                        )));
                    }
                    self.next += 1;
                    self.buffer.push_back(e);
                }
                if !self.buffer.is_empty() {
                    continue;
                }
            }
            self.head.changed().await.map_err(|_| StoreError::Closed)?;
        }
    }

    /// The position the next event will have.
    pub fn position(&self) -> u64 {
        self.next
    }
}
