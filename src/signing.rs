//! Signatures in the journey: the server's trust anchors, the keystore that
//! says how each official signs, and the commands that sign a document's PDF
//! (in one step, or in two for a key the server cannot reach) and verify the
//! signatures of incoming documents.
//!
//! Signing happens before `decide`: the server signs the current revision,
//! verifies the signed file with its own trust anchors, and only then asks
//! `decide` to record it (the [`Action::Sign`] command, against the version
//! it signed — a document changed meanwhile is refused, not signed stale).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::app::{App, AppError, Outcome, RequestMeta, Upload};
use crate::digest::Sha256Digest;
use crate::domain::decide::{Action, DomainError, may_sign};
use crate::domain::model::{Document, DocumentId, SignatureKind, SignatureVerdict, SignedFile};
use crate::domain::values::UserId;
use crate::pades::appearance::{PERSON_BLUE, SEAL_RED};
use crate::pades::external::Session;
use crate::pades::pkcs11::{Pkcs11Signer, TokenKey};
use crate::pades::sign::{SignOptions, Signed, sign_pdf};
use crate::pades::verify::{Report, VerifyOptions, verify_pdf};
use crate::pades::writer::SignPdfError;
use crate::pades::{KeyFileSigner, SignatureAlgorithm, Signer, TextField, Visible};
use crate::pdf::PdfLimits;

/// The development PKI's folder, relative to the repository.
pub const DEV_KEYS: &str = "keys-dev";

/// The anchors and CRLs signatures are judged with (setting `trust_dir`).
#[derive(Default)]
pub struct Trust {
    pub anchors: Vec<x509_cert::Certificate>,
    pub crls: Vec<x509_cert::crl::CertificateList>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Trust {{ {} anchors, {} CRLs }}",
            self.anchors.len(),
            self.crls.len()
        )
    }
}

/// A file of the trust folder or the keystore that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

fn config_error(path: &Path, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.display().to_string(),
        message: message.into(),
    }
}

