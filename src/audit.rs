//! `congvan log verify`: walks the hash chain over the whole log and checks
//! that every PDF an event references exists with its digest.

use crate::blobs::{BlobCheckError, BlobStore};
use crate::domain::DocumentEvent;
use crate::domain::model::DocumentId;
use crate::store::{ChainVerifier, EventStore, StoreError};

/// The first thing that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Finding {
    #[error("position {position}: {reason}")]
    Chain { position: u64, reason: String },
    #[error("PDF {digest} (referenced at position {position}): {reason}")]
    Pdf {
        digest: String,
        position: u64,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub events: u64,
    pub pdfs: u64,
    pub finding: Option<Finding>,
}

/// Verifies the whole log; stops at the first finding.
pub async fn verify_log<S: EventStore>(
    store: &S,
    blobs: &BlobStore,
) -> Result<VerifyReport, StoreError> {
    let mut chain = ChainVerifier::default();
    let mut pdfs = std::collections::HashSet::new();
    let mut from = 1;
    loop {
        let events = match store.read_all(from, 2000).await {
            Ok(e) => e,
            Err(StoreError::Corrupt(reason)) => {
                return Ok(VerifyReport {
                    events: chain.checked(),
                    pdfs: pdfs.len() as u64,
                    finding: Some(Finding::Chain {
                        position: chain.checked() + 1,
                        reason,
                    }),
                });
            }
            Err(e) => return Err(e),
        };
        if events.is_empty() {
            break;
        }
        for e in &events {
            if let Err(b) = chain.check(e) {
                return Ok(VerifyReport {
                    events: chain.checked(),
                    pdfs: pdfs.len() as u64,
                    finding: Some(Finding::Chain {
                        position: b.position,
                        reason: b.reason,
                    }),
                });
            }
            if DocumentId::from_stream(&e.stream).is_none() {
                continue;
            }
            let event = match DocumentEvent::decode(&e.event_type, e.schema_version, &e.payload) {
                Ok(ev) => ev,
                Err(err) => {
                    return Ok(VerifyReport {
                        events: chain.checked(),
                        pdfs: pdfs.len() as u64,
                        finding: Some(Finding::Chain {
                            position: e.position,
                            reason: format!("the event cannot be read: {err}"),
                        }),
                    });
                }
            };
            for pdf in event.pdfs() {
                if !pdfs.insert(pdf.sha256) {
                    continue;
                }
                let reason = match blobs.check(&pdf.sha256) {
                    Ok(()) => continue,
                    Err(BlobCheckError::Missing) => "missing from the data directory".to_string(),
                    Err(BlobCheckError::Mismatch { actual }) => {
                        format!(
                            "the file's content does not match its digest (it hashes to {actual})"
                        )
                    }
                    Err(BlobCheckError::Io(err)) => format!("cannot be read: {err}"),
                };
                return Ok(VerifyReport {
                    events: chain.checked(),
                    pdfs: pdfs.len() as u64,
                    finding: Some(Finding::Pdf {
                        digest: pdf.sha256.to_string(),
                        position: e.position,
                        reason,
                    }),
                });
            }
        }
        from = events.last().map(|e| e.position + 1).unwrap_or(from);
    }
    Ok(VerifyReport {
        events: chain.checked(),
        pdfs: pdfs.len() as u64,
        finding: None,
    })
}
