//! The CMS we produce is checked by OpenSSL (signature, ESS signing
//! certificate, chain to the root) and parsed back field by field.

use std::path::Path;
use std::process::Command;

use cms::cert::CertificateChoices;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{SignedData, SignerIdentifier};
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use ring::digest;
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;

use super::{
    ESTIMATE_MARGIN, RsaPssParams, SigningCertificateV2, estimate_size, sha256_identifier,
    sign_detached,
};
use crate::pades::oid;
use crate::pades::test_pki::{TestKey, TestPki, openssl_available};
use crate::pades::{KeyFileSigner, SignatureAlgorithm, Signer};

/// Stands in for the ByteRange bytes of a PDF.
const CONTENT: &[u8] = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n\
    C\xc3\xb4ng v\xc4\x83n s\xe1\xbb\x91 123/UBND-VP\n%%EOF\n";

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

fn signer_for(pki: &TestPki, key: &TestKey, pss: bool) -> KeyFileSigner {
    KeyFileSigner::from_pem(&key.pem, &pki.issue(key), Some(&pki.intermediate_pem), pss)
        .expect("load signer")
}

/// Runs `openssl cms -verify` on detached content; returns whether it
/// succeeded, with its stderr.
fn openssl_verify(dir: &Path, cms_der: &[u8], content: &[u8], root_pem: &str) -> (bool, String) {
    let (sig, data, root, out) = (
        dir.join("sig.der"),
        dir.join("data.bin"),
        dir.join("root.pem"),
        dir.join("out.bin"),
    );
    std::fs::write(&sig, cms_der).expect("write sig.der");
    std::fs::write(&data, content).expect("write data.bin");
    std::fs::write(&root, root_pem).expect("write root.pem");
    let output = Command::new("openssl")
        .args(["cms", "-verify", "-binary", "-inform", "DER", "-in"])
        .arg(&sig)
        .arg("-content")
        .arg(&data)
        .arg("-CAfile")
        .arg(&root)
        .args(["-purpose", "any", "-out"])
        .arg(&out)
        .output()
        .expect("run openssl cms");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let ok = output.status.success() && stderr.contains("Verification successful");
    (ok, stderr)
}

/// Signs CONTENT with `signer`, has OpenSSL verify it, then verify a copy of
/// the content with one byte changed (which must fail), then checks the
/// structure.
fn sign_and_verify(pki: &TestPki, signer: &KeyFileSigner, expected: SignatureAlgorithm) {
    let digest = sha256(CONTENT);
    let cms_der = sign_detached(&digest, signer).expect("sign");
    let dir = tempfile::tempdir().expect("temp dir");

    let (ok, stderr) = openssl_verify(dir.path(), &cms_der, CONTENT, &pki.root_pem);
    assert!(ok, "openssl rejected the signature: {stderr}");

    let mut tampered = CONTENT.to_vec();
    tampered[10] ^= 0x01;
    let (ok, stderr) = openssl_verify(dir.path(), &cms_der, &tampered, &pki.root_pem);
    assert!(!ok, "openssl accepted changed content: {stderr}");

    check_structure(&cms_der, signer, &digest, expected);
}

