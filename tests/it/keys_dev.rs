//! `congvan keys-dev`: the development PKI, checked with openssl.

use std::path::Path;
use std::process::Command;

use crate::helpers::{bin, have_tool};

fn openssl(args: &[&str]) -> String {
    let o = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn check_pki(dir: &Path) {
    let p = |f: &str| dir.join(f).display().to_string();
    let root = p("root-ca.cert.pem");
    let intermediate = p("intermediate-ca.cert.pem");
    for (stem, key) in [
        ("lanhdao", "RSA Public-Key: (2048 bit)"),
        ("truongphong", "RSA Public-Key: (2048 bit)"),
        ("revoked", "RSA Public-Key: (2048 bit)"),
        ("agency-seal", "NIST CURVE: P-256"),
        ("tsa", "RSA Public-Key: (2048 bit)"),
    ] {
        let cert = p(&format!("{stem}.cert.pem"));
        let ok = openssl(&[
            "verify",
            "-CAfile",
            &root,
            "-untrusted",
            &intermediate,
            &cert,
        ]);
        assert!(ok.contains(": OK"), "{stem}: {ok}");
        let text = openssl(&["x509", "-in", &cert, "-noout", "-text"]);
        let public = text.replace("Public-Key:", "RSA Public-Key:");
        assert!(
            public.contains(key) || text.contains(key),
            "{stem}: expected {key}"
        );
        assert!(
            text.contains("Digital Signature, Non Repudiation"),
            "{stem}: key usage"
        );
        assert!(
            text.contains("URI:http://127.0.0.1:8080/pki/intermediate-ca.crl"),
            "{stem}: CRL distribution point"
        );
        // The key file holds the certificate's key (PKCS#8).
        let key_pem = std::fs::read_to_string(p(&format!("{stem}.key.pem"))).expect("key");
        assert!(
            key_pem.starts_with("-----BEGIN PRIVATE KEY-----"),
            "{stem}: PKCS#8"
        );
        let from_key = openssl(&["pkey", "-in", &p(&format!("{stem}.key.pem")), "-pubout"]);
        let from_cert = openssl(&["x509", "-in", &cert, "-noout", "-pubkey"]);
        assert_eq!(from_key, from_cert, "{stem}: key and certificate match");
    }
    let tsa = openssl(&["x509", "-in", &p("tsa.cert.pem"), "-noout", "-text"]);
    assert!(
        tsa.contains("Extended Key Usage: critical") && tsa.contains("Time Stamping"),
        "{tsa}"
    );
    let root_text = openssl(&["x509", "-in", &root, "-noout", "-subject"]);
    assert!(root_text.contains("Demo Government Root CA"), "{root_text}");
    // The intermediate's CRL revokes `revoked` and nothing else.
    let revoked_serial = openssl(&["x509", "-in", &p("revoked.cert.pem"), "-noout", "-serial"]);
    let serial = revoked_serial
        .trim()
        .trim_start_matches("serial=")
        .trim_start_matches('0');
    let crl = openssl(&[
        "crl",
        "-in",
        &p("intermediate-ca.crl"),
        "-inform",
        "DER",
        "-noout",
        "-text",
    ]);
    assert!(crl.contains(&format!("Serial Number: {serial}")), "{crl}");
    assert_eq!(crl.matches("Serial Number:").count(), 1, "{crl}");
    let crl_ok = Command::new("openssl")
        .args([
            "crl",
            "-in",
            &p("intermediate-ca.crl"),
            "-inform",
            "DER",
            "-noout",
            "-CAfile",
        ])
        .arg(&intermediate)
        .output()
        .expect("openssl");
    assert!(
        String::from_utf8_lossy(&crl_ok.stderr).contains("verify OK"),
        "the CRL is signed by the intermediate"
    );
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("README");
    assert!(readme.contains("FOR DEVELOPMENT ONLY"));
}

#[test]
fn keys_dev_writes_a_pki_that_openssl_accepts() {
    if !have_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("pki");
    let o = Command::new(bin())
        .args(["keys-dev", "--out"])
        .arg(&out)
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    check_pki(&out);
    // A second run into the same directory is refused, and changes nothing.
    let before = std::fs::read(out.join("root-ca.key.pem")).expect("key");
    let o = Command::new(bin())
        .args(["keys-dev", "--out"])
        .arg(&out)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not empty"));
    assert_eq!(
        std::fs::read(out.join("root-ca.key.pem")).expect("key"),
        before
    );
}

#[test]
fn the_committed_keys_dev_is_a_valid_pki() {
    if !have_tool("openssl") {
        return;
    }
    check_pki(&Path::new(env!("CARGO_MANIFEST_DIR")).join("keys-dev"));
}

/// RGBA samples of a PNG.
fn rgba(path: &Path) -> Vec<[u8; 4]> {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).expect("open"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("frame");
    assert_eq!(info.color_type, png::ColorType::Rgba, "{}", path.display());
    buf[..info.buffer_size()]
        .chunks(4)
        .map(|p| [p[0], p[1], p[2], p[3]])
        .collect()
}

/// `keys-dev --images-only` writes the three demo images, transparent, in
/// blue ink and seal red, the same bytes as the committed ones, and leaves
/// every other file of the directory as it was.
#[test]
fn keys_dev_images_only_writes_the_committed_images_and_nothing_else() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kept = dir.path().join("root-ca.key.pem");
    std::fs::write(&kept, "not touched").expect("write");
    let o = Command::new(bin())
        .args(["keys-dev", "--images-only", "--out"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&kept).expect("kept"), "not touched");
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("keys-dev");
    for (file, blue) in [
        ("lanhdao-signature.png", true),
        ("truongphong-signature.png", true),
        ("agency-seal.png", false),
    ] {
        let made = dir.path().join(file);
        assert_eq!(
            std::fs::read(&made).expect("made"),
            std::fs::read(committed.join(file)).expect("committed"),
            "{file}: regenerate with `congvan keys-dev --images-only`"
        );
        let pixels = rgba(&made);
        let clear = pixels.iter().filter(|p| p[3] == 0).count();
        let inked: Vec<&[u8; 4]> = pixels.iter().filter(|p| p[3] > 128).collect();
        assert!(clear > pixels.len() / 2, "{file}: mostly transparent");
        assert!(inked.len() > 1000, "{file}: {} inked pixels", inked.len());
        let [r, _, b, _] = *inked[0];
        assert_eq!(b > r, blue, "{file}: ink colour {:?}", inked[0]);
    }
    let entries = std::fs::read_dir(dir.path()).expect("dir").count();
    assert_eq!(entries, 4, "three images and the file that was there");
}
