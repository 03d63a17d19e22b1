//! `congvan pdf verify` on files signed by us and by pyHanko, tampered
//! with, signed under an untrusted root or a revoked certificate, and
//! changed after signing — each judged against pyHanko where it has a say.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{
    CertomancerTsa, bin, have_pyhanko, have_tool, keys, pyhanko, pyhanko_with_roots,
};

/// Signs `input` into `output` with `dir`/`key`.{key,cert}.pem and `dir`/chain.pem.
fn sign_with(dir: &Path, key: &str, input: &Path, output: &Path) {
    sign_with_flags(dir, key, &[], input, output);
}

fn sign_with_flags(dir: &Path, key: &str, flags: &[&str], input: &Path, output: &Path) {
    let o = Command::new(bin())
        .args(["pdf", "sign"])
        .args(flags)
        .arg("--key")
        .arg(dir.join(format!("{key}.key.pem")))
        .arg("--cert")
        .arg(dir.join(format!("{key}.cert.pem")))
        .arg("--chain")
        .arg(dir.join("chain.pem"))
        .arg(input)
        .arg(output)
        .output()
        .expect("run congvan pdf sign");
    assert!(
        o.status.success(),
        "signing with {key} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `congvan pdf verify --json ARGS FILE`: (exit code, the JSON, stderr).
fn verify(file: &Path, args: &[&Path], flags: &[&str]) -> (i32, Value, String) {
    let mut cmd = Command::new(bin());
    cmd.args(["pdf", "verify", "--json"]);
    for (flag, path) in flags.iter().zip(args) {
        cmd.arg(flag).arg(path);
    }
    let o = cmd.arg(file).output().expect("run congvan pdf verify");
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    let json = if stdout.trim().is_empty() {
        Value::Null
    } else {
        assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
        serde_json::from_str(&stdout).expect("stdout is one JSON object")
    };
    (o.status.code().expect("an exit code"), json, stderr)
}

/// Verifies with the development root and the intermediate CA's CRL.
pub(crate) fn verify_dev(file: &Path) -> (i32, Value) {
    let k = keys();
    let (code, json, stderr) = verify(
        file,
        &[&k.join("root-ca.cert.pem"), &k.join("intermediate-ca.crl")],
        &["--trust", "--crl"],
    );
    assert!(json.is_object(), "no report: {stderr}");
    (code, json)
}

fn sample(dir: &Path) -> PathBuf {
    let p = dir.join("in.pdf");
    std::fs::write(&p, congvan::pdf::sample::sample_pdf("Cong van so 12", 2)).expect("write");
    p
}

fn only(json: &Value) -> &Value {
    let sigs = json["signatures"].as_array().expect("signatures");
    assert_eq!(sigs.len(), 1, "{json}");
    &sigs[0]
}

fn field<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["signatures"]
        .as_array()
        .expect("signatures")
        .iter()
        .find(|s| s["field"] == name)
        .unwrap_or_else(|| panic!("no field {name} in {json}"))
}

fn assert_passed(s: &Value, coverage: &str, modifications: &str) {
    assert_eq!(s["indication"], "TOTAL-PASSED", "{s}");
    assert_eq!(s["sub_indication"], Value::Null, "{s}");
    assert_eq!(s["intact"], true, "{s}");
    assert_eq!(s["coverage"], coverage, "{s}");
    assert_eq!(s["modifications"], modifications, "{s}");
    assert_eq!(s["revocation"], "good", "{s}");
    assert_eq!(s["timestamp"], Value::Null, "{s}");
}

#[test]
fn verify_our_signature_passes_as_pyhanko_says() {
    if !have_pyhanko() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let signed = dir.path().join("signed.pdf");
    sign_with(&keys(), "lanhdao", &sample(dir.path()), &signed);
    let (code, json) = verify_dev(&signed);
    assert_eq!(code, 0, "{json}");
    let s = only(&json);
    assert_eq!(s["field"], "Signature1");
    assert_passed(s, "entire_file", "none");
    let signer = &s["signer"];
    assert!(
        signer["subject"]
            .as_str()
            .is_some_and(|x| x.contains("CN=Trần Văn Minh")),
        "{signer}"
    );
    assert!(
        signer["issuer"]
            .as_str()
            .is_some_and(|x| x.contains("CN=Demo Government Signing CA")),
        "{signer}"
    );
    assert_eq!(signer["serial"], "1000", "{signer}");
    for key in ["not_before", "not_after"] {
        let t: jiff::Timestamp = signer[key].as_str().expect(key).parse().expect(key);
        assert!(t.as_second() > 0);
    }
    let claimed = s["signing_time"].as_str().expect("signing_time");
    assert!(claimed.ends_with("+07:00"), "{claimed}");
    let claimed: jiff::Timestamp = claimed.parse().expect("RFC 3339");
    assert!((jiff::Timestamp::now().as_second() - claimed.as_second()).abs() < 600);

    let judged = pyhanko(std::slice::from_ref(&signed));
    let p = &judged[&signed]["signatures"]["Signature1"];
    assert_eq!(p["valid"], true, "{p}");
    assert_eq!(p["coverage"], "ENTIRE_FILE", "{p}");

    // The human report says the same in words, on stdout only.
    let o = Command::new(bin())
        .args(["pdf", "verify", "--trust"])
        .arg(keys().join("root-ca.cert.pem"))
        .arg("--crl")
        .arg(keys().join("intermediate-ca.crl"))
        .arg(&signed)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("Signature1: TOTAL-PASSED\n"), "{text}");
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn verify_a_pyhanko_signature_passes() {
    if !have_pyhanko() || !have_tool("pyhanko") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let signed = dir.path().join("pyhanko.pdf");
    let k = keys();
    let o = Command::new("pyhanko")
        .args(["sign", "addsig", "--field", "Sig1", "--use-pades", "pemder"])
        .arg("--key")
        .arg(k.join("lanhdao.key.pem"))
        .arg("--cert")
        .arg(k.join("lanhdao.cert.pem"))
        .arg("--chain")
        .arg(k.join("chain.pem"))
        .arg("--no-pass")
        .arg(sample(dir.path()))
        .arg(&signed)
        .output()
        .expect("run pyhanko");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (code, json) = verify_dev(&signed);
    assert_eq!(code, 0, "{json}");
    let s = only(&json);
    assert_eq!(s["field"], "Sig1");
    assert_passed(s, "entire_file", "none");
    let judged = pyhanko(std::slice::from_ref(&signed));
    assert_eq!(judged[&signed]["signatures"]["Sig1"]["valid"], true);
}

#[test]
fn verify_an_earlier_signature_covers_its_revision_and_form_filling() {
    if !have_pyhanko() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (once, twice) = (dir.path().join("1.pdf"), dir.path().join("2.pdf"));
    sign_with(&keys(), "lanhdao", &sample(dir.path()), &once);
    sign_with(&keys(), "agency-seal", &once, &twice);
    let (code, json) = verify_dev(&twice);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["signatures"].as_array().map(Vec::len), Some(2));
    assert_passed(
        field(&json, "Signature1"),
        "entire_revision",
        "form_filling",
    );
    assert_passed(field(&json, "Signature2"), "entire_file", "none");
    let judged = pyhanko(std::slice::from_ref(&twice));
    let p = &judged[&twice]["signatures"];
    assert_eq!(p["Signature1"]["valid"], true, "{p}");
    assert_eq!(p["Signature1"]["modification_level"], "FORM_FILLING", "{p}");
    assert_eq!(p["Signature2"]["valid"], true, "{p}");
}

