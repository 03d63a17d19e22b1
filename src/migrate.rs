//! `congvan migrate`: moves an embedded log (SQLite) into PostgreSQL as it
//! is — the same positions, stream versions, event ids, payload and metadata
//! bytes, `recorded_at`, `prev_hash` and `hash` — so that the chain verifies
//! the same way on both sides.
//!
//! Stop the server on the source data directory first: the source is opened
//! read-only and never written, but events a server appended during the
//! migration would not be copied (the migration notices and refuses, see
//! below).
//!
//! The steps:
//!
//! 1. the source chain and every PDF it references are verified
//!    ([`verify_log`]); nothing happens if anything does not hold;
//! 2. the target database must hold no event (it is asked first, to fail
//!    before anything is copied, and again inside the import's transaction);
//! 3. with a target data directory, the PDFs are copied into its `pdf/`
//!    folder, each checked against its name — BEFORE the events that
//!    reference them become visible, as the server itself orders them;
//! 4. the events are imported in ONE transaction under the append lock
//!    ([`PgStore::import`]), which re-checks the chain of what it inserts;
//! 5. the PostgreSQL log is verified ([`verify_log`] over a [`PgStore`],
//!    with the PDFs where that deployment will read them) and its last hash
//!    compared with the source's.
//!
//! A failure in steps 1–4 leaves the database as it was and removes the
//! PDFs step 3 added.

use std::path::{Path, PathBuf};

use crate::app::PDF_DIR;
use crate::audit::verify_log;
use crate::backup::{self, BackupError};
use crate::blobs::BlobStore;
use crate::store::postgres::{ImportError, PgStore};
use crate::store::sqlite::{DB_FILE, SqliteReader};
use crate::store::{EventStore, StoreError};

/// Why a migration did not complete.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// A precondition or check that does not hold; the message says which.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Copy(#[from] BackupError),
}

/// Where the PostgreSQL deployment finds the PDFs after the migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PdfPlacement {
    /// Copied into this data directory's `pdf/`; `new` of `copied` were not
    /// there before.
    Copied {
        data_dir: PathBuf,
        copied: u64,
        new: u64,
    },
    /// Left in the source data directory, which the server is to use.
    Source { data_dir: PathBuf, pdfs: u64 },
}

/// What [`migrate`] did.
#[derive(Debug, Clone)]
pub struct MigrateReport {
    pub events: u64,
    pub last_hash: Option<String>,
    pub pdfs: PdfPlacement,
}

/// Copies the embedded log of `from` into the empty PostgreSQL database at
/// `to_url`; with `to_data_dir` (other than `from`), copies the PDFs there
/// too. See the module documentation.
pub async fn migrate(
    from: &Path,
    to_url: &str,
    to_data_dir: Option<&Path>,
) -> Result<MigrateReport, MigrateError> {
    let source = SqliteReader::open(&from.join(DB_FILE)).await?;
    let result = run(&source, from, to_url, to_data_dir).await;
    source.close().await;
    result
}

async fn run(
    source: &SqliteReader,
    from: &Path,
    to_url: &str,
    to_data_dir: Option<&Path>,
) -> Result<MigrateReport, MigrateError> {
    let src_pdf = from.join(PDF_DIR);
    let src_blobs = BlobStore::open(&src_pdf).map_err(StoreError::Io)?;
    let verified = verify_log(source, &src_blobs).await?;
    if let Some(finding) = verified.finding {
        return Err(MigrateError::Refused(format!(
            "the source log does not verify, nothing was migrated: {finding}"
        )));
    }
    let events = verified.events;
    let last_hash = last_hash_of(source, events).await?;

    let target = PgStore::connect(to_url).await?;
    let held = target.count().await?;
    if held > 0 {
        return Err(ImportError::NotEmpty(held).into());
    }

    let copy_to = match to_data_dir {
        Some(dir) if !same_dir(dir, from) => Some(dir.to_path_buf()),
        _ => None,
    };
    let copied = match &copy_to {
        Some(dir) => {
            let (src, dst) = (src_pdf.clone(), dir.join(PDF_DIR));
            let copy = tokio::task::spawn_blocking(move || backup::copy_pdfs(&src, &dst))
                .await
                .map_err(|e| StoreError::Io(std::io::Error::other(e)))?;
            match copy {
                Ok(copy) => Some(copy),
                Err(e) => {
                    // copy_pdfs took back its files; the directory goes when empty.
                    let _ = std::fs::remove_dir(dir);
                    return Err(e.into());
                }
            }
        }
        None => None,
    };
    let target_pdf = copy_to.as_deref().unwrap_or(from).join(PDF_DIR);

    if let Err(e) = target.import(source, events).await {
        // Nothing was imported: take back the PDFs copied for it.
        if let (Some(copy), Some(dir)) = (&copied, &copy_to) {
            copy.undo(&dir.join(PDF_DIR));
            let _ = std::fs::remove_dir(dir);
        }
        return Err(e.into());
    }
    // A server that appended meanwhile is a reason to stop: what it appended
    // is missing from PostgreSQL.
    let now = source.last_position().await?;
    if now != events {
        return Err(MigrateError::Refused(format!(
            "the source log grew from {events} to {now} events during the migration, so \
             PostgreSQL holds only the first {events}: stop the server on {}, drop the \
             database's events and migrate again",
            from.display()
        )));
    }

    let target_blobs = BlobStore::open(&target_pdf).map_err(StoreError::Io)?;
    let check = verify_log(&target, &target_blobs).await?;
    if let Some(finding) = check.finding {
        return Err(MigrateError::Refused(format!(
            "the events were imported but the PostgreSQL log does not verify: {finding}"
        )));
    }
    let pg_hash = last_hash_of(&target, check.events).await?;
    if check.events != events || pg_hash != last_hash {
        return Err(MigrateError::Refused(format!(
            "the events were imported but PostgreSQL ends at position {} (hash {}), \
             the source at {events} (hash {})",
            check.events,
            pg_hash.as_deref().unwrap_or("none"),
            last_hash.as_deref().unwrap_or("none"),
        )));
    }
    let pdfs = match (copy_to, copied) {
        (Some(data_dir), Some(copy)) => PdfPlacement::Copied {
            data_dir,
            copied: copy.copied,
            new: copy.new.len() as u64,
        },
        _ => PdfPlacement::Source {
            data_dir: from.to_path_buf(),
            pdfs: src_blobs.list().map_err(StoreError::Io)?.len() as u64,
        },
    };
    Ok(MigrateReport {
        events,
        last_hash,
        pdfs,
    })
}

async fn last_hash_of<S: EventStore>(
    store: &S,
    position: u64,
) -> Result<Option<String>, StoreError> {
    if position == 0 {
        return Ok(None);
    }
    Ok(store.read_all(position, 1).await?.pop().map(|e| e.hash))
}

/// Whether two paths name the same directory (by their canonical form when
/// both exist).
fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            redact_url("postgres://u@h/db?password=x&sslmode=require"),
            "postgres://u@h/db?password=***&sslmode=require"
        );
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
    }
}