/// Parses the CMS back and checks every field PADES.md prescribes.
fn check_structure(
    cms_der: &[u8],
    signer: &dyn Signer,
    content_digest: &[u8; 32],
    expected: SignatureAlgorithm,
) {
    assert_eq!(signer.algorithm(), expected);
    let content_info = ContentInfo::from_der(cms_der).expect("ContentInfo");
    assert_eq!(content_info.content_type, oid::ID_SIGNED_DATA);
    let signed_data: SignedData = content_info.content.decode_as().expect("SignedData");

    assert_eq!(signed_data.version, CmsVersion::V1);
    assert_eq!(
        signed_data.digest_algorithms.as_slice(),
        [sha256_identifier()]
    );
    assert_eq!(signed_data.encap_content_info.econtent_type, oid::ID_DATA);
    assert!(
        signed_data.encap_content_info.econtent.is_none(),
        "detached: no eContent"
    );
    assert!(signed_data.crls.is_none());

    // The certificates: the signer's and the chain, byte for byte.
    let embedded: Vec<Vec<u8>> = signed_data
        .certificates
        .as_ref()
        .expect("certificates")
        .0
        .iter()
        .map(|choice| match choice {
            CertificateChoices::Certificate(cert) => cert.to_der().expect("encode"),
            CertificateChoices::Other(_) => panic!("unexpected certificate format"),
        })
        .collect();
    let mut expected_certs = vec![signer.certificate().to_vec()];
    expected_certs.extend(signer.chain().iter().cloned());
    assert_eq!(embedded.len(), expected_certs.len());
    for cert in &expected_certs {
        assert!(embedded.contains(cert), "a certificate is missing");
    }

    let signer_cert = Certificate::from_der(signer.certificate()).expect("signer cert");
    let tbs = &signer_cert.tbs_certificate;
    let signer_infos = signed_data.signer_infos.0.as_slice();
    assert_eq!(signer_infos.len(), 1);
    let info = &signer_infos[0];
    assert_eq!(info.version, CmsVersion::V1);
    match &info.sid {
        SignerIdentifier::IssuerAndSerialNumber(sid) => {
            assert_eq!(sid.issuer, tbs.issuer);
            assert_eq!(sid.serial_number, tbs.serial_number);
        }
        SignerIdentifier::SubjectKeyIdentifier(_) => panic!("sid must be IssuerAndSerialNumber"),
    }
    assert_eq!(info.digest_alg, sha256_identifier());
    assert!(info.unsigned_attrs.is_none());
    check_signature_algorithm(&info.signature_algorithm, expected);

    // Signed attributes: exactly the three, DER-sorted, no signing-time.
    let attrs = info.signed_attrs.as_ref().expect("signed attributes");
    let oids: Vec<_> = attrs.iter().map(|attr| attr.oid).collect();
    assert!(
        !oids.contains(&oid::ID_SIGNING_TIME),
        "signing-time present"
    );
    assert_eq!(oids.len(), 3, "attributes: {oids:?}");
    for required in [
        oid::ID_CONTENT_TYPE,
        oid::ID_MESSAGE_DIGEST,
        oid::ID_AA_SIGNING_CERTIFICATE_V2,
    ] {
        assert!(oids.contains(&required), "{required} missing");
    }
    let encoded: Vec<Vec<u8>> = attrs
        .iter()
        .map(|attr| attr.to_der().expect("encode"))
        .collect();
    assert!(
        encoded.windows(2).all(|pair| pair[0] < pair[1]),
        "attributes not in DER SET OF order"
    );
    // The signature was made over the SET OF encoding: tag 0x31.
    assert_eq!(attrs.to_der().expect("encode")[0], 0x31);

    let value = |oid| {
        let attr = attrs
            .iter()
            .find(|attr| attr.oid == oid)
            .expect("attribute");
        assert_eq!(attr.values.len(), 1, "one value per attribute");
        attr.values.as_slice()[0].clone()
    };
    let content_type: der::asn1::ObjectIdentifier =
        value(oid::ID_CONTENT_TYPE).decode_as().expect("OID");
    assert_eq!(content_type, oid::ID_DATA);
    let message_digest: OctetString = value(oid::ID_MESSAGE_DIGEST)
        .decode_as()
        .expect("OCTET STRING");
    assert_eq!(message_digest.as_bytes(), content_digest);

    let signing_cert_value = value(oid::ID_AA_SIGNING_CERTIFICATE_V2);
    let signing_cert: SigningCertificateV2 = signing_cert_value
        .decode_as()
        .expect("SigningCertificateV2");
    assert!(signing_cert.policies.is_none());
    assert_eq!(signing_cert.certs.len(), 1);
    let ess = &signing_cert.certs[0];
    assert!(
        ess.hash_algorithm.is_none(),
        "ESSCertIDv2 must omit the default SHA-256"
    );
    // Also at the byte level: the ESSCertIDv2 starts with the OCTET STRING.
    let ess_der = ess.to_der().expect("encode");
    let header = if ess_der[1] & 0x80 == 0 {
        2
    } else {
        2 + usize::from(ess_der[1] & 0x7f)
    };
    assert_eq!(ess_der[header..header + 2], [0x04, 0x20]);
    assert_eq!(
        ess.cert_hash.as_bytes(),
        sha256(signer.certificate()).as_slice()
    );
    let issuer_serial = ess.issuer_serial.as_ref().expect("issuerSerial");
    assert_eq!(
        issuer_serial.issuer,
        vec![GeneralName::DirectoryName(tbs.issuer.clone())]
    );
    assert_eq!(issuer_serial.serial_number, tbs.serial_number);

    let signature_len = info.signature.as_bytes().len();
    match expected {
        SignatureAlgorithm::EcdsaP256Sha256 => assert!((8..=72).contains(&signature_len)),
        // The tests sign with RSA-2048 here.
        _ => assert_eq!(signature_len, 2048 / 8),
    }
}