#[test]
fn verify_a_changed_byte_is_a_hash_failure() {
    if !have_pyhanko() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let signed = dir.path().join("signed.pdf");
    sign_with(&keys(), "lanhdao", &sample(dir.path()), &signed);
    let mut bytes = std::fs::read(&signed).expect("read");
    let at = bytes
        .windows(14)
        .position(|w| w == b"Cong van so 12")
        .expect("the title");
    bytes[at + 13] = b'3';
    let tampered = dir.path().join("tampered.pdf");
    std::fs::write(&tampered, &bytes).expect("write");
    let (code, json) = verify_dev(&tampered);
    assert_eq!(code, 1, "{json}");
    let s = only(&json);
    assert_eq!(s["indication"], "TOTAL-FAILED", "{s}");
    assert_eq!(s["sub_indication"], "HASH_FAILURE", "{s}");
    assert_eq!(s["intact"], false, "{s}");
    let judged = pyhanko(std::slice::from_ref(&tampered));
    let p = &judged[&tampered]["signatures"]["Signature1"];
    assert_eq!(p["valid"], false, "{p}");
    assert_eq!(p["intact"], false, "{p}");
}

#[test]
fn verify_a_changed_signature_value_is_a_crypto_failure() {
    if !have_pyhanko() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let signed = dir.path().join("pss.pdf");
    sign_with_flags(&keys(), "lanhdao", &["--pss"], &sample(dir.path()), &signed);
    let (code, json) = verify_dev(&signed);
    assert_eq!(code, 0, "{json}");
    assert_passed(only(&json), "entire_file", "none");

    // The signature value is the last element of the DER in /Contents (no
    // unsigned attributes): change its last byte. /Contents is outside the
    // ByteRange, so the digest still matches.
    let original = std::fs::read(&signed).expect("read");
    let mut bytes = original.clone();
    let open = bytes
        .windows(11)
        .rposition(|w| w == b"/Contents <")
        .expect("/Contents")
        + 11;
    let hex = |at: usize| {
        u32::from_str_radix(std::str::from_utf8(&bytes[at..at + 4]).expect("hex"), 16).expect("hex")
    };
    assert_eq!(&bytes[open..open + 4], b"3082", "a long-form DER length");
    let der_len = 4 + hex(open + 4) as usize;
    let last = open + 2 * (der_len - 1);
    bytes[last + 1] = if bytes[last + 1] == b'0' { b'1' } else { b'0' };
    let broken = dir.path().join("broken.pdf");
    std::fs::write(&broken, &bytes).expect("write");
    let (code, json) = verify_dev(&broken);
    assert_eq!(code, 1, "{json}");
    let s = only(&json);
    assert_eq!(s["indication"], "TOTAL-FAILED", "{s}");
    assert_eq!(s["sub_indication"], "SIG_CRYPTO_FAILURE", "{s}");
    assert_eq!(s["intact"], true, "{s}");
    let judged = pyhanko(std::slice::from_ref(&broken));
    let p = &judged[&broken]["signatures"]["Signature1"];
    assert_eq!(p["valid"], false, "{p}");
}

