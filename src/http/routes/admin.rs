//! Administration (admin role): units, officials, roles, deactivation,
//! password resets and signing titles. Every change is an event in the
//! stream `directory`, appended only if the directory has not changed since
//! it was checked.

use actix_web::{HttpRequest, HttpResponse, get, patch, post, put, web};
use jiff::Timestamp;
use serde::Deserialize;

use crate::app::AppError;
use crate::auth::password;
use crate::domain::directory::{DirectoryEvent, SigningTitle};
use crate::domain::model::OfficialRole;
use crate::domain::values::{OrganName, PersonName, UnitId, UserId};
use crate::http::Shared;
use crate::http::error::{ApiError, Code, Problem};
use crate::http::extract::Admin;
use crate::http::routes::json_body;
use crate::projections::{self, Official, Unit};
use crate::store::ExpectedVersion;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_units)
        .service(create_unit)
        .service(rename_unit)
        .service(list_users)
        .service(create_user)
        .service(change_user)
        .service(deactivate)
        .service(activate)
        .service(set_password)
        .service(set_titles);
}

async fn expected(state: &Shared) -> Result<ExpectedVersion, ApiError> {
    Ok(match state.app.directory_version().await? {
        None => ExpectedVersion::NoStream,
        Some(v) => ExpectedVersion::Exact(v),
    })
}

async fn append(
    state: &Shared,
    admin: &Admin,
    events: Vec<DirectoryEvent>,
    expected: ExpectedVersion,
) -> Result<(), ApiError> {
    state
        .app
        .change_directory(events, expected, &admin.0.meta, Some(&admin.0.user))
        .await
        .map_err(ApiError::from)
}

async fn unit_exists(state: &Shared, id: &str) -> Result<bool, ApiError> {
    Ok(projections::units(state.app.projections.pool())
        .await?
        .iter()
        .any(|u| u.id == id))
}

async fn official(state: &Shared, user: &str) -> Result<Official, ApiError> {
    projections::official(state.app.projections.pool(), user)
        .await?
        .ok_or_else(|| ApiError::detail(Code::NotFound, format!("no official {user}")))
}

/// Every unit.
#[utoipa::path(get, path = "/api/v1/admin/units", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Units", body = Vec<Unit>),
              (status = "4XX", description = "401, 403", body = Problem, content_type = "application/problem+json")))]
#[get("/admin/units")]
pub async fn list_units(state: Shared, _admin: Admin) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(projections::units(state.app.projections.pool()).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUnit {
    pub id: UnitId,
    pub name: OrganName,
}

/// Create a unit.
#[utoipa::path(post, path = "/api/v1/admin/units", tag = "admin", security(("bearer" = [])),
    request_body(content = NewUnit, content_type = "application/json"),
    responses((status = 201, description = "Created", body = Unit),
              (status = "4XX", description = "401, 403, 409 (exists), 422", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/units")]
pub async fn create_unit(
    state: Shared,
    admin: Admin,
    req: HttpRequest,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b = json_body::<NewUnit>(&state, &req, &bytes)?;
    let exp = expected(&state).await?;
    if unit_exists(&state, b.id.as_str()).await? {
        return Err(ApiError::field(
            Code::InvalidTransition,
            "id",
            format!("the unit {} exists already", b.id.as_str()),
        ));
    }
    let unit = Unit {
        id: b.id.as_str().to_string(),
        name: b.name.as_str().to_string(),
    };
    append(
        &state,
        &admin,
        vec![DirectoryEvent::UnitCreated {
            at: Timestamp::now(),
            id: b.id,
            name: b.name,
        }],
        exp,
    )
    .await?;
    Ok(HttpResponse::Created().json(unit))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitChange {
    pub name: OrganName,
}

/// Rename a unit.
#[utoipa::path(patch, path = "/api/v1/admin/units/{unit}", tag = "admin", security(("bearer" = [])),
    params(("unit" = String, Path)), request_body(content = UnitChange, content_type = "application/json"),
    responses((status = 200, description = "Renamed", body = Unit),
              (status = "4XX", description = "401, 403, 404, 422", body = Problem, content_type = "application/problem+json")))]
#[patch("/admin/units/{unit}")]
pub async fn rename_unit(
    state: Shared,
    admin: Admin,
    path: web::Path<String>,
    req: HttpRequest,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let exp = expected(&state).await?;
    if !unit_exists(&state, &path).await? {
        return Err(ApiError::detail(Code::NotFound, format!("no unit {path}")));
    }
    let id = UnitId::parse(&path).map_err(|_| ApiError::not_found())?;
    let name = json_body::<UnitChange>(&state, &req, &bytes)?.name;
    let unit = Unit {
        id: id.as_str().to_string(),
        name: name.as_str().to_string(),
    };
    append(
        &state,
        &admin,
        vec![DirectoryEvent::UnitRenamed {
            at: Timestamp::now(),
            id,
            name,
        }],
        exp,
    )
    .await?;
    Ok(HttpResponse::Ok().json(unit))
}

/// Every official.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Officials", body = Vec<Official>),
              (status = "4XX", description = "401, 403", body = Problem, content_type = "application/problem+json")))]
