//! JSON Schemas (draft 2020-12) of everything the event store holds,
//! generated from the Rust types so they cannot drift from the code:
//!
//! - `schemas/events/<event_type>.schema.json`: the payload of each stored
//!   event type, as stored (the event's fields, without the `type` tag);
//! - `schemas/event-metadata.schema.json`: the `metadata` column;
//! - `schemas/events-row.schema.json`: one row of the `events` table.
//!
//! The files at the top of the crate are these schemas, committed; the test
//! `schemas_on_disk_match_the_code` fails when they differ, and rewrites them
//! when `CONGVAN_UPDATE_SCHEMAS=1` is set.
//!
//! The schemas describe what the writer stores: every field is present (an
//! absent value is `null`), so every property is required. Readers are more
//! lenient (a missing optional or defaulted field reads as its default) and
//! upcast older schema versions (see [`crate::domain::events`]).

use std::collections::BTreeSet;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::domain::access::{AUTH_STREAM, AuthEvent, Viewed};
use crate::domain::directory::{self, DirectoryEvent};
use crate::domain::events::{DocumentEvent, RECEIVED_SCHEMA_VERSION, current_schema_version};
use crate::domain::model::DocumentId;
use crate::domain::register::{NumberTaken, RegisterKind};

/// The base of every schema's `$id`. The reserved `.invalid` domain says
/// these are names, not addresses: resolve them to the files in `schemas/`.
pub const BASE_URI: &str = "https://congvan.invalid/schemas/";

/// The folder of the schema files, relative to the crate root.
pub const DIR: &str = "schemas";

/// The file of the `metadata` column's schema, relative to [`DIR`].
pub const METADATA_FILE: &str = "event-metadata.schema.json";

/// The file of the `events` row schema, relative to [`DIR`].
pub const ROW_FILE: &str = "events-row.schema.json";

/// The folder of the per-event-type schemas, relative to [`DIR`].
pub const EVENTS_DIR: &str = "events";

const META_SCHEMA: &str = "https://json-schema.org/draft/2020-12/schema";

/// Every schema, as `(path relative to the crate root, schema)`: one per
/// stored event type, then the metadata and the row. Sorted by path.
pub fn event_schemas() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (event_type, schema) in payload_schemas() {
        out.push((
            format!("{DIR}/{EVENTS_DIR}/{event_type}.schema.json"),
            schema,
        ));
    }
    out.push((format!("{DIR}/{METADATA_FILE}"), metadata_schema()));
    out.push((format!("{DIR}/{ROW_FILE}"), row_schema()));
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The payload schema of every stored event type, by event type.
pub fn payload_schemas() -> Vec<(String, Value)> {
    let mut out = Vec::new();

    let document_stream = format!("{}<document_id>", DocumentId::STREAM_PREFIX);
    let (variants, defs) = split_tagged::<DocumentEvent>("type");
    for (event_type, variant) in variants {
        let history = if event_type == "received" {
            format!(
                " Schema version {RECEIVED_SCHEMA_VERSION}; version 1 had no `source` (every \
                 incoming document was a scan) and named `clerk_unit` `registry_unit`: such \
                 payloads are upcast on read ({{\"kind\": \"scan\"}} as the source), never \
                 rewritten."
            )
        } else {
            String::new()
        };
        let version = current_schema_version(&event_type);
        let schema = payload_file(
            &event_type,
            variant,
            &defs,
            version,
            &document_stream,
            true,
            &history,
        );
        out.push((event_type, schema));
    }

    tagged_payloads::<DirectoryEvent>(&mut out, DirectoryEvent::SCHEMA_VERSION, directory::STREAM);
    tagged_payloads::<AuthEvent>(&mut out, AuthEvent::SCHEMA_VERSION, AUTH_STREAM);
    untagged_payload::<Viewed>(
        &mut out,
        Viewed::EVENT_TYPE,
        Viewed::SCHEMA_VERSION,
        &format!("{}<document_id>", Viewed::STREAM_PREFIX),
    );
    let register_stream = format!(
        "register-<{}>-<year>",
        register_kinds()
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join("|")
    );
    untagged_payload::<NumberTaken>(
        &mut out,
        NumberTaken::EVENT_TYPE,
        NumberTaken::SCHEMA_VERSION,
        &register_stream,
    );

    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The payload schema of each variant of an internally tagged event enum
/// (stored without its `type` tag).
fn tagged_payloads<T: JsonSchema>(out: &mut Vec<(String, Value)>, version: u32, stream: &str) {
    let (variants, defs) = split_tagged::<T>("type");
    for (event_type, variant) in variants {
        let schema = payload_file(&event_type, variant, &defs, version, stream, true, "");
        out.push((event_type, schema));
    }
}

/// The payload schema of an event stored as the struct itself.
fn untagged_payload<T: JsonSchema>(
    out: &mut Vec<(String, Value)>,
    event_type: &str,
    version: u32,
    stream: &str,
) {
    let mut root = root_schema::<T>();
    let defs = take_defs(&mut root);
    for key in ["$schema", "title"] {
        root.remove(key);
    }
    let schema = payload_file(
        event_type,
        Value::Object(root),
        &defs,
        version,
        stream,
        false,
        "",
    );
    out.push((event_type.to_string(), schema));
}

/// Every register kind. A new kind does not compile here until it is listed.
fn register_kinds() -> [RegisterKind; 3] {
    let listed = |k: RegisterKind| match k {
        RegisterKind::Incoming | RegisterKind::Outgoing | RegisterKind::OutgoingSecret => k,
    };
    [
        listed(RegisterKind::Incoming),
        listed(RegisterKind::Outgoing),
        listed(RegisterKind::OutgoingSecret),
    ]
}

/// The schema of `T` as it is serialised, with definitions under `$defs`.
fn root_schema<T: JsonSchema>() -> Map<String, Value> {
    let generator = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    match generator.into_root_schema_for::<T>().to_value() {
        Value::Object(m) => m,
        other => panic!("the schema of a type is an object, got {other}"),
    }
}

fn take_defs(root: &mut Map<String, Value>) -> Map<String, Value> {
    match root.remove("$defs") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Splits the schema of an internally tagged enum into one object schema per
/// variant, keyed by the tag's value, with the tag removed: the payload as
/// stored. Also returns the enum's definitions.
fn split_tagged<T: JsonSchema>(tag: &str) -> (Vec<(String, Value)>, Map<String, Value>) {
    let mut root = root_schema::<T>();
    let defs = take_defs(&mut root);
    let Some(Value::Array(variants)) = root.remove("oneOf") else {
        panic!("an internally tagged enum's schema has a oneOf");
    };
    let mut out = Vec::new();
    for mut variant in variants {
        let name = variant
            .pointer(&format!("/properties/{tag}/const"))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("every variant has a const `{tag}`: {variant}"))
            .to_string();
        if let Some(Value::Object(props)) = variant.get_mut("properties") {
            props.remove(tag);
        }
        if let Some(Value::Array(required)) = variant.get_mut("required") {
            required.retain(|r| r != tag);
        }
        out.push((name, variant));
    }
    (out, defs)
}

/// Descriptions of the fields most events share, where the code has none.
fn common_field_description(field: &str) -> Option<&'static str> {
    match field {
        "at" => Some("When it happened (RFC 3339, UTC)."),
        "by" => Some("The official who gave the command."),
        "row" => Some("The row acted on."),
        _ => None,
    }
}