#[test]
fn verify_an_untrusted_root_has_no_chain() {
    if !have_pyhanko() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let other = dir.path().join("other-pki");
    let o = Command::new(bin())
        .args(["keys-dev", "--out"])
        .arg(&other)
        .output()
        .expect("run keys-dev");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let signed = dir.path().join("signed.pdf");
    sign_with(&other, "lanhdao", &sample(dir.path()), &signed);
    let (code, json) = verify_dev(&signed);
    assert_eq!(code, 1, "{json}");
    let s = only(&json);
    assert_eq!(s["indication"], "INDETERMINATE", "{s}");
    assert_eq!(s["sub_indication"], "NO_CERTIFICATE_CHAIN_FOUND", "{s}");
    assert_eq!(s["intact"], true, "{s}");
    // No trust anchor at all: no chain either.
    let (code, json, _) = verify(&signed, &[], &[]);
    assert_eq!(code, 1);
    assert_eq!(only(&json)["sub_indication"], "NO_CERTIFICATE_CHAIN_FOUND");
    // Its own root and CRL make it pass: the failure above is the root's.
    let (code, json, _) = verify(
        &signed,
        &[
            &other.join("root-ca.cert.pem"),
            &other.join("intermediate-ca.crl"),
        ],
        &["--trust", "--crl"],
    );
    assert_eq!(code, 0, "{json}");
    assert_passed(only(&json), "entire_file", "none");
    let judged = pyhanko(std::slice::from_ref(&signed));
    let p = &judged[&signed]["signatures"]["Signature1"];
    assert_eq!(p["trusted"], false, "{p}");
    assert_eq!(p["valid"], false, "{p}");
}

