//! `congvan keys-dev`: the development PKI the demo and the tests sign with.
//!
//! A root CA ("Demo Government Root CA"), an intermediate CA under it, and
//! under the intermediate: the demo agency's seal (ECDSA P-256), the two demo
//! officials who sign (`lanhdao`, `truongphong`; RSA-2048, as Vietnamese CAs
//! issue), a time-stamping authority (RSA-2048, extended key usage
//! timeStamping, critical as RFC 3161 requires) and `revoked`, an official
//! whose certificate the intermediate's CRL revokes (for the tests). Each CA
//! publishes a CRL; every certificate names its issuer's CRL as its CRL
//! distribution point. Keys are PKCS#8 PEM, certificates PEM, CRLs DER.
//!
//! RSA keys are generated with the RustCrypto `rsa` crate (ring, rcgen's
//! backend, cannot generate RSA keys) and then used through rcgen's ring
//! backend, which can sign with them.
//!
//! FOR DEVELOPMENT ONLY: the private keys are committed to the repository.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer,
    CrlDistributionPoint, CustomExtension, DistinguishedName, DnType, IsCa, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevocationReason, RevokedCertParams, SerialNumber,
};
use time::{Duration, OffsetDateTime};

/// The organisation named in every development certificate.
pub const ORGANISATION: &str = "Ủy ban nhân dân tỉnh Quảng Ninh (DEVELOPMENT ONLY)";

/// Where the certificates say their issuer's CRL is: the demo server serves
/// `keys-dev/*.crl` under this path.
pub const DEFAULT_CRL_BASE: &str = "http://127.0.0.1:8080/pki";

/// What `keys-dev` writes, by file name stem.
pub const SIGNERS: &[Signer] = &[
    Signer {
        stem: "lanhdao",
        common_name: "Trần Văn Minh",
        title: "Chủ tịch",
        key: KeyKind::Rsa2048,
    },
    Signer {
        stem: "truongphong",
        common_name: "Lê Văn Hùng",
        title: "Trưởng phòng Tổng hợp",
        key: KeyKind::Rsa2048,
    },
    Signer {
        stem: "agency-seal",
        common_name: "Ủy ban nhân dân tỉnh Quảng Ninh",
        title: "Con dấu",
        key: KeyKind::P256,
    },
    Signer {
        stem: "revoked",
        common_name: "Nguyễn Văn Thu Hồi",
        title: "Chuyên viên (chứng thư đã thu hồi)",
        key: KeyKind::Rsa2048,
    },
];

/// One end-entity signer of the development PKI.
#[derive(Clone, Copy, Debug)]
pub struct Signer {
    pub stem: &'static str,
    pub common_name: &'static str,
    pub title: &'static str,
    pub key: KeyKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Rsa2048,
    P256,
}

#[derive(Debug, thiserror::Error)]
pub enum DevPkiError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("generating a key: {0}")]
    Key(String),
    #[error("issuing a certificate or CRL: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("{0} exists and is not empty: choose an empty or new directory")]
    NotEmpty(PathBuf),
}

/// What was written.
#[derive(Debug, Clone)]
pub struct DevPki {
    pub dir: PathBuf,
    pub files: Vec<String>,
}

fn key_pair(kind: KeyKind) -> Result<KeyPair, DevPkiError> {
    match kind {
        KeyKind::P256 => Ok(KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?),
        KeyKind::Rsa2048 => {
            use rsa::pkcs8::EncodePrivateKey;
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                .map_err(|e| DevPkiError::Key(e.to_string()))?;
            let pem = key
                .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
                .map_err(|e| DevPkiError::Key(e.to_string()))?;
            Ok(KeyPair::from_pkcs8_pem_and_sign_algo(
                &pem,
                &rcgen::PKCS_RSA_SHA256,
            )?)
        }
    }
}

fn name(common_name: &str, title: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "VN");
    dn.push(DnType::OrganizationName, ORGANISATION);
    if let Some(t) = title {
        dn.push(DnType::CustomDnType(vec![2, 5, 4, 12]), t);
    }
    dn.push(DnType::CommonName, common_name);
    dn
}

fn params(
    dn: DistinguishedName,
    serial: u64,
    years: i64,
    crl: Option<String>,
) -> CertificateParams {
    let mut p = CertificateParams::default();
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::days(1);
    p.not_after = now + Duration::days(365 * years);
    p.serial_number = Some(SerialNumber::from(serial.to_be_bytes().to_vec()));
    p.distinguished_name = dn;
    p.use_authority_key_identifier_extension = true;
    p.key_identifier_method = KeyIdMethod::Sha256;
    p.crl_distribution_points = crl
        .into_iter()
        .map(|u| CrlDistributionPoint { uris: vec![u] })
        .collect();
    p
}

fn ca_params(
    dn: DistinguishedName,
    serial: u64,
    years: i64,
    crl: Option<String>,
) -> CertificateParams {
    let mut p = params(dn, serial, years, crl);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p
}

/// DER of ExtKeyUsageSyntax ::= SEQUENCE { id-kp-timeStamping }.
const EKU_TIME_STAMPING: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08,
];

struct Out {
    dir: PathBuf,
    files: Vec<String>,
}

impl Out {
    fn write(&mut self, file: &str, bytes: &[u8]) -> Result<(), DevPkiError> {
        let path = self.dir.join(file);
        fs::write(&path, bytes).map_err(|source| DevPkiError::Io { path, source })?;
        self.files.push(file.to_string());
        Ok(())
    }
}

