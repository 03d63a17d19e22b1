//! `congvan backup` and `congvan restore`: an online, consistent copy of an
//! embedded data directory, and its verified return.
//!
//! # What a backup holds
//!
//! ```text
//! OUT/
//!   congvan.db      the event log, a consistent snapshot (SQLite `VACUUM INTO`)
//!   pdf/ab/<sha256>.pdf   every PDF of the data directory, each checked against its name
//!   token.key       the token signing key, when the data directory has one
//!   MANIFEST.json   format version, time, and the snapshot's event count,
//!                   last position and last hash, and the number of PDFs
//! ```
//!
//! # Why it is consistent while a server runs
//!
//! `VACUUM INTO` runs in one read transaction of a read-only connection: the
//! snapshot is the log exactly as some commit left it (WAL readers neither
//! block the writer nor see half a commit). PDFs are written — flushed and
//! renamed into place — BEFORE the event that references them commits, and
//! are never deleted; so every PDF the snapshot references was in `pdf/`
//! before the snapshot began, and copying the folder AFTER the snapshot
//! copies all of them (and perhaps a few newer ones, which do no harm). The
//! projections are not copied: they are derived, and `restore` rebuilds them.
//!
//! # All or nothing
//!
//! Both commands write into a hidden sibling of the target
//! (`.<name>.partial-<uuid>`), flush it, and rename it into place as the last
//! step; on any failure the sibling is removed and the target is not created.
//! A target that exists must be an empty directory.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

use crate::app::PDF_DIR;
use crate::audit::{Finding, verify_log};
use crate::blobs::BlobStore;
use crate::digest::Sha256Digest;
use crate::projections::{self, ProjectionError};
use crate::store::sqlite::{DB_FILE, SqliteReader};
use crate::store::{EventStore, StoreError};

/// The manifest's file name inside a backup.
pub const MANIFEST_FILE: &str = "MANIFEST.json";

/// The token signing key's file name in a data directory and in a backup.
pub const TOKEN_KEY_FILE: &str = "token.key";

/// The backup layout this version writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// `MANIFEST.json`: what the backup's snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The backup layout ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// When the backup was made (UTC).
    pub created_at: Timestamp,
    /// Events in the snapshot.
    pub events: u64,
    /// The snapshot's last position (0 for an empty log).
    pub last_position: u64,
    /// The hash of the event at `last_position` (None for an empty log).
    pub last_hash: Option<String>,
    /// PDF files in `pdf/`.
    pub pdfs: u64,
    /// Whether `token.key` is in the backup.
    pub token_key: bool,
}

/// Why a backup, restore or PDF copy did not complete. Nothing was left
/// behind in any case.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A precondition or check that does not hold; the message says which.
    #[error("{0}")]
    Refused(String),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("{context}")]
    Database {
        context: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Projection(#[from] ProjectionError),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> BackupError {
    let context = context.into();
    move |source| BackupError::Io { context, source }
}

fn db_err(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> BackupError {
    let context = context.into();
    move |source| BackupError::Database { context, source }
}

/// What [`backup`] wrote.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub out: PathBuf,
    pub manifest: Manifest,
}

/// Backs up the embedded data directory `data_dir` into the new directory
/// `out` (see the module documentation). Safe while a server runs on
/// `data_dir`; writes nothing there.
pub async fn backup(data_dir: &Path, out: &Path) -> Result<BackupReport, BackupError> {
    let db = data_dir.join(DB_FILE);
    if !db.is_file() {
        return Err(BackupError::Refused(format!(
            "there is no event log at {}: nothing to back up",
            db.display()
        )));
    }
    let staging = Staging::create(out)?;
    let snapshot = staging.path().join(DB_FILE);
    vacuum_into(&db, &snapshot).await?;
    sync_file(&snapshot)?;
    let (events, last_position, last_hash) = snapshot_head(&snapshot).await?;

    // After the snapshot: the folder then holds every PDF it references.
    let src_pdf = data_dir.join(PDF_DIR);
    let dst_pdf = staging.path().join(PDF_DIR);
    let pdfs = tokio::task::spawn_blocking(move || copy_pdfs(&src_pdf, &dst_pdf))
        .await
        .map_err(|e| io_err("copying the PDFs")(io::Error::other(e)))??
        .copied;

    let key = data_dir.join(TOKEN_KEY_FILE);
    let token_key = key.is_file();
    if token_key {
        copy_file(&key, &staging.path().join(TOKEN_KEY_FILE))?;
    }
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        created_at: Timestamp::now(),
        events,
        last_position,
        last_hash,
        pdfs,
        token_key,
    };
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| io_err("writing the manifest")(io::Error::other(e)))?;
    let manifest_path = staging.path().join(MANIFEST_FILE);
    fs::write(&manifest_path, format!("{text}\n"))
        .map_err(io_err(format!("cannot write {}", manifest_path.display())))?;
    sync_file(&manifest_path)?;
    staging.commit()?;
    Ok(BackupReport {
        out: out.to_path_buf(),
        manifest,
    })
}

