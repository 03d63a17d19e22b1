//! The store-independent half of a group commit, shared by the SQLite and the
//! PostgreSQL stores: validating appends, idempotency by event id, expected
//! versions, and assigning positions, versions, timestamps and hashes in
//! commit order. Nothing here touches a database: each store reads what a
//! batch needs (the head, the stored event ids, the streams' versions), hands
//! it to [`assign`], writes the resulting rows, and answers with [`answer`].

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use tokio::sync::{oneshot, watch};
use uuid::Uuid;

use super::chain::{RowFields, row_hash};
use super::{AppendResult, ExpectedVersion, NewEvent, StoreError, StreamAppend, StreamWritten};
use crate::digest::Sha256Digest;

pub(super) type Reply = oneshot::Sender<Result<AppendResult, StoreError>>;

/// One caller's append, waiting for the writer.
pub(super) struct Request {
    pub appends: Vec<StreamAppend>,
    pub reply: Reply,
}

/// A row of the log as far as idempotency needs it.
pub(super) struct StoredId {
    pub position: u64,
    pub stream: String,
    pub version: u64,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: String,
}

/// A row to insert, with everything assigned.
pub(super) struct PendingRow {
    pub position: u64,
    pub stream: String,
    pub version: u64,
    pub event: NewEvent,
    pub event_id: String,
    pub recorded_at: i64,
    pub prev_hash: String,
    pub hash: String,
}

/// What the writer knows about the log: its head and the versions of the
/// streams it has looked up.
pub(super) struct WriterState {
    pub head: u64,
    pub head_hash: Sha256Digest,
    pub last_recorded_at: i64,
    pub versions: HashMap<String, u64>,
}

impl WriterState {
    /// The state after the given last row `(position, hash, recorded_at)`,
    /// or of an empty log.
    pub fn from_head(row: Option<(i64, String, i64)>) -> Result<Self, StoreError> {
        let (head, head_hash, last_recorded_at) = match row {
            None => (0, Sha256Digest::ZERO, 0),
            Some((pos, hash, at)) => {
                let hash = Sha256Digest::from_str(&hash).map_err(|_| {
                    StoreError::Corrupt(format!("position {pos}: the stored hash is not hex"))
                })?;
                (pos as u64, hash, at)
            }
        };
        Ok(WriterState {
            head,
            head_hash,
            last_recorded_at,
            versions: HashMap::new(),
        })
    }

    /// A copy of the head without the versions (to undo a failed commit).
    fn head_only(&self) -> WriterState {
        WriterState {
            head: self.head,
            head_hash: self.head_hash,
            last_recorded_at: self.last_recorded_at,
            versions: HashMap::new(),
        }
    }
}

/// What a batch needs read from the log: every event id it carries, and the
/// streams whose version the writer does not know yet.
pub(super) fn lookup_keys<'a>(
    state: &WriterState,
    batch: &'a [Request],
) -> (Vec<String>, HashSet<&'a str>) {
    let mut ids: Vec<String> = Vec::new();
    let mut streams: HashSet<&str> = HashSet::new();
    for r in batch {
        for a in &r.appends {
            if !state.versions.contains_key(&a.stream) {
                streams.insert(&a.stream);
            }
            ids.extend(a.events.iter().map(|e| e.event_id.hyphenated().to_string()));
        }
    }
    (ids, streams)
}

/// A checked batch: the rows to insert, each caller's tentative result, and
/// the state before the batch (to restore when the commit fails).
pub(super) struct Prepared {
    pub rows: Vec<PendingRow>,
    pub replies: Vec<(Reply, Result<AppendResult, StoreError>)>,
    pub saved: WriterState,
}

/// Checks every request of the batch against the log (`existing`: the stored
/// rows of the batch's event ids; `state.versions`: at least the batch's
/// streams) and against the requests before it in the same batch, and assigns
/// positions, versions and hashes to the accepted ones. Nothing is written.
pub(super) fn assign(
    state: &mut WriterState,
    mut existing: HashMap<String, StoredId>,
    batch: Vec<Request>,
) -> Prepared {
    let saved = state.head_only();
    let recorded_at = now_micros().max(state.last_recorded_at);
    let mut rows = Vec::new();
    let mut replies = Vec::with_capacity(batch.len());
    for req in batch {
        let result = accept(state, &mut existing, req.appends, recorded_at, &mut rows);
        replies.push((req.reply, result));
    }
    if !rows.is_empty() {
        state.last_recorded_at = recorded_at;
    }
    Prepared {
        rows,
        replies,
        saved,
    }
}

