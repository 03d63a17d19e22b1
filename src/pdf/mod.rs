//! Intake checks for uploaded PDF files.
//!
//! Every PDF a clerk uploads passes through [`inspect`] before it is stored or
//! registered. `inspect` decides whether the bytes are a readable PDF and
//! reports a few facts about it ([`PdfInfo`]); when it refuses a file, the
//! [`PdfError`]'s message is a plain English sentence meant to be shown to the
//! clerk as is.
//!
//! The PDF parser used is `lopdf`. It was not written for hostile input, so
//! `inspect` checks the raw bytes first for the things that would let a small
//! upload take the whole server down while lopdf reads it:
//!
//! * compressed object streams and cross-reference streams, which lopdf
//!   inflates without any limit while loading (a "decompression bomb");
//! * objects nested so deeply that lopdf's recursive parser would overflow
//!   its stack (a stack overflow aborts the process; it cannot be caught);
//! * cross-reference streams whose declared layout would make lopdf allocate
//!   gigabytes.
//!
//! lopdf itself then runs on a dedicated thread with a large stack, inside
//! `catch_unwind`, so that a panic in it becomes [`PdfError::Broken`].

mod intake;
pub(crate) mod lex;
pub mod sample;

pub use intake::{body, inspect, open, stream_data};

/// Default for [`PdfLimits::max_bytes`]: 100 MiB.
pub const DEFAULT_MAX_BYTES: usize = 100 * 1024 * 1024;

/// Default for [`PdfLimits::max_decompressed`]: 256 MiB.
pub const DEFAULT_MAX_DECOMPRESSED: usize = 256 * 1024 * 1024;

/// Resource limits applied by [`inspect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdfLimits {
    /// Largest accepted file, in bytes.
    pub max_bytes: usize,
    /// Largest total number of bytes that the compressed structures lopdf
    /// unpacks while loading the file (object streams, cross-reference
    /// streams) may expand to.
    pub max_decompressed: usize,
}

impl Default for PdfLimits {
    fn default() -> Self {
        PdfLimits {
            max_bytes: DEFAULT_MAX_BYTES,
            max_decompressed: DEFAULT_MAX_DECOMPRESSED,
        }
    }
}

/// What [`inspect`] learnt about an accepted PDF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdfInfo {
    /// Number of pages in the page tree (at least 1).
    pub pages: u32,
    /// The version from the file header, e.g. `"1.7"`.
    pub version: String,
    /// The file has an `/Encrypt` dictionary (it could still be read, since
    /// its user password is empty).
    pub encrypted: bool,
    /// The file contains a `/ByteRange` entry, i.e. at least one digital
    /// signature (which may or may not be valid; that is not checked here).
    pub has_signatures: bool,
}

/// Why [`inspect`] refused a file. The `Display` text of every variant is a
/// complete English sentence that can be shown to the clerk.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The file is larger than [`PdfLimits::max_bytes`].
    #[error(
        "the file is too large ({}; at most {} is accepted)",
        human_size(*.size),
        human_size(*.limit)
    )]
    TooLarge {
        /// Size of the upload, in bytes.
        size: usize,
        /// The limit it exceeds, in bytes.
        limit: usize,
    },
    /// There is no `%PDF-` header within the first 1024 bytes.
    #[error("the file is not a PDF (no %PDF- header in its first 1024 bytes)")]
    NotPdf,
    /// The compressed structures that would be unpacked while reading the
    /// file expand to more than [`PdfLimits::max_decompressed`] bytes (or are
    /// built so that checking them would take unreasonably long).
    #[error(
        "the PDF is not accepted because its compressed internal structures expand to more than {}",
        human_size(*.limit)
    )]
    DecompressionLimit {
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
    /// The file cannot be read as a PDF: lopdf could not parse it, it has no
    /// pages, it needs a password, or its structure is unsafe to read.
    /// `reason` is the whole sentence shown to the clerk, e.g. "the PDF is
    /// damaged and cannot be read: invalid file header" or "the PDF has no
    /// pages".
    #[error("{reason}")]
    Broken {
        /// The complete message.
        reason: String,
    },
}

const DAMAGED: &str = "the PDF is damaged and cannot be read: ";

impl PdfError {
    /// A [`PdfError::Broken`] saying the file is damaged, with `detail`
    /// (lower-case, no final full stop) explaining how.
    pub(crate) fn damaged(detail: impl std::fmt::Display) -> Self {
        PdfError::Broken {
            reason: format!("{DAMAGED}{detail}"),
        }
    }

    /// Whether this says the file is damaged (its structure could not be
    /// read), rather than readable but unusable (no pages, a password).
    pub(crate) fn is_damaged(&self) -> bool {
        matches!(self, PdfError::Broken { reason } if reason.starts_with(DAMAGED))
    }
}

/// Formats a byte count for a clerk: "12 bytes", "340 KiB", "1.5 MiB".
fn human_size(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    const GIB: usize = 1024 * 1024 * 1024;
    let (unit, name) = match bytes {
        b if b >= GIB => (GIB, "GiB"),
        b if b >= MIB => (MIB, "MiB"),
        b if b >= KIB => (KIB, "KiB"),
        b => return format!("{b} bytes"),
    };
    let whole = bytes / unit;
    let tenths = (bytes % unit) * 10 / unit;
    if tenths == 0 {
        format!("{whole} {name}")
    } else {
        format!("{whole}.{tenths} {name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_to_100_and_256_mib() {
        let l = PdfLimits::default();
        assert_eq!(l.max_bytes, 100 * 1024 * 1024);
        assert_eq!(l.max_decompressed, 256 * 1024 * 1024);
    }

    #[test]
    fn error_messages_are_sentences_for_clerks() {
        assert_eq!(
            PdfError::NotPdf.to_string(),
            "the file is not a PDF (no %PDF- header in its first 1024 bytes)"
        );
        assert_eq!(
            PdfError::TooLarge {
                size: 150 * 1024 * 1024 + 512 * 1024,
                limit: 100 * 1024 * 1024
            }
            .to_string(),
            "the file is too large (150.5 MiB; at most 100 MiB is accepted)"
        );
        assert_eq!(
            PdfError::DecompressionLimit {
                limit: 256 * 1024 * 1024
            }
            .to_string(),
            "the PDF is not accepted because its compressed internal structures expand to more than 256 MiB"
        );
        assert_eq!(
            PdfError::damaged("invalid file header").to_string(),
            "the PDF is damaged and cannot be read: invalid file header"
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(0), "0 bytes");
        assert_eq!(human_size(1023), "1023 bytes");
        assert_eq!(human_size(1024), "1 KiB");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(3 * 1024 * 1024 * 1024), "3 GiB");
    }
}