/// What [`restore`] restored.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    pub data_dir: PathBuf,
    pub manifest: Manifest,
    /// Events verified (the whole chain).
    pub events: u64,
    /// PDFs copied (each checked against its name).
    pub pdfs: u64,
    /// Seconds the projections took to rebuild.
    pub rebuild_seconds: f64,
}

/// Restores the backup `from` into the new data directory `data_dir`: copies
/// the log, the PDFs and the token key into a hidden sibling of `data_dir`,
/// verifies the whole hash chain and every referenced PDF, checks that the
/// log ends where the manifest says, rebuilds the projections, and only
/// then renames the sibling into place. The backup is only read.
pub async fn restore(from: &Path, data_dir: &Path) -> Result<RestoreReport, BackupError> {
    let manifest = read_manifest(from)?;
    let src_db = from.join(DB_FILE);
    if !src_db.is_file() {
        return Err(BackupError::Refused(format!(
            "{} is not a backup: it has no {DB_FILE}",
            from.display()
        )));
    }
    let wal = from.join(format!("{DB_FILE}-wal"));
    if fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        return Err(BackupError::Refused(format!(
            "the backup has been opened and written since it was made ({} exists)",
            wal.display()
        )));
    }
    let staging = Staging::create(data_dir)?;
    let db = staging.path().join(DB_FILE);
    copy_file(&src_db, &db)?;

    let src_pdf = from.join(PDF_DIR);
    let dst_pdf = staging.path().join(PDF_DIR);
    let copy = tokio::task::spawn_blocking(move || copy_pdfs(&src_pdf, &dst_pdf))
        .await
        .map_err(|e| io_err("copying the PDFs")(io::Error::other(e)))??;
    if copy.copied != manifest.pdfs {
        return Err(BackupError::Refused(format!(
            "the backup holds {} PDFs but its manifest lists {}",
            copy.copied, manifest.pdfs
        )));
    }
    let key = from.join(TOKEN_KEY_FILE);
    match (key.is_file(), manifest.token_key) {
        (true, _) => copy_file(&key, &staging.path().join(TOKEN_KEY_FILE))?,
        (false, true) => {
            return Err(BackupError::Refused(format!(
                "the backup's manifest lists {TOKEN_KEY_FILE} but {} is missing",
                key.display()
            )));
        }
        (false, false) => {}
    }

    let store = SqliteReader::open(&db).await?;
    let checked = check_restored(&store, staging.path(), &manifest).await;
    store.close().await;
    let (events, rebuild_seconds) = checked?;
    for file in [DB_FILE, projections::DB_FILE] {
        sync_file(&staging.path().join(file))?;
    }
    staging.commit()?;
    Ok(RestoreReport {
        data_dir: data_dir.to_path_buf(),
        manifest,
        events,
        pdfs: copy.copied,
        rebuild_seconds,
    })
}

/// Verifies the restored log against itself, its PDFs and the manifest,
/// then rebuilds and checks the projections. Returns (events, seconds).
async fn check_restored(
    store: &SqliteReader,
    dir: &Path,
    manifest: &Manifest,
) -> Result<(u64, f64), BackupError> {
    let blobs = BlobStore::open(dir.join(PDF_DIR)).map_err(io_err("cannot open the PDFs"))?;
    let report = verify_log(store, &blobs).await?;
    if let Some(finding) = report.finding {
        let what = match finding {
            Finding::Chain { .. } => "the backup's event log does not verify",
            Finding::Pdf { .. } => "the backup's PDFs do not verify",
        };
        return Err(BackupError::Refused(format!("{what}: {finding}")));
    }
    let last_hash = match report.events {
        0 => None,
        n => store.read_all(n, 1).await?.pop().map(|e| e.hash),
    };
    if report.events != manifest.events
        || report.events != manifest.last_position
        || last_hash != manifest.last_hash
    {
        return Err(BackupError::Refused(format!(
            "the backup's event log ends at position {} (hash {}) but its manifest says {} (hash {})",
            report.events,
            last_hash.as_deref().unwrap_or("none"),
            manifest.last_position,
            manifest.last_hash.as_deref().unwrap_or("none"),
        )));
    }
    // The read models are rebuilt through the store a server opens.
    let store = crate::store::Store::open(dir, None).await?;
    let rebuilt = projections::rebuild(dir, &store).await?;
    let check = projections::check(dir, &store).await?;
    if let Some(problem) = check.problems.first() {
        return Err(BackupError::Refused(format!(
            "the rebuilt projections do not check: {problem}"
        )));
    }
    Ok((report.events, rebuilt.seconds))
}

