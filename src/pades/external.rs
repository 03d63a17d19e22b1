//! Two-phase signing, for keys this process cannot use directly (a USB token
//! in the signer's browser, a remote signing service such as a Cloud
//! Signature Consortium server):
//!
//! 1. [`prepare`] writes the signing revision and builds the CMS signed
//!    attributes; it returns a [`Session`] with the exact bytes to sign
//!    ([`Session::data_to_sign`]) and their SHA-256 ([`Session::digest_to_sign`],
//!    what `signHash` APIs take).
//! 2. [`Session::finish`] takes the raw signature the key made over those
//!    bytes, checks it against the certificate, builds the CMS and completes
//!    the file. [`Session::finish_with_cms`] takes a whole CMS instead.
//!
//! A session is plain data (serde): the server keeps it between the two
//! requests, the CLI in a file.

use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::SignError;
use super::cms;
use super::sign::{self, Pending, SignOptions, Signed};
use super::signer::{SignatureAlgorithm, Signer, certificates, single_certificate};
use super::writer::SignPdfError;
use crate::pdf::PdfLimits;

/// A signature waiting for its value.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Session {
    pub id: uuid::Uuid,
    pending: Pending,
    #[serde(with = "super::writer::base64_bytes")]
    certificate: Vec<u8>,
    /// DER certificates, base64.
    chain: Vec<String>,
    algorithm: SignatureAlgorithm,
    /// The DER of the signed attributes: what the key signs.
    #[serde(with = "super::writer::base64_bytes")]
    data_to_sign: Vec<u8>,
}

/// A signer that holds no key: it records what it is asked to sign and
/// answers with the signature it was given (or a placeholder, in phase 1).
struct Deferred {
    certificate: Vec<u8>,
    chain: Vec<Vec<u8>>,
    algorithm: SignatureAlgorithm,
    signature: Option<Vec<u8>>,
    asked: Mutex<Option<Vec<u8>>>,
}

impl Signer for Deferred {
    fn certificate(&self) -> &[u8] {
        &self.certificate
    }

    fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        if let Ok(mut asked) = self.asked.lock() {
            *asked = Some(message.to_vec());
        }
        Ok(self.signature.clone().unwrap_or_else(|| vec![0]))
    }
}

fn failed(e: SignError) -> SignPdfError {
    SignPdfError::Unsupported(format!("signing failed: {e}"))
}

/// Phase 1: the revision and the bytes to sign.
pub fn prepare(
    input: &[u8],
    cert_pem: &str,
    chain_pem: Option<&str>,
    algorithm: SignatureAlgorithm,
    options: &SignOptions,
    limits: &PdfLimits,
) -> Result<Session, SignPdfError> {
    let certificate = single_certificate(cert_pem).map_err(failed)?;
    let chain = match chain_pem {
        Some(t) => certificates(t, "certificate chain").map_err(failed)?,
        None => Vec::new(),
    };
    cms::parse_certificate(&certificate, "signer certificate").map_err(failed)?;
    let deferred = Deferred {
        certificate,
        chain,
        algorithm,
        signature: None,
        asked: Mutex::new(None),
    };
    let pending = sign::begin(input, &deferred, options, limits)?;
    cms::sign_detached(&pending.digest, &deferred).map_err(failed)?;
    let data_to_sign = deferred
        .asked
        .lock()
        .ok()
        .and_then(|a| a.clone())
        .ok_or_else(|| SignPdfError::Check("no signed attributes were built".into()))?;
    Ok(Session {
        id: uuid::Uuid::now_v7(),
        pending,
        certificate: deferred.certificate,
        chain: deferred.chain.iter().map(|c| BASE64.encode(c)).collect(),
        algorithm,
        data_to_sign,
    })
}

impl Session {
    /// The DER of the CMS signed attributes: sign these bytes with SHA-256.
    pub fn data_to_sign(&self) -> &[u8] {
        &self.data_to_sign
    }

    /// SHA-256 of [`Session::data_to_sign`], for APIs that sign a hash.
    pub fn digest_to_sign(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(
            ring::digest::digest(&ring::digest::SHA256, &self.data_to_sign).as_ref(),
        );
        out
    }

    /// DER of the signer's certificate.
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }

    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    /// Phase 2: `signature` is the key's signature over [`Session::data_to_sign`]
    /// (PKCS#1 v1.5 or PSS bytes for RSA, DER or raw r‖s for ECDSA P-256).
    pub fn finish(self, signature: &[u8]) -> Result<Signed, SignPdfError> {
        let signature = match self.algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 if signature.len() == 64 => {
                super::pkcs11::ecdsa_der(signature).map_err(failed)?
            }
            _ => signature.to_vec(),
        };
        // A wrong signature is refused here, not discovered by a validator.
        let cert =
            cms::parse_certificate(&self.certificate, "signer certificate").map_err(failed)?;
        let public = cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .as_bytes()
            .unwrap_or_default()
            .to_vec();
        let verify: &dyn ring::signature::VerificationAlgorithm = match self.algorithm {
            SignatureAlgorithm::RsaPkcs1Sha256 => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            SignatureAlgorithm::RsaPssSha256 => &ring::signature::RSA_PSS_2048_8192_SHA256,
            SignatureAlgorithm::EcdsaP256Sha256 => &ring::signature::ECDSA_P256_SHA256_ASN1,
        };
        ring::signature::UnparsedPublicKey::new(verify, &public)
            .verify(&self.data_to_sign, &signature)
            .map_err(|_| {
                SignPdfError::Unsupported(
                    "the signature does not verify with the signer certificate over the data to sign"
                        .into(),
                )
            })?;
        let chain = self
            .chain
            .iter()
            .map(|c| BASE64.decode(c))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SignPdfError::Check(format!("the session's chain: {e}")))?;
        let deferred = Deferred {
            certificate: self.certificate,
            chain,
            algorithm: self.algorithm,
            signature: Some(signature),
            asked: Mutex::new(None),
        };
        let cms = cms::sign_detached(&self.pending.digest, &deferred).map_err(failed)?;
        let asked = deferred.asked.lock().ok().and_then(|a| a.clone());
        if asked.as_deref() != Some(&self.data_to_sign[..]) {
            return Err(SignPdfError::Check(
                "the signed attributes changed between the two phases".into(),
            ));
        }
        sign::complete(self.pending, &cms, None)
    }

    /// Phase 2 with a whole CMS SignedData made elsewhere over the ByteRange
    /// digest ([`Session::content_digest`]).
    pub fn finish_with_cms(self, cms: &[u8]) -> Result<Signed, SignPdfError> {
        sign::complete(self.pending, cms, None)
    }

    /// SHA-256 of the ByteRange (the CMS message-digest).
    pub fn content_digest(&self) -> [u8; 32] {
        self.pending.digest
    }
}