#[get("/admin/users")]
pub async fn list_users(state: Shared, _admin: Admin) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(projections::officials(state.app.projections.pool()).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub user: UserId,
    pub full_name: PersonName,
    /// Chức vụ, e.g. "Chuyên viên".
    pub position: PersonName,
    pub unit: UnitId,
    pub roles: Vec<OfficialRole>,
    /// At least 8 characters.
    pub password: String,
}

fn check_roles(roles: &[OfficialRole]) -> Result<(), ApiError> {
    if roles.is_empty() {
        return Err(ApiError::field(
            Code::InvalidField,
            "roles",
            "roles: give at least one role",
        ));
    }
    Ok(())
}

async fn hash(password: String) -> Result<String, ApiError> {
    if let Err(rule) = password::check_new_password(&password) {
        return Err(ApiError::field(
            Code::InvalidField,
            "password",
            format!("password: {rule}"),
        ));
    }
    tokio::task::spawn_blocking(move || password::hash_password(&password))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))
}

/// Create an official with a password.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])),
    request_body(content = NewUser, content_type = "application/json"),
    responses((status = 201, description = "Created", body = Official),
              (status = "4XX", description = "401, 403, 409 (exists), 422", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/users")]
pub async fn create_user(
    state: Shared,
    admin: Admin,
    req: HttpRequest,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b = json_body::<NewUser>(&state, &req, &bytes)?;
    check_roles(&b.roles)?;
    let password_hash = hash(b.password).await?;
    let exp = expected(&state).await?;
    if projections::official(state.app.projections.pool(), b.user.as_str())
        .await?
        .is_some()
    {
        return Err(ApiError::field(
            Code::InvalidTransition,
            "user",
            format!("the official {} exists already", b.user.as_str()),
        ));
    }
    if !unit_exists(&state, b.unit.as_str()).await? {
        return Err(ApiError::field(
            Code::InvalidField,
            "unit",
            format!("unit: no unit {}", b.unit.as_str()),
        ));
    }
    let at = Timestamp::now();
    let user = b.user.clone();
    append(
        &state,
        &admin,
        vec![
            DirectoryEvent::OfficialCreated {
                at,
                user: b.user.clone(),
                full_name: b.full_name,
                position: b.position,
                unit: b.unit,
                roles: b.roles,
            },
            DirectoryEvent::PasswordSet {
                at,
                user: b.user,
                password_hash,
            },
        ],
        exp,
    )
    .await?;
    Ok(HttpResponse::Created().json(official(&state, user.as_str()).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    #[serde(default)]
    pub full_name: Option<PersonName>,
    #[serde(default)]
    pub position: Option<PersonName>,
    #[serde(default)]
    pub unit: Option<UnitId>,
    #[serde(default)]
    pub roles: Option<Vec<OfficialRole>>,
}

fn user_id(path: &str) -> Result<UserId, ApiError> {
    UserId::parse(path).map_err(|_| ApiError::detail(Code::NotFound, format!("no official {path}")))
}

fn parsed<T>(r: Result<T, crate::domain::values::ValueError>) -> Result<T, ApiError> {
    r.map_err(|e| {
        ApiError::from(AppError::Domain(crate::domain::DomainError::Invalid {
            field: e.field,
            rule: e.rule,
        }))
    })
}

/// Change an official's name, position, unit or roles.
#[utoipa::path(patch, path = "/api/v1/admin/users/{user}", tag = "admin", security(("bearer" = [])),
    params(("user" = String, Path)), request_body(content = UserChange, content_type = "application/json"),
    responses((status = 200, description = "Changed", body = Official),
              (status = "4XX", description = "401, 403, 404, 422", body = Problem, content_type = "application/problem+json")))]
#[patch("/admin/users/{user}")]
pub async fn change_user(
    state: Shared,
    admin: Admin,
    path: web::Path<String>,
    req: HttpRequest,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b = json_body::<UserChange>(&state, &req, &bytes)?;
    let exp = expected(&state).await?;
    let o = official(&state, &path).await?;
    if let Some(r) = &b.roles {
        check_roles(r)?;
    }
    if let Some(u) = &b.unit
        && !unit_exists(&state, u.as_str()).await?
    {
        return Err(ApiError::field(
            Code::InvalidField,
            "unit",
            format!("unit: no unit {}", u.as_str()),
        ));
    }
    let event = DirectoryEvent::OfficialChanged {
        at: Timestamp::now(),
        user: user_id(&path)?,
        full_name: match b.full_name {
            Some(n) => n,
            None => parsed(PersonName::parse(&o.full_name))?,
        },
        position: match b.position {
            Some(p) => p,
            None => parsed(PersonName::parse(&o.position))?,
        },
        unit: match b.unit {
            Some(u) => u,
            None => parsed(UnitId::parse(&o.unit))?,
        },
        roles: b.roles.unwrap_or(o.roles),
    };
    append(&state, &admin, vec![event], exp).await?;
    Ok(HttpResponse::Ok().json(official(&state, &path).await?))
}

async fn set_active(
    state: Shared,
    admin: Admin,
    user: &str,
    active: bool,
) -> Result<HttpResponse, ApiError> {
    let exp = expected(&state).await?;
    let o = official(&state, user).await?;
    if o.active != active {
        let at = Timestamp::now();
        let user = user_id(user)?;
        let event = if active {
            DirectoryEvent::OfficialReactivated { at, user }
        } else {
            DirectoryEvent::OfficialDeactivated { at, user }
        };
        append(&state, &admin, vec![event], exp).await?;
    }
    Ok(HttpResponse::Ok().json(official(&state, &o.user).await?))
}

/// Deactivate an official: they can no longer sign in, and their tokens stop working.
#[utoipa::path(post, path = "/api/v1/admin/users/{user}/deactivation", tag = "admin", security(("bearer" = [])),
    params(("user" = String, Path)),
    responses((status = 200, description = "Deactivated", body = Official),
              (status = "4XX", description = "401, 403, 404", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/users/{user}/deactivation")]
pub async fn deactivate(
    state: Shared,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if admin.0.user.as_str() == path.as_str() {
        return Err(ApiError::field(
            Code::InvalidTransition,
            "user",
            "an administrator cannot deactivate themself",
        ));
    }
    set_active(state, admin, &path, false).await
}

/// Reactivate an official.
#[utoipa::path(post, path = "/api/v1/admin/users/{user}/activation", tag = "admin", security(("bearer" = [])),
    params(("user" = String, Path)),
    responses((status = 200, description = "Active", body = Official),
              (status = "4XX", description = "401, 403, 404", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/users/{user}/activation")]
pub async fn activate(
    state: Shared,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_active(state, admin, &path, true).await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    /// At least 8 characters.
    pub password: String,
}

/// Reset an official's password.
#[utoipa::path(put, path = "/api/v1/admin/users/{user}/password", tag = "admin", security(("bearer" = [])),
    params(("user" = String, Path)), request_body(content = PasswordReset, content_type = "application/json"),
    responses((status = 204, description = "Reset"),
              (status = "4XX", description = "401, 403, 404, 422", body = Problem, content_type = "application/problem+json")))]
#[put("/admin/users/{user}/password")]
pub async fn set_password(
    state: Shared,
    admin: Admin,
    path: web::Path<String>,
    req: HttpRequest,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let password_hash = hash(json_body::<PasswordReset>(&state, &req, &bytes)?.password).await?;
    let exp = expected(&state).await?;
    official(&state, &path).await?;
    append(
        &state,
        &admin,
        vec![DirectoryEvent::PasswordSet {
            at: Timestamp::now(),
            user: user_id(&path)?,
            password_hash,
        }],
        exp,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SigningTitles {
    /// Any of "KT.", "TL.", "TUQ.", "Q.".
    pub titles: Vec<SigningTitle>,
}

/// Set the signing titles an official may sign under (Decree 30 appendix I).
#[utoipa::path(put, path = "/api/v1/admin/users/{user}/signing-titles", tag = "admin", security(("bearer" = [])),
    params(("user" = String, Path)), request_body(content = SigningTitles, content_type = "application/json"),
    responses((status = 200, description = "Set", body = Official),
              (status = "4XX", description = "401, 403, 404, 422", body = Problem, content_type = "application/problem+json")))]
#[put("/admin/users/{user}/signing-titles")]
pub async fn set_titles(
    state: Shared,
    admin: Admin,
    path: web::Path<String>,
    req: HttpRequest,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let mut titles = json_body::<SigningTitles>(&state, &req, &bytes)?.titles;
    titles.dedup();
    let exp = expected(&state).await?;
    official(&state, &path).await?;
    append(
        &state,
        &admin,
        vec![DirectoryEvent::SigningTitlesSet {
            at: Timestamp::now(),
            user: user_id(&path)?,
            titles,
        }],
        exp,
    )
    .await?;
    Ok(HttpResponse::Ok().json(official(&state, &path).await?))
}
