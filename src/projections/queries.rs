//! Reads of the projections. "Overdue" and "due soon" are computed here, from
//! the deadline and today's date, never stored.

use crate::db::Pool;
use crate::with_pool;
use jiff::civil::Date;
use serde::Serialize;

use crate::domain::calendar::WorkingCalendar;
use crate::domain::directory::SigningTitle;
use crate::domain::model::{Document, DocumentId, Holder, OfficialRole};

/// Working days before a deadline from which a row is "due soon".
pub const DUE_SOON_WORKING_DAYS: i64 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Deadline {
    pub deadline: Option<Date>,
    /// Today is after the deadline.
    pub overdue: bool,
    /// Not overdue, and at most two working days remain.
    pub due_soon: bool,
}

impl Deadline {
    pub fn compute(deadline: Option<Date>, today: Date, calendar: &WorkingCalendar) -> Self {
        let overdue = deadline.is_some_and(|d| today > d);
        let due_soon = !overdue
            && deadline
                .is_some_and(|d| calendar.working_days_between(today, d) <= DUE_SOON_WORKING_DAYS);
        Deadline {
            deadline,
            overdue,
            due_soon,
        }
    }
}

fn parse_date(s: Option<String>) -> Option<Date> {
    s.and_then(|s| s.parse().ok())
}

/// One open recipient row: where the document sits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct LocationRow {
    pub row: u32,
    pub holder_kind: String,
    pub holder_id: String,
    pub task: String,
    pub role: Option<String>,
    pub status: String,
    pub since: String,
    #[serde(flatten)]
    pub deadline: Deadline,
    pub assigned_by: String,
}

type LocationTuple = (
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    String,
);

pub async fn location(
    pool: &Pool,
    id: DocumentId,
    today: Date,
    calendar: &WorkingCalendar,
) -> Result<Vec<LocationRow>, sqlx::Error> {
    let rows: Vec<LocationTuple> = with_pool!(pool, p => sqlx::query_as(
        "SELECT row_id, holder_kind, holder_id, task, role, status, since, deadline, assigned_by \
         FROM location WHERE document_id = $1 ORDER BY row_id",
    )
    .bind(id.to_string())
    .fetch_all(p)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|r| LocationRow {
            row: r.0 as u32,
            holder_kind: r.1,
            holder_id: r.2,
            task: r.3,
            role: r.4,
            status: r.5,
            since: r.6,
            deadline: Deadline::compute(parse_date(r.7), today, calendar),
            assigned_by: r.8,
        })
        .collect())
}