/// Finishes a batch once its rows were written (`outcome`). On success the
/// head is published BEFORE the callers are answered, so a caller that reads
/// the head after its append returned never sees an older one. On failure
/// every caller is refused and `state` is restored (versions forgotten).
pub(super) fn answer(
    state: &mut WriterState,
    prepared: Prepared,
    outcome: Result<(), sqlx::Error>,
    head_tx: &watch::Sender<u64>,
) {
    let Prepared {
        rows,
        replies,
        saved,
    } = prepared;
    match outcome {
        Ok(()) => {
            if let Some(last) = rows.last() {
                state.head = last.position;
                if let Ok(h) = Sha256Digest::from_str(&last.hash) {
                    state.head_hash = h;
                }
            }
            let head = state.head;
            // Monotonic: another process may already have published a later head.
            head_tx.send_if_modified(|h| {
                let newer = head > *h;
                if newer {
                    *h = head;
                }
                newer
            });
            for (reply, result) in replies {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "group commit failed; every append in the batch is refused");
            // Undo the tentative state: reload the head, forget versions.
            *state = saved;
            for (reply, result) in replies {
                let _ = reply
                    .send(result.and(Err(StoreError::Corrupt(format!("the commit failed: {e}")))));
            }
        }
    }
}

/// Refuses every request of a batch whose reads failed.
pub(super) fn refuse_all(replies: Vec<Reply>, e: &StoreError) {
    tracing::error!(error = %e, "reading the log for a group commit failed");
    for reply in replies {
        let _ = reply.send(Err(StoreError::Corrupt(format!(
            "the store could not be read: {e}"
        ))));
    }
}

pub(super) fn now_micros() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

/// Parses a stored event id, which must be a lowercase hyphenated UUID (the
/// chain covers its exact text).
pub(super) fn parse_event_id(position: u64, id_text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(id_text)
        .ok()
        .filter(|u| u.hyphenated().to_string() == id_text)
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "position {position}: event_id {id_text:?} is not a lowercase hyphenated UUID"
            ))
        })
}

fn accept(
    state: &mut WriterState,
    existing: &mut HashMap<String, StoredId>,
    appends: Vec<StreamAppend>,
    recorded_at: i64,
    rows: &mut Vec<PendingRow>,
) -> Result<AppendResult, StoreError> {
    validate(&appends)?;
    let all: Vec<(&StreamAppend, &NewEvent)> = appends
        .iter()
        .flat_map(|a| a.events.iter().map(move |e| (a, e)))
        .collect();
    let stored: Vec<Option<&StoredId>> = all
        .iter()
        .map(|(_, e)| existing.get(&e.event_id.hyphenated().to_string()))
        .collect();
    let present = stored.iter().filter(|s| s.is_some()).count();
    if present == all.len() {
        return replay(&all, &stored);
    }
    if present > 0 {
        let (_, e) = all
            .iter()
            .zip(&stored)
            .find(|(_, s)| s.is_some())
            .map(|(p, _)| *p)
            .ok_or_else(|| StoreError::InvalidAppend("inconsistent batch".into()))?;
        return Err(StoreError::IdempotencyConflict {
            event_id: e.event_id,
            reason: "this event is already stored but other events of the same append are not; \
                     an append is stored whole or not at all, so nothing was appended"
                .into(),
        });
    }
    for a in &appends {
        let actual = state.versions.get(&a.stream).copied().unwrap_or(0);
        let ok = match a.expected {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual == 0,
            ExpectedVersion::Exact(v) => actual == v,
        };
        if !ok {
            return Err(StoreError::WrongExpectedVersion {
                stream: a.stream.clone(),
                expected: a.expected,
                actual: (actual > 0).then_some(actual),
            });
        }
    }
    let first_position = state.head + 1;
    let mut written = Vec::with_capacity(appends.len());
    for a in appends {
        let base = state.versions.get(&a.stream).copied().unwrap_or(0);
        let n = a.events.len() as u64;
        for (i, event) in a.events.into_iter().enumerate() {
            let position = state.head + 1;
            let version = base + 1 + i as u64;
            let event_id = event.event_id.hyphenated().to_string();
            let hash = row_hash(
                &state.head_hash,
                &RowFields {
                    position,
                    stream: &a.stream,
                    version,
                    event_id: &event_id,
                    event_type: &event.event_type,
                    schema_version: event.schema_version,
                    payload: &event.payload,
                    metadata: &event.metadata,
                    recorded_at,
                },
            );
            existing.insert(
                event_id.clone(),
                StoredId {
                    position,
                    stream: a.stream.clone(),
                    version,
                    event_type: event.event_type.clone(),
                    schema_version: event.schema_version,
                    payload: event.payload.clone(),
                },
            );
            rows.push(PendingRow {
                position,
                stream: a.stream.clone(),
                version,
                event,
                event_id,
                recorded_at,
                prev_hash: state.head_hash.to_hex(),
                hash: hash.to_hex(),
            });
            state.head = position;
            state.head_hash = hash;
        }
        state.versions.insert(a.stream.clone(), base + n);
        written.push(StreamWritten {
            stream: a.stream,
            first_version: base + 1,
            last_version: base + n,
        });
    }
    Ok(AppendResult {
        streams: written,
        first_position,
        last_position: state.head,
        replayed: false,
    })
}