/// One payload schema file: the variant's object schema with the
/// definitions it uses, an `$id`, a title and a description.
fn payload_file(
    event_type: &str,
    variant: Value,
    defs: &Map<String, Value>,
    version: u32,
    stream: &str,
    tagged: bool,
    history: &str,
) -> Value {
    let Value::Object(mut body) = variant else {
        panic!("a variant's schema is an object");
    };
    let what = match body.remove("description") {
        Some(Value::String(s)) => format!("{}. ", s.trim_end_matches('.')),
        _ => String::new(),
    };
    if let Some(Value::Object(props)) = body.get_mut("properties") {
        for (name, prop) in props.iter_mut() {
            if let (Some(text), Value::Object(p)) = (common_field_description(name), prop) {
                p.entry("description").or_insert_with(|| json!(text));
            }
        }
    }
    let layout = if tagged {
        "the event's fields as a JSON object, without the `type` tag, which is the row's \
         `event_type`"
    } else {
        "the event's fields as a JSON object"
    };
    let description = format!(
        "{what}The payload of a stored `{event_type}` event (streams `{stream}`): \
         {layout}.{history}"
    );
    let mut schema = Map::new();
    schema.insert("$schema".into(), json!(META_SCHEMA));
    schema.insert(
        "$id".into(),
        json!(format!("{BASE_URI}{EVENTS_DIR}/{event_type}.schema.json")),
    );
    schema.insert("title".into(), json!(event_type));
    schema.insert("description".into(), json!(description));
    schema.insert("x-event-type".into(), json!(event_type));
    schema.insert("x-schema-version".into(), json!(version));
    schema.insert("x-stream".into(), json!(stream));
    for (k, v) in body {
        schema.insert(k, v);
    }
    let used = used_defs(&Value::Object(schema.clone()), defs);
    if !used.is_empty() {
        schema.insert("$defs".into(), Value::Object(used));
    }
    let mut schema = Value::Object(schema);
    tidy_descriptions(&mut schema);
    schema
}

/// The definitions `schema` refers to, directly or through other definitions.
fn used_defs(schema: &Value, defs: &Map<String, Value>) -> Map<String, Value> {
    let mut used = BTreeSet::new();
    let mut todo = Vec::new();
    collect_refs(schema, &mut todo);
    while let Some(name) = todo.pop() {
        if used.insert(name.clone()) {
            let def = defs
                .get(&name)
                .unwrap_or_else(|| panic!("$defs/{name} is referred to but not defined"));
            collect_refs(def, &mut todo);
        }
    }
    used.into_iter()
        .map(|name| {
            let def = defs[&name].clone();
            (name, def)
        })
        .collect()
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        if let Some(name) = r.strip_prefix("#/$defs/") {
                            out.push(name.to_string());
                        }
                    }
                    ("$defs", _) => {}
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// Doc comments keep their line breaks: join the lines of each paragraph.
fn tidy_descriptions(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                match v {
                    Value::String(s) if k == "description" => {
                        *s = s
                            .split("\n\n")
                            .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
                            .collect::<Vec<_>>()
                            .join("\n\n");
                    }
                    _ => tidy_descriptions(v),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(tidy_descriptions),
        _ => {}
    }
}

/// The `metadata` column: the command's actor and request facts for document
/// and register events; an empty object for directory events.
pub fn metadata_schema() -> Value {
    let mut root = root_schema::<crate::app::EventMetadata<'static>>();
    let mut defs = take_defs(&mut root);
    for key in ["$schema", "title"] {
        root.remove(key);
    }
    defs.insert("EventMetadata".into(), Value::Object(root));
    let mut request = root_schema::<crate::app::RequestMeta>();
    let request_defs = take_defs(&mut request);
    for key in ["$schema", "title"] {
        request.remove(key);
    }
    request.insert("not".into(), json!({"required": ["actor"]}));
    defs.extend(request_defs);
    defs.insert("RequestMeta".into(), Value::Object(request));
    let mut schema = json!({
        "$schema": META_SCHEMA,
        "$id": format!("{BASE_URI}{METADATA_FILE}"),
        "title": "event metadata",
        "description": "The `metadata` column of an `events` row: a JSON object. Events \
                        appended by a command (document and register events) carry who gave \
                        the command and the request's facts, every key present (null when \
                        unknown); sign-in events (stream `auth`) carry the request's facts \
                        without an actor; directory events seeded by the server carry an \
                        empty object.",
        "oneOf": [
            { "$ref": "#/$defs/EventMetadata" },
            { "$ref": "#/$defs/RequestMeta" },
            {
                "description": "Directory events: no request facts.",
                "type": "object",
                "maxProperties": 0
            }
        ],
        "$defs": defs,
    });
    tidy_descriptions(&mut schema);
    schema
}

