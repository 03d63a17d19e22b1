//! `congvan pdf sign` against the shared corpus (../shared/corpus/pdf), judged
//! by pyHanko (one Python process for every file) and poppler's pdfsig.
//!
//! Every file: a signed output or a refusal (non-zero exit, one line on
//! stderr, no output file) — never a panic, a signal or a hang. Every file a
//! peer signer signs (MANIFEST.tsv `peer_signer` = signed): our field VALID,
//! intact, trusted and covering the whole file in pyHanko, "Signature is
//! Valid." and "Total document signed" in pdfsig, the signatures already in
//! the file judged as before, and the predecessor's cross-reference form
//! kept — except the files in [`KNOWN_GAPS`], which are refused today and
//! must stay exactly that list.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{bin, have_pyhanko, have_tool, keys, pyhanko};

/// Files pyHanko signs and we refuse, each for the reason given (lopdf
/// cannot read them; pyHanko rebuilds their cross-references). The issue
/// stays open while this list is not empty.
const KNOWN_GAPS: &[&str] = &[
    "pyhanko__minimal-badxref.pdf",
    "pyhanko__minimal-startxref-obo4.pdf",
    "pyhanko__minimal-startxref-obo5.pdf",
    "pyhanko__minimal-startxref-obo6.pdf",
    "qpdf__bad37.pdf",
    "qpdf__compress-objstm-xref-qdf.pdf",
    "qpdf__endobj-at-eol.pdf",
    "qpdf__filter-abbreviation.pdf",
    "qpdf__no-space-compressed-object.pdf",
    "qpdf__tokens.pdf",
];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/pdf")
}

/// Runs `congvan pdf sign` with a deadline; kills it if it hangs.
fn sign(input: &Path, output: &Path, key: &str) -> (Option<i32>, String, String) {
    let k = keys();
    let mut child = Command::new(bin())
        .args(["pdf", "sign", "--key"])
        .arg(k.join(format!("{key}.key.pem")))
        .arg("--cert")
        .arg(k.join(format!("{key}.cert.pem")))
        .arg("--chain")
        .arg(k.join("chain.pem"))
        .arg(input)
        .arg(output)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let (mut out, mut err) = (String::new(), String::new());
            use std::io::Read;
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            if let Some(mut o) = child.stdout.take() {
                let _ = o.read_to_string(&mut out);
            }
            // "signed OUT as field "NAME": N bytes"
            let field = out.split('"').nth(1).unwrap_or_default().to_string();
            return (status.code(), err, field);
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("{}: the signer hung (killed after 60 s)", input.display());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn pdfsig_judges_last_signature(file: &Path) -> Result<(), String> {
    let o = Command::new("pdfsig")
        .arg(file)
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&o.stdout);
    let last = text
        .rsplit("Signature #")
        .next()
        .ok_or_else(|| "no signature".to_string())?;
    if last.contains("Signature is Valid.") && last.contains("Total document signed") {
        Ok(())
    } else {
        Err(last.to_string())
    }
}

