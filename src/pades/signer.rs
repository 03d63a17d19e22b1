//! Who signs: the [`Signer`] trait that every key backend implements (key
//! files now; PKCS#11 tokens and two-phase remote signing later), and
//! [`KeyFileSigner`], the backend for a PKCS#8 key in a PEM file.

use std::fmt;

use der::asn1::UintRef;
use der::{Reader, SliceReader};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use zeroize::Zeroizing;

use super::SignError;
use super::oid;

/// The signatures we make. All hash with SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SignatureAlgorithm {
    /// RSA PKCS#1 v1.5 with SHA-256 (sha256WithRSAEncryption).
    RsaPkcs1Sha256,
    /// RSASSA-PSS with SHA-256, MGF1 with SHA-256 and a 32-byte salt.
    RsaPssSha256,
    /// ECDSA on P-256 with SHA-256, the signature DER-encoded (Ecdsa-Sig-Value).
    EcdsaP256Sha256,
}

/// A signing key together with its certificate and chain.
///
/// Implementations must be usable from several threads: one signer serves
/// every signing request of an agency.
pub trait Signer: Send + Sync {
    /// DER of the signer's certificate.
    fn certificate(&self) -> &[u8];
    /// DER of the rest of the chain (intermediates, optionally the root), signer's issuer first.
    fn chain(&self) -> &[Vec<u8>];
    /// Which signature this signer makes (RSA PKCS#1 v1.5 SHA-256, RSASSA-PSS SHA-256, ECDSA P-256 SHA-256).
    fn algorithm(&self) -> SignatureAlgorithm;
    /// Signs `message` (the DER of the signed attributes; the signer hashes it).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError>;
}

/// A [`Signer`] over a private key read from a PEM file, signing with ring.
pub struct KeyFileSigner {
    key: Key,
    certificate: Vec<u8>,
    chain: Vec<Vec<u8>>,
    rng: SystemRandom,
}

enum Key {
    Rsa { pair: RsaKeyPair, pss: bool },
    EcdsaP256(EcdsaKeyPair),
}

/// The sizes of RSA modulus we sign with, in bits.
const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=4096;

impl KeyFileSigner {
    /// Loads a signer from PEM text.
    ///
    /// - `key_pem`: one unencrypted PKCS#8 private key (`BEGIN PRIVATE KEY`):
    ///   RSA of 2048 to 4096 bits, or ECDSA on P-256.
    /// - `cert_pem`: the signer's certificate, exactly one.
    /// - `chain_pem`: the rest of the chain, signer's issuer first (the root
    ///   may be included or left out).
    /// - `pss`: for an RSA key, sign with RSASSA-PSS instead of PKCS#1 v1.5.
    ///
    /// Text around the PEM blocks (such as `openssl x509 -text` output) is
    /// ignored. Refuses, with a message naming what it found, a key of
    /// another type or size, a key in another format, a key that does not
    /// belong to the certificate, and certificates that are not DER.
    pub fn from_pem(
        key_pem: &str,
        cert_pem: &str,
        chain_pem: Option<&str>,
        pss: bool,
    ) -> Result<Self, SignError> {
        let key_der = private_key_der(key_pem)?;
        let certificate = single_certificate(cert_pem)?;
        let cert = super::cms::parse_certificate(&certificate, "signer certificate")?;
        let chain = match chain_pem {
            Some(text) => certificates(text, "certificate chain")?,
            None => Vec::new(),
        };
        for (index, der) in chain.iter().enumerate() {
            super::cms::parse_certificate(der, &format!("chain certificate {}", index + 1))?;
        }

        let key = Key::from_pkcs8(&key_der, pss)?;
        let cert_key = cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .as_bytes();
        if cert_key != Some(key.public_key()) {
            return Err(SignError::KeyCertificateMismatch);
        }

        Ok(KeyFileSigner {
            key,
            certificate,
            chain,
            rng: SystemRandom::new(),
        })
    }
}

