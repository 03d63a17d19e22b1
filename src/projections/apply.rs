//! The projector: applies the log to the read models, batch by batch.

use std::collections::{HashMap, HashSet};

use tokio::sync::watch;

use super::{NAMES, ProjectionError};
use crate::db::{Arg, Conn, Tx, insert_values, placeholders, upsert};
use crate::domain::access::Viewed;
use crate::domain::directory::{self, DirectoryEvent};
use crate::domain::events::describe;
use crate::domain::model::{Direction, Document, DocumentId, Holder, Role, RowStatus, Task};
use crate::domain::values::fold_vietnamese;
use crate::domain::{DocumentEvent, decide::agency_date, evolve};
use crate::store::{EventStore, RecordedEvent, Subscription};

pub struct Projector {
    conn: Conn,
    position: u64,
    applied: u64,
    /// user -> unit, for attributing rows held by officials to their unit.
    official_units: HashMap<String, String>,
}

struct Cached {
    doc: Document,
    version: u64,
    updated_at: jiff::Timestamp,
    /// The document has rows in the projections from an earlier batch.
    in_db: bool,
}

struct TrailRow {
    position: u64,
    document_id: DocumentId,
    version: u64,
    actor: String,
    action: &'static str,
    at: String,
    recorded_at: i64,
    summary: String,
    hash: String,
}

impl Projector {
    pub async fn load(mut conn: Conn) -> Result<Self, ProjectionError> {
        let int = |v: &Option<String>| v.as_deref().and_then(|s| s.parse::<u64>().ok());
        let rows: Vec<(u64, u64)> = conn
            .fetch_text(
                "SELECT CAST(position AS TEXT), CAST(applied AS TEXT) FROM checkpoints",
                &[],
            )
            .await?
            .iter()
            .filter_map(|r| Some((int(&r[0])?, int(&r[1])?)))
            .collect();
        // All projections move together; the smallest checkpoint is where to resume.
        let (position, applied) = if rows.len() == NAMES.len() {
            rows.iter().min_by_key(|r| r.0).copied().unwrap_or((0, 0))
        } else {
            (0, 0)
        };
        let official_units = conn
            .fetch_text("SELECT \"user\", unit FROM officials", &[])
            .await?
            .into_iter()
            .filter_map(|mut r| Some((r[0].take()?, r[1].take()?)))
            .collect();
        Ok(Projector {
            conn,
            position,
            applied,
            official_units,
        })
    }

    pub fn position(&self) -> u64 {
        self.position
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }

    /// Follows the log forever, publishing each committed checkpoint.
    pub async fn run<S: EventStore>(mut self, store: S, published: watch::Sender<u64>) {
        let mut sub = Subscription::new(&store, self.position + 1);
        loop {
            let first = match sub.next().await {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(error = %e, "the projector stopped: the log could not be read");
                    return;
                }
            };
            let mut batch = vec![first];
            // Take what is already committed, up to a bound, into the same batch.
            let head = *store.head().borrow();
            while batch.len() < 2000 && sub.position() <= head {
                match sub.next().await {
                    Ok(e) => batch.push(e),
                    Err(_) => break,
                }
            }
            if let Err(e) = self.apply_batch(&batch).await {
                tracing::error!(error = %e, "the projector stopped: an event could not be applied");
                return;
            }
            published.send_replace(self.position);
        }
    }

    /// Applies everything up to `head` in batches (used by rebuild).
    pub async fn catch_up<S: EventStore>(
        &mut self,
        store: &S,
        head: u64,
        batch_size: usize,
    ) -> Result<(), ProjectionError> {
        while self.position < head {
            let events = store.read_all(self.position + 1, batch_size).await?;
            if events.is_empty() {
                break;
            }
            self.apply_batch(&events).await?;
        }
        Ok(())
    }

    /// Applies a batch of consecutive events in one transaction together with
    /// every projection's checkpoint.
    pub async fn apply_batch(&mut self, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        let mut cache: HashMap<DocumentId, Cached> = HashMap::new();
        let mut dirty: Vec<DocumentId> = Vec::new();
        let mut dirty_set: HashSet<DocumentId> = HashSet::new();
        let mut trail: Vec<TrailRow> = Vec::new();
        let mut directory_events: Vec<DirectoryEvent> = Vec::new();
        let mut position = self.position;
        let mut tx = self.conn.begin().await?;
        for e in events {
            if e.position != position + 1 {
                return Err(ProjectionError::Event {
                    position: position + 1,
                    reason: format!("expected position {}, got {}", position + 1, e.position),
                });
            }
            position = e.position;
            let fail = |reason: String| ProjectionError::Event {
                position: e.position,
                reason,
            };
            if let Some(id) = DocumentId::from_stream(&e.stream) {
                let event = DocumentEvent::decode(&e.event_type, e.schema_version, &e.payload)
                    .map_err(|err| fail(err.to_string()))?;
                let creates = matches!(
                    event,
                    DocumentEvent::Received { .. } | DocumentEvent::Drafted { .. }
                );
                let (prev_doc, in_db) = match cache.remove(&id) {
                    Some(c) => (Some(c.doc), c.in_db),
                    // A document's first event needs no earlier state.
                    None if creates => (None, false),
                    None => {
                        let stored = tx
                            .fetch_optional_text(
                                "SELECT state FROM documents WHERE id = $1",
                                &[Arg::T(id.to_string())],
                            )
                            .await?;
                        match stored {
                            Some(state) => (
                                Some(
                                    serde_json::from_str::<Document>(&state)
                                        .map_err(|err| fail(format!("stored state: {err}")))?,
                                ),
                                true,
                            ),
                            None => (None, false),
                        }
                    }
                };
                let next = evolve(prev_doc, &event)
                    .ok_or_else(|| fail(format!("{} before the document exists", e.event_type)))?;
                trail.push(TrailRow {
                    position: e.position,
                    document_id: id,
                    version: e.version,
                    actor: event.by().to_string(),
                    action: event.event_type(),
                    at: event.at().to_string(),
                    recorded_at: e.recorded_at,
                    summary: describe(&event),
                    hash: e.hash.clone(),
                });
                cache.insert(
                    id,
                    Cached {
                        doc: next,
                        version: e.version,
                        updated_at: event.at(),
                        in_db,
                    },
                );
                if dirty_set.insert(id) {
                    dirty.push(id);
                }
            } else if e.stream == directory::STREAM {
                let ev = DirectoryEvent::decode(&e.event_type, &e.payload)
                    .map_err(|err| fail(err.to_string()))?;
                if let DirectoryEvent::OfficialCreated { user, unit, .. }
                | DirectoryEvent::OfficialChanged { user, unit, .. } = &ev
                {
                    self.official_units
                        .insert(user.to_string(), unit.to_string());
                }
                directory_events.push(ev);
            } else if let Some(id) = Viewed::document_of(&e.stream) {
                let view: Viewed =
                    serde_json::from_str(&e.payload).map_err(|err| fail(err.to_string()))?;
                trail.push(TrailRow {
                    position: e.position,
                    document_id: id,
                    version: e.version,
                    actor: view.user.to_string(),
                    action: Viewed::EVENT_TYPE,
                    at: view.at.to_string(),
                    recorded_at: e.recorded_at,
                    summary: view.describe(),
                    hash: e.hash.clone(),
                });
            }
            // Register streams need no rows of their own: the registers are
            // derived from the document events that took the numbers. The
            // `auth` stream is read by the server itself.
        }
        for ev in &directory_events {
            write_directory(&mut tx, ev).await?;
        }
        let mut rows = Rows::default();
        for id in &dirty {
            if let Some(c) = cache.get(id) {
                rows.add(c, &self.official_units);
            }
        }
        rows.write(&mut tx).await?;
        write_trail(&mut tx, &trail).await?;
        let applied = self.applied + events.len() as u64;
        let checkpoints: Vec<Vec<Arg>> = NAMES
            .iter()
            .map(|name| {
                vec![
                    (*name).into(),
                    (position as i64).into(),
                    (applied as i64).into(),
                ]
            })
            .collect();
        insert(
            &mut tx,
            "checkpoints",
            "name, position, applied",
            Some("name"),
            &checkpoints,
        )
        .await?;
        tx.commit().await?;
        self.position = position;
        self.applied = applied;
        Ok(())
    }
}