#[test]
fn every_corpus_file_is_signed_validly_or_refused_cleanly() {
    if !have_pyhanko() || !have_tool("pdfsig") {
        return;
    }
    let manifest = std::fs::read_to_string(corpus().join("MANIFEST.tsv")).expect("MANIFEST.tsv");
    let out = tempfile::tempdir().expect("temp dir");
    let mut signed = Vec::new();
    let mut refused_by_us: BTreeSet<String> = BTreeSet::new();
    let mut peer_signed = BTreeSet::new();
    let mut had_signatures = Vec::new();
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, peer, has_sig) = (cols[0], cols[1], cols.get(3) == Some(&"yes"));
        if peer == "signed" {
            peer_signed.insert(file.to_string());
        }
        let input = corpus().join(file);
        let output = out.path().join(file);
        let (code, stderr, field) = sign(&input, &output, "lanhdao");
        match code {
            Some(0) => {
                assert!(output.exists(), "{file}: exit 0 but no output");
                let before = std::fs::read(&input).expect("input");
                let after = std::fs::read(&output).expect("output");
                assert!(
                    after.starts_with(&before),
                    "{file}: the original bytes changed"
                );
                let form = |b: &[u8]| congvan::pades::writer::last_xref(b).map(|x| x.1).ok();
                assert_eq!(form(&after), form(&before), "{file}: the xref form changed");
                signed.push((file.to_string(), output.clone(), field));
                if has_sig {
                    had_signatures.push((file.to_string(), input.clone(), output));
                }
            }
            Some(2) => {
                assert!(
                    !output.exists(),
                    "{file}: refused but an output was written"
                );
                let lines: Vec<&str> = stderr.lines().collect();
                assert_eq!(lines.len(), 1, "{file}: one line on stderr, got {stderr:?}");
                assert!(lines[0].starts_with("congvan: "), "{file}: {stderr}");
                refused_by_us.insert(file.to_string());
            }
            other => panic!("{file}: exit {other:?} (a crash or a signal): {stderr}"),
        }
    }
    let gaps: BTreeSet<String> = peer_signed.intersection(&refused_by_us).cloned().collect();
    let known: BTreeSet<String> = KNOWN_GAPS.iter().map(|s| s.to_string()).collect();
    assert_eq!(gaps, known, "files pyHanko signs that we refuse");

    let mut files: Vec<PathBuf> = signed.iter().map(|(_, p, _)| p.clone()).collect();
    files.extend(had_signatures.iter().map(|(_, i, _)| i.clone()));
    let judged = pyhanko(&files);
    let mut problems = Vec::new();
    for (file, output, field) in &signed {
        if !peer_signed.contains(file) {
            continue;
        }
        let verdict = judged[output]["signatures"].get(field);
        let good = verdict.is_some_and(|v| {
            v["valid"] == true
                && v["intact"] == true
                && v["trusted"] == true
                && v["coverage"] == "ENTIRE_FILE"
        });
        if !good {
            problems.push(format!(
                "{file}: pyHanko says {verdict:?} ({})",
                judged[output]
            ));
        }
        if let Err(e) = pdfsig_judges_last_signature(output) {
            problems.push(format!("{file}: pdfsig says {e}"));
        }
    }
    // Signatures already in a file are judged as they were before.
    for (file, input, output) in &had_signatures {
        let before = &judged[input]["signatures"];
        let after = &judged[output]["signatures"];
        for (name, v) in before.as_object().into_iter().flatten() {
            if after[name]["valid"] != v["valid"] || after[name]["intact"] != v["intact"] {
                problems.push(format!("{file}: {name} was {v}, is {}", after[name]));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    eprintln!(
        "{} corpus files: {} signed ({} of the {} pyHanko signs), {} refused",
        signed.len() + refused_by_us.len(),
        signed.len(),
        peer_signed.len() - KNOWN_GAPS.len(),
        peer_signed.len(),
        refused_by_us.len()
    );
}

#[test]
fn three_successive_signatures_all_validate() {
    if !have_pyhanko() || !have_tool("pdfsig") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut current = dir.path().join("0.pdf");
    std::fs::write(
        &current,
        congvan::pdf::sample::sample_pdf("Công văn số 12", 2),
    )
    .expect("write");
    let mut fields = Vec::new();
    for (n, key) in ["lanhdao", "agency-seal", "truongphong"].iter().enumerate() {
        let next = dir.path().join(format!("{}.pdf", n + 1));
        let (code, stderr, field) = sign(&current, &next, key);
        assert_eq!(code, Some(0), "{key}: {stderr}");
        fields.push(field);
        current = next;
    }
    assert_eq!(fields, ["Signature1", "Signature2", "Signature3"]);
    let judged = pyhanko(std::slice::from_ref(&current));
    let sigs = &judged[&current]["signatures"];
    for (i, f) in fields.iter().enumerate() {
        let v = &sigs[f];
        assert_eq!(v["valid"], true, "{f}: {v}");
        assert_eq!(v["trusted"], true, "{f}: {v}");
        let (coverage, changes) = if i == 2 {
            ("ENTIRE_FILE", "NONE")
        } else {
            ("ENTIRE_REVISION", "FORM_FILLING")
        };
        assert_eq!(v["coverage"], coverage, "{f}: {v}");
        assert_eq!(v["modification_level"], changes, "{f}: {v}");
    }
    pdfsig_judges_last_signature(&current).expect("pdfsig");
}