pub(super) fn validate(appends: &[StreamAppend]) -> Result<(), StoreError> {
    if appends.is_empty() {
        return Err(StoreError::InvalidAppend(
            "an append needs at least one stream".into(),
        ));
    }
    let mut streams = HashSet::new();
    let mut ids = HashSet::new();
    for a in appends {
        if a.stream.is_empty() {
            return Err(StoreError::InvalidAppend(
                "a stream name must not be empty".into(),
            ));
        }
        if !streams.insert(a.stream.as_str()) {
            return Err(StoreError::InvalidAppend(format!(
                "stream {} appears twice in one append",
                a.stream
            )));
        }
        if a.events.is_empty() {
            return Err(StoreError::InvalidAppend(format!(
                "stream {}: an append needs at least one event",
                a.stream
            )));
        }
        for e in &a.events {
            if !ids.insert(e.event_id) {
                return Err(StoreError::InvalidAppend(format!(
                    "event id {} appears twice in one append",
                    e.event_id
                )));
            }
            if e.event_type.is_empty() {
                return Err(StoreError::InvalidAppend(
                    "an event type must not be empty".into(),
                ));
            }
        }
    }
    Ok(())
}

/// Every event is stored already: the same content gives the original result,
/// anything else is a conflict.
fn replay(
    all: &[(&StreamAppend, &NewEvent)],
    stored: &[Option<&StoredId>],
) -> Result<AppendResult, StoreError> {
    let mut streams: Vec<StreamWritten> = Vec::new();
    let mut first_position = u64::MAX;
    let mut last_position = 0;
    for ((a, e), s) in all.iter().zip(stored) {
        let Some(s) = s else {
            return Err(StoreError::InvalidAppend("inconsistent replay".into()));
        };
        let same = s.stream == a.stream
            && s.event_type == e.event_type
            && s.schema_version == e.schema_version
            && s.payload == e.payload;
        if !same {
            let what = if s.stream != a.stream {
                format!("it is stored in stream {}", s.stream)
            } else {
                "it is stored with different content".to_string()
            };
            return Err(StoreError::IdempotencyConflict {
                event_id: e.event_id,
                reason: format!("this event id is already used: {what}; nothing was appended"),
            });
        }
        first_position = first_position.min(s.position);
        last_position = last_position.max(s.position);
        match streams.iter_mut().find(|w| w.stream == s.stream) {
            Some(w) => {
                w.first_version = w.first_version.min(s.version);
                w.last_version = w.last_version.max(s.version);
            }
            None => streams.push(StreamWritten {
                stream: s.stream.clone(),
                first_version: s.version,
                last_version: s.version,
            }),
        }
    }
    Ok(AppendResult {
        streams,
        first_position,
        last_position,
        replayed: true,
    })
}