impl Trust {
    /// Reads `dir`: self-signed certificates are anchors, *.crl files CRLs.
    pub fn load(dir: &Path) -> Result<Trust, ConfigError> {
        let mut trust = Trust::default();
        let entries = std::fs::read_dir(dir).map_err(|e| config_error(dir, e.to_string()))?;
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or_default();
            let read = || std::fs::read(&path).map_err(|e| config_error(&path, e.to_string()));
            match ext {
                "crl" => trust.crls.push(
                    crate::pades::verify::read_crl(&read()?).map_err(|e| config_error(&path, e))?,
                ),
                "pem" | "crt" | "cer" | "der" => {
                    let bytes = read()?;
                    // Key files share the folder in keys-dev; they are not certificates.
                    if ext == "pem"
                        && !String::from_utf8_lossy(&bytes).contains("BEGIN CERTIFICATE")
                    {
                        continue;
                    }
                    for cert in crate::pades::verify::read_certificates(&bytes)
                        .map_err(|e| config_error(&path, e))?
                    {
                        let tbs = &cert.tbs_certificate;
                        if tbs.subject == tbs.issuer {
                            trust.anchors.push(cert);
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(trust)
    }

    /// Verifies every signature of `pdf` now.
    pub fn verify(&self, pdf: &[u8], limits: &PdfLimits) -> Result<Report, crate::pdf::PdfError> {
        let options = VerifyOptions {
            trust: self.anchors.clone(),
            crls: self.crls.clone(),
            now: Timestamp::now(),
        };
        verify_pdf(pdf, &options, limits)
    }
}

/// The verdicts of a report, as events keep them.
pub fn verdicts(report: &Report) -> Vec<SignatureVerdict> {
    report
        .signatures
        .iter()
        .map(|s| SignatureVerdict {
            field: s.field.clone(),
            indication: s.indication.as_str().to_string(),
            sub_indication: s.sub_indication.map(str::to_string),
            modifications: serde_json::to_value(s.modifications)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            signer: s.signer.as_ref().map(|c| c.subject.clone()),
        })
        .collect()
}

/// How one official (or the agency's seal) signs.
pub enum Method {
    /// A PKCS#8 key file the server reads (the demo).
    KeyFile(Arc<KeyFileSigner>),
    /// A key on a PKCS#11 token (an HSM in production), opened per signature.
    Pkcs11 {
        module: PathBuf,
        token: String,
        key_label: String,
        pin: SecretString,
        cert_pem: String,
        chain_pem: Option<String>,
    },
    /// The key stays with the official (a USB token, a remote signing
    /// service): the server prepares, the official's device signs, the
    /// server finishes.
    External {
        cert_pem: String,
        chain_pem: Option<String>,
        algorithm: SignatureAlgorithm,
    },
}

pub struct Entry {
    pub method: Method,
    /// The signature's image (PNG): a handwritten signature, or the seal.
    pub image: Option<Vec<u8>>,
}

/// Who signs with what: the officials by user name, and the agency's seal.
#[derive(Default)]
pub struct Keystore {
    pub officials: BTreeMap<String, Entry>,
    pub seal: Option<Entry>,
}

impl std::fmt::Debug for Keystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keystore")
            .field("officials", &self.officials.keys().collect::<Vec<_>>())
            .field("seal", &self.seal.is_some())
            .finish()
    }
}

/// One entry of the keystore file; paths are relative to the file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    /// `key_file` (default), `pkcs11` or `external`.
    #[serde(default)]
    signer: SignerKind,
    /// The signer's certificate (PEM).
    cert: PathBuf,
    /// The rest of the chain (PEM), issuer first.
    chain: Option<PathBuf>,
    /// key_file: the PKCS#8 private key (PEM).
    key: Option<PathBuf>,
    /// key_file with an RSA key: sign with RSASSA-PSS.
    #[serde(default)]
    pss: bool,
    /// pkcs11: the module, the token's label, the key's label, and the
    /// environment variable holding the user PIN.
    module: Option<PathBuf>,
    token: Option<String>,
    key_label: Option<String>,
    pin_env: Option<String>,
    /// external: `rsa_pkcs1_sha256` (default), `rsa_pss_sha256` or `ecdsa_p256_sha256`.
    algorithm: Option<String>,
    /// A PNG drawn in the visible signature.
    image: Option<PathBuf>,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum SignerKind {
    #[default]
    KeyFile,
    Pkcs11,
    External,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeystoreFile {
    seal: Option<EntryFile>,
    #[serde(default)]
    officials: BTreeMap<String, EntryFile>,
}

impl Keystore {
    /// Reads a keystore file (TOML; see keys-dev/keystore.toml). Every key
    /// is loaded and checked against its certificate now, so that a broken
    /// entry stops the server at start, not a signature later.
    pub fn load(path: &Path) -> Result<Keystore, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| config_error(path, e.to_string()))?;
        let file: KeystoreFile =
            toml::from_str(&text).map_err(|e| config_error(path, e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut store = Keystore::default();
        if let Some(seal) = file.seal {
            store.seal = Some(entry(base, path, "seal", seal)?);
        }
        for (user, e) in file.officials {
            UserId::parse(&user)
                .map_err(|err| config_error(path, format!("officials.{user}: {err}")))?;
            let loaded = entry(base, path, &format!("officials.{user}"), e)?;
            store.officials.insert(user, loaded);
        }
        Ok(store)
    }

    fn entry_for(&self, user: &UserId, kind: SignatureKind) -> Result<&Entry, AppError> {
        match kind {
            SignatureKind::Personal => self.officials.get(user.as_str()).ok_or_else(|| {
                AppError::Signing(format!(
                    "no signing key is configured for {user} (keystore setting)"
                ))
            }),
            SignatureKind::AgencySeal => self.seal.as_ref().ok_or_else(|| {
                AppError::Signing(
                    "no agency seal key is configured (keystore setting, [seal])".into(),
                )
            }),
        }
    }
}

fn entry(base: &Path, file: &Path, name: &str, e: EntryFile) -> Result<Entry, ConfigError> {
    let fail = |m: String| config_error(file, format!("{name}: {m}"));
    let read = |p: &Path| {
        std::fs::read_to_string(base.join(p)).map_err(|err| fail(format!("{}: {err}", p.display())))
    };
    let cert_pem = read(&e.cert)?;
    let chain_pem = e.chain.as_deref().map(read).transpose()?;
    let image = match &e.image {
        Some(p) => Some(
            std::fs::read(base.join(p)).map_err(|err| fail(format!("{}: {err}", p.display())))?,
        ),
        None => None,
    };
    let method = match e.signer {
        SignerKind::KeyFile => {
            let key = e
                .key
                .as_deref()
                .ok_or_else(|| fail("a key_file signer names its `key`".into()))?;
            let key_pem = read(key)?;
            let signer = KeyFileSigner::from_pem(&key_pem, &cert_pem, chain_pem.as_deref(), e.pss)
                .map_err(|err| fail(err.to_string()))?;
            Method::KeyFile(Arc::new(signer))
        }
        SignerKind::Pkcs11 => {
            let need = |v: Option<String>, what: &str| {
                v.ok_or_else(|| fail(format!("a pkcs11 signer names its `{what}`")))
            };
            let pin_env = need(e.pin_env, "pin_env")?;
            let pin = std::env::var(&pin_env).map_err(|_| {
                fail(format!(
                    "the environment variable {pin_env} (the PIN) is not set"
                ))
            })?;
            Method::Pkcs11 {
                module: e
                    .module
                    .ok_or_else(|| fail("a pkcs11 signer names its `module`".into()))?,
                token: need(e.token, "token")?,
                key_label: need(e.key_label, "key_label")?,
                pin: SecretString::from(pin),
                cert_pem,
                chain_pem,
            }
        }
        SignerKind::External => {
            let algorithm = match e.algorithm.as_deref().unwrap_or("rsa_pkcs1_sha256") {
                "rsa_pkcs1_sha256" => SignatureAlgorithm::RsaPkcs1Sha256,
                "rsa_pss_sha256" => SignatureAlgorithm::RsaPssSha256,
                "ecdsa_p256_sha256" => SignatureAlgorithm::EcdsaP256Sha256,
                other => {
                    return Err(fail(format!(
                        "algorithm {other:?} is not one of rsa_pkcs1_sha256, rsa_pss_sha256, ecdsa_p256_sha256"
                    )));
                }
            };
            crate::pades::signer::single_certificate(&cert_pem)
                .map_err(|err| fail(err.to_string()))?;
            Method::External {
                cert_pem,
                chain_pem,
                algorithm,
            }
        }
    };
    Ok(Entry { method, image })
}

/// What the caller may choose about a signature; the rest follows from the
/// document and the keystore.
#[derive(Clone, Debug, Default)]
pub struct SignRequest {
    pub reason: Option<String>,
    pub location: Option<String>,
    /// Where the signature shows: page (from 1) and rectangle [x, y, width,
    /// height] in points from the page's lower-left corner. By default the
    /// person signs at the lower right of the last page and the seal
    /// overlaps the left third of that signature.
    pub placement: Option<(u32, [f32; 4])>,
}

/// Where the person signs by default: the lower right of an A4 page, in
/// the signing block (Decree 30 appendix I).
pub const PERSON_RECT: [f32; 4] = [330.0, 110.0, 200.0, 80.0];
/// The seal's side.
pub const SEAL_SIDE: f32 = 90.0;
/// The number and notation, and the place and date, filled in by the clerk
/// before sealing: under the agency's name and under the national motto.
pub const NUMBER_FIELD: &str = "SoKyHieu";
pub const DATE_FIELD: &str = "NgayBanHanh";
const NUMBER_RECT: [f32; 4] = [56.0, 700.0, 230.0, 18.0];
const DATE_RECT: [f32; 4] = [300.0, 700.0, 260.0, 18.0];
/// The text-only signature of an attachment: the top right of its first page.
const ATTACHMENT_RECT: [f32; 4] = [345.0, 770.0, 230.0, 54.0];

/// The seal overlapping about a third of the person's signature, on its left.
pub fn seal_rect(person: [f32; 4]) -> [f32; 4] {
    let [x, y, w, h] = person;
    [
        (x + w / 3.0 - SEAL_SIDE).max(0.0),
        y + (h - SEAL_SIDE) / 2.0,
        SEAL_SIDE,
        SEAL_SIDE,
    ]
}

/// "ngày 05 tháng 02 năm 2027": Decree 30 writes days below 10 and months
/// below 3 with a leading zero.
pub fn vietnamese_date(d: jiff::civil::Date) -> String {
    let day = if d.day() < 10 {
        format!("0{}", d.day())
    } else {
        d.day().to_string()
    };
    let month = if d.month() < 3 {
        format!("0{}", d.month())
    } else {
        d.month().to_string()
    };
    format!("ngày {day} tháng {month} năm {}", d.year())
}

/// What the server looks up before signing: who signs, for whom, and the
/// keystore's image.
struct Appearance {
    /// The signer's name under a personal signature.
    name: String,
    agency: String,
    image: Option<Vec<u8>>,
}

/// Two-phase signatures waiting for their value, by session id.
#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<uuid::Uuid, Waiting>>,
}

struct Waiting {
    user: UserId,
    document: DocumentId,
    kind: SignatureKind,
    /// The document's version the revision was prepared from.
    version: u64,
    session: Session,
    expires: Timestamp,
}

/// How long a prepared signature waits for its value.
pub const SESSION_TTL_SECONDS: i64 = 15 * 60;

/// Phase one of a two-phase signature, for the caller.
#[derive(Clone, Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Prepared {
    pub session_id: uuid::Uuid,
    pub kind: SignatureKind,
    /// Sign these bytes (the DER of the CMS signed attributes), base64,
    /// with SHA-256 and `algorithm`.
    pub data_to_sign: String,
    /// SHA-256 of `data_to_sign`, hex: what a device that signs a digest
    /// signs.
    pub digest_to_sign: String,
    /// `rsa_pkcs1_sha256`, `rsa_pss_sha256` or `ecdsa_p256_sha256`.
    pub algorithm: &'static str,
    /// RFC 3339: the session is dropped after this.
    pub expires_at: String,
}

/// Phase two: what the official's device returned.
#[derive(Clone, Debug)]
pub enum Finish {
    /// The raw signature over `data_to_sign`.
    Signature(Vec<u8>),
    /// A complete CMS SignedData made by a remote signing service over the
    /// revision's digest.
    Cms(Vec<u8>),
}

fn algorithm_name(a: SignatureAlgorithm) -> &'static str {
    match a {
        SignatureAlgorithm::RsaPkcs1Sha256 => "rsa_pkcs1_sha256",
        SignatureAlgorithm::RsaPssSha256 => "rsa_pss_sha256",
        SignatureAlgorithm::EcdsaP256Sha256 => "ecdsa_p256_sha256",
    }
}