/// Reads and checks `MANIFEST.json` of a backup.
pub fn read_manifest(backup: &Path) -> Result<Manifest, BackupError> {
    if !backup.is_dir() {
        return Err(BackupError::Refused(format!(
            "{} is not a backup directory",
            backup.display()
        )));
    }
    let path = backup.join(MANIFEST_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(BackupError::Refused(format!(
                "{} is not a complete backup: it has no {MANIFEST_FILE}",
                backup.display()
            )));
        }
        Err(e) => return Err(io_err(format!("cannot read {}", path.display()))(e)),
    };
    let bad = |why: String| BackupError::Refused(format!("{} is not valid: {why}", path.display()));
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    match value.get("format_version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        Some(v) => {
            return Err(BackupError::Refused(format!(
                "the backup's format version is {v}; this congvan reads version {FORMAT_VERSION}"
            )));
        }
        None => return Err(bad("it has no format_version".into())),
    }
    serde_json::from_value(value).map_err(|e| bad(e.to_string()))
}

/// `VACUUM INTO` from a read-only connection: a consistent snapshot of the
/// log as of one commit, written to the new file `to`.
async fn vacuum_into(db: &Path, to: &Path) -> Result<(), BackupError> {
    let target = to.to_str().ok_or_else(|| {
        BackupError::Refused(format!("the path {} is not valid UTF-8", to.display()))
    })?;
    let opts = SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .busy_timeout(Duration::from_secs(30));
    let context = format!("cannot snapshot {}", db.display());
    let mut conn = SqliteConnection::connect_with(&opts)
        .await
        .map_err(db_err(&context))?;
    let done = sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&mut conn)
        .await
        .map_err(db_err(&context));
    let _ = conn.close().await;
    done.map(|_| ())
}

/// (events, last position, last hash) of a snapshot file.
async fn snapshot_head(db: &Path) -> Result<(u64, u64, Option<String>), BackupError> {
    let opts = SqliteConnectOptions::new().filename(db).read_only(true);
    let context = format!("cannot read the snapshot {}", db.display());
    let mut conn = SqliteConnection::connect_with(&opts)
        .await
        .map_err(db_err(&context))?;
    let read = async {
        let (count, max): (i64, Option<i64>) =
            sqlx::query_as("SELECT COUNT(*), MAX(position) FROM events")
                .fetch_one(&mut conn)
                .await?;
        let hash: Option<String> =
            sqlx::query_scalar("SELECT hash FROM events ORDER BY position DESC LIMIT 1")
                .fetch_optional(&mut conn)
                .await?;
        Ok::<_, sqlx::Error>((count as u64, max.unwrap_or(0) as u64, hash))
    }
    .await
    .map_err(db_err(&context));
    let _ = conn.close().await;
    read
}

/// What [`copy_pdfs`] did.
#[derive(Debug, Clone, Default)]
pub struct PdfCopy {
    /// Files in the source folder (all now in the target).
    pub copied: u64,
    /// The ones the target did not have before.
    pub new: Vec<Sha256Digest>,
}

/// Copies every PDF of the folder `from` (a [`BlobStore`] layout; a missing
/// folder has none) into the folder `to` (created when missing), checking
/// that each file's content hashes to its name. A file the target already
/// has is checked, not rewritten. Each new file is flushed to disk and
/// renamed into place by [`BlobStore::put`]. On failure the files this call
/// added are removed again.
pub fn copy_pdfs(from: &Path, to: &Path) -> Result<PdfCopy, BackupError> {
    let mut out = PdfCopy::default();
    match copy_each(from, to, &mut out) {
        Ok(()) => Ok(out),
        Err(e) => {
            out.undo(to);
            Err(e)
        }
    }
}

