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

use crate::helpers::{
    CertomancerTsa, Kill, bin, certomancer_dir, free_port, have_pyhanko, have_tool, keys, pyhanko,
    pyhanko_with_roots,
};
use serde_json::Value;

/// Files pyHanko signs and we refuse: none since damaged cross-reference
/// data gets a repair revision (src/pades/repair.rs) and the loader reads
/// objects lopdf drops (comments in object streams). A file added here must
/// say why.
const KNOWN_GAPS: &[&str] = &[];

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

/// Keys in a SoftHSM2 token (RSA and P-256, imported from keys-dev): two
/// signatures that pyHanko judges valid; a wrong PIN and a key that is not
/// the certificate's are refused in one line, with no output.
#[test]
fn keys_in_a_softhsm2_token_sign_files_pyhanko_accepts() {
    const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
    if !have_pyhanko() || !have_tool("softhsm2-util") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).expect("tokens dir");
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .expect("conf");
    let util = |args: &[&str]| {
        let o = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args(args)
            .output()
            .expect("softhsm2-util");
        assert!(o.status.success(), "softhsm2-util {args:?}: {o:?}");
    };
    util(&[
        "--init-token",
        "--free",
        "--label",
        "agency",
        "--pin",
        "1234",
        "--so-pin",
        "5678",
    ]);
    let k = keys();
    for (file, label, id) in [("lanhdao", "lanhdao", "01"), ("agency-seal", "seal", "02")] {
        let key = k.join(format!("{file}.key.pem")).display().to_string();
        util(&[
            "--import", &key, "--token", "agency", "--label", label, "--id", id, "--pin", "1234",
        ]);
    }
    let sign_in_token = |input: &Path, output: &Path, label: &str, cert: &str, pin: &str| {
        Command::new(bin())
            .env("SOFTHSM2_CONF", &conf)
            .env("CONGVAN_PKCS11_PIN", pin)
            .args([
                "pdf",
                "sign",
                "--pkcs11-module",
                MODULE,
                "--token",
                "agency",
                "--key-label",
            ])
            .arg(label)
            .arg("--cert")
            .arg(k.join(format!("{cert}.cert.pem")))
            .arg("--chain")
            .arg(k.join("chain.pem"))
            .arg(input)
            .arg(output)
            .output()
            .expect("run")
    };
    let input = dir.path().join("in.pdf");
    std::fs::write(&input, congvan::pdf::sample::sample_pdf("Quyết định", 1)).expect("write");
    let one = dir.path().join("one.pdf");
    let two = dir.path().join("two.pdf");
    let o = sign_in_token(&input, &one, "lanhdao", "lanhdao", "1234");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = sign_in_token(&one, &two, "seal", "agency-seal", "1234");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let judged = pyhanko(std::slice::from_ref(&two));
    for field in ["Signature1", "Signature2"] {
        let v = &judged[&two]["signatures"][field];
        assert_eq!(v["valid"], true, "{field}: {v}");
        assert_eq!(v["trusted"], true, "{field}: {v}");
    }
    for (label, cert, pin, expect) in [
        ("seal", "agency-seal", "9999", "PIN was refused"),
        ("seal", "lanhdao", "1234", "does not match"),
        ("nobody", "lanhdao", "1234", "no private key labelled"),
    ] {
        let out = dir.path().join(format!("refused-{label}-{pin}.pdf"));
        let o = sign_in_token(&one, &out, label, cert, pin);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{label}/{pin}: {err}");
        assert!(
            err.contains(expect) && err.lines().count() == 1,
            "{label}/{pin}: {err}"
        );
        assert!(!out.exists(), "{label}/{pin}: no output on a refusal");
    }
}

/// PAdES B-T: `--tsa` with Certomancer as the time-stamping authority; pyHanko
/// judges the signature valid with a trusted, intact time-stamp. An
/// unreachable TSA is a one-line refusal with no output.
#[test]
fn b_t_signatures_carry_a_time_stamp_pyhanko_accepts() {
    if !have_pyhanko() || !have_tool("certomancer") {
        return;
    }
    let tsa = CertomancerTsa::start();
    let dir = &tsa.dir;
    let roots = dir.path().join("roots.pem");
    let mut bundle = std::fs::read(keys().join("root-ca.cert.pem")).expect("root");
    bundle.extend(std::fs::read(&tsa.root).expect("tsa root"));
    std::fs::write(&roots, bundle).expect("roots");
    let input = dir.path().join("in.pdf");
    std::fs::write(&input, congvan::pdf::sample::sample_pdf("Thông báo", 1)).expect("write");
    let url = tsa.url.clone();
    let run = |url: &str, out: &Path| {
        let k = keys();
        Command::new(bin())
            .args(["pdf", "sign", "--key"])
            .arg(k.join("lanhdao.key.pem"))
            .arg("--cert")
            .arg(k.join("lanhdao.cert.pem"))
            .arg("--chain")
            .arg(k.join("chain.pem"))
            .args(["--tsa", url])
            .arg(&input)
            .arg(out)
            .output()
            .expect("run")
    };
    let out = dir.path().join("bt.pdf");
    let mut o = run(&url, &out);
    for _ in 0..50 {
        if o.status.success() {
            break;
        }
        // Certomancer may still be starting.
        std::thread::sleep(Duration::from_millis(200));
        o = run(&url, &out);
    }
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v = pyhanko_with_roots(&roots, std::slice::from_ref(&out))
        .remove(&out)
        .expect("judged");
    let s = &v["signatures"]["Signature1"];
    assert_eq!(s["valid"], true, "{v}");
    assert_eq!(s["timestamp"]["intact"], true, "{v}");
    assert_eq!(s["timestamp"]["trusted"], true, "{v}");
    let unreachable = dir.path().join("none.pdf");
    let o = run(
        &format!("http://127.0.0.1:{}/tsa", free_port()),
        &unreachable,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot be reached") && err.lines().count() == 1,
        "{err}"
    );
    assert!(!unreachable.exists());
}