#[test]
fn verify_revocation_comes_from_the_crl() {
    let dir = tempfile::tempdir().expect("temp dir");
    let k = keys();
    let input = sample(dir.path());
    let revoked = dir.path().join("revoked.pdf");
    sign_with(&k, "revoked", &input, &revoked);
    let (code, json) = verify_dev(&revoked);
    assert_eq!(code, 1, "{json}");
    let s = only(&json);
    assert_eq!(s["indication"], "TOTAL-FAILED", "{s}");
    assert_eq!(s["sub_indication"], "REVOKED", "{s}");
    assert_eq!(s["revocation"], "revoked", "{s}");
    assert_eq!(s["intact"], true, "{s}");

    // Without the CRL: the certificate names a CRL, so try later.
    let (code, json, _) = verify(&revoked, &[&k.join("root-ca.cert.pem")], &["--trust"]);
    assert_eq!(code, 1, "{json}");
    let s = only(&json);
    assert_eq!(s["indication"], "INDETERMINATE", "{s}");
    assert_eq!(s["sub_indication"], "TRY_LATER", "{s}");
    assert_eq!(s["revocation"], "unknown", "{s}");

    // The root's CRL is not the signer's issuer's: still unknown.
    let (_, json, _) = verify(
        &revoked,
        &[&k.join("root-ca.cert.pem"), &k.join("root-ca.crl")],
        &["--trust", "--crl"],
    );
    assert_eq!(only(&json)["revocation"], "unknown", "{json}");

    let good = dir.path().join("good.pdf");
    sign_with(&k, "lanhdao", &input, &good);
    let (code, json) = verify_dev(&good);
    assert_eq!(code, 0, "{json}");
    assert_passed(only(&json), "entire_file", "none");
}

/// Appends an incremental update to `signed` (an xref-table file) that
/// replaces object `id` with `body` and adds `extra` objects.
pub(crate) fn append_revision(signed: &[u8], objects: &[(u32, String)]) -> Vec<u8> {
    let (prev, _) = congvan::pades::writer::last_xref(signed).expect("startxref");
    let doc = lopdf::Document::load_mem(signed).expect("lopdf");
    let mut root = Vec::new();
    congvan::pades::writer::write_object(&mut root, doc.trailer.get(b"Root").expect("Root"))
        .expect("root");
    let size = doc
        .trailer
        .get(b"Size")
        .and_then(lopdf::Object::as_i64)
        .expect("Size");
    let mut out = signed.to_vec();
    let mut entries = Vec::new();
    for (id, body) in objects {
        entries.push((*id, out.len()));
        out.extend_from_slice(format!("{id} 0 obj\n{body}\nendobj\n").as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(b"xref\n");
    for (id, offset) in &entries {
        out.extend_from_slice(format!("{id} 1\n{offset:010} 00000 n\r\n").as_bytes());
    }
    let max = entries
        .iter()
        .map(|(id, _)| i64::from(*id) + 1)
        .max()
        .unwrap_or(0);
    out.extend_from_slice(
        format!(
            "trailer\n<</Size {} /Root {} /Prev {prev}>>\nstartxref\n{xref}\n%%EOF\n",
            size.max(max),
            String::from_utf8_lossy(&root)
        )
        .as_bytes(),
    );
    out
}

/// The first page's id and dictionary, written out with /Contents replaced.
pub(crate) fn first_page(bytes: &[u8]) -> (u32, lopdf::Dictionary, i64) {
    let doc = lopdf::Document::load_mem(bytes).expect("lopdf");
    let id = doc.get_pages()[&1];
    let page = doc
        .get_object(id)
        .and_then(lopdf::Object::as_dict)
        .expect("page")
        .clone();
    let size = doc
        .trailer
        .get(b"Size")
        .and_then(lopdf::Object::as_i64)
        .expect("Size");
    (id.0, page, size)
}

pub(crate) fn dict_text(d: &lopdf::Dictionary) -> String {
    let mut out = Vec::new();
    congvan::pades::writer::write_object(&mut out, &lopdf::Object::Dictionary(d.clone()))
        .expect("write");
    String::from_utf8(out).expect("ASCII")
}

#[test]
fn verify_a_content_change_after_signing_fails() {
    if !have_pyhanko() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let signed = dir.path().join("signed.pdf");
    sign_with(&keys(), "lanhdao", &sample(dir.path()), &signed);
    let bytes = std::fs::read(&signed).expect("read");
    let (page_id, mut page, size) = first_page(&bytes);
    let stream_id = u32::try_from(size).expect("size");
    let content = "BT /F1 14 Tf 72 700 Td (PAID IN FULL) Tj ET";
    page.set("Contents", lopdf::Object::Reference((stream_id, 0)));
    let changed = append_revision(
        &bytes,
        &[
            (page_id, dict_text(&page)),
            (
                stream_id,
                format!(
                    "<</Length {}>>\nstream\n{content}\nendstream",
                    content.len()
                ),
            ),
        ],
    );
    let changed_path = dir.path().join("changed.pdf");
    std::fs::write(&changed_path, &changed).expect("write");
    let (code, json) = verify_dev(&changed_path);
    assert_eq!(code, 1, "{json}");
    let s = only(&json);
    assert_eq!(s["indication"], "TOTAL-FAILED", "{s}");
    assert_eq!(s["sub_indication"], Value::Null, "{s}");
    assert_eq!(s["modifications"], "other", "{s}");
    assert_eq!(s["coverage"], "entire_revision", "{s}");
    assert_eq!(s["intact"], true, "{s}");
    let judged = pyhanko(std::slice::from_ref(&changed_path));
    let p = &judged[&changed_path]["signatures"]["Signature1"];
    assert_eq!(p["valid"], false, "{p}");
    assert_eq!(p["intact"], true, "{p}");

    // The same kind of update adding only a comment annotation to the page
    // is "annotations", which does not lower the indication.
    let (page_id, mut page, size) = first_page(&bytes);
    let note_id = u32::try_from(size).expect("size");
    // Our signer wrote the page's /Annots inline, with its widget.
    let mut annots = page
        .get(b"Annots")
        .and_then(lopdf::Object::as_array)
        .expect("the widget in /Annots")
        .clone();
    annots.push(lopdf::Object::Reference((note_id, 0)));
    page.set("Annots", lopdf::Object::Array(annots));
    let annotated = append_revision(
        &bytes,
        &[
            (page_id, dict_text(&page)),
            (
                note_id,
                format!(
                    "<</Type /Annot /Subtype /Text /Rect [100 100 120 120] /Contents (ok) /P {page_id} 0 R>>"
                ),
            ),
        ],
    );
    let annotated_path = dir.path().join("annotated.pdf");
    std::fs::write(&annotated_path, &annotated).expect("write");
    let (code, json) = verify_dev(&annotated_path);
    assert_eq!(code, 0, "{json}");
    assert_passed(only(&json), "entire_revision", "annotations");
}

#[test]
fn verify_a_file_without_signatures_exits_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, json, stderr) = verify(&sample(dir.path()), &[], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(json, serde_json::json!({"signatures": []}));
}

#[test]
fn verify_an_unreadable_file_exits_2_with_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let junk = dir.path().join("junk.pdf");
    std::fs::write(&junk, b"this is not a PDF at all").expect("write");
    for file in [junk, dir.path().join("missing.pdf")] {
        let (code, json, stderr) = verify(&file, &[], &[]);
        assert_eq!(code, 2, "{stderr}");
        assert_eq!(json, Value::Null, "nothing on stdout");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(lines[0].starts_with("congvan: "), "{stderr}");
    }
}

