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
//! Beside the PKI, demo images for visible signatures ([`demo_images`]):
//! each official's handwritten-looking signature in blue and the agency's
//! round red seal, transparent PNGs drawn here by code.
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
    #[error("drawing a demo image: {0}")]
    Image(String),
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
    for (file, png) in demo_images()? {
        out.write(file, &png)?;
    }
    out.write("keystore.toml", KEYSTORE.as_bytes())?;
    out.write("README.md", readme(base).as_bytes())?;
    Ok(DevPki {
        dir: out.dir,
        files: out.files,
    })
}

/// Writes (or rewrites) only the demo images into `dir`, leaving the keys
/// and certificates there as they are.
pub fn write_images(dir: &Path) -> Result<DevPki, DevPkiError> {
    fs::create_dir_all(dir).map_err(|source| DevPkiError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut out = Out {
        dir: dir.to_path_buf(),
        files: Vec::new(),
    };
    for (file, png) in demo_images()? {
        out.write(file, &png)?;
    }
    Ok(DevPki {
        dir: out.dir,
        files: out.files,
    })
}

/// The demo images, by file name: `lanhdao-signature.png` and
/// `truongphong-signature.png` (blue ink), `agency-seal.png` (a red seal).
/// Deterministic: the same bytes on every run.
pub fn demo_images() -> Result<Vec<(&'static str, Vec<u8>)>, DevPkiError> {
    Ok(vec![
        ("lanhdao-signature.png", handwriting(0.0).png()?),
        ("truongphong-signature.png", handwriting(1.0).png()?),
        ("agency-seal.png", seal().png()?),
    ])
}

/// A transparent canvas in one colour: only the coverage varies.
struct Canvas {
    width: usize,
    height: usize,
    rgb: [u8; 3],
    alpha: Vec<f32>,
}

impl Canvas {
    fn new(width: usize, height: usize, rgb: [u8; 3]) -> Canvas {
        Canvas {
            width,
            height,
            rgb,
            alpha: vec![0.0; width * height],
        }
    }

    /// Covers the pixels within `radius` of (x, y), y pointing down, with
    /// a soft edge one pixel wide.
    fn dot(&mut self, x: f32, y: f32, radius: f32) {
        let reach = radius + 1.0;
        let (x0, x1) = ((x - reach).floor().max(0.0), (x + reach).ceil());
        let (y0, y1) = ((y - reach).floor().max(0.0), (y + reach).ceil());
        for py in y0 as usize..(y1 as usize).min(self.height) {
            for px in x0 as usize..(x1 as usize).min(self.width) {
                let d = ((px as f32 + 0.5 - x).powi(2) + (py as f32 + 0.5 - y).powi(2)).sqrt();
                let cover = (radius + 0.5 - d).clamp(0.0, 1.0);
                let a = &mut self.alpha[py * self.width + px];
                *a = a.max(cover);
            }
        }
    }

    /// Covers each pixel by the share of its 4 x 4 samples `inside` takes.
    fn fill(&mut self, inside: impl Fn(f32, f32) -> bool) {
        for py in 0..self.height {
            for px in 0..self.width {
                let mut hits = 0;
                for sy in 0..4 {
                    for sx in 0..4 {
                        let x = px as f32 + (sx as f32 + 0.5) / 4.0;
                        let y = py as f32 + (sy as f32 + 0.5) / 4.0;
                        if inside(x, y) {
                            hits += 1;
                        }
                    }
                }
                let a = &mut self.alpha[py * self.width + px];
                *a = a.max(hits as f32 / 16.0);
            }
        }
    }

    fn png(&self) -> Result<Vec<u8>, DevPkiError> {
        let mut data = Vec::with_capacity(self.alpha.len() * 4);
        for a in &self.alpha {
            data.extend_from_slice(&self.rgb);
            data.push((a * 255.0).round() as u8);
        }
        let mut out = Vec::new();
        let failed = |e: png::EncodingError| DevPkiError::Image(e.to_string());
        let mut encoder = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(failed)?;
        writer.write_image_data(&data).map_err(failed)?;
        writer.finish().map_err(failed)?;
        Ok(out)
    }
}

/// A signature in blue ink: a run of cursive loops (a prolate cycloid
/// whose height swells and falls) and an underline flourish; `variant`
/// makes each official's different.
fn handwriting(variant: f32) -> Canvas {
    let (w, h) = (480usize, 180usize);
    let mut c = Canvas::new(w, h, [18, 42, 150]);
    let loops = 6.0 + 2.0 * variant;
    let steps = 3000;
    let mut previous: Option<(f32, f32)> = None;
    for i in 0..=steps {
        let t = i as f32 / steps as f32;
        let angle = t * loops * std::f32::consts::TAU;
        // Loops of uneven height (incommensurate waves), the first one tall
        // like a capital letter.
        let swell = 0.55
            + 0.25 * (t * 7.3 + 2.0 * variant).sin()
            + 0.15 * (t * 13.1 + variant).sin()
            + 0.9 * (-t * 18.0).exp();
        let x = 40.0 + t * 360.0 - 22.0 * angle.sin() * (1.0 - 0.3 * variant)
            + 9.0 * (angle * 0.37 + 2.0 * variant).sin();
        let y = 92.0 - 20.0 * t * (1.0 - variant) - 34.0 * swell * angle.cos()
            + 8.0 * (angle * 0.5 + variant).sin();
        // Handwriting leans to the right.
        let x = x + (92.0 - y) * 0.35;
        // Faster strokes are thinner, as with a pen.
        let speed = previous.map_or(0.0, |(px, py)| ((x - px).powi(2) + (y - py).powi(2)).sqrt());
        c.dot(x, y, (3.2 - speed * 2.0).clamp(1.3, 3.2));
        previous = Some((x, y));
    }
    // The flourish: a long stroke under the name, rising to the right.
    for i in 0..=1200 {
        let t = i as f32 / 1200.0;
        let x = 30.0 + t * 420.0;
        let y = 150.0 - 30.0 * t + 14.0 * (t * std::f32::consts::PI * (1.5 + variant)).sin();
        c.dot(x, y, 2.6 - 1.6 * t);
    }
    c
}

/// The agency's seal in red: two concentric rings, a ring of dots
/// between them, and a five-pointed star in the middle.
fn seal() -> Canvas {
    let size = 400usize;
    let mut c = Canvas::new(size, size, [204, 20, 28]);
    let centre = size as f32 / 2.0;
    let ring = |r: f32, half: f32| {
        move |x: f32, y: f32| {
            let d = ((x - centre).powi(2) + (y - centre).powi(2)).sqrt();
            (d - r).abs() <= half
        }
    };
    c.fill(ring(188.0, 8.0));
    c.fill(ring(150.0, 3.0));
    for k in 0..36 {
        let a = k as f32 / 36.0 * std::f32::consts::TAU;
        c.dot(centre + 169.0 * a.cos(), centre + 169.0 * a.sin(), 3.5);
    }
    // The star's ten corners, outer and inner in turn, the first at the top.
    let corners: Vec<(f32, f32)> = (0..10)
        .map(|k| {
            let r = if k % 2 == 0 { 90.0 } else { 36.0 };
            let a = -std::f32::consts::FRAC_PI_2 + k as f32 * std::f32::consts::PI / 5.0;
            (centre + r * a.cos(), centre + r * a.sin())
        })
        .collect();
    c.fill(|x, y| {
        // Even-odd rule over the star's edges.
        let mut inside = false;
        for i in 0..corners.len() {
            let (x1, y1) = corners[i];
            let (x2, y2) = corners[(i + 1) % corners.len()];
            if (y1 > y) != (y2 > y) && x < x1 + (y - y1) / (y2 - y1) * (x2 - x1) {
                inside = !inside;
            }
        }
        inside
    });
    c
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
           certificates' CRL distribution points under {base}/\n\
         - `lanhdao-signature.png`, `truongphong-signature.png` — the officials'\n\
           handwritten-looking signatures (blue, transparent), and `agency-seal.png`\n\
           — the agency's round red seal, for visible signatures (`pdf sign\n\
           --visible ... --image ...`); drawn by code: `congvan keys-dev --images-only`\n\
           rewrites them alone, leaving the keys and certificates as they are\n\n\
         Signers have key usage digitalSignature + nonRepudiation. Keys are\n\
         PKCS#8 PEM, certificates PEM.\n\n\
         ## keystore.toml\n\n\
         The demo server's keystore (`--demo` uses it when no `keystore` setting is\n\
         given): `lanhdao` signs with `lanhdao.key.pem`, the agency's seal is\n\
         `agency-seal.key.pem`. See the comments in the file for PKCS#11 and\n\
         external (two-phase) signers.\n"
    )
}

/// The demo keystore (see `crate::signing::Keystore`), next to the keys.
pub const KEYSTORE: &str = include_str!("devpki_keystore.toml");