/// One row of the `events` table, as `sqlite3 -json` shows it: integers are
/// numbers, text columns strings; `payload` and `metadata` are JSON texts.
pub fn row_schema() -> Value {
    let hex64 = "^[0-9a-f]{64}$";
    let uuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
    let kinds = register_kinds()
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join("|");
    let stream_pattern = format!(
        "^({}{uuid}|{}{uuid}|{}|{}|register-({kinds})-[0-9]{{4}})$",
        regex_escape(DocumentId::STREAM_PREFIX),
        regex_escape(Viewed::STREAM_PREFIX),
        regex_escape(directory::STREAM),
        regex_escape(AUTH_STREAM),
    );
    let event_types: Vec<String> = payload_schemas().into_iter().map(|(t, _)| t).collect();
    let mut schema = json!({
        "$schema": META_SCHEMA,
        "$id": format!("{BASE_URI}{ROW_FILE}"),
        "title": "events row",
        "description": "One row of the `events` table, the append-only log: every event of \
                        every stream in one global order, linked by a SHA-256 hash chain. \
                        Integers are numbers; text columns are strings, `payload` and \
                        `metadata` holding JSON texts stored byte for byte as written (the \
                        hash covers those bytes).",
        "type": "object",
        "properties": {
            "position": {
                "description": "The event's place in the global order: 1, 2, 3, … without gaps.",
                "type": "integer",
                "minimum": 1
            },
            "stream": {
                "description": "The stream: `document-<uuid>` (one document), `views-<uuid>` \
                                (the reads of one document), `directory` (the organisation), \
                                `auth` (sign-ins and sign-outs) or `register-<kind>-<year>` \
                                (one register and year).",
                "type": "string",
                "pattern": stream_pattern
            },
            "version": {
                "description": "The event's place in its stream: 1, 2, 3, … without gaps. In a \
                                register stream it is the number handed out.",
                "type": "integer",
                "minimum": 1
            },
            "event_id": {
                "description": "The event's identifier, unique in the log: a lowercase \
                                hyphenated UUID (version 7 when the application writes it). \
                                Appending an event_id that is stored already appends nothing: \
                                with the same content it returns the original result, otherwise \
                                it is refused.",
                "type": "string",
                "format": "uuid",
                "pattern": format!("^{uuid}$")
            },
            "event_type": {
                "description": "The event's type: the payload's schema is \
                                `events/<event_type>.schema.json` at `schema_version`.",
                "type": "string",
                "enum": event_types
            },
            "schema_version": {
                "description": "The version of the payload's shape it was written with. The \
                                current one is each event schema's `x-schema-version`; older \
                                payloads are upcast on read, never rewritten.",
                "type": "integer",
                "minimum": 1
            },
            "payload": {
                "description": "The event's fields as a JSON object, without the `type` tag \
                                (see `events/<event_type>.schema.json`).",
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": { "type": "object" }
            },
            "metadata": {
                "description": "Who gave the command and the request's facts, as a JSON object.",
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": { "$ref": METADATA_FILE }
            },
            "recorded_at": {
                "description": "When the event was committed: microseconds since the Unix epoch \
                                (UTC). Never decreases along positions.",
                "type": "integer"
            },
            "prev_hash": {
                "description": "The previous row's `hash`; 64 zeros at position 1.",
                "type": "string",
                "pattern": hex64
            },
            "hash": {
                "description": "SHA-256, as 64 lowercase hex digits, of the previous hash's 32 \
                                bytes followed by position, stream, version, event_id, \
                                event_type, schema_version, payload, metadata and recorded_at, \
                                each as its 4-byte big-endian length and its stored bytes \
                                (integers as decimal text).",
                "type": "string",
                "pattern": hex64
            }
        },
        "required": [
            "position", "stream", "version", "event_id", "event_type", "schema_version",
            "payload", "metadata", "recorded_at", "prev_hash", "hash"
        ],
        "additionalProperties": false
    });
    tidy_descriptions(&mut schema);
    schema
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// The text of a schema file: pretty-printed, keys sorted, a final newline.
pub fn file_text(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(&sorted(schema)).unwrap_or_default();
    text.push('\n');
    text
}

/// The keys of every object in order (whatever map serde_json is built with).
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    use jiff::Timestamp;
    use jiff::civil::date;
    use serde_json::{Value, json};
    use uuid::Uuid;

    use super::*;
    use crate::app::{EventMetadata, RequestMeta};
    use crate::digest::Sha256Digest;
    use crate::domain::calendar::WorkingCalendar;
    use crate::domain::decide::{
        Action, AssignmentSpec, Command, DeadlineSpec, Policy, RegistrationFacts, ReviewDecision,
        agency_date, decide,
    };
    use crate::domain::events::fold;
    use crate::domain::model::{
        Actor, CaseFile, Holder, Issuer, Metadata, OfficialRole, PdfRef, Role, RowId, Series,
        SignatureKind, SignatureVerdict, SignedFile, Signer, Source,
    };
    use crate::domain::values::{
        AgencyCode, DocumentNumber, DocumentType, Notation, NumberNotation, OrganName, PersonName,
        Secrecy, Subject, Text, UnitId, Urgency, UserId,
    };

    fn crate_root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    /// The `*.schema.json` files in a folder (none when it does not exist).
    fn schema_files_in(dir: &Path) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut out: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.to_string_lossy().ends_with(".schema.json"))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn schemas_on_disk_match_the_code() {
        let root = crate_root();
        let update = std::env::var("CONGVAN_UPDATE_SCHEMAS").is_ok_and(|v| v == "1");
        let schemas = event_schemas();
        let mut problems = Vec::new();
        for (path, schema) in &schemas {
            let file = root.join(path);
            let text = file_text(schema);
            let on_disk = std::fs::read_to_string(&file);
            if update {
                if on_disk.as_deref().ok() != Some(text.as_str()) {
                    let dir = file.parent().expect("a schema file has a folder");
                    std::fs::create_dir_all(dir).expect("create the schemas folder");
                    std::fs::write(&file, &text).expect("write a schema file");
                }
                continue;
            }
            match on_disk {
                Ok(t) if t == text => {}
                Ok(_) => problems.push(format!("{path} differs from what the code generates")),
                Err(e) => problems.push(format!("{path} cannot be read: {e}")),
            }
        }
        // Files the code no longer produces.
        let expected: BTreeSet<PathBuf> = schemas.iter().map(|(p, _)| root.join(p)).collect();
        let mut on_disk = schema_files_in(&root.join(DIR));
        on_disk.extend(schema_files_in(&root.join(DIR).join(EVENTS_DIR)));
        for file in on_disk {
            if expected.contains(&file) {
                continue;
            }
            if update {
                std::fs::remove_file(&file).expect("remove a stale schema file");
            } else {
                problems.push(format!(
                    "{} is not generated by the code any more",
                    file.strip_prefix(&root).unwrap_or(&file).display()
                ));
            }
        }
        assert!(
            problems.is_empty(),
            "the schemas in {DIR}/ are out of date:\n  {}\nRun `CONGVAN_UPDATE_SCHEMAS=1 cargo test \
             --lib schema` and commit {DIR}/.",
            problems.join("\n  ")
        );
    }

    #[test]
    fn every_schema_has_an_id_title_and_description_and_event_schemas_a_version() {
        let schemas = event_schemas();
        let paths: BTreeSet<&String> = schemas.iter().map(|(p, _)| p).collect();
        assert_eq!(paths.len(), schemas.len(), "two event types share a name");
        for (path, schema) in schemas {
            for key in ["$schema", "$id", "title", "description"] {
                assert!(
                    schema.get(key).is_some_and(Value::is_string),
                    "{path}: {key}"
                );
            }
            let id = schema["$id"].as_str().unwrap_or_default();
            let relative = path.strip_prefix(&format!("{DIR}/")).unwrap_or_default();
            assert_eq!(id, format!("{BASE_URI}{relative}"), "{path}");
            if relative.starts_with(&format!("{EVENTS_DIR}/")) {
                assert!(schema["x-schema-version"].is_u64(), "{path}");
                assert!(schema["properties"].get("type").is_none(), "{path}");
            }
        }
        let received = payload_schemas()
            .into_iter()
            .find(|(t, _)| t == "received")
            .map(|(_, s)| s)
            .expect("a received schema");
        assert_eq!(received["x-schema-version"], json!(RECEIVED_SCHEMA_VERSION));
        let description = received["description"].as_str().unwrap_or_default();
        assert!(description.contains("registry_unit"), "{description}");
    }

    // --- validation ------------------------------------------------------------

    /// Every schema file compiled, by path relative to `schemas/`; refs
    /// between files resolve among them, offline. Formats and content (the
    /// row's JSON texts) are asserted.
    struct Validators {
        compiled: boon::Schemas,
        by_file: BTreeMap<String, boon::SchemaIndex>,
    }

    impl Validators {
        fn new() -> Self {
            let schemas = event_schemas();
            let mut compiler = boon::Compiler::new();
            compiler.enable_format_assertions();
            compiler.enable_content_assertions();
            for (path, schema) in &schemas {
                let id = schema["$id"].as_str().unwrap_or_default();
                compiler
                    .add_resource(id, schema.clone())
                    .unwrap_or_else(|e| panic!("{path}: {e:#}"));
            }
            let mut compiled = boon::Schemas::new();
            let mut by_file = BTreeMap::new();
            for (path, schema) in &schemas {
                let id = schema["$id"].as_str().unwrap_or_default();
                let index = compiler
                    .compile(id, &mut compiled)
                    .unwrap_or_else(|e| panic!("{path} is a valid schema: {e:#}"));
                let file = path.strip_prefix(&format!("{DIR}/")).unwrap_or(path);
                by_file.insert(file.to_string(), index);
            }
            Validators { compiled, by_file }
        }

        fn errors(&self, file: &str, instance: &Value) -> Vec<String> {
            let index = self
                .by_file
                .get(file)
                .unwrap_or_else(|| panic!("there is a schema {file}"));
            match self.compiled.validate(instance, *index) {
                Ok(()) => Vec::new(),
                Err(e) => vec![format!("{e:#}")],
            }
        }

        #[track_caller]
        fn assert_valid(&self, file: &str, instance: &Value) {
            let errors = self.errors(file, instance);
            assert!(
                errors.is_empty(),
                "{instance}\ndoes not match {file}:\n  {}",
                errors.join("\n  ")
            );
        }

        #[track_caller]
        fn assert_invalid(&self, file: &str, instance: &Value) {
            assert!(
                !self.errors(file, instance).is_empty(),
                "{instance} should not match {file}"
            );
        }

        #[track_caller]
        fn assert_payload_valid(&self, event_type: &str, payload: &str) {
            let v: Value = serde_json::from_str(payload).expect("a payload is JSON");
            self.assert_valid(&format!("{EVENTS_DIR}/{event_type}.schema.json"), &v);
        }
    }

    // A small agency and a day's work, driven through `decide`.

    const DAY: &str = "2026-11-20T02:00:00Z"; // Friday, 09:00 in Hanoi

    fn user(s: &str) -> UserId {
        UserId::parse(s).expect("a user id")
    }

    fn unit(s: &str) -> UnitId {
        UnitId::parse(s).expect("a unit id")
    }

    fn text(s: &str) -> Text {
        Text::parse("text", s, Text::MAX_CHARS).expect("a text")
    }

    fn actor(name: &str, unit_id: &str, role: OfficialRole) -> Actor {
        Actor {
            user: user(name),
            unit: unit(unit_id),
            roles: vec![role],
        }
    }

    fn clerk() -> Actor {
        actor("vanthu", "VT", OfficialRole::Clerk)
    }

    fn leader() -> Actor {
        actor("lanhdao", "LD", OfficialRole::Leader)
    }

    fn head() -> Actor {
        actor("truongphong", "TH", OfficialRole::UnitHead)
    }

    fn specialist() -> Actor {
        actor("chuyenvien", "TH", OfficialRole::Specialist)
    }

    fn document(n: u128) -> DocumentId {
        DocumentId(Uuid::from_u128(
            0x0196_0000_0000_7000_8000_0000_0000_0000 + n,
        ))
    }

    fn pdf(content: &[u8]) -> PdfRef {
        PdfRef {
            sha256: Sha256Digest::of(content),
            pages: 3,
            bytes: 48_213,
        }
    }

    fn verdict() -> SignatureVerdict {
        SignatureVerdict {
            field: "ChuKyCoQuan".into(),
            indication: "TOTAL-PASSED".into(),
            sub_indication: None,
            modifications: "none".into(),
            signer: Some("CN=Văn thư,O=Ủy ban nhân dân tỉnh,C=VN".into()),
        }
    }

    fn signature_facts(content: &[u8]) -> SignedFile {
        SignedFile {
            pdf: pdf(content),
            signed_at: DAY.parse().expect("a timestamp"),
            certificate_sha256: Sha256Digest::of(b"certificate"),
            revision_sha256: Sha256Digest::of(content),
            byte_range: [0, 1200, 20_602, 880],
            verdict: verdict(),
        }
    }

    fn spec(holder: Holder, role: Role, deadline: Option<DeadlineSpec>) -> AssignmentSpec {
        AssignmentSpec {
            holder,
            role,
            deadline,
        }
    }

    fn incoming_metadata(secrecy: Secrecy) -> Metadata {
        Metadata {
            document_type: DocumentType::CongVan,
            number_notation: Some(NumberNotation::parse("1234/UBND-KT").expect("a number")),
            issuer: Some(Issuer {
                code: AgencyCode::parse("000.00.00.G22").expect("an agency code"),
                name: OrganName::parse("Văn phòng Chính phủ").expect("a name"),
            }),
            issue_date: Some(date(2026, 11, 18)),
            subject: Subject::parse("Về việc triển khai Nghị định 30/2020/NĐ-CP")
                .expect("a subject"),
            urgency: Urgency::Urgent,
            secrecy,
            pages: Some(2),
            signer: Some(Signer {
                position: PersonName::parse("Bộ trưởng, Chủ nhiệm").expect("a position"),
                full_name: PersonName::parse("Trần Văn Sơn").expect("a name"),
            }),
            recipients: vec![text("Như trên;"), text("Lưu: VT.")],
            due_date: Some(date(2026, 12, 4)),
        }
    }

    fn outgoing_metadata() -> Metadata {
        Metadata {
            document_type: DocumentType::QuyetDinh,
            number_notation: None,
            issuer: None,
            issue_date: None,
            subject: Subject::parse("Về việc ban hành quy chế văn thư").expect("a subject"),
            urgency: Urgency::Normal,
            secrecy: Secrecy::Normal,
            pages: None,
            signer: None,
            recipients: Vec::new(),
            due_date: None,
        }
    }

    /// One document's stream, grown by deciding commands on its folded state.
    struct Stream {
        policy: Policy,
        events: Vec<DocumentEvent>,
        minute: i64,
    }

    impl Stream {
        fn new() -> Self {
            Stream {
                policy: Policy {
                    calendar: WorkingCalendar::vietnam(),
                    allow_secret_content: false,
                },
                events: Vec::new(),
                minute: 0,
            }
        }

        #[track_caller]
        fn run(&mut self, actor: Actor, action: Action) -> &mut Self {
            self.minute += 5;
            let day: Timestamp = DAY.parse().expect("a timestamp");
            let at = day
                .checked_add(jiff::SignedDuration::from_mins(self.minute))
                .expect("a time on the day");
            let cmd = Command {
                actor,
                at,
                today: agency_date(at),
                action,
            };
            let state = fold(self.events.iter());
            let events = decide(&self.policy, &cmd, state.as_ref())
                .unwrap_or_else(|e| panic!("{:?} is refused: {e}", cmd.action));
            self.events.extend(events);
            self
        }
    }

    /// Streams that between them hold every kind of document event.
    fn decided_events() -> Vec<DocumentEvent> {
        let mut all = Vec::new();

        // Delivered electronically, registered, directed, forwarded, handled, filed.
        let mut a = Stream::new();
        a.run(
            clerk(),
            Action::Receive {
                document_id: document(1),
                source: Source::Delivered {
                    from: AgencyCode::parse("000.00.00.G22").expect("an agency code"),
                },
                metadata: incoming_metadata(Secrecy::Normal),
                pdf: Some(pdf(b"incoming")),
                register: None,
            },
        )
        .run(
            clerk(),
            Action::Register(RegistrationFacts {
                arrival_number: 1,
                year: 2026,
                arrival_date: date(2026, 11, 20),
                possible_duplicates: vec![document(9)],
                signatures: Some(vec![verdict()]),
            }),
        )
        .run(
            clerk(),
            Action::SubmitToLeader {
                leader: user("lanhdao"),
            },
        )
        .run(
            leader(),
            Action::Direct {
                instruction: Some(text("Giao Phòng Tổng hợp chủ trì tham mưu.")),
                assignments: vec![
                    spec(
                        Holder::Unit(unit("TH")),
                        Role::Lead,
                        Some(DeadlineSpec::WorkingDays { working_days: 5 }),
                    ),
                    spec(Holder::Unit(unit("VT")), Role::ForInformation, None),
                ],
            },
        )
        .run(
            head(),
            Action::Forward {
                row: RowId(4),
                instruction: None,
                assignments: vec![spec(Holder::User(user("chuyenvien")), Role::Lead, None)],
                unit_members: vec![user("chuyenvien")],
            },
        )
        .run(specialist(), Action::Accept { row: RowId(6) })
        .run(
            specialist(),
            Action::ReportProgress {
                row: RowId(6),
                percent: 50,
                note: text("Đang dự thảo báo cáo."),
            },
        )
        .run(
            specialist(),
            Action::Complete {
                row: RowId(6),
                result: Some(text("Đã báo cáo.")),
                reply_document: Some(document(4)),
            },
        )
        .run(
            specialist(),
            Action::File {
                case_file: CaseFile {
                    code: text("HS-2026-01"),
                    title: Some(text("Hồ sơ triển khai Nghị định 30")),
                },
            },
        );
        all.extend(a.events);

        // A scan received and registered in one step.
        let mut b = Stream::new();
        b.run(
            clerk(),
            Action::Receive {
                document_id: document(2),
                source: Source::Scan,
                metadata: incoming_metadata(Secrecy::Normal),
                pdf: Some(pdf(b"scan")),
                register: Some(RegistrationFacts {
                    arrival_number: 2,
                    year: 2026,
                    arrival_date: date(2026, 11, 20),
                    possible_duplicates: Vec::new(),
                    signatures: None,
                }),
            },
        );
        all.extend(b.events);

        // A secret document, without its PDF: returned to its sender, and
        // another recalled.
        let mut c = Stream::new();
        c.run(
            clerk(),
            Action::Receive {
                document_id: document(3),
                source: Source::Scan,
                metadata: incoming_metadata(Secrecy::Confidential),
                pdf: None,
                register: None,
            },
        )
        .run(
            clerk(),
            Action::Return {
                row: RowId(1),
                reason: text("Gửi nhầm địa chỉ."),
            },
        );
        all.extend(c.events);
        let mut d = Stream::new();
        d.run(
            clerk(),
            Action::Receive {
                document_id: document(5),
                source: Source::Scan,
                metadata: incoming_metadata(Secrecy::TopSecret),
                pdf: None,
                register: None,
            },
        )
        .run(
            leader(),
            Action::Recall {
                reason: text("Cơ quan ban hành thu hồi."),
            },
        );
        all.extend(d.events);

        // An outgoing decision: drafted, returned, revised, approved twice,
        // numbered and dispatched.
        let mut e = Stream::new();
        e.run(
            specialist(),
            Action::Draft {
                document_id: document(4),
                metadata: outgoing_metadata(),
                pdf: Some(pdf(b"draft 1")),
                clerk_unit: unit("VT"),
            },
        )
        .run(
            specialist(),
            Action::AddAttachment {
                name: text("Phụ lục I: Dự toán chi tiết"),
                pdf: pdf(b"attachment 1"),
            },
        )
        .run(
            specialist(),
            Action::SubmitForReview {
                reviewer: user("truongphong"),
            },
        )
        .run(
            head(),
            Action::Review(ReviewDecision::Return {
                comment: text("Bổ sung căn cứ pháp lý."),
            }),
        )
        .run(
            specialist(),
            Action::AddRevision {
                pdf: pdf(b"draft 2"),
                note: Some(text("Đã bổ sung.")),
            },
        )
        .run(
            specialist(),
            Action::SubmitForReview {
                reviewer: user("truongphong"),
            },
        )
        .run(
            head(),
            Action::Review(ReviewDecision::Approve {
                comment: Some(text("Trình lãnh đạo ký.")),
                next_reviewer: Some(user("lanhdao")),
            }),
        )
        .run(
            leader(),
            Action::Review(ReviewDecision::Approve {
                comment: None,
                next_reviewer: None,
            }),
        )
        .run(
            leader(),
            Action::Sign {
                kind: SignatureKind::Personal,
                facts: Box::new(signature_facts(b"signed by the chairman")),
                attachments: Vec::new(),
            },
        )
        .run(
            clerk(),
            Action::Number {
                number: 5,
                year: 2026,
                series: Series::Regular,
                notation: Notation::parse("QĐ-UBND").expect("a notation"),
                issue_date: date(2026, 11, 20),
            },
        )
        .run(
            clerk(),
            Action::Sign {
                kind: SignatureKind::AgencySeal,
                facts: Box::new(signature_facts(b"sealed")),
                attachments: vec![signature_facts(b"sealed attachment 1")],
            },
        )
        .run(
            clerk(),
            Action::Dispatch {
                assignments: vec![
                    spec(Holder::Unit(unit("TH")), Role::Lead, None),
                    spec(Holder::Unit(unit("LD")), Role::ForInformation, None),
                ],
            },
        );
        all.extend(e.events);
        all
    }

    #[test]
    fn decided_payloads_match_their_schemas() {
        let validators = Validators::new();
        let mut seen = BTreeSet::new();
        for event in decided_events() {
            validators.assert_payload_valid(event.event_type(), &event.to_payload());
            let (_, schema) = payload_schemas()
                .into_iter()
                .find(|(t, _)| t == event.event_type())
                .expect("a schema for every event type");
            assert_eq!(schema["x-schema-version"], json!(event.schema_version()));
            seen.insert(event.event_type().to_string());
        }
        let at: Timestamp = DAY.parse().expect("a timestamp");
        for event in crate::demo::organisation(at).expect("the demo organisation") {
            validators.assert_payload_valid(event.event_type(), &event.to_payload());
            seen.insert(event.event_type().to_string());
        }
        let who = user("quantri");
        let unit = crate::domain::values::UnitId::parse("TH").expect("unit");
        let name = |s: &str| crate::domain::values::PersonName::parse(s).expect("name");
        let directory = [
            DirectoryEvent::UnitRenamed {
                at,
                id: unit.clone(),
                name: crate::domain::values::OrganName::parse("Phòng Tổng hợp - Thi đua")
                    .expect("name"),
            },
            DirectoryEvent::OfficialChanged {
                at,
                user: who.clone(),
                full_name: name("Hoàng Văn Long"),
                position: name("Quản trị"),
                unit,
                roles: vec![crate::domain::model::OfficialRole::Admin],
            },
            DirectoryEvent::OfficialDeactivated {
                at,
                user: who.clone(),
            },
            DirectoryEvent::OfficialReactivated {
                at,
                user: who.clone(),
            },
            DirectoryEvent::PasswordSet {
                at,
                user: who.clone(),
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
            },
            DirectoryEvent::SigningTitlesSet {
                at,
                user: who.clone(),
                titles: vec![
                    crate::domain::directory::SigningTitle::Kt,
                    crate::domain::directory::SigningTitle::Tuq,
                ],
            },
        ];
        for event in directory {
            validators.assert_payload_valid(event.event_type(), &event.to_payload());
            seen.insert(event.event_type().to_string());
        }
        let auth = [
            AuthEvent::SignedIn {
                at,
                user: who.clone(),
                token_id: "5f0c".into(),
                client_address: Some("127.0.0.1".into()),
            },
            AuthEvent::SignInFailed {
                at,
                username: "nobody".into(),
                reason: crate::domain::access::SignInFailure::BadCredentials,
                client_address: None,
            },
            AuthEvent::TokenRevoked {
                at,
                user: who.clone(),
                token_id: "5f0c".into(),
                expires: 1_800_000_000,
            },
        ];
        for event in auth {
            validators.assert_payload_valid(event.event_type(), &event.to_payload());
            seen.insert(event.event_type().to_string());
        }
        let view = Viewed {
            at,
            user: who,
            what: crate::domain::access::ViewKind::Pdf,
            revision: Some(1),
        };
        let payload = serde_json::to_string(&view).expect("serialise");
        validators.assert_payload_valid(Viewed::EVENT_TYPE, &payload);
        seen.insert(Viewed::EVENT_TYPE.to_string());

        let taken = NumberTaken {
            number: 5,
            document_id: document(4),
            at,
        };
        let payload = serde_json::to_string(&taken).expect("serialise");
        validators.assert_payload_valid(NumberTaken::EVENT_TYPE, &payload);
        seen.insert(NumberTaken::EVENT_TYPE.to_string());

        let every: BTreeSet<String> = payload_schemas().into_iter().map(|(t, _)| t).collect();
        assert_eq!(seen, every, "every event type is exercised");
    }

    #[test]
    fn metadata_of_commands_and_of_the_directory_match_the_schema() {
        let validators = Validators::new();
        let actor = user("vanthu");
        let full = RequestMeta {
            on_behalf_of: Some("lanhdao".into()),
            correlation_id: Some("c0ffee".into()),
            causation_id: Some("0196a1b2-0000-7000-8000-000000000001".into()),
            request_id: Some("req-42".into()),
            client_address: Some("192.0.2.10".into()),
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        };
        for request in [&full, &RequestMeta::default()] {
            let text = serde_json::to_string(&EventMetadata {
                actor: &actor,
                request,
            })
            .expect("serialise");
            let v: Value = serde_json::from_str(&text).expect("JSON");
            validators.assert_valid(METADATA_FILE, &v);
        }
        validators.assert_valid(METADATA_FILE, &json!({}));
        validators.assert_invalid(METADATA_FILE, &json!({ "actor": "vanthu" }));
        validators.assert_invalid(METADATA_FILE, &json!([]));
    }

    #[test]
    fn schemas_refuse_what_the_code_refuses() {
        let validators = Validators::new();
        let events = decided_events();
        let received = events
            .iter()
            .find(|e| e.event_type() == "received")
            .expect("a received event");
        let good: Value = serde_json::from_str(&received.to_payload()).expect("JSON");
        let file = format!("{EVENTS_DIR}/received.schema.json");
        validators.assert_valid(&file, &good);

        let broken = |edit: &dyn Fn(&mut Value)| {
            let mut v = good.clone();
            edit(&mut v);
            v
        };
        // The version 1 shape: no source, the unit as registry_unit.
        let v1 = broken(&|v| {
            let m = v.as_object_mut().expect("an object");
            m.remove("source");
            let unit = m.remove("clerk_unit").expect("clerk_unit");
            m.insert("registry_unit".into(), unit);
        });
        validators.assert_invalid(&file, &v1);
        for edit in [
            &|v: &mut Value| v["metadata"]["subject"] = json!("x".repeat(501)),
            &|v: &mut Value| v["metadata"]["subject"] = json!(" padded "),
            &|v: &mut Value| v["metadata"]["document_type"] = json!("luat"),
            &|v: &mut Value| v["metadata"]["urgency"] = json!("Khẩn"),
            &|v: &mut Value| v["metadata"]["number_notation"] = json!("5/QĐ-UBND"),
            &|v: &mut Value| v["metadata"]["issuer"]["code"] = json!("000.00.00.h49"),
            &|v: &mut Value| v["metadata"]["issue_date"] = json!("20/11/2026"),
            &|v: &mut Value| v["pdf"]["sha256"] = json!("ABC"),
            &|v: &mut Value| v["source"] = json!({ "kind": "fax" }),
            &|v: &mut Value| v["by"] = json!("Van Thu"),
            &|v: &mut Value| v["at"] = json!("yesterday"),
            &|v: &mut Value| {
                v.as_object_mut().expect("an object").remove("pdf");
            },
        ] as [&dyn Fn(&mut Value); 12]
        {
            validators.assert_invalid(&file, &broken(edit));
        }
    }

    /// The schema of a value type accepts a string exactly when `parse`
    /// accepts it and the value is stored as that same string.
    #[test]
    fn value_schemas_agree_with_parse() {
        fn check<T: JsonSchema + serde::Serialize>(
            parse: impl Fn(&str) -> Option<T>,
            candidates: &[String],
        ) {
            let schema = schemars::SchemaGenerator::default()
                .into_root_schema_for::<T>()
                .to_value();
            let id = format!("{BASE_URI}values/{}.schema.json", T::schema_name());
            let mut compiler = boon::Compiler::new();
            compiler.enable_format_assertions();
            compiler
                .add_resource(&id, schema)
                .expect("a schema resource");
            let mut compiled = boon::Schemas::new();
            let index = compiler
                .compile(&id, &mut compiled)
                .unwrap_or_else(|e| panic!("{id} is a valid schema: {e:#}"));
            for s in candidates {
                let stored =
                    parse(s).is_some_and(|v| serde_json::to_value(v).ok() == Some(json!(s)));
                assert_eq!(
                    compiled.validate(&json!(s), index).is_ok(),
                    stored,
                    "{}: {s:?} (parse accepts it as stored: {stored})",
                    T::schema_name()
                );
            }
        }
        let strings = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut common = strings(&[
            "",
            " ",
            "a",
            " a",
            "a ",
            "a b",
            "a\nb",
            "a\u{7}b",
            "\u{3000}a",
            "a\u{85}",
            "\u{feff}a",
            "a\u{feff}",
            "a\u{feff}b",
            "a\u{200b}",
        ]);
        common.push("ệ".repeat(30));
        common.push("ệ".repeat(31));

        let mut ids = common.clone();
        ids.extend(strings(&[
            "nguyen.van-an_2",
            "Nguyen",
            "an@b",
            "nguyễn",
            "VP.UBND_01-a",
        ]));
        ids.push("a".repeat(64));
        ids.push("a".repeat(65));
        check(|s| UserId::parse(s).ok(), &ids);
        check(|s| UnitId::parse(s).ok(), &ids);

        let mut codes = common.clone();
        codes.extend(strings(&[
            "000.00.00.H49",
            "000.00.00.h49",
            "000.00.00.H4",
            "000.00.00.149",
            "000-00-00-H49",
            "000.00.00.HH9",
            "000.00.00.H49.01.02.A03",
            "000.00.00.H49-01",
            "000.00.00.Ê49",
        ]));
        codes.push(format!("000.00.00.H49{}", "1".repeat(22)));
        codes.push(format!("000.00.00.H49{}", "1".repeat(23)));
        check(|s| AgencyCode::parse(s).ok(), &codes);

        for max in [100, 200, 500] {
            let mut texts = common.clone();
            texts.push("Ủy ban nhân dân".to_string());
            texts.push("ệ".repeat(max));
            texts.push("ệ".repeat(max + 1));
            texts.push(format!("a{}b", " ".repeat(max - 2)));
            match max {
                100 => check(|s| PersonName::parse(s).ok(), &texts),
                200 => check(|s| OrganName::parse(s).ok(), &texts),
                _ => check(|s| Subject::parse(s).ok(), &texts),
            }
        }
        let mut texts = common.clone();
        texts.push("x".repeat(Text::MAX_CHARS));
        texts.push("x".repeat(Text::MAX_CHARS + 1));
        check(|s| Text::parse("text", s, Text::MAX_CHARS).ok(), &texts);

        let mut numbers = common.clone();
        numbers.extend(strings(&[
            "0",
            "00",
            "1",
            "01",
            "05",
            "5",
            "10",
            "010",
            "123",
            "999999999",
            "1000000000",
            "3999999999",
            "4294967290",
            "4294967295",
            "4294967296",
            "4294967300",
            "4300000000",
            "5000000000",
            "99999999999",
            "-5",
        ]));
        check(|s| DocumentNumber::parse(s).ok(), &numbers);

        let mut notations = common.clone();
        notations.extend(strings(&["QĐ-UBND", "VPCP/TTĐT", "QĐ\tUBND", "QĐ\u{85}X"]));
        check(|s| Notation::parse(s).ok(), &notations);

        let mut nn = common;
        nn.extend(strings(&[
            "05/QĐ-UBND",
            "5/QĐ-UBND",
            "00/QĐ",
            "05/",
            "05/QĐ/UBND",
            "7816/VPCP-TTĐT",
            "05 /QĐ",
            "4294967295/X",
            "4294967296/X",
        ]));
        nn.push(format!("05/{}", "Đ".repeat(30)));
        nn.push(format!("05/{}", "Đ".repeat(31)));
        check(|s| NumberNotation::parse(s).ok(), &nn);

        let mut kinds: Vec<String> = DocumentType::all()
            .iter()
            .map(|t| t.code().to_string())
            .collect();
        kinds.extend(strings(&["luat", "QĐ", "Quyết định"]));
        check(|s| DocumentType::parse(s).ok(), &kinds);
        let mut levels: Vec<String> = Urgency::all().iter().map(|u| u.code().into()).collect();
        levels.extend(Secrecy::all().iter().map(|u| u.code().to_string()));
        levels.extend(strings(&["Khẩn", "Mật", "binh thuong", "super"]));
        check(|s| Urgency::parse(s).ok(), &levels);
        check(|s| Secrecy::parse(s).ok(), &levels);

        let digests = strings(&[
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
            "",
        ]);
        check(|s| s.parse::<Sha256Digest>().ok(), &digests);
    }
}
