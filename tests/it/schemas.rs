//! The committed JSON Schemas in `schemas/` against real rows: the demo's
//! journeys and a recall with every request fact, read back from the `events`
//! table column by column as `sqlite3 -json` shows them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use congvan::app::{App, Config, RequestMeta};
use congvan::domain::decide::Action;
use congvan::domain::model::DocumentId;
use congvan::domain::values::{Text, UserId};
use congvan::store::EventStore;
use congvan::store::sqlite::DB_FILE;
use serde_json::{Map, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Column, Row, TypeInfo, ValueRef};

const BASE_URI: &str = "https://congvan.invalid/schemas/";

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

/// Every committed schema, by path relative to `schemas/`.
fn committed_schemas() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for sub in ["", "events/"] {
        let dir = schemas_dir().join(sub);
        for entry in std::fs::read_dir(&dir).expect("the schemas folder") {
            let path = entry.expect("an entry").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if !name.ends_with(".schema.json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a schema file");
            let schema: Value = serde_json::from_str(&text).expect("a schema is JSON");
            out.insert(format!("{sub}{name}"), schema);
        }
    }
    out
}

/// Every committed schema compiled, by file; refs between files resolve among
/// them, offline. Formats and content (the row's JSON texts) are asserted.
struct Validators {
    compiled: boon::Schemas,
    by_file: BTreeMap<String, boon::SchemaIndex>,
}

impl Validators {
    fn new(schemas: &BTreeMap<String, Value>) -> Self {
        let mut compiler = boon::Compiler::new();
        compiler.enable_format_assertions();
        compiler.enable_content_assertions();
        for (file, schema) in schemas {
            let id = format!("{BASE_URI}{file}");
            assert_eq!(schema["$id"], Value::String(id.clone()), "{file}");
            compiler
                .add_resource(&id, schema.clone())
                .unwrap_or_else(|e| panic!("{file}: {e:#}"));
        }
        let mut compiled = boon::Schemas::new();
        let mut by_file = BTreeMap::new();
        for file in schemas.keys() {
            let index = compiler
                .compile(&format!("{BASE_URI}{file}"), &mut compiled)
                .unwrap_or_else(|e| panic!("{file} is a valid schema: {e:#}"));
            by_file.insert(file.clone(), index);
        }
        Validators { compiled, by_file }
    }

    fn errors(&self, file: &str, instance: &Value) -> Vec<String> {
        let index = self
            .by_file
            .get(file)
            .unwrap_or_else(|| panic!("there is no schema {file}"));
        match self.compiled.validate(instance, *index) {
            Ok(()) => Vec::new(),
            Err(e) => vec![format!("{e:#}")],
        }
    }

