//! The OpenAPI 3.1 document: operations from the handlers' `#[utoipa::path]`
//! annotations; every body's schema from the same `schemars` derive that the
//! event schemas use, so a type has one schema whichever document shows it.
//!
//! `schemas/openapi.json` is this document, committed; the test
//! `openapi_on_disk_matches_the_server` fails when they differ (and rewrites
//! the file with `CONGVAN_UPDATE_SCHEMAS=1`).

use std::borrow::Cow;

use actix_web::{HttpResponse, get, web};
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use super::error::Problem;
use super::routes::{admin, auth, commands, documents, health, lists, signatures, verify};

/// Lets a `schemars` type stand in a `#[utoipa::path]` body: utoipa refers
/// to it by name; [`document`] puts its schema under that name.
macro_rules! bridge {
    ($($t:ty => $name:literal),* $(,)?) => {
        $(
            impl utoipa::PartialSchema for $t {
                fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                    utoipa::openapi::Ref::from_schema_name($name).into()
                }
            }
            impl utoipa::ToSchema for $t {
                fn name() -> Cow<'static, str> {
                    Cow::Borrowed($name)
                }
            }
        )*
        /// Response (serialised) and request (deserialised) schemas by name.
        fn bridged(responses: &mut SchemaGenerator, requests: &mut SchemaGenerator) -> Vec<(&'static str, Value, bool)> {
            vec![$(
                ($name, one::<$t>(responses, requests, $name), is_request($name)),
            )*]
        }
    };
}

bridge! {
    Problem => "Problem",
    health::Health => "Health",
    health::Ready => "Ready",
    auth::TokenRequest => "TokenRequest",
    auth::TokenResponse => "TokenResponse",
    auth::Me => "Me",
    documents::DocumentView => "DocumentView",
    documents::DocumentPage => "DocumentPage",
    documents::EventsPage => "EventsPage",
    commands::RegistrationBody => "RegistrationBody",
    commands::SubmissionBody => "SubmissionBody",
    commands::DirectionBody => "DirectionBody",
    commands::ForwardBody => "ForwardBody",
    commands::RowBody => "RowBody",
    commands::ProgressBody => "ProgressBody",
    commands::CompletionBody => "CompletionBody",
    commands::ReturnBody => "ReturnBody",
    commands::FilingBody => "FilingBody",
    commands::RecallBody => "RecallBody",
    commands::ReviewBody => "ReviewBody",
    commands::NumberingBody => "NumberingBody",
    commands::DispatchBody => "DispatchBody",
    lists::Inbox => "Inbox",
    lists::Stats => "Stats",
    crate::projections::IncomingRegisterRow => "IncomingRegisterRow",
    crate::projections::OutgoingRegisterRow => "OutgoingRegisterRow",
    crate::projections::Unit => "Unit",
    crate::projections::Official => "Official",
    admin::NewUnit => "NewUnit",
    admin::UnitChange => "UnitChange",
    admin::NewUser => "NewUser",
    admin::UserChange => "UserChange",
    admin::PasswordReset => "PasswordReset",
    admin::SigningTitles => "SigningTitles",
    documents::NewDocument => "NewDocument",
    crate::pades::verify::Report => "VerifyReport",
    commands::RevisionNote => "RevisionNote",
    commands::AttachmentMetadata => "AttachmentMetadata",
    signatures::SignBody => "SignBody",
    signatures::FinishBody => "FinishBody",
    signatures::SignaturesView => "SignaturesView",
    crate::signing::Prepared => "PreparedSignature",
}

/// Request bodies are described as the server reads them (defaults make a
/// field optional); everything else as it writes them.
fn is_request(name: &str) -> bool {
    name.ends_with("Body")
        || matches!(
            name,
            "TokenRequest"
                | "NewUnit"
                | "UnitChange"
                | "NewUser"
                | "UserChange"
                | "PasswordReset"
                | "SigningTitles"
                | "NewDocument"
                | "RevisionNote"
                | "AttachmentMetadata"
        )
}

fn one<T: JsonSchema>(
    responses: &mut SchemaGenerator,
    requests: &mut SchemaGenerator,
    name: &str,
) -> Value {
    let g = if is_request(name) {
        requests
    } else {
        responses
    };
    let mut v = g.root_schema_for::<T>().to_value();
    if let Value::Object(m) = &mut v {
        m.remove("$schema");
        m.remove("$defs");
        // Definitions first met here are put at the definitions path too;
        // they are all in `take_definitions` anyway.
        m.remove("components");
        m.remove("title");
    }
    v
}