async fn write_directory(tx: &mut Tx<'_>, ev: &DirectoryEvent) -> Result<(), sqlx::Error> {
    let (sql, args): (&str, Vec<Arg>) = match ev {
        DirectoryEvent::AgencyDefined {
            code,
            name,
            abbreviation,
            clerk_unit,
            ..
        } => (
            "INSERT INTO agency (id, code, name, abbreviation, clerk_unit) VALUES (1, $1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET code = excluded.code, name = excluded.name, \
             abbreviation = excluded.abbreviation, clerk_unit = excluded.clerk_unit",
            vec![
                code.as_str().into(),
                name.as_str().into(),
                abbreviation.as_str().into(),
                clerk_unit.as_str().into(),
            ],
        ),
        DirectoryEvent::UnitCreated { id, name, .. } => (
            "INSERT INTO units (id, name) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name",
            vec![id.as_str().into(), name.as_str().into()],
        ),
        DirectoryEvent::OfficialCreated {
            user,
            full_name,
            position,
            unit,
            roles,
            ..
        } => (
            "INSERT INTO officials (\"user\", full_name, position, unit, roles) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (\"user\") DO UPDATE SET full_name = excluded.full_name, \
             position = excluded.position, unit = excluded.unit, roles = excluded.roles",
            vec![
                user.as_str().into(),
                full_name.as_str().into(),
                position.as_str().into(),
                unit.as_str().into(),
                serde_json::to_string(roles).unwrap_or_default().into(),
            ],
        ),
        DirectoryEvent::UnitRenamed { id, name, .. } => (
            "UPDATE units SET name = $1 WHERE id = $2",
            vec![name.as_str().into(), id.as_str().into()],
        ),
        DirectoryEvent::OfficialChanged {
            user,
            full_name,
            position,
            unit,
            roles,
            ..
        } => (
            "UPDATE officials SET full_name = $1, position = $2, unit = $3, roles = $4 WHERE \"user\" = $5",
            vec![
                full_name.as_str().into(),
                position.as_str().into(),
                unit.as_str().into(),
                serde_json::to_string(roles).unwrap_or_default().into(),
                user.as_str().into(),
            ],
        ),
        DirectoryEvent::OfficialDeactivated { user, .. }
        | DirectoryEvent::OfficialReactivated { user, .. } => {
            let active = matches!(ev, DirectoryEvent::OfficialReactivated { .. });
            (
                "UPDATE officials SET active = $1 WHERE \"user\" = $2",
                vec![Arg::I(active.into()), user.as_str().into()],
            )
        }
        DirectoryEvent::PasswordSet {
            user,
            password_hash,
            ..
        } => (
            "UPDATE officials SET password_hash = $1 WHERE \"user\" = $2",
            vec![password_hash.as_str().into(), user.as_str().into()],
        ),
        DirectoryEvent::SigningTitlesSet { user, titles, .. } => (
            "UPDATE officials SET signing_titles = $1 WHERE \"user\" = $2",
            vec![
                serde_json::to_string(titles).unwrap_or_default().into(),
                user.as_str().into(),
            ],
        ),
    };
    tx.execute(sql, &args).await?;
    Ok(())
}

fn enum_str<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// The unit a row counts for in the statistics: a unit holder itself, or the
/// unit of the official holding it.
fn unit_of(holder: &Holder, official_units: &HashMap<String, String>) -> String {
    match holder {
        Holder::Unit(u) => u.to_string(),
        Holder::User(u) => official_units
            .get(u.as_str())
            .cloned()
            .unwrap_or_else(|| format!("user:{u}")),
    }
}

