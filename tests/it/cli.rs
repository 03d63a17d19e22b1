//! The command line as a newcomer and an auditor use it: `demo`, `log verify`
//! after tampering with the stock sqlite3 tool and after deleting a PDF,
//! `projections rebuild` and `check`.

use std::path::Path;
use std::process::{Command, Output};

use crate::helpers::{bin, have_tool};

fn congvan(args: &[&str], dir: &Path) -> Output {
    Command::new(bin())
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .expect("run congvan")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn demo_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let o = congvan(&["demo"], &data);
    assert!(
        o.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = stdout(&o);
    assert!(
        out.contains("sits with: unit:VT — register")
            || out.contains("sits with: unit:VT — submit"),
        "{out}"
    );
    assert!(out.contains("[status: issued]"), "{out}");
    dir
}

#[test]
fn demo_then_log_verify_passes() {
    let dir = demo_dir();
    let data = dir.path().join("data");
    assert!(data.join("congvan.db").exists());
    assert!(data.join("projections.db").exists());
    let o = congvan(&["log", "verify"], &data);
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&o).starts_with("ok: "), "{}", stdout(&o));
}

#[test]
fn a_payload_changed_with_sqlite3_is_named_by_position() {
    if !have_tool("sqlite3") {
        return;
    }
    let dir = demo_dir();
    let data = dir.path().join("data");
    let db = data.join("congvan.db");
    // Pick a document event in the middle of the log.
    let n: u64 = String::from_utf8_lossy(
        &Command::new("sqlite3")
            .arg(&db)
            .arg("SELECT position FROM events WHERE stream LIKE 'document-%' ORDER BY position LIMIT 1 OFFSET 5")
            .output()
            .expect("sqlite3")
            .stdout,
    )
    .trim()
    .parse()
    .expect("a position");
    let o = Command::new("sqlite3")
        .arg(&db)
        .arg(format!(
            "UPDATE events SET payload = json_set(payload, '$.x', 1) WHERE position = {n}"
        ))
        .output()
        .expect("sqlite3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = congvan(&["log", "verify"], &data);
    assert!(!o.status.success(), "verify must fail after tampering");
    assert!(
        stdout(&o).contains(&format!("position {n}:")),
        "names position {n}: {}",
        stdout(&o)
    );
}

#[test]
fn a_deleted_pdf_is_named() {
    let dir = demo_dir();
    let data = dir.path().join("data");
    let pdf_dir = data.join("pdf");
    let victim = std::fs::read_dir(&pdf_dir)
        .expect("pdf dir")
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "pdf"))
        .expect("a stored pdf");
    let digest = victim
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("digest")
        .to_string();
    std::fs::remove_file(&victim).expect("delete");
    let o = congvan(&["log", "verify"], &data);
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains(&digest),
        "names the PDF: {}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("missing"), "{}", stdout(&o));
}

#[test]
fn projections_rebuild_and_check() {
    let dir = demo_dir();
    let data = dir.path().join("data");
    let o = congvan(&["projections", "rebuild"], &data);
    assert!(
        o.status.success(),
        "{}{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout(&o).contains("no projection skipped a position"),
        "{}",
        stdout(&o)
    );
    let o = congvan(&["projections", "check"], &data);
    assert!(o.status.success(), "{}", stdout(&o));
}

#[test]
fn a_data_dir_that_cannot_be_created_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").expect("write");
    let o = congvan(&["log", "verify"], &file.join("sub"));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("congvan: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
