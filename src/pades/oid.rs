//! The object identifiers of PAdES signing, in one place.

use der::asn1::ObjectIdentifier as Oid;

/// id-data (RFC 5652): the content type of a PDF's signed bytes.
pub const ID_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
/// id-signedData (RFC 5652).
pub const ID_SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");

/// The content-type signed attribute (RFC 5652 §11.1).
pub const ID_CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
/// The message-digest signed attribute (RFC 5652 §11.2).
pub const ID_MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
/// The signing-time attribute (RFC 5652 §11.3), which PAdES forbids.
pub const ID_SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
/// id-aa-signingCertificateV2 (RFC 5035).
pub const ID_AA_SIGNING_CERTIFICATE_V2: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.47");

/// id-sha256 (RFC 5754).
pub const ID_SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");

/// sha256WithRSAEncryption (RFC 4055): RSA PKCS#1 v1.5 with SHA-256.
pub const SHA256_WITH_RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
/// id-RSASSA-PSS (RFC 4055), as a signature algorithm and as a key type.
pub const ID_RSASSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
/// id-mgf1 (RFC 4055).
pub const ID_MGF1: Oid = Oid::new_unwrap("1.2.840.113549.1.1.8");
/// ecdsa-with-SHA256 (RFC 5758).
pub const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");

/// rsaEncryption (RFC 8017): the key type of an ordinary RSA key.
pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
/// id-ecPublicKey (RFC 5480); the curve is the algorithm's parameter.
pub const ID_EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
/// secp256r1, NIST P-256.
pub const SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
/// secp384r1, NIST P-384.
pub const SECP384R1: Oid = Oid::new_unwrap("1.3.132.0.34");
/// secp521r1, NIST P-521.
pub const SECP521R1: Oid = Oid::new_unwrap("1.3.132.0.35");
/// secp256k1.
pub const SECP256K1: Oid = Oid::new_unwrap("1.3.132.0.10");
/// id-Ed25519 (RFC 8410).
pub const ID_ED25519: Oid = Oid::new_unwrap("1.3.101.112");
/// id-Ed448 (RFC 8410).
pub const ID_ED448: Oid = Oid::new_unwrap("1.3.101.113");
/// id-dsa (RFC 3279).
pub const ID_DSA: Oid = Oid::new_unwrap("1.2.840.10040.4.1");

/// id-sha384 and id-sha512 (RFC 5754).
pub const ID_SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
pub const ID_SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
/// sha384WithRSAEncryption and sha512WithRSAEncryption (RFC 4055).
pub const SHA384_WITH_RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
pub const SHA512_WITH_RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
/// ecdsa-with-SHA384 (RFC 5758).
pub const ECDSA_WITH_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");

/// id-ce-subjectKeyIdentifier (RFC 5280).
pub const ID_CE_SUBJECT_KEY_IDENTIFIER: Oid = Oid::new_unwrap("2.5.29.14");
/// id-ce-cRLDistributionPoints (RFC 5280).
pub const ID_CE_CRL_DISTRIBUTION_POINTS: Oid = Oid::new_unwrap("2.5.29.31");
/// id-pe-authorityInfoAccess (RFC 5280).
pub const ID_PE_AUTHORITY_INFO_ACCESS: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.1.1");
/// id-ad-ocsp (RFC 5280): an OCSP responder in authorityInfoAccess.
pub const ID_AD_OCSP: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1");

/// id-ct-TSTInfo (RFC 3161): the content type of a time-stamp token.
pub const ID_CT_TST_INFO: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// id-aa-signatureTimeStampToken (RFC 3161 appendix A).
pub const ID_AA_SIGNATURE_TIME_STAMP_TOKEN: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.14");
/// id-ce-extKeyUsage (RFC 5280).
pub const ID_CE_EXT_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
/// id-kp-timeStamping (RFC 5280).
pub const ID_KP_TIME_STAMPING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.8");