/// Files we sign whose signature we do not find again (none since the
/// loader keeps the newest copy of an object an entry sent lopdf to under
/// another number: qpdf__zero-offset.pdf lists an object at offset 0, where
/// lopdf found the FIRST revision's catalog and let it hide ours).
const VERIFY_KNOWN_GAPS: &[&str] = &[];

#[test]
fn verify_every_corpus_file_we_sign_passes() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/pdf");
    if !corpus.join("MANIFEST.tsv").exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("the corpus ../shared/corpus/pdf is required in CI");
        }
        eprintln!("SKIPPED: no corpus at {}", corpus.display());
        return;
    }
    let k = keys();
    let out = tempfile::tempdir().expect("temp dir");
    let mut passed = 0;
    let mut failed = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(&corpus)
        .expect("corpus")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".pdf"))
        .collect();
    names.sort();
    for name in names {
        let output = out.path().join(&name);
        let o = Command::new(bin())
            .args(["pdf", "sign", "--key"])
            .arg(k.join("lanhdao.key.pem"))
            .arg("--cert")
            .arg(k.join("lanhdao.cert.pem"))
            .arg("--chain")
            .arg(k.join("chain.pem"))
            .arg(corpus.join(&name))
            .arg(&output)
            .output()
            .expect("sign");
        if !o.status.success() {
            continue; // refusals are the signer's tests' business
        }
        let stdout = String::from_utf8_lossy(&o.stdout);
        let field = stdout
            .split('"')
            .nth(1)
            .expect("the field name")
            .to_string();
        let (_, json, stderr) = verify(
            &output,
            &[&k.join("root-ca.cert.pem"), &k.join("intermediate-ca.crl")],
            &["--trust", "--crl"],
        );
        let ours = json["signatures"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["field"] == field.as_str()));
        match ours {
            Some(s)
                if s["indication"] == "TOTAL-PASSED"
                    && s["coverage"] == "entire_file"
                    && s["modifications"] == "none" =>
            {
                passed += 1
            }
            other => failed.push(format!("{name}: {other:?} {stderr}")),
        }
    }
    let gaps: Vec<&str> = failed
        .iter()
        .map(|f| f.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(gaps, VERIFY_KNOWN_GAPS, "{failed:#?}");
    assert!(passed > 150, "only {passed} signed files verified");
    eprintln!("{passed} corpus files signed and verified TOTAL-PASSED");
}

