//! Shared test helpers.

use congvan::store::{ExpectedVersion, NewEvent, StreamAppend};
use uuid::Uuid;

pub fn event(n: u64) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        event_type: "test_event".to_string(),
        schema_version: 1,
        payload: format!("{{\"n\":{n},\"x\":0}}"),
        metadata: "{\"actor\":\"test\"}".to_string(),
    }
}

pub fn append(stream: &str, expected: ExpectedVersion, events: Vec<NewEvent>) -> Vec<StreamAppend> {
    vec![StreamAppend {
        stream: stream.to_string(),
        expected,
        events,
    }]
}

/// The path of the built `congvan` binary.
pub fn bin() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_congvan"))
}

/// Whether a tool is on PATH; in CI (CI=true) a missing tool fails the test.
pub fn have_tool(name: &str) -> bool {
    let found = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{name} is required in CI but is not installed");
        }
        eprintln!("SKIPPED: {name} is not installed");
    }
    found
}
