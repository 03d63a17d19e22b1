//! The two SQL backends behind one face: SQLite (the embedded default) and
//! PostgreSQL.
//!
//! The read models are written once, in SQL both backends accept: `$N`
//! placeholders (SQLite takes them too), `INSERT … ON CONFLICT … DO UPDATE`,
//! `CASE` instead of summing booleans, `"user"` quoted. Each query is then
//! run on whichever pool is configured: [`with_pool!`] expands its body once
//! per backend, so both run with their own driver's types and no runtime
//! translation. The projector writes through [`Conn`] and [`Tx`], which take
//! SQL text with [`Arg`] values.

use sqlx::postgres::{PgConnection, PgPool};
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use sqlx::{Connection, Postgres, Row, Sqlite, Transaction};

/// A pool of read connections on either backend. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$p` bound to the concrete pool of either backend.
#[macro_export]
macro_rules! with_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::db::Pool::Sqlite($p) => $body,
            $crate::db::Pool::Postgres($p) => $body,
        }
    };
}

impl Pool {
    pub fn backend(&self) -> Backend {
        match self {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn close(&self) {
        with_pool!(self, p => p.close().await)
    }

    /// The columns of `table`, in their declared order.
    pub async fn columns(&self, table: &str) -> Result<Vec<String>, sqlx::Error> {
        match self {
            Pool::Sqlite(p) => {
                sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                    .bind(table)
                    .fetch_all(p)
                    .await
            }
            Pool::Postgres(p) => {
                sqlx::query_scalar(
                    "SELECT column_name::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1 \
                     ORDER BY ordinal_position",
                )
                .bind(table)
                .fetch_all(p)
                .await
            }
        }
    }

    /// Every row of a query whose columns are all selected `CAST(… AS TEXT)`,
    /// as text (NULL as None): a form that is the same on both backends.
    pub async fn text_rows(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, sqlx::Error> {
        with_pool!(self, p => {
            let rows = sqlx::query(sql).fetch_all(p).await?;
            rows.iter()
                .map(|r| (0..r.len()).map(|i| r.try_get::<Option<String>, _>(i)).collect())
                .collect()
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One bound value of a statement the projector writes. NULLs keep their
/// type: PostgreSQL prepares a statement with its parameters' types, and the
/// same statement is run with a value and with NULL in one place.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    I(i64),
    T(String),
    /// An integer NULL.
    NullI,
    /// A text NULL.
    NullT,
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::I(v)
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::T(v)
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::T(v.to_string())
    }
}

impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        v.map(Arg::I).unwrap_or(Arg::NullI)
    }
}

impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        v.map(Arg::T).unwrap_or(Arg::NullT)
    }
}

impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        v.map(Into::into).unwrap_or(Arg::NullT)
    }
}

/// A single connection of either backend (the projector's writer).
pub enum Conn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// An open transaction on a [`Conn`].
pub enum Tx<'c> {
    Sqlite(Transaction<'c, Sqlite>),
    Postgres(Transaction<'c, Postgres>),
}

macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::I(i) => q.bind(*i),
                Arg::T(t) => q.bind(t.as_str()),
                Arg::NullI => q.bind(None::<i64>),
                Arg::NullT => q.bind(None::<&str>),
            };
        }
        q
    }};
}