/// The folded state of a document and its stream version, as projected.
pub async fn document(pool: &Pool, id: DocumentId) -> Result<Option<(Document, u64)>, sqlx::Error> {
    let row: Option<(String, i64)> = with_pool!(pool, p => sqlx::query_as("SELECT state, version FROM documents WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(p)
            .await)?;
    Ok(row.and_then(|(s, v)| serde_json::from_str(&s).ok().map(|d| (d, v as u64))))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct InboxRow {
    pub document_id: String,
    pub row: u32,
    pub task: String,
    pub role: Option<String>,
    pub status: String,
    pub since: String,
    #[serde(flatten)]
    pub deadline: Deadline,
    pub direction: String,
    pub number_notation: Option<String>,
    pub subject: String,
    pub urgency: String,
}

/// An inbox row as SQLite hands it over (see [`inbox`]).
#[derive(serde::Deserialize)]
struct InboxRaw {
    document_id: String,
    row: u32,
    task: String,
    role: Option<String>,
    status: String,
    since: String,
    deadline: Option<Date>,
    direction: String,
    number_notation: Option<String>,
    subject: String,
    urgency: String,
}

/// What a holder holds now: overdue first, then by deadline (none last), then oldest first.
pub async fn inbox(
    pool: &Pool,
    holder: &Holder,
    today: Date,
    calendar: &WorkingCalendar,
) -> Result<Vec<InboxRow>, sqlx::Error> {
    // One JSON array instead of one row per item: sqlx hands each row over
    // from its connection thread, which cost more than the query itself.
    let json: Option<String> = match pool {
        Pool::Sqlite(p) => {
            sqlx::query_scalar(
                "SELECT json_group_array(json_object('document_id', document_id, 'row', row_id, \
                   'task', task, 'role', role, 'status', status, 'since', since, 'deadline', deadline, \
                   'direction', direction, 'number_notation', number_notation, 'subject', subject, \
                   'urgency', urgency)) \
                 FROM (SELECT * FROM inbox WHERE holder_kind = $1 AND holder_id = $2 \
                       ORDER BY deadline IS NULL, deadline, since)",
            )
            .bind(holder.kind())
            .bind(holder.id())
            .fetch_one(p)
            .await?
        }
        Pool::Postgres(p) => {
            sqlx::query_scalar(
                "SELECT CAST(json_agg(json_build_object('document_id', document_id, 'row', row_id, \
                   'task', task, 'role', role, 'status', status, 'since', since, 'deadline', deadline, \
                   'direction', direction, 'number_notation', number_notation, 'subject', subject, \
                   'urgency', urgency) ORDER BY deadline IS NULL, deadline, since) AS TEXT) \
                 FROM inbox WHERE holder_kind = $1 AND holder_id = $2",
            )
            .bind(holder.kind())
            .bind(holder.id())
            .fetch_one(p)
            .await?
        }
    };
    let rows: Vec<InboxRaw> = serde_json::from_str(json.as_deref().unwrap_or("[]"))
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let mut out: Vec<InboxRow> = rows
        .into_iter()
        .map(|r| InboxRow {
            document_id: r.document_id,
            row: r.row,
            task: r.task,
            role: r.role,
            status: r.status,
            since: r.since,
            deadline: Deadline::compute(r.deadline, today, calendar),
            direction: r.direction,
            number_notation: r.number_notation,
            subject: r.subject,
            urgency: r.urgency,
        })
        .collect();
    // Stable: keeps the deadline order within each group.
    out.sort_by_key(|r| !r.deadline.overdue);
    Ok(out)
}

/// Sổ văn bản đến, Decree 30 appendix IV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct IncomingRegisterRow {
    pub arrival_date: String,
    pub arrival_number: i64,
    pub issuer: String,
    pub number_notation: Option<String>,
    pub issue_date: Option<String>,
    pub type_and_subject: String,
    pub recipients: String,
    pub transferred_on: Option<String>,
    pub received_by: String,
    pub note: String,
    pub document_id: String,
}

pub async fn incoming_register(
    pool: &Pool,
    year: i16,
) -> Result<Vec<IncomingRegisterRow>, sqlx::Error> {
    with_pool!(pool, p => sqlx::query_as(
        "SELECT arrival_date, arrival_number, issuer, number_notation, issue_date, type_and_subject, \
         recipients, transferred_on, received_by, note, document_id \
         FROM incoming_register WHERE year = $1 ORDER BY arrival_number",
    )
    .bind(year as i64)
    .fetch_all(p)
    .await)
}

/// Sổ văn bản đi, Decree 30 appendix IV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct OutgoingRegisterRow {
    pub series: String,
    pub number: i64,
    pub number_notation: String,
    pub issue_date: String,
    pub type_and_subject: String,
    pub signer: String,
    pub recipients: String,
    pub filing_unit: String,
    pub copies: i64,
    pub transferred_on: Option<String>,
    pub received_by: String,
    pub note: String,
    pub document_id: String,
}

pub async fn outgoing_register(
    pool: &Pool,
    year: i16,
) -> Result<Vec<OutgoingRegisterRow>, sqlx::Error> {
    with_pool!(pool, p => sqlx::query_as(
        "SELECT series, number, number_notation, issue_date, type_and_subject, signer, recipients, \
         filing_unit, copies, transferred_on, received_by, note, document_id \
         FROM outgoing_register WHERE year = $1 ORDER BY series, number",
    )
    .bind(year as i64)
    .fetch_all(p)
    .await)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct TrailRow {
    pub position: i64,
    pub version: i64,
    pub actor: String,
    pub action: String,
    pub at: String,
    pub summary: String,
    pub hash: String,
}

pub async fn trail(pool: &Pool, id: DocumentId) -> Result<Vec<TrailRow>, sqlx::Error> {
    with_pool!(pool, p => sqlx::query_as(
        "SELECT position, version, actor, action, at, summary, hash FROM trail \
         WHERE document_id = $1 ORDER BY position",
    )
    .bind(id.to_string())
    .fetch_all(p)
    .await)
}

/// Early / on time / late per unit for rows completed in [from, to].
///
/// Definitions (a "handling row" is a lead or coordinating assignment):
/// - early: completed on a date before its deadline;
/// - on time: completed on its deadline date;
/// - late: completed after its deadline date;
/// - no deadline: completed, but it had no deadline;
/// - overdue (open): still open today and today is after its deadline —
///   computed now, not stored.
///
/// Dates are calendar dates in Vietnam (UTC+07:00). A row held by an official
/// counts for the official's unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct UnitStats {
    pub unit: String,
    pub early: i64,
    pub on_time: i64,
    pub late: i64,
    pub no_deadline: i64,
    pub overdue_open: i64,
}