fn blocking_error(e: tokio::task::JoinError) -> AppError {
    AppError::Io(std::io::Error::other(e))
}

impl App {
    /// Every signature of `pdf`, verified now with the server's anchors.
    async fn verify_bytes(&self, pdf: Vec<u8>) -> Result<Report, AppError> {
        let trust = self.config.trust.clone();
        let limits = self.config.pdf_limits;
        Ok(
            tokio::task::spawn_blocking(move || trust.verify(&pdf, &limits))
                .await
                .map_err(blocking_error)??,
        )
    }

    /// The signatures of `pdf` as the server judges them now.
    pub async fn verdicts_of(&self, pdf: Vec<u8>) -> Result<Vec<SignatureVerdict>, AppError> {
        Ok(verdicts(&self.verify_bytes(pdf).await?))
    }

    /// The verification report of a document's current PDF (None when it
    /// has none).
    pub async fn signature_report(&self, doc: &Document) -> Result<Option<Report>, AppError> {
        let Some(pdf) = doc.current_pdf() else {
            return Ok(None);
        };
        let bytes = self.pdf_bytes(&pdf.sha256).await?;
        Ok(Some(self.verify_bytes(bytes).await?))
    }

    /// A stored PDF's bytes, read off the async reactor.
    pub(crate) async fn pdf_bytes(&self, digest: &Sha256Digest) -> Result<Vec<u8>, AppError> {
        let blobs = self.blobs.clone();
        let digest = *digest;
        Ok(tokio::task::spawn_blocking(move || blobs.get(&digest))
            .await
            .map_err(blocking_error)??)
    }

