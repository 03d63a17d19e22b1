//! A throwaway PKI for the tests: a root and an intermediate CA (ECDSA P-256,
//! made with rcgen) that issue signer certificates for keys of every kind.
//! RSA keys come from `openssl genpkey`, since rcgen cannot make them with
//! ring; without openssl those tests are skipped with a printed reason,
//! except under `CI=true`, where they fail.

use std::process::Command;
use std::sync::OnceLock;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_RSA_SHA256,
};

pub(super) struct TestPki {
    pub root_pem: String,
    pub intermediate_pem: String,
    intermediate: Issuer<'static, KeyPair>,
}

impl TestPki {
    pub fn new() -> TestPki {
        let root_key = KeyPair::generate().expect("root key");
        let root_params = ca_params("Test Root CA – Ban Cơ yếu Chính phủ");
        let root_pem = root_params
            .self_signed(&root_key)
            .expect("root certificate")
            .pem();
        let root = Issuer::new(root_params, root_key);

        let intermediate_key = KeyPair::generate().expect("intermediate key");
        let intermediate_params =
            ca_params("Test Intermediate CA – Ủy ban nhân dân tỉnh Quảng Ninh");
        let intermediate_pem = intermediate_params
            .signed_by(&intermediate_key, &root)
            .expect("intermediate certificate")
            .pem();
        TestPki {
            root_pem,
            intermediate_pem,
            intermediate: Issuer::new(intermediate_params, intermediate_key),
        }
    }

    /// A signer certificate (PEM) for `key`, issued by the intermediate CA,
    /// with digitalSignature and nonRepudiation.
    pub fn issue(&self, key: &TestKey) -> String {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "Nguyễn Văn An");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Văn phòng UBND tỉnh Quảng Ninh");
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        // rcgen 0.14.7 writes no extensions at all (key usage included)
        // unless one of a few others is asked for; these two are what a
        // real signer certificate carries anyway.
        params.is_ca = IsCa::ExplicitNoCa;
        params.use_authority_key_identifier_extension = true;
        params
            .signed_by(&key.pair, &self.intermediate)
            .expect("signer certificate")
            .pem()
    }
}

/// A private key: its PKCS#8 PEM, and rcgen's key pair to certify it.
pub(super) struct TestKey {
    pub pem: String,
    pair: KeyPair,
}

impl TestKey {
    /// A fresh ECDSA P-256 key.
    pub fn p256() -> TestKey {
        TestKey::generate(&rcgen::PKCS_ECDSA_P256_SHA256)
    }

    /// A fresh key of an algorithm rcgen can generate with ring (P-256,
    /// P-384, Ed25519).
    pub fn generate(algorithm: &'static rcgen::SignatureAlgorithm) -> TestKey {
        let pair = KeyPair::generate_for(algorithm).expect("key");
        TestKey {
            pem: pair.serialize_pem(),
            pair,
        }
    }

    /// A fresh RSA key of `bits` bits from `openssl genpkey`; `None` (test
    /// skipped) when openssl is missing.
    pub fn rsa(bits: u32) -> Option<TestKey> {
        let pem = rsa_key_pem(bits)?;
        let pair = KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &PKCS_RSA_SHA256).expect("RSA key");
        Some(TestKey { pem, pair })
    }
}

fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// Whether `openssl` can be run. Prints why a test is skipped when it
/// cannot; panics under `CI=true`, where openssl is required.
pub(super) fn openssl_available() -> bool {
    static FOUND: OnceLock<bool> = OnceLock::new();
    let found = *FOUND.get_or_init(|| {
        Command::new("openssl")
            .arg("version")
            .output()
            .map(|output| output.status.success())
            .unwrap_or(false)
    });
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("openssl is required in CI but cannot be run");
        }
        eprintln!("SKIPPED: openssl is not installed (apt-get install openssl)");
    }
    found
}

/// A fresh RSA key of `bits` bits as PKCS#8 PEM, from `openssl genpkey`;
/// `None` (test skipped) when openssl is missing.
pub(super) fn rsa_key_pem(bits: u32) -> Option<String> {
    if !openssl_available() {
        return None;
    }
    let output = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt"])
        .arg(format!("rsa_keygen_bits:{bits}"))
        .output()
        .expect("run openssl genpkey");
    assert!(
        output.status.success(),
        "openssl genpkey failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).expect("PEM is ASCII"))
}
