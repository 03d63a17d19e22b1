//! What the caller holds (inbox), the registers (JSON or CSV) and the
//! timeliness statistics.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::domain::decide::agency_date;
use crate::domain::model::{Holder, OfficialRole};
use crate::domain::values::UnitId;
use crate::http::Shared;
use crate::http::error::{ApiError, Code, Problem};
use crate::http::extract::Caller;
use crate::projections::{self, InboxRow, IncomingRegisterRow, OutgoingRegisterRow, UnitStats};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(inbox)
        .service(incoming_register)
        .service(outgoing_register)
        .service(stats);
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Inbox {
    /// Overdue first, then by deadline (none last), then oldest first.
    pub items: Vec<InboxRow>,
}

/// What the caller holds now: their own rows, and their unit's when they
/// act for it (unit head; the clerk for the clerical office).
#[utoipa::path(get, path = "/api/v1/inbox", tag = "lists", security(("bearer" = [])),
    responses((status = 200, description = "The caller's open rows", body = Inbox),
              (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json")))]
#[get("/inbox")]
pub async fn inbox(state: Shared, caller: Caller) -> Result<HttpResponse, ApiError> {
    let pool = state.app.projections.pool();
    let today = agency_date(Timestamp::now());
    let calendar = &state.app.config.policy.calendar;
    let mut items =
        projections::inbox(pool, &Holder::User(caller.user.clone()), today, calendar).await?;
    if (caller.has(OfficialRole::UnitHead) || caller.has(OfficialRole::Clerk))
        && let Ok(unit) = UnitId::parse(&caller.viewer.unit)
    {
        items.extend(projections::inbox(pool, &Holder::Unit(unit), today, calendar).await?);
        items.sort_by(|a, b| {
            (
                !a.deadline.overdue,
                a.deadline.deadline.is_none(),
                a.deadline.deadline,
                &a.since,
            )
                .cmp(&(
                    !b.deadline.overdue,
                    b.deadline.deadline.is_none(),
                    b.deadline.deadline,
                    &b.since,
                ))
        });
    }
    Ok(HttpResponse::Ok().json(Inbox { items }))
}

fn may_read_registers(caller: &Caller) -> Result<(), ApiError> {
    if caller.has(OfficialRole::Clerk)
        || caller.has(OfficialRole::Leader)
        || caller.has(OfficialRole::Auditor)
    {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "the registers are kept by the clerk and read by the leader and auditors",
        ))
    }
}

fn wants_csv(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().starts_with("text/csv")))
}

fn year_of(path: &web::Path<i16>) -> Result<i16, ApiError> {
    let y = **path;
    if !(1900..=9999).contains(&y) {
        return Err(ApiError::field(
            Code::InvalidQuery,
            "year",
            "year must be between 1900 and 9999",
        ));
    }
    Ok(y)
}

/// One CSV field (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv(header: &[&str], rows: impl Iterator<Item = Vec<String>>, name: &str) -> HttpResponse {
    let mut out = String::from("\u{feff}");
    out.push_str(
        &header
            .iter()
            .map(|h| csv_field(h))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push_str("\r\n");
    for r in rows {
        out.push_str(&r.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}.csv\""),
        ))
        .body(out)
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

/// The incoming register (sổ văn bản đến) of a year, Decree 30 appendix IV; CSV with `Accept: text/csv`.
#[utoipa::path(get, path = "/api/v1/registers/incoming/{year}", tag = "lists", security(("bearer" = [])),
    params(("year" = i16, Path)),
    responses((status = 200, description = "The register", content(
                (Vec<IncomingRegisterRow> = "application/json"), (String = "text/csv"))),
              (status = "4XX", description = "401, 403, 400", body = Problem, content_type = "application/problem+json")))]
#[get("/registers/incoming/{year}")]
pub async fn incoming_register(
    state: Shared,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<i16>,
) -> Result<HttpResponse, ApiError> {
    may_read_registers(&caller)?;
    let rows =
        projections::incoming_register(state.app.projections.pool(), year_of(&path)?).await?;
    if !wants_csv(&req) {
        return Ok(HttpResponse::Ok().json(rows));
    }
    let header = [
        "Ngày đến",
        "Số đến",
        "Tác giả",
        "Số, ký hiệu",
        "Ngày tháng",
        "Tên loại và trích yếu nội dung",
        "Đơn vị hoặc người nhận",
        "Ngày chuyển",
        "Ký nhận",
        "Ghi chú",
    ];
    Ok(csv(
        &header,
        rows.into_iter().map(|r| {
            vec![
                r.arrival_date,
                r.arrival_number.to_string(),
                r.issuer,
                opt(&r.number_notation),
                opt(&r.issue_date),
                r.type_and_subject,
                r.recipients,
                opt(&r.transferred_on),
                r.received_by,
                r.note,
            ]
        }),
        &format!("so-van-ban-den-{}", *path),
    ))
}

