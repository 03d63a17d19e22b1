//! The hash chain over the global order of events.
//!
//! `hash(n) = SHA-256(prev_hash(n) || field(position) || field(stream) || field(version)
//!   || field(event_id) || field(event_type) || field(schema_version) || field(payload)
//!   || field(metadata) || field(recorded_at))`
//!
//! where `prev_hash(n)` is the 32 raw bytes of `hash(n-1)` (32 zero bytes for
//! position 1) and `field(x)` is the 4-byte big-endian length of x's stored bytes
//! followed by those bytes. Integers are their decimal text; text columns are
//! their exact stored UTF-8 bytes, so the chain covers what an auditor reads
//! with `sqlite3`, not a re-serialisation. Hashes are stored as lowercase hex.

use crate::digest::{Hasher, Sha256Digest};

use super::RecordedEvent;

/// The fields of a row that the hash covers, borrowed.
pub struct RowFields<'a> {
    pub position: u64,
    pub stream: &'a str,
    pub version: u64,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub schema_version: u32,
    pub payload: &'a str,
    pub metadata: &'a str,
    pub recorded_at: i64,
}

fn field(h: &mut Hasher, bytes: &[u8]) {
    // A stored field longer than 4 GiB cannot exist in SQLite (1 GB limit).
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    h.update(&len.to_be_bytes());
    h.update(bytes);
}

/// The hash of one row given the previous row's hash.
pub fn row_hash(prev: &Sha256Digest, row: &RowFields<'_>) -> Sha256Digest {
    let mut h = Hasher::default();
    h.update(prev.as_bytes());
    field(&mut h, row.position.to_string().as_bytes());
    field(&mut h, row.stream.as_bytes());
    field(&mut h, row.version.to_string().as_bytes());
    field(&mut h, row.event_id.as_bytes());
    field(&mut h, row.event_type.as_bytes());
    field(&mut h, row.schema_version.to_string().as_bytes());
    field(&mut h, row.payload.as_bytes());
    field(&mut h, row.metadata.as_bytes());
    field(&mut h, row.recorded_at.to_string().as_bytes());
    h.finish()
}

/// Why the chain does not hold at a position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("position {position}: {reason}")]
pub struct ChainBreak {
    pub position: u64,
    pub reason: String,
}

/// Walks the log in order and checks every link. Feed it every event from
/// position 1 on.
#[derive(Debug)]
pub struct ChainVerifier {
    prev: Sha256Digest,
    next_position: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            prev: Sha256Digest::ZERO,
            next_position: 1,
        }
    }
}

impl ChainVerifier {
    pub fn check(&mut self, e: &RecordedEvent) -> Result<(), ChainBreak> {
        let brk = |reason: String| ChainBreak {
            position: e.position,
            reason,
        };
        if e.position != self.next_position {
            return Err(ChainBreak {
                position: self.next_position,
                reason: format!("missing: the next stored position is {}", e.position),
            });
        }
        if e.prev_hash != self.prev.to_hex() {
            return Err(brk(
                "prev_hash does not match the hash of the previous event".into(),
            ));
        }
        let id = e.event_id.hyphenated().to_string();
        let computed = row_hash(
            &self.prev,
            &RowFields {
                position: e.position,
                stream: &e.stream,
                version: e.version,
                event_id: &id,
                event_type: &e.event_type,
                schema_version: e.schema_version,
                payload: &e.payload,
                metadata: &e.metadata,
                recorded_at: e.recorded_at,
            },
        );
        if computed.to_hex() != e.hash {
            return Err(brk(
                "the stored bytes do not match the event's hash (the row was changed)".into(),
            ));
        }
        self.prev = computed;
        self.next_position += 1;
        Ok(())
    }

    /// How many events were checked.
    pub fn checked(&self) -> u64 {
        self.next_position - 1
    }
}