    /// The name, agency and image a visible signature shows.
    async fn appearance(&self, user: &UserId, entry: &Entry) -> Result<Appearance, AppError> {
        let pool = self.projections.pool();
        // The official who signs, as the directory names them (the
        // metadata's signer is who was expected to sign).
        let name = crate::projections::official(pool, user.as_str())
            .await?
            .map(|o| o.full_name)
            .unwrap_or_else(|| user.to_string());
        let agency = crate::projections::agency(pool)
            .await?
            .map(|a| a.name)
            .unwrap_or_default();
        Ok(Appearance {
            name,
            agency,
            image: entry.image.clone(),
        })
    }

    /// Fills in the number and the date the document was issued under
    /// (form filling: the person's signature left these fields unlocked).
    async fn fill_number(&self, doc: &Document, bytes: Vec<u8>) -> Result<Vec<u8>, AppError> {
        let issued = doc.issued.as_ref().ok_or_else(|| {
            AppError::Domain(DomainError::State(
                "the document is not numbered yet".into(),
            ))
        })?;
        let values = vec![
            (
                NUMBER_FIELD.to_string(),
                format!("Số: {}", issued.number_notation),
            ),
            (
                DATE_FIELD.to_string(),
                capitalised(&vietnamese_date(issued.issue_date)),
            ),
        ];
        let limits = self.config.pdf_limits;
        tokio::task::spawn_blocking(move || crate::pades::fill_fields(&bytes, &values, &limits))
            .await
            .map_err(blocking_error)?
            .map_err(|e| AppError::Signing(format!("the number and date cannot be filled in: {e}")))
    }

    /// Loads the document and checks that `user` may sign it now.
    async fn signable(
        &self,
        user: &UserId,
        id: DocumentId,
        kind: SignatureKind,
        if_match: Option<u64>,
    ) -> Result<(Document, u64, Vec<u8>), AppError> {
        let actor = self.actor(user).await?;
        let (doc, version) = self.load(id).await?;
        let doc = doc.ok_or(DomainError::NotFound)?;
        if let Some(expected) = if_match
            && expected != version
        {
            return Err(AppError::StaleVersion {
                expected,
                actual: version,
            });
        }
        may_sign(&actor, &doc, kind)?;
        let Some(pdf) = doc.current_pdf() else {
            return Err(DomainError::State("the document has no PDF".into()).into());
        };
        let bytes = self.pdf_bytes(&pdf.sha256).await?;
        Ok((doc, version, bytes))
    }