fn copy_each(from: &Path, to: &Path, out: &mut PdfCopy) -> Result<(), BackupError> {
    let target = BlobStore::open(to).map_err(io_err(format!("cannot create {}", to.display())))?;
    if !from.is_dir() {
        return Ok(());
    }
    let source =
        BlobStore::open(from).map_err(io_err(format!("cannot open {}", from.display())))?;
    let digests = source
        .list()
        .map_err(io_err(format!("cannot list {}", from.display())))?;
    for digest in digests {
        if target.contains(&digest) {
            target.check(&digest).map_err(|e| {
                BackupError::Refused(format!(
                    "PDF {digest} already in {} is damaged: {e}",
                    to.display()
                ))
            })?;
            out.copied += 1;
            continue;
        }
        let bytes = source.get(&digest).map_err(io_err("cannot copy a PDF"))?;
        let actual = Sha256Digest::of(&bytes);
        if actual != digest {
            return Err(BackupError::Refused(format!(
                "PDF {digest} in {} is damaged: its content hashes to {actual}",
                from.display()
            )));
        }
        target.put(&bytes).map_err(io_err("cannot copy a PDF"))?;
        out.copied += 1;
        out.new.push(digest);
    }
    Ok(())
}

impl PdfCopy {
    /// Removes the files the copy added to the folder `to`, and the
    /// directories that are empty then (best effort).
    pub fn undo(&self, to: &Path) {
        let Ok(blobs) = BlobStore::open(to) else {
            return;
        };
        for d in &self.new {
            let path = blobs.path(d);
            let _ = fs::remove_file(&path);
            // remove_dir refuses a directory that is not empty.
            if let Some(prefix) = path.parent() {
                let _ = fs::remove_dir(prefix);
            }
        }
        let _ = fs::remove_dir(to);
    }
}

/// Copies one file (with its permissions) and flushes the copy.
fn copy_file(from: &Path, to: &Path) -> Result<(), BackupError> {
    fs::copy(from, to).map_err(io_err(format!(
        "cannot copy {} to {}",
        from.display(),
        to.display()
    )))?;
    sync_file(to)
}

fn sync_file(path: &Path) -> Result<(), BackupError> {
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io_err(format!("cannot flush {}", path.display())))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Whether `path` is free to become the target: absent, or an empty directory.
pub fn check_target(path: &Path) -> Result<(), BackupError> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(format!("cannot inspect {}", path.display()))(e)),
        Ok(m) if !m.is_dir() => Err(BackupError::Refused(format!(
            "{} exists and is not a directory",
            path.display()
        ))),
        Ok(_) => {
            let mut entries =
                fs::read_dir(path).map_err(io_err(format!("cannot read {}", path.display())))?;
            if entries.next().is_some() {
                Err(BackupError::Refused(format!(
                    "{} exists and is not empty",
                    path.display()
                )))
            } else {
                Ok(())
            }
        }
    }
}

/// A hidden sibling directory of the target, removed when dropped unless
/// [`Staging::commit`] renamed it into place.
struct Staging {
    dir: PathBuf,
    target: PathBuf,
    parent: PathBuf,
    committed: bool,
}

impl Staging {
    fn create(target: &Path) -> Result<Staging, BackupError> {
        check_target(target)?;
        let name = target
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| *n != "." && *n != "..")
            .ok_or_else(|| {
                BackupError::Refused(format!("{} names no directory", target.display()))
            })?;
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(BackupError::Refused(format!(
                "the directory {} does not exist",
                parent.display()
            )));
        }
        let dir = parent.join(format!(".{name}.partial-{}", uuid::Uuid::new_v4().simple()));
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&dir)
            .map_err(io_err(format!("cannot create {}", dir.display())))?;
        Ok(Staging {
            dir,
            target: target.to_path_buf(),
            parent,
            committed: false,
        })
    }

    fn path(&self) -> &Path {
        &self.dir
    }

    /// Flushes the directory and renames it to the target.
    fn commit(mut self) -> Result<(), BackupError> {
        sync_dir(&self.dir).map_err(io_err(format!("cannot flush {}", self.dir.display())))?;
        // Checked again: the target may have been filled meanwhile (rename
        // would then fail, but with a less helpful message).
        check_target(&self.target)?;
        fs::rename(&self.dir, &self.target).map_err(io_err(format!(
            "cannot rename {} to {}",
            self.dir.display(),
            self.target.display()
        )))?;
        self.committed = true;
        sync_dir(&self.parent).map_err(io_err(format!("cannot flush {}", self.parent.display())))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