impl Key {
    /// Reads the key type from the PKCS#8 header ourselves, so that a key we
    /// do not support is named in the error (ring's rejection would not say
    /// what the key is).
    fn from_pkcs8(der: &[u8], pss: bool) -> Result<Key, SignError> {
        let info = pkcs8::PrivateKeyInfo::try_from(der)
            .map_err(|e| SignError::InvalidKey(format!("not a PKCS#8 private key: {e}")))?;
        let algorithm = info.algorithm.oid;
        if algorithm == oid::RSA_ENCRYPTION {
            let bits = rsa_modulus_bits(info.private_key)
                .map_err(|e| SignError::InvalidKey(format!("unreadable RSA private key: {e}")))?;
            if !RSA_BITS.contains(&bits) {
                return Err(SignError::UnsupportedKey {
                    found: format!("RSA {bits} bits"),
                });
            }
            let pair = RsaKeyPair::from_pkcs8(der)
                .map_err(|e| SignError::InvalidKey(format!("RSA key rejected: {e}")))?;
            Ok(Key::Rsa { pair, pss })
        } else if algorithm == oid::ID_EC_PUBLIC_KEY {
            let curve = info
                .algorithm
                .parameters_oid()
                .map_err(|_| SignError::UnsupportedKey {
                    found: "ECDSA without a named curve".to_string(),
                })?;
            if curve != oid::SECP256R1 {
                return Err(SignError::UnsupportedKey {
                    found: format!("ECDSA {}", curve_name(&curve)),
                });
            }
            if pss {
                return Err(SignError::InvalidKey(
                    "RSASSA-PSS was requested, but the key is ECDSA P-256".to_string(),
                ));
            }
            let pair = EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                der,
                &SystemRandom::new(),
            )
            .map_err(|e| SignError::InvalidKey(format!("ECDSA P-256 key rejected: {e}")))?;
            Ok(Key::EcdsaP256(pair))
        } else {
            Err(SignError::UnsupportedKey {
                found: key_type_name(&algorithm),
            })
        }
    }

    /// The public key as it appears in a certificate's SubjectPublicKeyInfo
    /// BIT STRING: DER RSAPublicKey for RSA, the uncompressed point for ECDSA.
    fn public_key(&self) -> &[u8] {
        match self {
            Key::Rsa { pair, .. } => pair.public().as_ref(),
            Key::EcdsaP256(pair) => pair.public_key().as_ref(),
        }
    }
}

impl Signer for KeyFileSigner {
    fn certificate(&self) -> &[u8] {
        &self.certificate
    }

    fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        match self.key {
            Key::Rsa { pss: false, .. } => SignatureAlgorithm::RsaPkcs1Sha256,
            Key::Rsa { pss: true, .. } => SignatureAlgorithm::RsaPssSha256,
            Key::EcdsaP256(_) => SignatureAlgorithm::EcdsaP256Sha256,
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        match &self.key {
            Key::Rsa { pair, pss } => {
                let padding: &'static dyn signature::RsaEncoding = if *pss {
                    &signature::RSA_PSS_SHA256
                } else {
                    &signature::RSA_PKCS1_SHA256
                };
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(padding, &self.rng, message, &mut signature)
                    .map_err(|_| SignError::Signing("RSA signing failed".to_string()))?;
                Ok(signature)
            }
            Key::EcdsaP256(pair) => pair
                .sign(&self.rng, message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| SignError::Signing("ECDSA signing failed".to_string())),
        }
    }
}

/// Shows the algorithm and sizes, never the key.
impl fmt::Debug for KeyFileSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFileSigner")
            .field("algorithm", &self.algorithm())
            .field("key", &"<redacted>")
            .field("certificate_bytes", &self.certificate.len())
            .field("chain_len", &self.chain.len())
            .finish()
    }
}

/// The size in bits of the modulus of a DER RSAPrivateKey (RFC 8017 A.1.2).
fn rsa_modulus_bits(rsa_private_key: &[u8]) -> der::Result<usize> {
    let mut reader = SliceReader::new(rsa_private_key)?;
    let modulus = reader.sequence(|fields| {
        let _version: UintRef<'_> = fields.decode()?;
        let modulus: UintRef<'_> = fields.decode()?;
        // The exponents and primes are not needed here; ring reads them.
        fields.read_slice(fields.remaining_len())?;
        Ok(modulus)
    })?;
    let modulus = reader.finish(modulus)?;
    Ok(bit_length(modulus.as_bytes()))
}

/// The number of significant bits of a big-endian unsigned integer.
fn bit_length(bytes: &[u8]) -> usize {
    match bytes.iter().position(|&b| b != 0) {
        Some(first) => (bytes.len() - first) * 8 - bytes[first].leading_zeros() as usize,
        None => 0,
    }
}