    /// Signs document `id` for `user` with the key the keystore holds for
    /// them (or the agency's seal), verifies the signed file and records it.
    pub async fn sign(
        &self,
        user: &UserId,
        id: DocumentId,
        kind: SignatureKind,
        request: &SignRequest,
        meta: &RequestMeta,
        if_match: Option<u64>,
    ) -> Result<Outcome, AppError> {
        let (doc, version, bytes) = self.signable(user, id, kind, if_match).await?;
        let keystore = self.config.keystore.clone();
        let entry = keystore.entry_for(user, kind)?;
        if let Method::External { .. } = entry.method {
            return Err(AppError::Signing(format!(
                "{user} signs with a device the server cannot reach: use POST /api/v1/documents/{id}/signatures/prepare, then /finish"
            )));
        }
        let look = self.appearance(user, entry).await?;
        let mut bytes = bytes;
        if kind == SignatureKind::AgencySeal {
            bytes = self.fill_number(&doc, bytes).await?;
        }
        // The files to sign: the document, and with the seal each attachment.
        let mut jobs = vec![(bytes, sign_options(&doc, kind, request, &look))];
        if kind == SignatureKind::AgencySeal {
            for a in &doc.attachments {
                let bytes = self.pdf_bytes(&a.pdf.sha256).await?;
                jobs.push((bytes, attachment_options(&doc, request, &look)));
            }
        }
        let limits = self.config.pdf_limits;
        let keystore = self.config.keystore.clone();
        let user_owned = user.clone();
        let placed = request.placement.is_some();
        let mut signed = tokio::task::spawn_blocking(move || -> Result<Vec<Signed>, AppError> {
            let entry = keystore.entry_for(&user_owned, kind)?;
            let failed = |e: crate::pades::SignError| AppError::Signing(e.to_string());
            let token;
            let signer: &dyn Signer = match &entry.method {
                Method::KeyFile(s) => s.as_ref(),
                Method::Pkcs11 {
                    module,
                    token: label,
                    key_label,
                    pin,
                    cert_pem,
                    chain_pem,
                } => {
                    token = Pkcs11Signer::open(
                        &TokenKey {
                            module,
                            token: label,
                            key_label,
                            pin: pin.expose_secret(),
                        },
                        cert_pem,
                        chain_pem.as_deref(),
                    )
                    .map_err(failed)?;
                    &token
                }
                Method::External { .. } => {
                    return Err(AppError::Signing(
                        "an external signer signs in two phases".into(),
                    ));
                }
            };
            jobs.iter()
                .enumerate()
                .map(|(n, (bytes, options))| {
                    sign_pdf(bytes, signer, options, &limits).map_err(|e| match (n, e) {
                        // The caller's rectangle that does not fit the page.
                        (0, SignPdfError::Visible(rule)) if placed => {
                            AppError::Domain(DomainError::Invalid {
                                field: "placement",
                                rule,
                            })
                        }
                        (0, e) => AppError::Signing(e.to_string()),
                        (n, e) => AppError::Signing(format!("attachment {n}: {e}")),
                    })
                })
                .collect()
        })
        .await
        .map_err(blocking_error)??;
        let certificate = match &entry.method {
            Method::KeyFile(s) => Sha256Digest::of(s.certificate()),
            Method::Pkcs11 { cert_pem, .. } | Method::External { cert_pem, .. } => {
                let der = crate::pades::signer::single_certificate(cert_pem)
                    .map_err(|e| AppError::Signing(e.to_string()))?;
                Sha256Digest::of(&der)
            }
        };
        let main = signed.remove(0);
        self.record(user, id, kind, version, (main, signed), certificate, meta)
            .await
    }