    #[track_caller]
    fn assert_valid(&self, file: &str, instance: &Value, what: &str) {
        let errors = self.errors(file, instance);
        assert!(
            errors.is_empty(),
            "{what}: {instance}\ndoes not match {file}:\n  {}",
            errors.join("\n  ")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_rows_match_the_committed_schemas() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config::new(dir.path()).with_dev_keys().expect("keys-dev");
    let app = App::open(config).await.expect("open app");
    congvan::demo::run(&app).await.expect("demo");

    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(dir.path().join(DB_FILE))
                .read_only(true),
        )
        .await
        .expect("open the store read-only");

    // The issued outgoing document is recalled, with every request fact.
    let stream: String =
        sqlx::query_scalar("SELECT stream FROM events WHERE event_type = 'drafted' LIMIT 1")
            .fetch_one(&pool)
            .await
            .expect("the demo drafts a document");
    let id = DocumentId::from_stream(&stream).expect("a document stream");
    let meta = RequestMeta {
        on_behalf_of: Some("lanhdao".into()),
        correlation_id: Some("recall-1".into()),
        causation_id: Some("0196a1b2-0000-7000-8000-000000000001".into()),
        request_id: Some("req-42".into()),
        client_address: Some("127.0.0.1".into()),
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
    };
    let reason = Text::parse("reason", "Ban hành nhầm.", 1000).expect("a reason");
    app.execute(
        &UserId::parse("vanthu").expect("a user"),
        id,
        Action::Recall { reason },
        &meta,
    )
    .await
    .expect("recall the issued document");

    let (types, first) = assert_log_matches_schemas(&pool).await;
    for t in [
        "agency_defined",
        "official_created",
        "number_taken",
        "received",
        "recalled",
    ] {
        assert!(types.contains(t), "the demo stores {t}: {types:?}");
    }

    // And the row schema is not a rubber stamp.
    let validators = Validators::new(&committed_schemas());
    type Edit<'a> = &'a dyn Fn(&mut Map<String, Value>);
    let broken = |edit: Edit| {
        let mut row = first.as_object().cloned().unwrap_or_default();
        edit(&mut row);
        Value::Object(row)
    };
    let edits: [Edit; 9] = [
        // The JSON texts are checked as content too.
        &|r| {
            r.insert("payload".into(), Value::from("not JSON"));
        },
        &|r| {
            r.insert("metadata".into(), Value::from(r#"{"actor": 5}"#));
        },
        &|r| {
            let upper = r["hash"].as_str().unwrap_or_default().to_uppercase();
            r.insert("hash".into(), Value::from(upper));
        },
        &|r| {
            r.remove("position");
        },
        &|r| {
            r.insert("position".into(), Value::from(0));
        },
        &|r| {
            r.insert("extra".into(), Value::from(1));
        },
        &|r| {
            r.insert("stream".into(), Value::from("document-42"));
        },
        &|r| {
            r.insert("event_type".into(), Value::from("unknown"));
        },
        &|r| {
            r.insert("recorded_at".into(), Value::from("2026-11-20T02:00:00Z"));
        },
    ];
    for edit in edits {
        let row = broken(edit);
        assert!(
            !validators.errors("events-row.schema.json", &row).is_empty(),
            "{row} should not match the row schema"
        );
    }
}

/// Validates every row of the `events` table behind `pool` against the
/// committed schemas (row, payload by event type, metadata); returns the
/// event types seen and the first row.
pub async fn assert_log_matches_schemas(pool: &sqlx::SqlitePool) -> (BTreeSet<String>, Value) {
    let rows = sqlx::query("SELECT * FROM events ORDER BY position")
        .fetch_all(pool)
        .await
        .expect("read the events");
    let rows = rows
        .iter()
        .map(|row| {
            let mut object = Map::new();
            for (i, column) in row.columns().iter().enumerate() {
                let raw = row.try_get_raw(i).expect("a column");
                let value = match raw.type_info().name() {
                    "INTEGER" => Value::from(row.try_get::<i64, _>(i).expect("an integer")),
                    "TEXT" => Value::from(row.try_get::<String, _>(i).expect("a text")),
                    other => panic!("column {} holds {other}", column.name()),
                };
                object.insert(column.name().to_string(), value);
            }
            Value::Object(object)
        })
        .collect();
    assert_rows_match_schemas(rows)
}

/// [`assert_log_matches_schemas`] for any store, from the events as read.
pub async fn assert_store_matches_schemas(store: &impl EventStore) -> (BTreeSet<String>, Value) {
    let mut rows = Vec::new();
    loop {
        let events = store
            .read_all(rows.len() as u64 + 1, 1000)
            .await
            .expect("read the events");
        if events.is_empty() {
            break;
        }
        rows.extend(events.into_iter().map(|e| {
            serde_json::json!({
                "position": e.position, "stream": e.stream, "version": e.version,
                "event_id": e.event_id.to_string(), "event_type": e.event_type,
                "schema_version": e.schema_version, "payload": e.payload,
                "metadata": e.metadata, "recorded_at": e.recorded_at,
                "prev_hash": e.prev_hash, "hash": e.hash,
            })
        }));
    }
    assert_rows_match_schemas(rows)
}

fn assert_rows_match_schemas(rows: Vec<Value>) -> (BTreeSet<String>, Value) {
    let schemas = committed_schemas();
    let validators = Validators::new(&schemas);
    assert!(!rows.is_empty());
    let mut types = BTreeSet::new();
    let mut first = None;
    for row in rows {
        let what = format!("position {}", row["position"]);
        validators.assert_valid("events-row.schema.json", &row, &what);
        first.get_or_insert_with(|| row.clone());

        let event_type = row["event_type"].as_str().unwrap_or_default().to_string();
        let file = format!("events/{event_type}.schema.json");
        let current = schemas.get(&file).map(|s| s["x-schema-version"].clone());
        assert_eq!(current, Some(row["schema_version"].clone()), "{what}");
        let payload: Value =
            serde_json::from_str(row["payload"].as_str().unwrap_or_default()).expect("JSON");
        validators.assert_valid(&file, &payload, &what);
        let metadata: Value =
            serde_json::from_str(row["metadata"].as_str().unwrap_or_default()).expect("JSON");
        validators.assert_valid("event-metadata.schema.json", &metadata, &what);
        types.insert(event_type);
    }
    (types, first.expect("a first row"))
}
