//! Loading key files: what is accepted, and the exact refusals.

use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use x509_cert::Certificate;

use der::Decode;

use super::{KeyFileSigner, SignatureAlgorithm, Signer};
use crate::pades::SignError;
use crate::pades::test_pki::{TestKey, TestPki, rsa_key_pem};

fn load_error(key_pem: &str, cert_pem: &str, chain_pem: Option<&str>, pss: bool) -> String {
    match KeyFileSigner::from_pem(key_pem, cert_pem, chain_pem, pss) {
        Ok(signer) => panic!("loaded, but should be refused: {signer:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn p256_key_file_loads_and_signs() {
    let pki = TestPki::new();
    let key = TestKey::p256();
    let cert_pem = pki.issue(&key);
    // Text around the blocks, as `openssl x509 -text` or a PKCS#12 export
    // leaves it, is ignored.
    let cert_text = format!("subject=CN = Nguyễn Văn An\nissuer=...\n{cert_pem}\n");
    let chain_text = format!(
        "Bag Attributes\n    friendlyName: ca\n{}",
        pki.intermediate_pem
    );
    let signer =
        KeyFileSigner::from_pem(&key.pem, &cert_text, Some(&chain_text), false).expect("load");

    assert_eq!(signer.algorithm(), SignatureAlgorithm::EcdsaP256Sha256);
    let (_, cert_der) = der::pem::decode_vec(cert_pem.trim().as_bytes()).expect("PEM");
    assert_eq!(signer.certificate(), cert_der.as_slice());
    assert_eq!(signer.chain().len(), 1);

    let debug = format!("{signer:?}");
    assert!(debug.contains("<redacted>"), "{debug}");
    assert!(!debug.contains("pair"), "{debug}");

    // The signature verifies under the certificate's public key.
    let message = b"the DER of some signed attributes";
    let signature = signer.sign(message).expect("sign");
    let cert = Certificate::from_der(&cert_der).expect("certificate");
    let public_key = cert
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes()
        .to_vec();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, public_key)
        .verify(message, &signature)
        .expect("signature verifies");
}

#[test]
fn key_of_another_certificate_is_refused() {
    let pki = TestPki::new();
    let cert_pem = pki.issue(&TestKey::p256());
    let other = TestKey::p256();
    assert_eq!(
        load_error(&other.pem, &cert_pem, None, false),
        "the private key does not match the public key of the signer certificate"
    );
    assert!(matches!(
        KeyFileSigner::from_pem(&other.pem, &cert_pem, None, false),
        Err(SignError::KeyCertificateMismatch)
    ));

    // An RSA key with an ECDSA certificate: also a mismatch.
    let Some(rsa) = TestKey::rsa(2048) else {
        return;
    };
    assert_eq!(
        load_error(&rsa.pem, &cert_pem, None, false),
        "the private key does not match the public key of the signer certificate"
    );
}

#[test]
fn unsupported_keys_are_named() {
    let pki = TestPki::new();
    let cert_pem = pki.issue(&TestKey::p256());
    let supported = "supported are RSA 2048 to 4096 bits and ECDSA P-256";

    let p384 = TestKey::generate(&rcgen::PKCS_ECDSA_P384_SHA384);
    assert_eq!(
        load_error(&p384.pem, &cert_pem, None, false),
        format!("unsupported signing key: ECDSA P-384; {supported}")
    );
    let ed25519 = TestKey::generate(&rcgen::PKCS_ED25519);
    assert_eq!(
        load_error(&ed25519.pem, &cert_pem, None, false),
        format!("unsupported signing key: Ed25519; {supported}")
    );

    let Some(rsa_1024) = rsa_key_pem(1024) else {
        return;
    };
    assert_eq!(
        load_error(&rsa_1024, &cert_pem, None, false),
        format!("unsupported signing key: RSA 1024 bits; {supported}")
    );
}

#[test]
fn pss_with_an_ecdsa_key_is_refused() {
    let pki = TestPki::new();
    let key = TestKey::p256();
    assert_eq!(
        load_error(&key.pem, &pki.issue(&key), None, true),
        "private key: RSASSA-PSS was requested, but the key is ECDSA P-256"
    );
}

#[test]
fn wrong_pem_inputs_are_refused_clearly() {
    let pki = TestPki::new();
    let key = TestKey::p256();
    let cert_pem = pki.issue(&key);

    let sec1 = key
        .pem
        .replace("BEGIN PRIVATE KEY", "BEGIN EC PRIVATE KEY")
        .replace("END PRIVATE KEY", "END EC PRIVATE KEY");
    assert_eq!(
        load_error(&sec1, &cert_pem, None, false),
        "private key: \"EC PRIVATE KEY\" is not PKCS#8; \
         convert it with `openssl pkcs8 -topk8 -nocrypt`"
    );
    assert_eq!(
        load_error(&cert_pem, &cert_pem, None, false),
        "private key: found a \"CERTIFICATE\" PEM block, expected \"PRIVATE KEY\""
    );
    assert_eq!(
        load_error("not PEM at all", &cert_pem, None, false),
        "private key: no PEM block found"
    );
    assert_eq!(
        load_error(&key.pem, &key.pem, None, false),
        "signer certificate: found a \"PRIVATE KEY\" PEM block, expected \"CERTIFICATE\""
    );
    assert_eq!(
        load_error(
            &key.pem,
            &format!("{cert_pem}{}", pki.intermediate_pem),
            None,
            false
        ),
        "signer certificate: 2 certificates found, expected one (put the others in the chain)"
    );
    let truncated = &cert_pem[..cert_pem.len() / 2];
    assert_eq!(
        load_error(&key.pem, truncated, None, false),
        "signer certificate: PEM block 1 has no END line"
    );

    // A PEM block that holds something other than a certificate.
    let not_a_cert = key.pem.replace("PRIVATE KEY", "CERTIFICATE");
    let message = load_error(&key.pem, &cert_pem, Some(&not_a_cert), false);
    assert!(
        message.starts_with("chain certificate 1: not a DER X.509 certificate: "),
        "{message}"
    );
    assert!(!message.contains('\n'), "one line: {message}");
}