pub async fn stats(
    pool: &Pool,
    from: Date,
    to: Date,
    unit: Option<&str>,
    today: Date,
) -> Result<Vec<UnitStats>, sqlx::Error> {
    let rows: Vec<(String, i64, i64, i64, i64)> = with_pool!(pool, p => sqlx::query_as(
        "SELECT unit_id, \
           SUM(CASE WHEN completed_on < deadline THEN 1 ELSE 0 END), \
           SUM(CASE WHEN completed_on = deadline THEN 1 ELSE 0 END), \
           SUM(CASE WHEN completed_on > deadline THEN 1 ELSE 0 END), \
           SUM(CASE WHEN deadline IS NULL THEN 1 ELSE 0 END) \
         FROM stats WHERE completed_on >= $1 AND completed_on <= $2 AND ($3 IS NULL OR unit_id = $3) \
         GROUP BY unit_id ORDER BY unit_id",
    )
    .bind(from.to_string())
    .bind(to.to_string())
    .bind(unit)
    .bind(unit)
    .fetch_all(p)
    .await)?;
    let overdue: Vec<(String, i64)> = with_pool!(pool, p => sqlx::query_as(
        "SELECT COALESCE(o.unit, CASE l.holder_kind WHEN 'unit' THEN l.holder_id ELSE 'user:' || l.holder_id END) AS u, COUNT(*) \
         FROM location l LEFT JOIN officials o ON l.holder_kind = 'user' AND o.\"user\" = l.holder_id \
         WHERE l.task = 'handle' AND l.role IN ('lead', 'coordinate') AND l.deadline < $1 \
         GROUP BY u",
    )
    .bind(today.to_string())
    .fetch_all(p)
    .await)?;
    let mut out: Vec<UnitStats> = rows
        .into_iter()
        .map(|r| UnitStats {
            unit: r.0,
            early: r.1,
            on_time: r.2,
            late: r.3,
            no_deadline: r.4,
            overdue_open: 0,
        })
        .collect();
    for (u, n) in overdue {
        if unit.is_some_and(|x| x != u) {
            continue;
        }
        match out.iter_mut().find(|s| s.unit == u) {
            Some(s) => s.overdue_open = n,
            None => out.push(UnitStats {
                unit: u,
                early: 0,
                on_time: 0,
                late: 0,
                no_deadline: 0,
                overdue_open: n,
            }),
        }
    }
    out.sort_by(|a, b| a.unit.cmp(&b.unit));
    Ok(out)
}

