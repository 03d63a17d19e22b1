//! `Idempotency-Key`: the first response to a key is kept (in
//! `<data-dir>/http.db`) and returned again for a repeat, which appends
//! nothing. A key is the caller's own (two officials may use the same key);
//! reusing it for another request (another method, path or body) is refused.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// A kept response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub fingerprint: String,
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
    pub etag: Option<String>,
}

type KeyLocks = HashMap<(String, String), Arc<tokio::sync::Mutex<()>>>;
type StoredRow = (String, i64, String, Option<String>, Option<String>);

pub struct Records {
    pool: SqlitePool,
    locks: Mutex<KeyLocks>,
}

pub const DB_FILE: &str = "http.db";

impl Records {
    pub async fn open(data_dir: &Path) -> Result<Records, sqlx::Error> {
        let opts = SqliteConnectOptions::new()
            .filename(data_dir.join(DB_FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(opts)
            .await?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS idempotency (
                user        TEXT NOT NULL,
                key         TEXT NOT NULL,
                fingerprint TEXT NOT NULL,
                status      INTEGER NOT NULL,
                body        TEXT NOT NULL,
                location    TEXT,
                etag        TEXT,
                created_at  INTEGER NOT NULL,
                PRIMARY KEY (user, key)
            ) STRICT",
        )
        .execute(&pool)
        .await?;
        Ok(Records {
            pool,
            locks: Mutex::new(HashMap::new()),
        })
    }

    /// Serialises requests with the same key: the second waits for the
    /// first, then finds its response.
    pub async fn lock(&self, user: &str, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            if locks.len() > 10_000 {
                locks.retain(|_, l| Arc::strong_count(l) > 1);
            }
            locks
                .entry((user.to_string(), key.to_string()))
                .or_default()
                .clone()
        };
        lock.lock_owned().await
    }

    pub async fn get(&self, user: &str, key: &str) -> Result<Option<Stored>, sqlx::Error> {
        let row: Option<StoredRow> = sqlx::query_as(
            "SELECT fingerprint, status, body, location, etag FROM idempotency WHERE user = ? AND key = ?",
        )
        .bind(user)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| Stored {
            fingerprint: r.0,
            status: r.1 as u16,
            body: r.2,
            location: r.3,
            etag: r.4,
        }))
    }

    pub async fn put(&self, user: &str, key: &str, s: &Stored) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT OR REPLACE INTO idempotency (user, key, fingerprint, status, body, location, etag, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(user)
        .bind(key)
        .bind(&s.fingerprint)
        .bind(i64::from(s.status))
        .bind(&s.body)
        .bind(&s.location)
        .bind(&s.etag)
        .bind(jiff::Timestamp::now().as_second())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