// The multipart forms: a JSON part and a PDF part.
impl utoipa::PartialSchema for verify::VerifyForm {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::Ref::from_schema_name("VerifyForm").into()
    }
}
impl utoipa::ToSchema for verify::VerifyForm {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("VerifyForm")
    }
}
impl utoipa::PartialSchema for documents::NewDocumentForm {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::Ref::from_schema_name("NewDocumentForm").into()
    }
}
impl utoipa::ToSchema for documents::NewDocumentForm {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("NewDocumentForm")
    }
}
impl utoipa::PartialSchema for commands::AttachmentForm {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::Ref::from_schema_name("AttachmentForm").into()
    }
}
impl utoipa::ToSchema for commands::AttachmentForm {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("AttachmentForm")
    }
}
impl utoipa::PartialSchema for commands::RevisionForm {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::Ref::from_schema_name("RevisionForm").into()
    }
}
impl utoipa::ToSchema for commands::RevisionForm {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RevisionForm")
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "congvan", description = "Official documents of Vietnamese state agencies: receipt, registration, direction (bút phê), handling, drafting, numbering and dispatch, as event streams. Errors are RFC 9457 problem+json with a stable `code`; send `Accept-Language: vi` for Vietnamese."),
    paths(
        health::healthz, health::readyz,
        auth::token, auth::logout, auth::me,
        admin::list_units, admin::create_unit, admin::rename_unit, admin::list_users, admin::create_user,
        admin::change_user, admin::deactivate, admin::activate, admin::set_password, admin::set_titles,
        documents::create, documents::list, documents::get_document, documents::events, documents::pdf,
        documents::pdf_revision, documents::attachment_pdf, commands::attachments,
        commands::registration, commands::submissions, commands::directions, commands::forwards,
        commands::acceptances, commands::progress, commands::completion, commands::returns,
        commands::filing, commands::recall, commands::revisions, commands::reviews, commands::numbering,
        commands::dispatches,
        signatures::sign, signatures::prepare, signatures::finish, signatures::report,
        lists::inbox, lists::incoming_register, lists::outgoing_register, lists::stats,
        verify::verify,
    ),
    modifiers(&Bearer),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "auth", description = "Sign-in and sign-out"),
        (name = "admin", description = "Units and officials (admin role)"),
        (name = "documents", description = "Documents: create, search, read"),
        (name = "commands", description = "One command per route; If-Match and Idempotency-Key honoured"),
        (name = "lists", description = "Inbox, registers, statistics"),
    )
)]
struct ApiDoc;

struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Rewrites `$ref`s of request-side definitions that were renamed.
fn rename_refs(v: &mut Value, renames: &Map<String, Value>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref")
                && let Some(name) = r.strip_prefix("#/components/schemas/")
                && let Some(Value::String(new)) = renames.get(name)
            {
                *r = format!("#/components/schemas/{new}");
            }
            for x in m.values_mut() {
                rename_refs(x, renames);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rename_refs(x, renames)),
        _ => {}
    }
}

/// The whole document, as served at `/api/v1/openapi.json`.
pub fn document() -> Value {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
        s.meta_schema = None;
    });
    let mut responses = settings.clone().for_serialize().into_generator();
    let mut requests = settings.for_deserialize().into_generator();
    let tops = bridged(&mut responses, &mut requests);
    let mut schemas = responses.take_definitions(true);
    let request_defs = requests.take_definitions(true);
    // A type read in requests and written in responses (Metadata, say) may
    // have two shapes: the request one is renamed `<Name>Input`.
    let mut renames = Map::new();
    for (name, schema) in &request_defs {
        if schemas.get(name).is_some_and(|s| s != schema) {
            renames.insert(name.clone(), json!(format!("{name}Input")));
        }
    }
    for (name, mut schema) in request_defs {
        rename_refs(&mut schema, &renames);
        let key = match renames.get(&name) {
            Some(Value::String(n)) => n.clone(),
            _ => name,
        };
        schemas.insert(key, schema);
    }
    for (name, mut schema, request) in tops {
        if request {
            rename_refs(&mut schema, &renames);
        }
        schemas.insert(name.to_string(), schema);
    }
    schemas.insert(
        "NewDocumentForm".into(),
        json!({
            "type": "object",
            "required": ["metadata"],
            "properties": {
                "metadata": {"type": "string", "contentMediaType": "application/json",
                    "description": "JSON: a NewDocument ({\"direction\": \"incoming\" | \"outgoing\", \"metadata\": {...}})"},
                "file": {"type": "string", "contentMediaType": "application/pdf",
                    "description": "The PDF; omitted for secret documents"}
            }
        }),
    );
    schemas.insert(
        "VerifyForm".into(),
        json!({
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {"type": "string", "contentMediaType": "application/pdf",
                    "description": "The PDF whose signatures to verify"}
            }
        }),
    );
    schemas.insert(
        "RevisionForm".into(),
        json!({
            "type": "object",
            "required": ["file"],
            "properties": {
                "metadata": {"type": "string", "contentMediaType": "application/json",
                    "description": "Optional JSON: a RevisionNote ({\"note\": ...})"},
                "file": {"type": "string", "contentMediaType": "application/pdf", "description": "The new draft PDF"}
            }
        }),
    );
    schemas.insert(
        "AttachmentForm".into(),
        json!({
            "type": "object",
            "required": ["metadata", "file"],
            "properties": {
                "metadata": {"type": "string", "contentMediaType": "application/json",
                    "description": "JSON: an AttachmentMetadata ({\"name\": ...})"},
                "file": {"type": "string", "contentMediaType": "application/pdf", "description": "The attachment's PDF"}
            }
        }),
    );
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
    doc["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    let components = doc
        .as_object_mut()
        .map(|m| m.entry("components").or_insert_with(|| json!({})));
    if let Some(Value::Object(c)) = components {
        let mut sorted: Vec<(String, Value)> = schemas.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        c.insert(
            "schemas".into(),
            Value::Object(sorted.into_iter().collect()),
        );
    }
    doc
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(openapi_json);
}

/// This document.
#[get("/openapi.json")]
pub async fn openapi_json(doc: web::Data<Value>) -> HttpResponse {
    HttpResponse::Ok().json(doc.get_ref())
}