impl Conn {
    pub fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn begin(&mut self) -> Result<Tx<'_>, sqlx::Error> {
        Ok(match self {
            Conn::Sqlite(c) => Tx::Sqlite(c.begin().await?),
            Conn::Postgres(c) => Tx::Postgres(c.begin().await?),
        })
    }

    /// Runs several statements separated by `;`, without arguments.
    pub async fn batch(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Conn::Sqlite(c) => sqlx::raw_sql(sql).execute(c).await.map(drop),
            Conn::Postgres(c) => sqlx::raw_sql(sql).execute(c).await.map(drop),
        }
    }

    /// The rows of a query whose columns are all text.
    pub async fn fetch_text(
        &mut self,
        sql: &str,
        args: &[Arg],
    ) -> Result<Vec<Vec<Option<String>>>, sqlx::Error> {
        macro_rules! run {
            ($c:expr) => {{
                let rows = bind_all!(sqlx::query(sql), args).fetch_all($c).await?;
                rows.iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| r.try_get::<Option<String>, _>(i))
                            .collect()
                    })
                    .collect()
            }};
        }
        match self {
            Conn::Sqlite(c) => run!(c),
            Conn::Postgres(c) => run!(c),
        }
    }

    /// The first column of a query's rows, as integers.
    pub async fn fetch_ints(&mut self, sql: &str, args: &[Arg]) -> Result<Vec<i64>, sqlx::Error> {
        match self {
            Conn::Sqlite(c) => bind_all!(sqlx::query_scalar(sql), args).fetch_all(c).await,
            Conn::Postgres(c) => bind_all!(sqlx::query_scalar(sql), args).fetch_all(c).await,
        }
    }

    pub async fn close(self) -> Result<(), sqlx::Error> {
        match self {
            Conn::Sqlite(c) => c.close().await,
            Conn::Postgres(c) => c.close().await,
        }
    }
}

impl Tx<'_> {
    pub async fn execute(&mut self, sql: &str, args: &[Arg]) -> Result<u64, sqlx::Error> {
        Ok(match self {
            Tx::Sqlite(t) => bind_all!(sqlx::query(sql), args)
                .execute(&mut **t)
                .await?
                .rows_affected(),
            Tx::Postgres(t) => bind_all!(sqlx::query(sql), args)
                .execute(&mut **t)
                .await?
                .rows_affected(),
        })
    }

    /// The first column of the first row, as text.
    pub async fn fetch_optional_text(
        &mut self,
        sql: &str,
        args: &[Arg],
    ) -> Result<Option<String>, sqlx::Error> {
        match self {
            Tx::Sqlite(t) => {
                bind_all!(sqlx::query_scalar(sql), args)
                    .fetch_optional(&mut **t)
                    .await
            }
            Tx::Postgres(t) => {
                bind_all!(sqlx::query_scalar(sql), args)
                    .fetch_optional(&mut **t)
                    .await
            }
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }
}

/// `$first, $first+1, …` for `n` values: the placeholders of one row.
pub fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A multi-row `INSERT INTO table (columns) VALUES (…), (…)` for `rows` rows
/// of `width` values, with `$N` placeholders, and `tail` appended (an
/// `ON CONFLICT` clause, or empty).
pub fn insert_values(table: &str, columns: &str, width: usize, rows: usize, tail: &str) -> String {
    let mut sql = format!("INSERT INTO {table} ({columns}) VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        sql.push_str(&placeholders(r * width + 1, width));
        sql.push(')');
    }
    if !tail.is_empty() {
        sql.push(' ');
        sql.push_str(tail);
    }
    sql
}

/// `ON CONFLICT (key) DO UPDATE SET c = excluded.c, …` for every column of
/// `columns` not in `key`: an upsert both backends accept.
pub fn upsert(key: &str, columns: &str) -> String {
    let keys: Vec<&str> = key.split(',').map(str::trim).collect();
    let sets: Vec<String> = columns
        .split(',')
        .map(str::trim)
        .filter(|c| !keys.contains(c))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!("ON CONFLICT ({key}) DO UPDATE SET {}", sets.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_inserts_number_their_placeholders_row_by_row() {
        assert_eq!(
            insert_values("t", "a, b", 2, 2, ""),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(
            insert_values("t", "a, b", 2, 1, &upsert("a", "a, b")),
            "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT (a) DO UPDATE SET b = excluded.b"
        );
        assert_eq!(
            upsert("year, n", "year, n, x, y"),
            "ON CONFLICT (year, n) DO UPDATE SET x = excluded.x, y = excluded.y"
        );
    }
}