fn curve_name(curve: &der::asn1::ObjectIdentifier) -> String {
    match *curve {
        oid::SECP384R1 => "P-384".to_string(),
        oid::SECP521R1 => "P-521".to_string(),
        oid::SECP256K1 => "secp256k1".to_string(),
        other => format!("on curve {other}"),
    }
}

fn key_type_name(algorithm: &der::asn1::ObjectIdentifier) -> String {
    match *algorithm {
        oid::ID_ED25519 => "Ed25519".to_string(),
        oid::ID_ED448 => "Ed448".to_string(),
        oid::ID_DSA => "DSA".to_string(),
        oid::ID_RSASSA_PSS => "an RSA key restricted to RSASSA-PSS (id-RSASSA-PSS); use an \
                               ordinary rsaEncryption key and ask for PSS when loading it"
            .to_string(),
        other => format!("key algorithm {other}"),
    }
}

/// The DER of the one unencrypted PKCS#8 private key in `text`.
fn private_key_der(text: &str) -> Result<Zeroizing<Vec<u8>>, SignError> {
    const WHAT: &str = "private key";
    let mut blocks = pem_blocks(text, WHAT)?;
    let block = match blocks.len() {
        1 => blocks.remove(0),
        0 => return Err(pem_error(WHAT, "no PEM block found")),
        n => {
            return Err(pem_error(
                WHAT,
                &format!("{n} PEM blocks found, expected exactly one private key"),
            ));
        }
    };
    match block.label.as_str() {
        "PRIVATE KEY" => Ok(block.der),
        "RSA PRIVATE KEY" | "EC PRIVATE KEY" => Err(pem_error(
            WHAT,
            &format!(
                "\"{}\" is not PKCS#8; convert it with `openssl pkcs8 -topk8 -nocrypt`",
                block.label
            ),
        )),
        "ENCRYPTED PRIVATE KEY" => Err(pem_error(
            WHAT,
            "encrypted keys are not supported yet; decrypt it with `openssl pkcs8`",
        )),
        other => Err(pem_error(
            WHAT,
            &format!("found a \"{other}\" PEM block, expected \"PRIVATE KEY\""),
        )),
    }
}

/// The DER of the one certificate in `text`.
pub fn single_certificate(text: &str) -> Result<Vec<u8>, SignError> {
    const WHAT: &str = "signer certificate";
    let mut certificates = certificates(text, WHAT)?;
    match certificates.len() {
        1 => Ok(certificates.remove(0)),
        n => Err(pem_error(
            WHAT,
            &format!("{n} certificates found, expected one (put the others in the chain)"),
        )),
    }
}

/// The DER of every certificate in `text`, in order; at least one.
pub(super) fn certificates(text: &str, what: &'static str) -> Result<Vec<Vec<u8>>, SignError> {
    let blocks = pem_blocks(text, what)?;
    if blocks.is_empty() {
        return Err(pem_error(what, "no PEM block found"));
    }
    blocks
        .into_iter()
        .map(|block| {
            if block.label == "CERTIFICATE" {
                Ok(block.der.to_vec())
            } else {
                Err(pem_error(
                    what,
                    &format!(
                        "found a \"{}\" PEM block, expected \"CERTIFICATE\"",
                        block.label
                    ),
                ))
            }
        })
        .collect()
}

struct PemBlock {
    label: String,
    der: Zeroizing<Vec<u8>>,
}

/// The PEM blocks of `text`, in order. Text between blocks is ignored.
fn pem_blocks(text: &str, what: &'static str) -> Result<Vec<PemBlock>, SignError> {
    const BEGIN: &str = "-----BEGIN ";
    const END: &str = "-----END ";
    const DASHES: &str = "-----";
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let block = &rest[start..];
        let unterminated = || {
            pem_error(
                what,
                &format!("PEM block {} has no END line", blocks.len() + 1),
            )
        };
        let end = block.find(END).ok_or_else(unterminated)? + END.len();
        let close = block[end..].find(DASHES).ok_or_else(unterminated)? + end + DASHES.len();
        let (label, der) = der::pem::decode_vec(&block.as_bytes()[..close]).map_err(|e| {
            pem_error(
                what,
                &format!("PEM block {} is malformed: {e}", blocks.len() + 1),
            )
        })?;
        blocks.push(PemBlock {
            label: label.to_string(),
            der: Zeroizing::new(der),
        });
        rest = &block[close..];
    }
    Ok(blocks)
}

fn pem_error(what: &'static str, reason: &str) -> SignError {
    SignError::Pem {
        what,
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests;