fn check_signature_algorithm(id: &spki::AlgorithmIdentifierOwned, expected: SignatureAlgorithm) {
    match expected {
        SignatureAlgorithm::RsaPkcs1Sha256 => {
            assert_eq!(id.oid, oid::SHA256_WITH_RSA_ENCRYPTION);
            assert_eq!(id.parameters, Some(Any::null()), "NULL parameters");
        }
        SignatureAlgorithm::RsaPssSha256 => {
            assert_eq!(id.oid, oid::ID_RSASSA_PSS);
            let params: RsaPssParams = id
                .parameters
                .as_ref()
                .expect("PSS parameters")
                .decode_as()
                .expect("RSASSA-PSS-params");
            assert_eq!(params.hash_algorithm, sha256_identifier());
            assert_eq!(params.mask_gen_algorithm.oid, oid::ID_MGF1);
            let mgf_hash: spki::AlgorithmIdentifierOwned = params
                .mask_gen_algorithm
                .parameters
                .as_ref()
                .expect("MGF1 parameters")
                .decode_as()
                .expect("MGF1 hash");
            assert_eq!(mgf_hash, sha256_identifier());
            assert_eq!(params.salt_length, 32);
        }
        SignatureAlgorithm::EcdsaP256Sha256 => {
            assert_eq!(id.oid, oid::ECDSA_WITH_SHA256);
            assert!(id.parameters.is_none(), "no parameters");
        }
    }
}

#[test]
fn rsa_pkcs1_signature_verifies_with_openssl() {
    let Some(key) = TestKey::rsa(2048) else {
        return;
    };
    let pki = TestPki::new();
    let signer = signer_for(&pki, &key, false);
    sign_and_verify(&pki, &signer, SignatureAlgorithm::RsaPkcs1Sha256);
}

#[test]
fn rsa_pss_signature_verifies_with_openssl() {
    let Some(key) = TestKey::rsa(2048) else {
        return;
    };
    let pki = TestPki::new();
    let signer = signer_for(&pki, &key, true);
    sign_and_verify(&pki, &signer, SignatureAlgorithm::RsaPssSha256);
}

#[test]
fn p256_signature_verifies_with_openssl() {
    if !openssl_available() {
        return;
    }
    let pki = TestPki::new();
    let signer = signer_for(&pki, &TestKey::p256(), false);
    sign_and_verify(&pki, &signer, SignatureAlgorithm::EcdsaP256Sha256);
}

#[test]
fn structure_without_openssl_p256() {
    // The same structural checks, so that they run even where openssl
    // is missing.
    let pki = TestPki::new();
    let signer = signer_for(&pki, &TestKey::p256(), false);
    let digest = sha256(b"other content");
    let cms_der = sign_detached(&digest, &signer).expect("sign");
    check_structure(
        &cms_der,
        &signer,
        &digest,
        SignatureAlgorithm::EcdsaP256Sha256,
    );
}

#[test]
fn chain_repeating_certificates_is_deduplicated() {
    let pki = TestPki::new();
    let key = TestKey::p256();
    let cert_pem = pki.issue(&key);
    let chain = format!(
        "{cert_pem}{}{}{}",
        pki.intermediate_pem, pki.intermediate_pem, pki.root_pem
    );
    let signer = KeyFileSigner::from_pem(&key.pem, &cert_pem, Some(&chain), false).expect("load");
    assert_eq!(signer.chain().len(), 4);
    let cms_der = sign_detached(&[7; 32], &signer).expect("sign");
    let content_info = ContentInfo::from_der(&cms_der).expect("ContentInfo");
    let signed_data: SignedData = content_info.content.decode_as().expect("SignedData");
    let certificates: &SetOfVec<CertificateChoices> =
        &signed_data.certificates.expect("certificates").0;
    assert_eq!(
        certificates.len(),
        3,
        "signer, intermediate, root once each"
    );
}

/// The estimate must hold the real output, and not be wastefully larger.
fn check_estimate(signer: &dyn Signer) {
    let estimate = estimate_size(signer);
    for round in 0..20_u8 {
        let real = sign_detached(&[round; 32], signer).expect("sign").len();
        assert!(real <= estimate, "real {real} > estimate {estimate}");
        assert!(
            estimate - real <= ESTIMATE_MARGIN + 8,
            "estimate {estimate} is far above the real {real}"
        );
    }
}

#[test]
fn estimate_size_bounds_rsa_4096() {
    let Some(key) = TestKey::rsa(4096) else {
        return;
    };
    let pki = TestPki::new();
    check_estimate(&signer_for(&pki, &key, false));
    check_estimate(&signer_for(&pki, &key, true));
}

#[test]
fn estimate_size_bounds_p256() {
    let pki = TestPki::new();
    check_estimate(&signer_for(&pki, &TestKey::p256(), false));
}