    /// Phase one of a two-phase signature: the revision is written and kept,
    /// and the caller gets the bytes the official's device must sign.
    pub async fn prepare_signature(
        &self,
        user: &UserId,
        id: DocumentId,
        kind: SignatureKind,
        request: &SignRequest,
        if_match: Option<u64>,
    ) -> Result<Prepared, AppError> {
        let (doc, version, bytes) = self.signable(user, id, kind, if_match).await?;
        let keystore = self.config.keystore.clone();
        let entry = keystore.entry_for(user, kind)?;
        let Method::External {
            cert_pem,
            chain_pem,
            algorithm,
        } = &entry.method
        else {
            return Err(AppError::Signing(format!(
                "the keystore holds a key for {} here: sign in one step with POST /api/v1/documents/{id}/signatures",
                match kind {
                    SignatureKind::Personal => user.as_str(),
                    SignatureKind::AgencySeal => "the agency's seal",
                }
            )));
        };
        if kind == SignatureKind::AgencySeal && !doc.attachments.is_empty() {
            return Err(AppError::Signing(
                "a seal over a document with attachments is made in one step: give the agency's seal a key file or a PKCS#11 key".into(),
            ));
        }
        let look = self.appearance(user, entry).await?;
        let bytes = match kind {
            SignatureKind::AgencySeal => self.fill_number(&doc, bytes).await?,
            SignatureKind::Personal => bytes,
        };
        let options = sign_options(&doc, kind, request, &look);
        let limits = self.config.pdf_limits;
        let (cert_pem, chain_pem, algorithm) = (cert_pem.clone(), chain_pem.clone(), *algorithm);
        let session = tokio::task::spawn_blocking(move || {
            crate::pades::external::prepare(
                &bytes,
                &cert_pem,
                chain_pem.as_deref(),
                algorithm,
                &options,
                &limits,
            )
        })
        .await
        .map_err(blocking_error)?
        .map_err(|e| AppError::Signing(e.to_string()))?;
        let now = Timestamp::now();
        let expires = now
            .checked_add(jiff::SignedDuration::from_secs(SESSION_TTL_SECONDS))
            .unwrap_or(now);
        let prepared = Prepared {
            session_id: session.id,
            kind,
            data_to_sign: base64_encode(session.data_to_sign()),
            digest_to_sign: Sha256Digest::of(session.data_to_sign()).to_string(),
            algorithm: algorithm_name(session.algorithm()),
            expires_at: expires.to_string(),
        };
        let mut open = self.sessions.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|_, w| w.expires > now);
        open.insert(
            session.id,
            Waiting {
                user: user.clone(),
                document: id,
                kind,
                version,
                session,
                expires,
            },
        );
        Ok(prepared)
    }

    /// Phase two: puts the device's signature (or CMS) into the prepared
    /// revision, verifies the file and records it.
    pub async fn finish_signature(
        &self,
        user: &UserId,
        id: DocumentId,
        session_id: uuid::Uuid,
        value: Finish,
        meta: &RequestMeta,
    ) -> Result<Outcome, AppError> {
        let waiting = {
            let mut open = self.sessions.open.lock().unwrap_or_else(|p| p.into_inner());
            let now = Timestamp::now();
            open.retain(|_, w| w.expires > now);
            match open.get(&session_id) {
                Some(w) if w.user == *user && w.document == id => open.remove(&session_id),
                _ => None,
            }
        };
        let Some(waiting) = waiting else {
            return Err(DomainError::Invalid {
                field: "session_id",
                rule: "no prepared signature of yours with this id is waiting on this document (it may have expired or been finished)".into(),
            }
            .into());
        };
        let certificate = Sha256Digest::of(waiting.session.certificate());
        let session = waiting.session;
        let signed = tokio::task::spawn_blocking(move || match value {
            Finish::Signature(s) => session.finish(&s),
            Finish::Cms(c) => session.finish_with_cms(&c),
        })
        .await
        .map_err(blocking_error)?
        .map_err(|e| {
            AppError::Domain(DomainError::Invalid {
                field: "signature",
                rule: e.to_string(),
            })
        })?;
        self.record(
            user,
            id,
            waiting.kind,
            waiting.version,
            (signed, Vec::new()),
            certificate,
            meta,
        )
        .await
    }

    /// Verifies the signed file and appends the signature event, only if
    /// the document is still at `version`.
    #[expect(
        clippy::too_many_arguments,
        reason = "the facts of one signature, from two call sites"
    )]
    async fn record(
        &self,
        user: &UserId,
        id: DocumentId,
        kind: SignatureKind,
        version: u64,
        (main, attachments): (Signed, Vec<Signed>),
        certificate_sha256: Sha256Digest,
        meta: &RequestMeta,
    ) -> Result<Outcome, AppError> {
        let facts = self.checked(main, certificate_sha256, None).await?;
        let mut attachment_facts = Vec::new();
        for (n, signed) in (1..).zip(attachments) {
            attachment_facts.push(self.checked(signed, certificate_sha256, Some(n)).await?);
        }
        let uploads: Vec<&Upload> = std::iter::once(&facts.1)
            .chain(attachment_facts.iter().map(|(_, u)| u))
            .collect();
        self.execute_with_uploads(
            user,
            id,
            Action::Sign {
                kind,
                facts: Box::new(facts.0.clone()),
                attachments: attachment_facts.iter().map(|(f, _)| f.clone()).collect(),
            },
            meta,
            &uploads,
            Some(version),
        )
        .await
        .map_err(|e| match e {
            // Changed while it was being signed: what was signed is stale.
            AppError::StaleVersion { .. } => AppError::Contention,
            e => e,
        })
    }

    /// Verifies a signed file: every signature in it must hold (the seal
    /// completes the document). Answers the facts of its newest signature
    /// and the file, parsed, to store.
    async fn checked(
        &self,
        signed: Signed,
        certificate_sha256: Sha256Digest,
        attachment: Option<u32>,
    ) -> Result<(SignedFile, Upload), AppError> {
        let Signed {
            pdf,
            field,
            byte_range,
            digest,
            signed_at,
        } = signed;
        let which = attachment
            .map(|n| format!("attachment {n}: "))
            .unwrap_or_default();
        let report = self.verify_bytes(pdf.clone()).await?;
        let all = verdicts(&report);
        let verdict = all
            .iter()
            .find(|v| v.field == field)
            .cloned()
            .ok_or_else(|| {
                AppError::Signing(format!(
                    "{which}the new signature is not in the signed file"
                ))
            })?;
        if let Some(bad) = all.iter().find(|v| !v.passed()) {
            return Err(AppError::Signing(format!(
                "{which}the signed file does not verify: signature {} is {}{}",
                bad.field,
                bad.indication,
                bad.sub_indication
                    .as_deref()
                    .map(|s| format!(" / {s}"))
                    .unwrap_or_default()
            )));
        }
        let upload = self.inspect_upload(pdf).await?;
        let facts = SignedFile {
            pdf: upload.pdf.clone(),
            signed_at,
            certificate_sha256,
            revision_sha256: Sha256Digest::from_bytes(digest),
            byte_range: byte_range.map(|n| n as u64),
            verdict,
        };
        Ok((facts, upload))
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The agency's text-only signature on an attachment in a file of its own:
/// the agency, the number and notation, and the time (ISO 8601, +07:00), at
/// the top right of its first page.
fn attachment_options(doc: &Document, request: &SignRequest, look: &Appearance) -> SignOptions {
    let mut options = base_options(SignatureKind::AgencySeal, request);
    options.field = Some("ChuKyCoQuanPhuLuc".into());
    let now = Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::Offset::constant(7)))
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string();
    let mut lines = Vec::new();
    if !look.agency.is_empty() {
        lines.push(look.agency.clone());
    }
    if let Some(i) = &doc.issued {
        lines.push(format!("Số: {}", i.number_notation));
    }
    lines.push(now);
    options.visible = Some(Visible {
        page: 1,
        rect: ATTACHMENT_RECT,
        image: None,
        lines,
        color: SEAL_RED,
    });
    options
}

