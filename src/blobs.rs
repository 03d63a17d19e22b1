//! Content-addressed storage of PDF files in the data directory.
//!
//! A PDF is stored once, under its SHA-256 digest:
//! `<root>/<first two hex digits>/<64 hex digits>.pdf`. Files are written to
//! a temporary file in the same directory, flushed to disk, renamed into
//! place and the directory flushed, so a stored file is always complete and
//! survives a crash once [`BlobStore::put`] has returned. Stored files are
//! never modified; [`BlobStore::check`] detects files that were damaged or
//! removed behind the store's back.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::digest::Sha256Digest;

/// Extension of stored files.
const EXTENSION: &str = "pdf";

/// Distinguishes temporary files of concurrent puts within one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A directory of PDF files named by their SHA-256 digest.
///
/// Cheap to clone; clones use the same directory. All methods are safe to
/// call concurrently, from several threads or processes.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

/// Why [`BlobStore::check`] failed for a digest.
#[derive(Debug, thiserror::Error)]
pub enum BlobCheckError {
    /// No file is stored for the digest.
    #[error("the stored PDF file is missing")]
    Missing,
    /// The stored file's content has another digest: it was modified.
    #[error("the stored PDF file's content hashes to {actual}, not to its name")]
    Mismatch {
        /// The digest of what the file now contains.
        actual: Sha256Digest,
    },
    /// The file could not be read. The error's message names the digest.
    #[error("the stored PDF file cannot be read: {0}")]
    Io(io::Error),
}

/// Adds the digest to an I/O error's message, keeping its kind.
fn with_digest(digest: &Sha256Digest, what: &str, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{what} PDF {digest}: {err}"))
}

impl BlobStore {
    /// Opens the store in `dir`, creating the directory if needed.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let root = dir.into();
        fs::create_dir_all(&root).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create the PDF directory {}: {e}", root.display()),
            )
        })?;
        Ok(BlobStore { root })
    }

    /// The directory the store keeps its files in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the file for `digest` is (or would be) stored:
    /// `<root>/ab/<64 hex digits>.pdf`, `ab` being the first two hex digits.
    pub fn path(&self, digest: &Sha256Digest) -> PathBuf {
        let hex = digest.to_hex();
        self.root.join(&hex[..2]).join(format!("{hex}.{EXTENSION}"))
    }

    /// Stores `bytes` and returns their digest. Idempotent: when a file of
    /// the same length is already stored under the digest, nothing is
    /// written (one of another length, i.e. damaged, is replaced). The file
    /// is on disk, with its directory entry, when this returns. Concurrent
    /// puts of the same bytes are safe: each writes its own temporary file and
    /// the atomic renames leave one complete file.
    pub fn put(&self, bytes: &[u8]) -> io::Result<Sha256Digest> {
        let digest = Sha256Digest::of(bytes);
        let target = self.path(&digest);
        let dir = target
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        let expected_len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if let Ok(meta) = fs::metadata(&target) {
            if meta.is_file() && meta.len() == expected_len {
                // Another put may have renamed it without flushing the
                // directory yet: flush it before reporting success.
                sync_dir(&dir).map_err(|e| with_digest(&digest, "cannot store", e))?;
                return Ok(digest);
            }
        }
        self.write_new(&digest, &dir, &target, bytes)
            .map_err(|e| with_digest(&digest, "cannot store", e))?;
        Ok(digest)
    }

    fn write_new(
        &self,
        digest: &Sha256Digest,
        dir: &Path,
        target: &Path,
        bytes: &[u8],
    ) -> io::Result<()> {
        if !dir.is_dir() {
            fs::create_dir_all(dir)?;
            // Make the new subdirectory's own entry durable.
            sync_dir(&self.root)?;
        }
        let temp = dir.join(format!(
            ".{}.{}.{}.tmp",
            digest.to_hex(),
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut file = File::options().write(true).create_new(true).open(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&temp, target)?;
            sync_dir(dir)
        })();
        if written.is_err() {
            // Best effort: the temporary file may not even exist.
            let _ = fs::remove_file(&temp);
        }
        written
    }

    /// Reads the stored file for `digest`. Its content is not verified; see
    /// [`BlobStore::check`]. A missing file gives `ErrorKind::NotFound`.
    pub fn get(&self, digest: &Sha256Digest) -> io::Result<Vec<u8>> {
        fs::read(self.path(digest)).map_err(|e| with_digest(digest, "cannot read", e))
    }

    /// Whether a file is stored for `digest` (without checking its content).
    pub fn contains(&self, digest: &Sha256Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Checks that the file for `digest` exists and that its content hashes
    /// to `digest`.
    pub fn check(&self, digest: &Sha256Digest) -> Result<(), BlobCheckError> {
        let bytes = match fs::read(self.path(digest)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(BlobCheckError::Missing),
            Err(e) => return Err(BlobCheckError::Io(with_digest(digest, "cannot read", e))),
        };
        let actual = Sha256Digest::of(&bytes);
        if actual == *digest {
            Ok(())
        } else {
            Err(BlobCheckError::Mismatch { actual })
        }
    }

    /// The digests of all stored files, sorted. Temporary files and anything
    /// else that does not follow the naming scheme are ignored.
    pub fn list(&self) -> io::Result<Vec<Sha256Digest>> {
        let mut digests = Vec::new();
        let list_err = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("cannot list the PDF directory {}: {e}", self.root.display()),
            )
        };
        for entry in fs::read_dir(&self.root).map_err(list_err)? {
            let entry = entry.map_err(list_err)?;
            let Some(prefix) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if prefix.len() != 2 || !entry.file_type().map_err(list_err)?.is_dir() {
                continue;
            }
            for file in fs::read_dir(entry.path()).map_err(list_err)? {
                let file = file.map_err(list_err)?;
                let name = file.file_name();
                let Some(stem) = name
                    .to_str()
                    .and_then(|n| n.strip_suffix(EXTENSION))
                    .and_then(|n| n.strip_suffix('.'))
                else {
                    continue;
                };
                if !stem.starts_with(prefix.as_str()) {
                    continue;
                }
                if let Ok(digest) = stem.parse::<Sha256Digest>() {
                    digests.push(digest);
                }
            }
        }
        digests.sort();
        Ok(digests)
    }
}

