//! The projector: applies the log to the read models, batch by batch.

use std::collections::{HashMap, HashSet};

use sqlx::{Connection, QueryBuilder, SqliteConnection};
use tokio::sync::watch;

use super::{NAMES, ProjectionError};
use crate::domain::access::Viewed;
use crate::domain::directory::{self, DirectoryEvent};
use crate::domain::events::describe;
use crate::domain::model::{Direction, Document, DocumentId, Holder, Role, RowStatus, Task};
use crate::domain::values::fold_vietnamese;
use crate::domain::{DocumentEvent, decide::agency_date, evolve};
use crate::store::{EventStore, RecordedEvent, Subscription};

pub struct Projector {
    conn: SqliteConnection,
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
    pub async fn load(mut conn: SqliteConnection) -> Result<Self, ProjectionError> {
        let rows: Vec<(String, i64, i64)> =
            sqlx::query_as("SELECT name, position, applied FROM checkpoints")
                .fetch_all(&mut conn)
                .await?;
        // All projections move together; the smallest checkpoint is where to resume.
        let (position, applied) = if rows.len() == NAMES.len() {
            let min = rows.iter().min_by_key(|r| r.1).map(|r| (r.1, r.2));
            min.map(|(p, a)| (p as u64, a as u64)).unwrap_or((0, 0))
        } else {
            (0, 0)
        };
        let official_units =
            sqlx::query_as::<_, (String, String)>("SELECT user, unit FROM officials")
                .fetch_all(&mut conn)
                .await?
                .into_iter()
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
                        let stored: Option<String> =
                            sqlx::query_scalar("SELECT state FROM documents WHERE id = ?")
                                .bind(id.to_string())
                                .fetch_optional(&mut *tx)
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
        for name in NAMES {
            sqlx::query(
                "INSERT INTO checkpoints (name, position, applied) VALUES (?, ?, ?) \
                 ON CONFLICT (name) DO UPDATE SET position = excluded.position, applied = excluded.applied",
            )
            .bind(*name)
            .bind(position as i64)
            .bind(applied as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.position = position;
        self.applied = applied;
        Ok(())
    }
}

async fn write_directory(
    tx: &mut SqliteConnection,
    ev: &DirectoryEvent,
) -> Result<(), sqlx::Error> {
    match ev {
        DirectoryEvent::AgencyDefined {
            code,
            name,
            abbreviation,
            clerk_unit,
            ..
        } => {
            sqlx::query(
                "INSERT OR REPLACE INTO agency (id, code, name, abbreviation, clerk_unit) VALUES (1, ?, ?, ?, ?)",
            )
            .bind(code.as_str())
            .bind(name.as_str())
            .bind(abbreviation)
            .bind(clerk_unit.as_str())
            .execute(&mut *tx)
            .await?;
        }
        DirectoryEvent::UnitCreated { id, name, .. } => {
            sqlx::query("INSERT OR REPLACE INTO units (id, name) VALUES (?, ?)")
                .bind(id.as_str())
                .bind(name.as_str())
                .execute(&mut *tx)
                .await?;
        }
        DirectoryEvent::OfficialCreated {
            user,
            full_name,
            position,
            unit,
            roles,
            ..
        } => {
            sqlx::query(
                "INSERT OR REPLACE INTO officials (user, full_name, position, unit, roles) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(user.as_str())
            .bind(full_name.as_str())
            .bind(position.as_str())
            .bind(unit.as_str())
            .bind(serde_json::to_string(roles).unwrap_or_default())
            .execute(&mut *tx)
            .await?;
        }
        DirectoryEvent::UnitRenamed { id, name, .. } => {
            sqlx::query("UPDATE units SET name = ? WHERE id = ?")
                .bind(name.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        DirectoryEvent::OfficialChanged {
            user,
            full_name,
            position,
            unit,
            roles,
            ..
        } => {
            sqlx::query(
                "UPDATE officials SET full_name = ?, position = ?, unit = ?, roles = ? WHERE user = ?",
            )
            .bind(full_name.as_str())
            .bind(position.as_str())
            .bind(unit.as_str())
            .bind(serde_json::to_string(roles).unwrap_or_default())
            .bind(user.as_str())
            .execute(&mut *tx)
            .await?;
        }
        DirectoryEvent::OfficialDeactivated { user, .. }
        | DirectoryEvent::OfficialReactivated { user, .. } => {
            let active = matches!(ev, DirectoryEvent::OfficialReactivated { .. });
            sqlx::query("UPDATE officials SET active = ? WHERE user = ?")
                .bind(active)
                .bind(user.as_str())
                .execute(&mut *tx)
                .await?;
        }
        DirectoryEvent::PasswordSet {
            user,
            password_hash,
            ..
        } => {
            sqlx::query("UPDATE officials SET password_hash = ? WHERE user = ?")
                .bind(password_hash)
                .bind(user.as_str())
                .execute(&mut *tx)
                .await?;
        }
        DirectoryEvent::SigningTitlesSet { user, titles, .. } => {
            sqlx::query("UPDATE officials SET signing_titles = ? WHERE user = ?")
                .bind(serde_json::to_string(titles).unwrap_or_default())
                .bind(user.as_str())
                .execute(&mut *tx)
                .await?;
        }
    }
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

/// One value of a projection row.
enum V {
    I(i64),
    T(String),
    N,
}

impl From<i64> for V {
    fn from(v: i64) -> Self {
        V::I(v)
    }
}

impl From<String> for V {
    fn from(v: String) -> Self {
        V::T(v)
    }
}

impl From<&str> for V {
    fn from(v: &str) -> Self {
        V::T(v.to_string())
    }
}

impl<T: Into<V>> From<Option<T>> for V {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(V::N)
    }
}

/// The rows one batch writes, table by table, so that each table takes a
/// few multi-row statements per batch rather than several per document.
#[derive(Default)]
struct Rows {
    /// Documents that existed before this batch: their old rows are deleted.
    replaced: Vec<String>,
    documents: Vec<Vec<V>>,
    location: Vec<Vec<V>>,
    inbox: Vec<Vec<V>>,
    stats: Vec<Vec<V>>,
    incoming_register: Vec<Vec<V>>,
    outgoing_register: Vec<Vec<V>>,
    access: Vec<Vec<V>>,
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

    async fn write(self, tx: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        for table in ["location", "inbox", "stats", "access"] {
            for chunk in self.replaced.chunks(500) {
                let mut q =
                    QueryBuilder::new(format!("DELETE FROM {table} WHERE document_id IN ("));
                let mut sep = q.separated(", ");
                for id in chunk {
                    sep.push_bind(id);
                }
                q.push(")");
                q.build().execute(&mut *tx).await?;
            }
        }
        insert(
            tx,
            "INSERT OR REPLACE INTO documents",
            DOCUMENT_COLUMNS,
            &self.documents,
        )
        .await?;
        insert(tx, "INSERT INTO location", LOCATION_COLUMNS, &self.location).await?;
        insert(tx, "INSERT INTO inbox", INBOX_COLUMNS, &self.inbox).await?;
        insert(tx, "INSERT INTO stats", STATS_COLUMNS, &self.stats).await?;
        insert(tx, "INSERT INTO access", ACCESS_COLUMNS, &self.access).await?;
        insert(
            tx,
            "INSERT OR REPLACE INTO incoming_register",
            INCOMING_COLUMNS,
            &self.incoming_register,
        )
        .await?;
        insert(
            tx,
            "INSERT OR REPLACE INTO outgoing_register",
            OUTGOING_COLUMNS,
            &self.outgoing_register,
        )
        .await
    }
}

/// Multi-row INSERT, chunked below SQLite's limit on bound parameters.
async fn insert(
    tx: &mut SqliteConnection,
    head: &str,
    columns: &str,
    rows: &[Vec<V>],
) -> Result<(), sqlx::Error> {
    let width = rows.first().map(Vec::len).unwrap_or(1).max(1);
    for chunk in rows.chunks((30_000 / width).max(1)) {
        let mut q = QueryBuilder::new(format!("{head} ({columns}) "));
        q.push_values(chunk, |mut b, row| {
            for v in row {
                match v {
                    V::I(i) => b.push_bind(*i),
                    V::T(t) => b.push_bind(t.as_str()),
                    V::N => b.push_bind(None::<i64>),
                };
            }
        });
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}

async fn write_trail(tx: &mut SqliteConnection, rows: &[TrailRow]) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(500) {
        let mut q = QueryBuilder::new(
            "INSERT INTO trail (position, document_id, version, actor, action, at, recorded_at, summary, hash) ",
        );
        q.push_values(chunk, |mut b, t| {
            b.push_bind(t.position as i64)
                .push_bind(t.document_id.to_string())
                .push_bind(t.version as i64)
                .push_bind(&t.actor)
                .push_bind(t.action)
                .push_bind(&t.at)
                .push_bind(t.recorded_at)
                .push_bind(&t.summary)
                .push_bind(&t.hash);
        });
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}