/// The signature's field, reason and location.
fn base_options(kind: SignatureKind, request: &SignRequest) -> SignOptions {
    let default_reason = match kind {
        SignatureKind::Personal => "Ký ban hành văn bản",
        SignatureKind::AgencySeal => "Đóng dấu cơ quan",
    };
    SignOptions {
        field: Some(match kind {
            SignatureKind::Personal => "ChuKyNguoiCoThamQuyen".into(),
            SignatureKind::AgencySeal => "ChuKyCoQuan".into(),
        }),
        reason: Some(
            request
                .reason
                .clone()
                .unwrap_or_else(|| default_reason.to_string()),
        ),
        location: request.location.clone(),
        ..SignOptions::default()
    }
}

/// A visible signature: the person's image in blue with their name under
/// it, at the lower right of the last page, and the number and date fields
/// left unlocked for the clerk; the seal's red image over the left third of
/// the person's signature.
fn sign_options(
    doc: &Document,
    kind: SignatureKind,
    request: &SignRequest,
    look: &Appearance,
) -> SignOptions {
    let mut options = base_options(kind, request);
    let last = doc.current_pdf().map(|p| p.pages).unwrap_or(1).max(1);
    let (page, rect) = match (kind, request.placement) {
        (_, Some(p)) => p,
        (SignatureKind::Personal, None) => (last, PERSON_RECT),
        (SignatureKind::AgencySeal, None) => (last, seal_rect(PERSON_RECT)),
    };
    options.visible = Some(match kind {
        SignatureKind::Personal => Visible {
            page,
            rect,
            image: look.image.clone(),
            lines: vec![look.name.clone()],
            color: PERSON_BLUE,
        },
        SignatureKind::AgencySeal => Visible {
            page,
            rect,
            lines: if look.image.is_some() {
                Vec::new()
            } else {
                vec![look.agency.clone()]
            },
            image: look.image.clone(),
            color: SEAL_RED,
        },
    });
    if kind == SignatureKind::Personal {
        options.text_fields = vec![
            TextField {
                name: NUMBER_FIELD.into(),
                page: 1,
                rect: NUMBER_RECT,
                font_size: 13.0,
            },
            TextField {
                name: DATE_FIELD.into(),
                page: 1,
                rect: DATE_RECT,
                font_size: 13.0,
            },
        ];
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keystore(text: &str) -> Result<Keystore, ConfigError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEV_KEYS);
        for f in [
            "lanhdao.key.pem",
            "lanhdao.cert.pem",
            "chain.pem",
            "agency-seal.key.pem",
            "agency-seal.cert.pem",
            "agency-seal.png",
        ] {
            std::fs::copy(keys.join(f), dir.path().join(f)).expect("copy");
        }
        let path = dir.path().join("keystore.toml");
        std::fs::write(&path, text).expect("write");
        Keystore::load(&path)
    }

    fn refused(text: &str, says: &str) {
        let e = keystore(text).expect_err("refused").to_string();
        assert!(e.contains(says), "{e:?} should say {says:?}");
    }

    #[test]
    fn the_demo_keystore_loads_every_kind_of_signer() {
        let k = keystore(
            r#"
[seal]
cert = "agency-seal.cert.pem"
key = "agency-seal.key.pem"
image = "agency-seal.png"

[officials.lanhdao]
cert = "lanhdao.cert.pem"
chain = "chain.pem"
key = "lanhdao.key.pem"

[officials.truongphong]
signer = "external"
cert = "lanhdao.cert.pem"
algorithm = "rsa_pss_sha256"
"#,
        )
        .expect("loads");
        assert!(matches!(
            k.seal.as_ref().map(|e| &e.method),
            Some(Method::KeyFile(_))
        ));
        assert!(k.seal.as_ref().is_some_and(|e| e.image.is_some()));
        assert!(matches!(k.officials["lanhdao"].method, Method::KeyFile(_)));
        assert!(matches!(
            k.officials["truongphong"].method,
            Method::External {
                algorithm: SignatureAlgorithm::RsaPssSha256,
                ..
            }
        ));
        let user = UserId::parse("chuyenvien").expect("user");
        let e = k
            .entry_for(&user, SignatureKind::Personal)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("no signing key is configured for chuyenvien (keystore setting)")
        );
    }

    #[test]
    fn a_broken_entry_stops_the_server_naming_it() {
        refused(
            "[officials.lanhdao]\ncert = \"lanhdao.cert.pem\"\n",
            "officials.lanhdao: a key_file signer names its `key`",
        );
        refused(
            "[officials.lanhdao]\ncert = \"lanhdao.cert.pem\"\nkey = \"agency-seal.key.pem\"\n",
            "officials.lanhdao:",
        );
        refused(
            "[seal]\ncert = \"missing.pem\"\nkey = \"agency-seal.key.pem\"\n",
            "seal: missing.pem",
        );
        refused(
            "[officials.lanhdao]\nsigner = \"external\"\ncert = \"lanhdao.cert.pem\"\nalgorithm = \"md5\"\n",
            "algorithm \"md5\" is not one of",
        );
        refused(
            "[officials.lanhdao]\nsigner = \"pkcs11\"\ncert = \"lanhdao.cert.pem\"\nmodule = \"/usr/lib/softhsm/libsofthsm2.so\"\ntoken = \"agency\"\nkey_label = \"lanhdao\"\npin_env = \"CONGVAN_TEST_PIN_THAT_IS_NOT_SET\"\n",
            "the environment variable CONGVAN_TEST_PIN_THAT_IS_NOT_SET (the PIN) is not set",
        );
        refused(
            "[officials.\"Not A User\"]\ncert = \"lanhdao.cert.pem\"\nkey = \"lanhdao.key.pem\"\n",
            "officials.Not A User",
        );
        refused(
            "[seal]\ncert = \"agency-seal.cert.pem\"\nkee = \"x\"\n",
            "unknown field",
        );
    }

    #[test]
    fn the_seal_overlaps_the_left_third_of_the_person() {
        let [x, y, w, h] = seal_rect(PERSON_RECT);
        let [px, py, pw, ph] = PERSON_RECT;
        assert!((x + w - (px + pw / 3.0)).abs() < 0.01);
        assert!(x < px && w == h);
        assert!((y + h / 2.0 - (py + ph / 2.0)).abs() < 0.01);
    }

    #[test]
    fn dates_are_written_as_decree_30_writes_them() {
        use jiff::civil::date;
        assert_eq!(
            vietnamese_date(date(2027, 2, 5)),
            "ngày 05 tháng 02 năm 2027"
        );
        assert_eq!(
            vietnamese_date(date(2026, 11, 23)),
            "ngày 23 tháng 11 năm 2026"
        );
        assert_eq!(
            vietnamese_date(date(2026, 3, 1)),
            "ngày 01 tháng 3 năm 2026"
        );
    }
}