/// The outgoing register (sổ văn bản đi) of a year; CSV with `Accept: text/csv`.
#[utoipa::path(get, path = "/api/v1/registers/outgoing/{year}", tag = "lists", security(("bearer" = [])),
    params(("year" = i16, Path)),
    responses((status = 200, description = "The register", content(
                (Vec<OutgoingRegisterRow> = "application/json"), (String = "text/csv"))),
              (status = "4XX", description = "401, 403, 400", body = Problem, content_type = "application/problem+json")))]
#[get("/registers/outgoing/{year}")]
pub async fn outgoing_register(
    state: Shared,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<i16>,
) -> Result<HttpResponse, ApiError> {
    may_read_registers(&caller)?;
    let rows =
        projections::outgoing_register(state.app.projections.pool(), year_of(&path)?).await?;
    if !wants_csv(&req) {
        return Ok(HttpResponse::Ok().json(rows));
    }
    let header = [
        "Sổ",
        "Số, ký hiệu văn bản",
        "Ngày tháng văn bản",
        "Tên loại và trích yếu nội dung",
        "Người ký",
        "Nơi nhận",
        "Đơn vị, người nhận bản lưu",
        "Số lượng bản",
        "Ngày chuyển",
        "Ký nhận",
        "Ghi chú",
    ];
    Ok(csv(
        &header,
        rows.into_iter().map(|r| {
            vec![
                r.series,
                r.number_notation,
                r.issue_date,
                r.type_and_subject,
                r.signer,
                r.recipients,
                r.filing_unit,
                r.copies.to_string(),
                opt(&r.transferred_on),
                r.received_by,
                r.note,
            ]
        }),
        &format!("so-van-ban-di-{}", *path),
    ))
}

#[derive(Deserialize, schemars::JsonSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// First day (YYYY-MM-DD); 1 January of this year when omitted.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<Date>,
    /// Last day; today when omitted.
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<Date>,
    /// One unit only.
    pub unit: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Stats {
    pub from: Date,
    pub to: Date,
    /// Per unit: early, on time, late, no deadline (rows completed in the
    /// period) and overdue open rows now. Definitions: README.
    pub units: Vec<UnitStats>,
}

/// Early / on time / late per unit.
#[utoipa::path(get, path = "/api/v1/stats", tag = "lists", security(("bearer" = [])),
    params(StatsQuery),
    responses((status = 200, description = "The statistics", body = Stats),
              (status = "4XX", description = "401, 403, 400", body = Problem, content_type = "application/problem+json")))]
#[get("/stats")]
pub async fn stats(
    state: Shared,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let agency_wide = caller.viewer.agency_wide();
    let may = agency_wide || caller.has(OfficialRole::UnitHead);
    if !may {
        return Err(ApiError::forbidden(
            "statistics are for the clerk, leaders, auditors, and unit heads for their own unit",
        ));
    }
    let q: StatsQuery = super::query(&req)?;
    let unit = match (&q.unit, agency_wide) {
        (u, true) => u.clone(),
        (None, false) if caller.has(OfficialRole::UnitHead) => Some(caller.viewer.unit.clone()),
        (Some(u), false) if caller.has(OfficialRole::UnitHead) && *u == caller.viewer.unit => {
            Some(u.clone())
        }
        _ => {
            return Err(ApiError::forbidden(
                "statistics are for the clerk, leaders, auditors, and unit heads for their own unit",
            ));
        }
    };
    let today = agency_date(Timestamp::now());
    let to = q.to.unwrap_or(today);
    let from = match q.from {
        Some(f) => f,
        None => Date::new(to.year(), 1, 1).map_err(|e| ApiError::internal(&e))?,
    };
    if from > to {
        return Err(ApiError::field(
            Code::InvalidQuery,
            "from",
            "from must not be after to",
        ));
    }
    let units = projections::stats(
        state.app.projections.pool(),
        from,
        to,
        unit.as_deref(),
        today,
    )
    .await?;
    Ok(HttpResponse::Ok().json(Stats { from, to, units }))
}