/// Registered incoming documents with the same issuer, number and notation.
pub async fn duplicates(
    pool: &Pool,
    issuer_code: &str,
    number_notation: &str,
) -> Result<Vec<DocumentId>, sqlx::Error> {
    let ids: Vec<String> = with_pool!(pool, p => sqlx::query_scalar(
        "SELECT id FROM documents WHERE direction = 'incoming' AND issuer_code = $1 \
         AND number_notation = $2 AND arrival_number IS NOT NULL ORDER BY created_at",
    )
    .bind(issuer_code)
    .bind(number_notation)
    .fetch_all(p)
    .await)?;
    Ok(ids
        .into_iter()
        .filter_map(|s| uuid::Uuid::parse_str(&s).ok().map(DocumentId))
        .collect())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Official {
    pub user: String,
    pub full_name: String,
    pub position: String,
    pub unit: String,
    pub roles: Vec<OfficialRole>,
    pub active: bool,
    pub signing_titles: Vec<SigningTitle>,
}

type OfficialTuple = (String, String, String, String, String, bool, String);

fn official_of(r: OfficialTuple) -> Official {
    Official {
        user: r.0,
        full_name: r.1,
        position: r.2,
        unit: r.3,
        roles: serde_json::from_str(&r.4).unwrap_or_default(),
        active: r.5,
        signing_titles: serde_json::from_str(&r.6).unwrap_or_default(),
    }
}

const OFFICIAL_COLUMNS: &str =
    "\"user\", full_name, position, unit, roles, active <> 0 AS active, signing_titles";

pub async fn official(pool: &Pool, user: &str) -> Result<Option<Official>, sqlx::Error> {
    let row: Option<OfficialTuple> = with_pool!(pool, p => sqlx::query_as(&format!(
        "SELECT {OFFICIAL_COLUMNS} FROM officials WHERE \"user\" = $1"
    ))
    .bind(user)
    .fetch_optional(p)
    .await)?;
    Ok(row.map(official_of))
}

/// Every official, by user name.
pub async fn officials(pool: &Pool) -> Result<Vec<Official>, sqlx::Error> {
    let rows: Vec<OfficialTuple> = with_pool!(pool, p => sqlx::query_as(&format!(
        "SELECT {OFFICIAL_COLUMNS} FROM officials ORDER BY \"user\""
    ))
    .fetch_all(p)
    .await)?;
    Ok(rows.into_iter().map(official_of).collect())
}

/// An official's password hash (PHC string), if one was set.
pub async fn password_hash(pool: &Pool, user: &str) -> Result<Option<String>, sqlx::Error> {
    let row: Option<Option<String>> = with_pool!(pool, p => sqlx::query_scalar("SELECT password_hash FROM officials WHERE \"user\" = $1")
            .bind(user)
            .fetch_optional(p)
            .await)?;
    Ok(row.flatten())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Unit {
    pub id: String,
    pub name: String,
}

pub async fn units(pool: &Pool) -> Result<Vec<Unit>, sqlx::Error> {
    with_pool!(pool, p => sqlx::query_as("SELECT id, name FROM units ORDER BY id")
        .fetch_all(p)
        .await)
}

/// The officials of a unit.
pub async fn unit_members(pool: &Pool, unit: &str) -> Result<Vec<String>, sqlx::Error> {
    with_pool!(pool, p => sqlx::query_scalar("SELECT \"user\" FROM officials WHERE unit = $1 ORDER BY \"user\"")
        .bind(unit)
        .fetch_all(p)
        .await)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Agency {
    pub code: String,
    pub name: String,
    pub abbreviation: String,
    pub clerk_unit: String,
}

pub async fn agency(pool: &Pool) -> Result<Option<Agency>, sqlx::Error> {
    with_pool!(pool, p => sqlx::query_as("SELECT code, name, abbreviation, clerk_unit FROM agency WHERE id = 1")
        .fetch_optional(p)
        .await)
}

/// Every projection table's rows in a canonical text form, the same on
/// both backends: two read models whose dumps are equal hold the same rows
/// (used to prove rebuild = live, and SQLite = PostgreSQL after a migration).
pub async fn dump(pool: &Pool) -> Result<String, sqlx::Error> {
    let mut out = String::new();
    for table in super::TABLES.iter().chain(&["checkpoints"]) {
        let columns = pool.columns(table).await?;
        let select: Vec<String> = columns
            .iter()
            .map(|c| format!("CAST(\"{c}\" AS TEXT)"))
            .collect();
        let mut rows: Vec<String> = pool
            .text_rows(&format!("SELECT {} FROM {table}", select.join(", ")))
            .await?
            .into_iter()
            .map(|r| serde_json::Value::from(r).to_string())
            .collect();
        // Sorted here, not by the database: the backends' collations differ.
        rows.sort_unstable();
        out.push_str(&format!("## {table} ({} rows)\n", rows.len()));
        out.push_str(&format!("# {}\n", columns.join(", ")));
        for r in rows {
            out.push_str(&r);
            out.push('\n');
        }
    }
    Ok(out)
}
