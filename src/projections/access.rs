//! Who may see which document, and the document list (search).
//!
//! The rule (one place; the HTTP layer asks here):
//! - a document was routed to the viewer, or to the viewer's unit, or the
//!   viewer created it (the `access` projection keeps every holder ever);
//! - or the viewer's role covers the whole agency — clerk, leader, auditor —
//!   and the document is not secret;
//! - a secret document is visible to its named recipients (above), the clerk
//!   who registered it (its creator) and the agency's leaders. An auditor
//!   reads a secret document's trail, never its content (see `Sight`).

use crate::db::Pool;
use crate::with_pool;
use jiff::civil::Date;
use serde::Serialize;

use crate::domain::model::{DocumentId, OfficialRole};
use crate::domain::values::fold_vietnamese;

/// Who is looking.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub user: String,
    pub unit: String,
    pub roles: Vec<OfficialRole>,
}

impl Viewer {
    fn has(&self, r: OfficialRole) -> bool {
        self.roles.contains(&r)
    }

    /// Sees every document that is not secret.
    pub fn agency_wide(&self) -> bool {
        self.has(OfficialRole::Clerk)
            || self.has(OfficialRole::Leader)
            || self.has(OfficialRole::Auditor)
    }
}

/// How much of one document a viewer may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sight {
    /// Nothing: the document's existence is not revealed.
    None,
    /// The trail only (an auditor on a secret document).
    TrailOnly,
    Full,
}

/// How much of document `id` the viewer may see; `None` also when the
/// document does not exist.
pub async fn sight(pool: &Pool, id: DocumentId, viewer: &Viewer) -> Result<Sight, sqlx::Error> {
    let row: Option<(String, bool)> = with_pool!(pool, p => sqlx::query_as(
        "SELECT d.secrecy, EXISTS (SELECT 1 FROM access a WHERE a.document_id = d.id AND \
           ((a.holder_kind = 'user' AND a.holder_id = $1) OR (a.holder_kind = 'unit' AND a.holder_id = $2))) \
         FROM documents d WHERE d.id = $3",
    )
    .bind(&viewer.user)
    .bind(&viewer.unit)
    .bind(id.to_string())
    .fetch_optional(p)
    .await)?;
    let Some((secrecy, routed)) = row else {
        return Ok(Sight::None);
    };
    let secret = secrecy != "normal";
    Ok(
        if routed || viewer.has(OfficialRole::Leader) || (!secret && viewer.agency_wide()) {
            Sight::Full
        } else if viewer.has(OfficialRole::Auditor) {
            Sight::TrailOnly
        } else {
            Sight::None
        },
    )
}

/// The filters of the document list.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub status: Option<String>,
    /// Documents where the viewer (or their unit) holds an open row with this role.
    pub role: Option<String>,
    /// Documents with (true) or without (false) an open row past its deadline.
    pub overdue: Option<bool>,
    /// Matches number, notation, subject and issuer, ignoring case and diacritics.
    pub q: Option<String>,
    /// The registration year of incoming documents, else the issue year, else
    /// the year the document was created.
    pub year: Option<i16>,
    /// Continue after this document (the last of the previous page).
    pub after: Option<(String, String)>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct DocumentSummary {
    pub id: String,
    pub direction: String,
    pub status: String,
    pub document_type: String,
    pub number_notation: Option<String>,
    pub issuer_name: Option<String>,
    pub issue_date: Option<String>,
    pub subject: String,
    pub urgency: String,
    pub secrecy: String,
    pub arrival_number: Option<i64>,
    pub arrival_year: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

/// One page of the documents the viewer may see, newest first, and whether
/// more follow.
pub async fn list(
    pool: &Pool,
    viewer: &Viewer,
    filter: &ListFilter,
    today: Date,
) -> Result<(Vec<DocumentSummary>, bool), sqlx::Error> {
    let q = filter.q.as_deref().map(|q| {
        let folded = fold_vietnamese(q.trim());
        let escaped = folded
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    let (after_at, after_id) = match &filter.after {
        Some((a, i)) => (Some(a.as_str()), Some(i.as_str())),
        None => (None, None),
    };
    let mut rows: Vec<DocumentSummary> = with_pool!(pool, p => sqlx::query_as(
        "SELECT id, direction, status, document_type, number_notation, issuer_name, issue_date, \
           subject, urgency, secrecy, arrival_number, arrival_year, created_at, updated_at, version \
         FROM documents d \
         WHERE ($1 AND d.secrecy = 'normal' OR $2 OR EXISTS (SELECT 1 FROM access a WHERE a.document_id = d.id AND \
             ((a.holder_kind = 'user' AND a.holder_id = $3) OR (a.holder_kind = 'unit' AND a.holder_id = $4)))) \
           AND ($5 IS NULL OR d.status = $5) \
           AND ($6 IS NULL OR COALESCE(d.arrival_year, CAST(substr(d.issue_date, 1, 4) AS INTEGER), \
                CAST(substr(d.created_at, 1, 4) AS INTEGER)) = $6) \
           AND ($7 IS NULL OR d.search_text LIKE $7 ESCAPE '\\') \
           AND ($8 IS NULL OR $8 = EXISTS (SELECT 1 FROM location l WHERE l.document_id = d.id AND l.deadline < $9)) \
           AND ($10 IS NULL OR EXISTS (SELECT 1 FROM location l WHERE l.document_id = d.id AND l.role = $10 AND \
                ((l.holder_kind = 'user' AND l.holder_id = $3) OR (l.holder_kind = 'unit' AND l.holder_id = $4)))) \
           AND ($11 IS NULL OR (d.created_at, d.id) < ($11, $12)) \
         ORDER BY d.created_at DESC, d.id DESC LIMIT $13",
    )
    .bind(viewer.agency_wide())
    .bind(viewer.has(OfficialRole::Leader))
    .bind(&viewer.user)
    .bind(&viewer.unit)
    .bind(filter.status.as_deref())
    .bind(filter.year.map(i64::from))
    .bind(q)
    .bind(filter.overdue)
    .bind(today.to_string())
    .bind(filter.role.as_deref())
    .bind(after_at)
    .bind(after_id)
    .bind(i64::from(filter.limit) + 1)
    .fetch_all(p)
    .await)?;
    let more = rows.len() > filter.limit as usize;
    rows.truncate(filter.limit as usize);
    Ok((rows, more))
}
