//! A signer whose private key stays in a PKCS#11 token (a USB token, an HSM;
//! the tests use SoftHSM2). The key is found by its label on the token with
//! the given label; the certificate comes from a PEM file.
//!
//! RSA keys sign with CKM_SHA256_RSA_PKCS (PKCS#1 v1.5), EC keys on P-256
//! with CKM_ECDSA over a SHA-256 digest made here; the token's raw r‖s is
//! encoded as the DER ECDSA-Sig-Value CMS expects. When the token is opened, a test message is
//! signed and checked against the certificate's public key, so a key that
//! does not belong to the certificate is refused before any PDF is touched.

use std::path::Path;
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;

use super::SignError;
use super::signer::{SignatureAlgorithm, Signer, certificates, single_certificate};

/// Where the key is.
#[derive(Clone, Debug)]
pub struct TokenKey<'a> {
    /// The PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so.
    pub module: &'a Path,
    /// The token's label.
    pub token: &'a str,
    /// The private key object's label (CKA_LABEL).
    pub key_label: &'a str,
    /// The user PIN.
    pub pin: &'a str,
}

pub struct Pkcs11Signer {
    // Declared before the context: the session closes first.
    session: Mutex<Session>,
    key: ObjectHandle,
    _context: Pkcs11,
    certificate: Vec<u8>,
    chain: Vec<Vec<u8>>,
    algorithm: SignatureAlgorithm,
}

fn token_error(what: &str) -> impl Fn(cryptoki::error::Error) -> SignError + '_ {
    move |e| SignError::Signing(format!("PKCS#11: {what}: {e}"))
}

impl Pkcs11Signer {
    pub fn open(
        token: &TokenKey<'_>,
        cert_pem: &str,
        chain_pem: Option<&str>,
    ) -> Result<Self, SignError> {
        let certificate = single_certificate(cert_pem)?;
        let chain = match chain_pem {
            Some(text) => certificates(text, "certificate chain")?,
            None => Vec::new(),
        };
        let cert = super::cms::parse_certificate(&certificate, "signer certificate")?;
        let context = Pkcs11::new(token.module).map_err(token_error(&format!(
            "cannot load {}",
            token.module.display()
        )))?;
        context
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(token_error("cannot initialise the module"))?;
        let mut found = None;
        for slot in context
            .get_slots_with_token()
            .map_err(token_error("cannot list the slots"))?
        {
            let info = context
                .get_token_info(slot)
                .map_err(token_error("cannot read a token"))?;
            if info.label().trim() == token.token {
                found = Some(slot);
                break;
            }
        }
        let slot = found.ok_or_else(|| {
            SignError::Signing(format!("PKCS#11: no token labelled {:?}", token.token))
        })?;
        let session = context
            .open_ro_session(slot)
            .map_err(token_error("cannot open a session"))?;
        session
            .login(UserType::User, Some(&AuthPin::from(token.pin.to_string())))
            .map_err(token_error("the PIN was refused"))?;
        let keys = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Label(token.key_label.as_bytes().to_vec()),
            ])
            .map_err(token_error("cannot search for the key"))?;
        let key = match keys.as_slice() {
            [k] => *k,
            [] => {
                return Err(SignError::Signing(format!(
                    "PKCS#11: no private key labelled {:?} on token {:?}",
                    token.key_label, token.token
                )));
            }
            _ => {
                return Err(SignError::Signing(format!(
                    "PKCS#11: {} private keys are labelled {:?}; labels must be unique",
                    keys.len(),
                    token.key_label
                )));
            }
        };
        let key_type = session
            .get_attributes(key, &[AttributeType::KeyType])
            .map_err(token_error("cannot read the key's type"))?;
        let algorithm = match key_type.first() {
            Some(Attribute::KeyType(KeyType::RSA)) => SignatureAlgorithm::RsaPkcs1Sha256,
            Some(Attribute::KeyType(KeyType::EC)) => SignatureAlgorithm::EcdsaP256Sha256,
            other => {
                return Err(SignError::UnsupportedKey {
                    found: format!("a PKCS#11 key of type {other:?}"),
                });
            }
        };
        let signer = Pkcs11Signer {
            session: Mutex::new(session),
            key,
            _context: context,
            certificate,
            chain,
            algorithm,
        };
        // The key must be the certificate's.
        let probe = b"congvan: does this key belong to the certificate?";
        let signature = signer.sign(probe)?;
        let spki = &cert.tbs_certificate.subject_public_key_info;
        let public = spki.subject_public_key.as_bytes().unwrap_or_default();
        let verify: &dyn ring::signature::VerificationAlgorithm = match algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => &ring::signature::ECDSA_P256_SHA256_ASN1,
            _ => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        };
        ring::signature::UnparsedPublicKey::new(verify, public)
            .verify(probe, &signature)
            .map_err(|_| SignError::KeyCertificateMismatch)?;
        Ok(signer)
    }
}

/// DER ECDSA-Sig-Value (SEQUENCE { r INTEGER, s INTEGER }) from PKCS#11's
/// raw r‖s.
pub(crate) fn ecdsa_der(raw: &[u8]) -> Result<Vec<u8>, SignError> {
    if raw.is_empty() || raw.len() % 2 != 0 {
        return Err(SignError::Signing(format!(
            "PKCS#11: an ECDSA signature of {} bytes",
            raw.len()
        )));
    }
    let integer = |bytes: &[u8]| {
        let trimmed: &[u8] = {
            let start = bytes
                .iter()
                .position(|&b| b != 0)
                .unwrap_or(bytes.len() - 1);
            &bytes[start..]
        };
        let mut out = vec![0x02];
        let pad = trimmed[0] & 0x80 != 0;
        out.push((trimmed.len() + usize::from(pad)) as u8);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(trimmed);
        out
    };
    let (r, s) = raw.split_at(raw.len() / 2);
    let body = [integer(r), integer(s)].concat();
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    Ok(out)
}

impl Signer for Pkcs11Signer {
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
        let session = self
            .session
            .lock()
            .map_err(|_| SignError::Signing("PKCS#11: the session is unusable".into()))?;
        match self.algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => {
                // Hashed here: tokens (SoftHSM2 among them) do not all offer
                // CKM_ECDSA_SHA256, every one offers CKM_ECDSA.
                let digest = ring::digest::digest(&ring::digest::SHA256, message);
                let raw = session
                    .sign(&Mechanism::Ecdsa, self.key, digest.as_ref())
                    .map_err(token_error("signing failed"))?;
                ecdsa_der(&raw)
            }
            _ => session
                .sign(&Mechanism::Sha256RsaPkcs, self.key, message)
                .map_err(token_error("signing failed")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ecdsa_der;

    #[test]
    fn raw_ecdsa_signatures_become_der_integers() {
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80; // r needs a leading zero
        raw[32] = 0x00;
        raw[33] = 0x01; // s starts with a zero byte to drop
        let der = ecdsa_der(&raw).expect("der");
        assert_eq!(&der[..5], &[0x30, der[1], 0x02, 33, 0x00]);
        assert_eq!(der[1] as usize, der.len() - 2);
        let s_at = 2 + 2 + 33;
        assert_eq!(&der[s_at..s_at + 3], &[0x02, 31, 0x01]);
        assert!(ecdsa_der(&[1, 2, 3]).is_err());
    }
}