fn crl(
    issuer: &rcgen::Issuer<'_, &KeyPair>,
    revoked: Vec<RevokedCertParams>,
) -> Result<Vec<u8>, DevPkiError> {
    let now = OffsetDateTime::now_utc();
    let params = CertificateRevocationListParams {
        this_update: now - Duration::hours(1),
        next_update: now + Duration::days(365 * 10),
        crl_number: SerialNumber::from(vec![1]),
        issuing_distribution_point: None,
        revoked_certs: revoked,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    Ok(params.signed_by(issuer)?.der().to_vec())
}

/// Generates the development PKI into `dir` (created when missing; refused
/// when it holds anything), with CRL distribution points under `crl_base`.
pub fn generate(dir: &Path, crl_base: &str) -> Result<DevPki, DevPkiError> {
    if fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(DevPkiError::NotEmpty(dir.to_path_buf()));
    }
    fs::create_dir_all(dir).map_err(|source| DevPkiError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut out = Out {
        dir: dir.to_path_buf(),
        files: Vec::new(),
    };
    let base = crl_base.trim_end_matches('/');

    let root_key = key_pair(KeyKind::Rsa2048)?;
    let root_params = ca_params(name("Demo Government Root CA", None), 1, 20, None);
    let root = CertifiedIssuer::self_signed(root_params, &root_key)?;
    out.write("root-ca.key.pem", root_key.serialize_pem().as_bytes())?;
    out.write("root-ca.cert.pem", root.pem().as_bytes())?;

    let int_key = key_pair(KeyKind::Rsa2048)?;
    let int_params = ca_params(
        name("Demo Government Signing CA", None),
        2,
        15,
        Some(format!("{base}/root-ca.crl")),
    );
    let intermediate = CertifiedIssuer::signed_by(int_params, &int_key, &root)?;
    out.write(
        "intermediate-ca.key.pem",
        int_key.serialize_pem().as_bytes(),
    )?;
    out.write("intermediate-ca.cert.pem", intermediate.pem().as_bytes())?;
    out.write(
        "chain.pem",
        format!("{}{}", intermediate.pem(), root.pem()).as_bytes(),
    )?;

    let leaf_crl = Some(format!("{base}/intermediate-ca.crl"));
    let mut revoked = Vec::new();
    for (i, s) in SIGNERS.iter().enumerate() {
        let key = key_pair(s.key)?;
        let serial = 0x1000 + i as u64;
        let mut p = params(
            name(s.common_name, Some(s.title)),
            serial,
            5,
            leaf_crl.clone(),
        );
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        let cert = p.signed_by(&key, &intermediate)?;
        out.write(
            &format!("{}.key.pem", s.stem),
            key.serialize_pem().as_bytes(),
        )?;
        out.write(&format!("{}.cert.pem", s.stem), cert.pem().as_bytes())?;
        if s.stem == "revoked" {
            revoked.push(RevokedCertParams {
                serial_number: SerialNumber::from(serial.to_be_bytes().to_vec()),
                revocation_time: OffsetDateTime::now_utc() - Duration::minutes(30),
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            });
        }
    }

    let tsa_key = key_pair(KeyKind::Rsa2048)?;
    let mut p = params(
        name("Demo Time-Stamping Authority", None),
        0x2000,
        10,
        leaf_crl.clone(),
    );
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    let mut eku = CustomExtension::from_oid_content(&[2, 5, 29, 37], EKU_TIME_STAMPING.to_vec());
    eku.set_criticality(true);
    p.custom_extensions = vec![eku];
    let tsa = p.signed_by(&tsa_key, &intermediate)?;
    out.write("tsa.key.pem", tsa_key.serialize_pem().as_bytes())?;
    out.write("tsa.cert.pem", tsa.pem().as_bytes())?;

    out.write("root-ca.crl", &crl(&root, Vec::new())?)?;
    out.write("intermediate-ca.crl", &crl(&intermediate, revoked)?)?;
    out.write("README.md", readme(base).as_bytes())?;
    Ok(DevPki {
        dir: out.dir,
        files: out.files,
    })
}

fn readme(base: &str) -> String {
    format!(
        "# keys-dev: the development PKI — FOR DEVELOPMENT ONLY\n\n\
         Generated by `congvan keys-dev`. The private keys are in this repository:\n\
         nothing signed with them proves anything. Never trust `root-ca.cert.pem`\n\
         outside development and tests.\n\n\
         - `root-ca` — \"Demo Government Root CA\" (RSA-2048, self-signed)\n\
         - `intermediate-ca` — \"Demo Government Signing CA\" (RSA-2048), under the root\n\
         - `lanhdao`, `truongphong` — the demo officials who sign (RSA-2048)\n\
         - `agency-seal` — the demo agency's seal (ECDSA P-256)\n\
         - `revoked` — a signer whose certificate `intermediate-ca.crl` revokes\n\
         - `tsa` — a time-stamping authority (RSA-2048, EKU timeStamping, critical)\n\
         - `chain.pem` — intermediate then root\n\
         - `root-ca.crl`, `intermediate-ca.crl` — the CAs' CRLs (DER), named by the\n\
           certificates' CRL distribution points under {base}/\n\n\
         Signers have key usage digitalSignature + nonRepudiation. Keys are\n\
         PKCS#8 PEM, certificates PEM.\n"
    )
}