/// The rows one batch writes, table by table, so that each table takes a
/// few multi-row statements per batch rather than several per document.
#[derive(Default)]
struct Rows {
    /// Documents that existed before this batch: their old rows are deleted.
    replaced: Vec<String>,
    documents: Vec<Vec<Arg>>,
    location: Vec<Vec<Arg>>,
    inbox: Vec<Vec<Arg>>,
    stats: Vec<Vec<Arg>>,
    incoming_register: Vec<Vec<Arg>>,
    outgoing_register: Vec<Vec<Arg>>,
    access: Vec<Vec<Arg>>,
}

const DOCUMENT_COLUMNS: &str = "id, direction, status, document_type, number_notation, \
    issuer_code, issuer_name, issue_date, subject, urgency, secrecy, pages, arrival_number, \
    arrival_year, case_file, created_at, updated_at, version, search_text, state";
const LOCATION_COLUMNS: &str = "document_id, row_id, parent_row, holder_kind, holder_id, task, role, status, since, deadline, assigned_by";
const INBOX_COLUMNS: &str = "holder_kind, holder_id, document_id, row_id, task, role, status, since, \
    deadline, direction, number_notation, subject, urgency";
const ACCESS_COLUMNS: &str = "document_id, holder_kind, holder_id";
const STATS_COLUMNS: &str = "document_id, row_id, unit_id, holder, role, deadline, completed_on";
const INCOMING_COLUMNS: &str = "year, arrival_number, arrival_date, issuer, number_notation, \
    issue_date, type_and_subject, recipients, transferred_on, received_by, note, document_id";
const OUTGOING_COLUMNS: &str = "year, series, number, number_notation, issue_date, type_and_subject, \
    signer, recipients, filing_unit, copies, transferred_on, received_by, note, document_id";

impl Rows {
    fn add(&mut self, c: &Cached, official_units: &HashMap<String, String>) {
        let d = &c.doc;
        let id = d.id.to_string();
        if c.in_db {
            self.replaced.push(id.clone());
        }
        let m = &d.metadata;
        let nn = d.number_notation().map(|n| n.to_string());
        let subject = m.subject.as_str();
        let issuer_name = m.issuer.as_ref().map(|i| i.name.as_str().to_string());
        let search = fold_vietnamese(&format!(
            "{} {} {} {} {}",
            nn.as_deref().unwrap_or(""),
            subject,
            issuer_name.as_deref().unwrap_or(""),
            m.issuer.as_ref().map(|i| i.code.as_str()).unwrap_or(""),
            m.document_type.name_vi(),
        ));
        self.documents.push(vec![
            id.as_str().into(),
            enum_str(&d.direction).into(),
            d.status.as_str().into(),
            m.document_type.code().into(),
            nn.clone().into(),
            m.issuer.as_ref().map(|i| i.code.as_str()).into(),
            issuer_name.into(),
            m.issue_date.map(|x| x.to_string()).into(),
            subject.into(),
            m.urgency.code().into(),
            m.secrecy.code().into(),
            d.current_pdf()
                .map(|p| p.pages as i64)
                .or(m.pages.map(i64::from))
                .into(),
            d.arrival.as_ref().map(|a| a.number as i64).into(),
            d.arrival.as_ref().map(|a| a.year as i64).into(),
            d.case_file.as_ref().map(|f| f.code.as_str()).into(),
            d.created_at.to_string().into(),
            c.updated_at.to_string().into(),
            (c.version as i64).into(),
            search.into(),
            serde_json::to_string(d).unwrap_or_default().into(),
        ]);
        for r in d.open_rows() {
            self.location.push(vec![
                id.as_str().into(),
                (r.id.0 as i64).into(),
                r.parent.map(|p| p.0 as i64).into(),
                r.holder.kind().into(),
                r.holder.id().into(),
                enum_str(&r.task).into(),
                r.role.map(|x| enum_str(&x)).into(),
                enum_str(&r.status).into(),
                r.since.to_string().into(),
                r.deadline.map(|x| x.to_string()).into(),
                r.assigned_by.as_str().into(),
            ]);
            self.inbox.push(vec![
                r.holder.kind().into(),
                r.holder.id().into(),
                id.as_str().into(),
                (r.id.0 as i64).into(),
                enum_str(&r.task).into(),
                r.role.map(|x| enum_str(&x)).into(),
                enum_str(&r.status).into(),
                r.since.to_string().into(),
                r.deadline.map(|x| x.to_string()).into(),
                enum_str(&d.direction).into(),
                nn.clone().into(),
                subject.into(),
                m.urgency.code().into(),
            ]);
        }
        // access: every holder the document was ever routed to, and its creator.
        let mut seen: HashSet<(&str, &str)> = HashSet::new();
        let holders = std::iter::once(("user", d.created_by.as_str()))
            .chain(d.rows.iter().map(|r| (r.holder.kind(), r.holder.id())));
        for (kind, holder) in holders {
            if seen.insert((kind, holder)) {
                self.access
                    .push(vec![id.as_str().into(), kind.into(), holder.into()]);
            }
        }
        // stats: completed lead / coordinate handling rows.
        for r in d.rows.iter().filter(|r| {
            r.task == Task::Handle
                && matches!(r.role, Some(Role::Lead | Role::Coordinate))
                && r.status == RowStatus::Completed
        }) {
            let Some(done) = r.completed_at else { continue };
            self.stats.push(vec![
                id.as_str().into(),
                (r.id.0 as i64).into(),
                unit_of(&r.holder, official_units).into(),
                r.holder.to_string().into(),
                r.role.map(|x| enum_str(&x)).unwrap_or_default().into(),
                r.deadline.map(|x| x.to_string()).into(),
                agency_date(done).to_string().into(),
            ]);
        }
        self.add_registers(d, &id, &nn);
    }

