//! The error of every signing step: loading a key and its certificates,
//! signing, and encoding the CMS.

/// Why a signer could not be loaded or a signature could not be made.
///
/// Each message is one line and names what was wrong, so that it can be shown
/// to the administrator who configured the key as is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// A PEM input is not PEM, or holds a different kind of object.
    #[error("{what}: {reason}")]
    Pem {
        /// Which input: "private key", "signer certificate", "certificate chain".
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The private key is PKCS#8 but cannot be read or used.
    #[error("private key: {0}")]
    InvalidKey(String),

    /// The key is readable but of a type or size we do not sign with.
    #[error(
        "unsupported signing key: {found}; supported are RSA 2048 to 4096 bits and ECDSA P-256"
    )]
    UnsupportedKey {
        /// What the key is, e.g. "RSA 1024 bits" or "ECDSA P-384".
        found: String,
    },

    /// A certificate cannot be decoded, or would not survive re-encoding
    /// unchanged (it is not DER).
    #[error("{what}: {reason}")]
    InvalidCertificate {
        /// Which certificate: "signer certificate", "chain certificate 2".
        what: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The private key's public half is not the certificate's public key.
    #[error("the private key does not match the public key of the signer certificate")]
    KeyCertificateMismatch,

    /// The signing backend (key file, token, remote service) failed.
    #[error("signing failed: {0}")]
    Signing(String),

    /// The CMS structure could not be encoded.
    #[error("CMS encoding failed: {0}")]
    Encoding(#[from] der::Error),
}