/// Signs `input` into `output` as PAdES B-T with keys-dev's lanhdao and
/// `tsa` as the time-stamping authority (retrying while Certomancer starts).
fn sign_b_t(tsa: &CertomancerTsa, input: &Path, output: &Path) {
    let k = keys();
    let run = || {
        Command::new(bin())
            .args(["pdf", "sign", "--key"])
            .arg(k.join("lanhdao.key.pem"))
            .arg("--cert")
            .arg(k.join("lanhdao.cert.pem"))
            .arg("--chain")
            .arg(k.join("chain.pem"))
            .args(["--tsa", &tsa.url])
            .arg(input)
            .arg(output)
            .output()
            .expect("run congvan pdf sign")
    };
    let mut o = run();
    for _ in 0..50 {
        if o.status.success() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        o = run();
    }
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A B-T signature (Certomancer as the TSA): the time-stamp intact and
/// trusted when the TSA's root is a trust anchor (as pyHanko judges it),
/// intact but not trusted without it (the signature still TOTAL-PASSED),
/// and a changed genTime inside the token (in /Contents, outside the
/// ByteRange) makes the time-stamp not intact and the signature
/// TOTAL-FAILED/HASH_FAILURE; a changed byte of the TSA's signature value,
/// TOTAL-FAILED/SIG_CRYPTO_FAILURE.
#[test]
fn verify_a_time_stamp_is_checked_and_its_tsa_chained() {
    if !have_tool("certomancer") {
        return;
    }
    let tsa = CertomancerTsa::start();
    let dir = tsa.dir.path();
    let signed = dir.join("bt.pdf");
    sign_b_t(&tsa, &sample(dir), &signed);
    let k = keys();
    let (root, crl) = (k.join("root-ca.cert.pem"), k.join("intermediate-ca.crl"));

    let (code, json, stderr) = verify(
        &signed,
        &[&root, &tsa.root, &crl],
        &["--trust", "--trust", "--crl"],
    );
    assert_eq!(code, 0, "{json} {stderr}");
    let s = only(&json);
    assert_eq!(s["indication"], "TOTAL-PASSED", "{s}");
    let ts = &s["timestamp"];
    assert_eq!(ts["intact"], true, "{s}");
    assert_eq!(ts["trusted"], true, "{s}");
    assert!(ts["tsa"].as_str().is_some_and(|t| t.contains("TSA")), "{s}");
    let time: jiff::Timestamp = ts["time"]
        .as_str()
        .expect("time")
        .parse()
        .expect("RFC 3339");
    let skew = (jiff::Timestamp::now().as_second() - time.as_second()).abs();
    assert!(skew < 60, "{s}");

    // Without the TSA's root: intact, not trusted, the signature unchanged.
    let (code, json, _) = verify(&signed, &[&root, &crl], &["--trust", "--crl"]);
    assert_eq!(code, 0, "{json}");
    let s = only(&json);
    assert_eq!(s["indication"], "TOTAL-PASSED", "{s}");
    assert_eq!(s["timestamp"]["intact"], true, "{s}");
    assert_eq!(s["timestamp"]["trusted"], false, "{s}");

    // pyHanko agrees on the valid file.
    if have_pyhanko() {
        let roots = dir.join("roots.pem");
        let mut bundle = std::fs::read(&root).expect("root");
        bundle.extend(std::fs::read(&tsa.root).expect("tsa root"));
        std::fs::write(&roots, bundle).expect("roots");
        let v = pyhanko_with_roots(&roots, std::slice::from_ref(&signed))
            .remove(&signed)
            .expect("judged");
        let p = &v["signatures"]["Signature1"];
        assert_eq!(p["valid"], true, "{v}");
        assert_eq!(p["timestamp"]["intact"], true, "{v}");
        assert_eq!(p["timestamp"]["trusted"], true, "{v}");
    }

    // The genTime's last seconds digit, changed in the /Contents hex.
    let original = std::fs::read(&signed).expect("read");
    let mut bytes = original.clone();
    let open = bytes
        .windows(11)
        .rposition(|w| w == b"/Contents <")
        .expect("/Contents")
        + 11;
    let close = open + bytes[open..].iter().position(|&b| b == b'>').expect(">");
    let der: Vec<u8> = bytes[open..close]
        .chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).expect("hex"), 16).expect("hex"))
        .collect();
    // id-ct-TSTInfo as the eContentType; the TSTInfo's first GeneralizedTime follows.
    let tst_oid = [
        0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04,
    ];
    let after = der
        .windows(tst_oid.len())
        .position(|w| w == tst_oid)
        .expect("id-ct-TSTInfo")
        + tst_oid.len();
    let gen_time = after
        + der[after..]
            .windows(3)
            .position(|w| w[0] == 0x18 && (15..=24).contains(&w[1]) && w[2] == b'2')
            .expect("genTime");
    let seconds_digit = gen_time + 2 + 13;
    let at = open + 2 * seconds_digit + 1;
    assert!(bytes[at].is_ascii_digit(), "a digit's low nibble");
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    let broken = dir.join("broken.pdf");
    std::fs::write(&broken, &bytes).expect("write");
    let (code, json, _) = verify(
        &broken,
        &[&root, &tsa.root, &crl],
        &["--trust", "--trust", "--crl"],
    );
    assert_eq!(code, 1, "{json}");
    let s = only(&json);
    assert_eq!(s["indication"], "TOTAL-FAILED", "{s}");
    assert_eq!(s["sub_indication"], "HASH_FAILURE", "{s}");
    assert_eq!(s["intact"], true, "the PDF bytes still match: {s}");
    assert_eq!(s["timestamp"]["intact"], false, "{s}");
    assert_eq!(s["timestamp"]["trusted"], false, "{s}");

    // The token is the last unsigned attribute of the only SignerInfo, and
    // its signature value the last element of its own SignerInfo: the last
    // byte of the DER in /Contents belongs to the TSA's signature.
    assert_eq!(&der[..2], &[0x30, 0x82], "a long-form DER length");
    let der_len = 4 + usize::from(u16::from_be_bytes([der[2], der[3]]));
    let mut bytes = original;
    let last = open + 2 * (der_len - 1) + 1;
    bytes[last] = if bytes[last] == b'0' { b'1' } else { b'0' };
    let forged = dir.join("forged.pdf");
    std::fs::write(&forged, &bytes).expect("write");
    let (code, json, _) = verify(
        &forged,
        &[&root, &tsa.root, &crl],
        &["--trust", "--trust", "--crl"],
    );
    assert_eq!(code, 1, "{json}");
    let s = only(&json);
    assert_eq!(s["indication"], "TOTAL-FAILED", "{s}");
    assert_eq!(s["sub_indication"], "SIG_CRYPTO_FAILURE", "{s}");
    assert!(
        s["detail"]
            .as_str()
            .is_some_and(|d| d.contains("time-stamp")),
        "{s}"
    );
    assert_eq!(s["timestamp"]["intact"], false, "{s}");

    // The text report has one line for the time-stamp.
    let o = Command::new(bin())
        .args(["pdf", "verify", "--trust"])
        .arg(&root)
        .arg("--trust")
        .arg(&tsa.root)
        .arg("--crl")
        .arg(&crl)
        .arg(&signed)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&o.stdout);
    let line: Vec<&str> = text.lines().filter(|l| l.contains("time-stamp:")).collect();
    assert_eq!(line.len(), 1, "{text}");
    assert!(line[0].contains("intact, trusted"), "{text}");
}