    fn add_registers(&mut self, d: &Document, id: &str, nn: &Option<String>) {
        let m = &d.metadata;
        let type_and_subject = format!("{}: {}", m.document_type.name_vi(), m.subject.as_str());
        let mut note = Vec::new();
        if m.secrecy.is_secret() {
            note.push(m.secrecy.name_vi().to_string());
        }
        if m.urgency.is_urgent() {
            note.push(m.urgency.name_vi().to_string());
        }
        if d.status == crate::domain::Status::Recalled {
            note.push("Thu hồi".to_string());
        }
        match d.direction {
            Direction::Incoming => {
                let Some(a) = &d.arrival else { return };
                // Recipients: the direction's rows, or the leader it awaits.
                let direction_row = d.rows.iter().find(|r| r.task == Task::Direct);
                let assigned: Vec<String> = direction_row
                    .map(|dr| {
                        d.children(dr.id)
                            .map(|r| format!("{} ({})", r.holder.id(), enum_str(&r.role)))
                            .collect()
                    })
                    .unwrap_or_default();
                let recipients = match (assigned.is_empty(), direction_row) {
                    (false, _) => assigned.join("; "),
                    (true, Some(dr)) => dr.holder.id().to_string(),
                    (true, None) => String::new(),
                };
                // Ngày chuyển: when the clerk handed the document on (the submission).
                let transferred = d
                    .rows
                    .iter()
                    .find(|r| r.task == Task::Submit && r.status == RowStatus::Forwarded)
                    .map(|r| agency_date(r.since).to_string());
                let received_by = direction_row
                    .map(|r| r.holder.id().to_string())
                    .unwrap_or_default();
                self.incoming_register.push(vec![
                    (a.year as i64).into(),
                    (a.number as i64).into(),
                    a.date.to_string().into(),
                    m.issuer
                        .as_ref()
                        .map(|i| i.name.as_str())
                        .unwrap_or("")
                        .into(),
                    nn.clone().into(),
                    m.issue_date.map(|x| x.to_string()).into(),
                    type_and_subject.into(),
                    recipients.into(),
                    transferred.into(),
                    received_by.into(),
                    note.join("; ").into(),
                    id.into(),
                ]);
            }
            Direction::Outgoing => {
                let Some(i) = &d.issued else { return };
                let dispatch = d.rows.iter().find(|r| r.task == Task::Dispatch);
                let units: Vec<String> = dispatch
                    .map(|dr| {
                        d.children(dr.id)
                            .map(|r| r.holder.id().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                let mut recipients: Vec<String> = m
                    .recipients
                    .iter()
                    .map(|r| r.as_str().to_string())
                    .collect();
                recipients.extend(units.iter().cloned());
                let transferred = dispatch
                    .filter(|r| r.status == RowStatus::Completed)
                    .and_then(|r| r.completed_at)
                    .map(|t| agency_date(t).to_string());
                self.outgoing_register.push(vec![
                    (i.year as i64).into(),
                    enum_str(&i.series).into(),
                    (i.number_notation.number().get() as i64).into(),
                    i.number_notation.to_string().into(),
                    i.issue_date.to_string().into(),
                    type_and_subject.into(),
                    m.signer
                        .as_ref()
                        .map(|s| format!("{} {}", s.position.as_str(), s.full_name.as_str()))
                        .unwrap_or_default()
                        .into(),
                    recipients.join("; ").into(),
                    d.drafting_unit
                        .as_ref()
                        .map(|u| u.as_str())
                        .unwrap_or("")
                        .into(),
                    (recipients.len().max(1) as i64).into(),
                    transferred.into(),
                    units.join("; ").into(),
                    note.join("; ").into(),
                    id.into(),
                ]);
            }
        }
    }

    async fn write(self, tx: &mut Tx<'_>) -> Result<(), sqlx::Error> {
        for table in ["location", "inbox", "stats", "access"] {
            for chunk in self.replaced.chunks(500) {
                let sql = format!(
                    "DELETE FROM {table} WHERE document_id IN ({})",
                    placeholders(1, chunk.len())
                );
                let args: Vec<Arg> = chunk.iter().map(|id| id.as_str().into()).collect();
                tx.execute(&sql, &args).await?;
            }
        }
        insert(
            tx,
            "documents",
            DOCUMENT_COLUMNS,
            Some("id"),
            &self.documents,
        )
        .await?;
        insert(tx, "location", LOCATION_COLUMNS, None, &self.location).await?;
        insert(tx, "inbox", INBOX_COLUMNS, None, &self.inbox).await?;
        insert(tx, "stats", STATS_COLUMNS, None, &self.stats).await?;
        insert(tx, "access", ACCESS_COLUMNS, None, &self.access).await?;
        insert(
            tx,
            "incoming_register",
            INCOMING_COLUMNS,
            Some("year, arrival_number"),
            &self.incoming_register,
        )
        .await?;
        insert(
            tx,
            "outgoing_register",
            OUTGOING_COLUMNS,
            Some("year, series, number"),
            &self.outgoing_register,
        )
        .await
    }
}

/// Multi-row INSERT (an upsert on `key` when given), chunked below SQLite's
/// limit on bound parameters.
async fn insert(
    tx: &mut Tx<'_>,
    table: &str,
    columns: &str,
    key: Option<&str>,
    rows: &[Vec<Arg>],
) -> Result<(), sqlx::Error> {
    let width = rows.first().map(Vec::len).unwrap_or(1).max(1);
    let tail = key.map(|k| upsert(k, columns)).unwrap_or_default();
    for chunk in rows.chunks((30_000 / width).max(1)) {
        let sql = insert_values(table, columns, width, chunk.len(), &tail);
        let args: Vec<Arg> = chunk.iter().flatten().cloned().collect();
        tx.execute(&sql, &args).await?;
    }
    Ok(())
}

const TRAIL_COLUMNS: &str =
    "position, document_id, version, actor, action, at, recorded_at, summary, hash";

async fn write_trail(tx: &mut Tx<'_>, rows: &[TrailRow]) -> Result<(), sqlx::Error> {
    let rows: Vec<Vec<Arg>> = rows
        .iter()
        .map(|t| {
            vec![
                (t.position as i64).into(),
                t.document_id.to_string().into(),
                (t.version as i64).into(),
                t.actor.as_str().into(),
                t.action.into(),
                t.at.as_str().into(),
                t.recorded_at.into(),
                t.summary.as_str().into(),
                t.hash.as_str().into(),
            ]
        })
        .collect();
    insert(tx, "trail", TRAIL_COLUMNS, None, &rows).await
}