/// Two-phase signing against a Cloud Signature Consortium server
/// (certomancer-csc-dummy): `pdf prepare` gives the hash, the server's
/// credentials/authorize and signatures/signHash sign it, `pdf finish`
/// completes the file, and pyHanko judges it valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_phase_signing_with_a_csc_remote_signer() {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;
    if !have_pyhanko() || !have_tool("certomancer-csc") {
        return;
    }
    let dir = certomancer_dir();
    let port = free_port();
    let _server = Kill(
        Command::new("certomancer-csc")
            .current_dir(dir.path())
            .args(["certomancer.yml", &port.to_string(), "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start certomancer-csc"),
    );
    let base = format!("http://localhost:{port}/csc/v1");
    let client = reqwest::Client::new();
    let credential = "demo/signer1";
    let mut info = None;
    for _ in 0..100 {
        if let Ok(r) = client
            .post(format!("{base}/credentials/info"))
            .json(&serde_json::json!({"credentialID": credential, "certificates": "chain"}))
            .send()
            .await
        {
            info = Some(r.json::<Value>().await.expect("info json"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let info = info.expect("certomancer-csc answered within 10 s");
    let certs: Vec<Vec<u8>> = info["cert"]["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .map(|c| B64.decode(c.as_str().expect("b64")).expect("der"))
        .collect();
    assert!(certs.len() >= 2, "the signer and its chain: {info}");
    let pem = |der: &[u8]| {
        let body = B64.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    };
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    };
    let cert = write("signer.pem", pem(&certs[0]));
    let chain = write("chain.pem", certs[1..].iter().map(|c| pem(c)).collect());
    let root = write("root.pem", pem(certs.last().expect("root")));
    let input = dir.path().join("in.pdf");
    std::fs::write(&input, congvan::pdf::sample::sample_pdf("Tờ trình", 1)).expect("write");
    let session = dir.path().join("session.json");
    let o = Command::new(bin())
        .args(["pdf", "prepare", "--algorithm", "rsa", "--cert"])
        .arg(&cert)
        .arg("--chain")
        .arg(&chain)
        .arg(&input)
        .arg(&session)
        .output()
        .expect("prepare");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let digest = hex::decode(String::from_utf8_lossy(&o.stdout).trim()).expect("hex digest");
    assert_eq!(digest.len(), 32);
    let hash = B64.encode(&digest);
    let sad: Value = client
        .post(format!("{base}/credentials/authorize"))
        .json(&serde_json::json!({"credentialID": credential, "numSignatures": 1, "hash": [hash]}))
        .send()
        .await
        .expect("authorize")
        .json()
        .await
        .expect("SAD");
    let signed: Value = client
        .post(format!("{base}/signatures/signHash"))
        .json(&serde_json::json!({
            "credentialID": credential, "SAD": sad["SAD"], "hash": [hash],
            "signAlgo": "1.2.840.113549.1.1.11",
        }))
        .send()
        .await
        .expect("signHash")
        .json()
        .await
        .expect("signatures");
    let signature = B64
        .decode(signed["signatures"][0].as_str().expect("a signature"))
        .expect("b64");
    let sig = dir.path().join("sig.bin");
    std::fs::write(&sig, &signature).expect("write");
    let out = dir.path().join("out.pdf");
    let o = Command::new(bin())
        .args(["pdf", "finish", "--signature"])
        .arg(&sig)
        .arg(&session)
        .arg(&out)
        .output()
        .expect("finish");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v = pyhanko_with_roots(&root, std::slice::from_ref(&out))
        .remove(&out)
        .expect("judged");
    let s = &v["signatures"]["Signature1"];
    assert_eq!(s["valid"], true, "{v}");
    assert_eq!(s["coverage"], "ENTIRE_FILE", "{v}");
    // A signature over anything else is refused, and nothing is written.
    let mut wrong = signature.clone();
    wrong[10] ^= 1;
    std::fs::write(&sig, &wrong).expect("write");
    let bad = dir.path().join("bad.pdf");
    let o = Command::new(bin())
        .args(["pdf", "finish", "--signature"])
        .arg(&sig)
        .arg(&session)
        .arg(&bad)
        .output()
        .expect("finish");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not verify"));
    assert!(!bad.exists());
}