/// Flushes a directory's entries to disk (a no-op where directories cannot be
/// opened, i.e. outside Unix).
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, BlobStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = BlobStore::open(dir.path().join("pdf")).expect("open");
        (dir, store)
    }

    #[test]
    fn open_creates_the_directory() {
        let (dir, store) = store();
        assert!(dir.path().join("pdf").is_dir());
        assert_eq!(store.root(), dir.path().join("pdf"));
        assert!(store.list().expect("list").is_empty());
    }

    #[test]
    fn put_get_round_trip() {
        let (_dir, store) = store();
        let bytes = b"%PDF-1.7\nnot really a pdf, the store does not care\n";
        let digest = store.put(bytes).expect("put");
        assert_eq!(digest, Sha256Digest::of(bytes));
        assert!(store.contains(&digest));
        assert_eq!(store.get(&digest).expect("get"), bytes);
        store.check(&digest).expect("check");
    }

    #[test]
    fn path_layout_is_prefix_dir_and_hex_name() {
        let (dir, store) = store();
        let digest = store.put(b"abc").expect("put");
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(digest.to_hex(), hex);
        let expected = dir.path().join("pdf").join("ba").join(format!("{hex}.pdf"));
        assert_eq!(store.path(&digest), expected);
        assert_eq!(fs::read(&expected).expect("read"), b"abc");
    }

    #[test]
    fn put_is_idempotent_and_leaves_no_temporary_files() {
        let (_dir, store) = store();
        let first = store.put(b"same bytes").expect("put");
        let modified = fs::metadata(store.path(&first))
            .expect("meta")
            .modified()
            .expect("mtime");
        let second = store.put(b"same bytes").expect("put again");
        assert_eq!(first, second);
        assert_eq!(
            fs::metadata(store.path(&first))
                .expect("meta")
                .modified()
                .expect("mtime"),
            modified,
            "an existing file must not be rewritten"
        );
        let dir_entries: Vec<_> = fs::read_dir(store.path(&first).parent().expect("parent"))
            .expect("read_dir")
            .collect();
        assert_eq!(dir_entries.len(), 1, "only the stored file remains");
        assert_eq!(store.list().expect("list"), vec![first]);
    }

    #[test]
    fn concurrent_puts_of_the_same_bytes_are_safe() {
        let (_dir, store) = store();
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let digests: Vec<Sha256Digest> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| store.put(&bytes).expect("put")))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        assert!(digests.iter().all(|d| *d == Sha256Digest::of(&bytes)));
        store.check(&digests[0]).expect("complete file");
        assert_eq!(store.list().expect("list"), vec![digests[0]]);
    }

    #[test]
    fn a_damaged_file_of_another_length_is_replaced_by_put() {
        let (_dir, store) = store();
        let digest = store.put(b"the real content").expect("put");
        fs::write(store.path(&digest), b"trunc").expect("truncate");
        store.put(b"the real content").expect("put again");
        store.check(&digest).expect("repaired");
    }

    #[test]
    fn check_detects_missing_and_modified_files() {
        let (_dir, store) = store();
        let absent = Sha256Digest::of(b"never stored");
        assert!(matches!(store.check(&absent), Err(BlobCheckError::Missing)));
        assert!(!store.contains(&absent));
        let err = store.get(&absent).expect_err("missing");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains(&absent.to_hex()), "{err}");

        let digest = store.put(b"original content").expect("put");
        fs::write(store.path(&digest), b"tampered content").expect("tamper");
        match store.check(&digest) {
            Err(BlobCheckError::Mismatch { actual }) => {
                assert_eq!(actual, Sha256Digest::of(b"tampered content"));
                let message = BlobCheckError::Mismatch { actual }.to_string();
                assert!(message.contains(&actual.to_hex()), "{message}");
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }

        fs::remove_file(store.path(&digest)).expect("remove");
        assert!(matches!(store.check(&digest), Err(BlobCheckError::Missing)));
    }

    #[test]
    fn list_returns_sorted_digests_and_ignores_strangers() {
        let (_dir, store) = store();
        let mut expected: Vec<Sha256Digest> = (0..20u8)
            .map(|i| store.put(&[i; 3]).expect("put"))
            .collect();
        expected.sort();
        // Files that do not follow the naming scheme.
        let some_dir = store
            .path(&expected[0])
            .parent()
            .expect("parent")
            .to_path_buf();
        fs::write(some_dir.join(format!(".{}.1.2.tmp", expected[0])), b"x").expect("temp");
        fs::write(some_dir.join("notes.txt"), b"x").expect("txt");
        let wrong_prefix = if expected[0].to_hex().starts_with("00") {
            "ff"
        } else {
            "00"
        };
        fs::create_dir_all(store.root().join(wrong_prefix)).expect("dir");
        fs::write(
            store
                .root()
                .join(wrong_prefix)
                .join(format!("{}.pdf", expected[1])),
            b"misplaced",
        )
        .expect("misplaced");
        fs::write(store.root().join("README"), b"x").expect("readme");
        assert_eq!(store.list().expect("list"), expected);
    }
}
