//! The CMS SignedData of a PAdES baseline B-B signature (ETSI EN 319 142-1,
//! RFC 5652), built from the `cms` crate's types; the signature itself comes
//! from a [`Signer`].
//!
//! The structure, field by field:
//!
//! ```text
//! ContentInfo { id-signedData, SignedData {
//!   version 1, digestAlgorithms { sha256 },
//!   encapContentInfo { id-data }                      -- detached: no eContent
//!   certificates [0] { signer certificate, chain... }
//!   signerInfos { SignerInfo {
//!     version 1, sid IssuerAndSerialNumber, digestAlgorithm sha256,
//!     signedAttrs [0] {
//!       content-type id-data,
//!       message-digest <SHA-256 of the signed bytes>,
//!       signing-certificate-v2 { ESSCertIDv2 { certHash, issuerSerial } } },
//!     signatureAlgorithm, signature } } } }
//! ```
//!
//! There is no signing-time attribute: PAdES forbids it (the claimed time is
//! the signature dictionary's /M).

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedAttributes, SignedData, SignerIdentifier,
    SignerInfo, SignerInfos,
};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec, UintRef};
use der::{Any, Decode, Encode, Sequence};
use ring::digest;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::{GeneralName, GeneralNames};
use x509_cert::serial_number::SerialNumber;

use super::oid;
use super::{SignError, SignatureAlgorithm, Signer};

/// Signs the SHA-256 digest of detached content (for a PDF: the bytes that
/// /ByteRange covers) and returns the DER of the ContentInfo(SignedData) to
/// put into /Contents.
///
/// The chain is deduplicated (a chain that repeats the signer's certificate
/// is accepted); every certificate must be DER, since it is re-encoded.
pub fn sign_detached(content_digest: &[u8; 32], signer: &dyn Signer) -> Result<Vec<u8>, SignError> {
    let algorithm = signer.algorithm();
    let certificates = SignerCertificates::new(signer)?;
    let max_signature = max_signature_len(algorithm, &certificates.signer)?;
    let signed_attrs = signed_attributes(content_digest, signer.certificate(), &certificates)?;

    // RFC 5652 §5.4: the signature covers the DER of the attributes as a
    // SET OF (tag 0x31), not the [0] IMPLICIT form that SignerInfo carries.
    // Both forms hold the same content octets, since SetOfVec keeps the
    // DER order it was built in.
    let signature = signer.sign(&signed_attrs.to_der()?)?;
    if signature.is_empty() || signature.len() > max_signature {
        return Err(SignError::Signing(format!(
            "the signer returned a {}-byte signature; {algorithm:?} with this certificate's \
             key makes at most {max_signature}",
            signature.len()
        )));
    }
    encode(algorithm, &certificates, signed_attrs, signature)
}

/// A safe upper bound on the size of what [`sign_detached`] returns for
/// `signer`, in bytes: reserve twice as many hex digits in /Contents (plus
/// whatever an unsigned time-stamp will add, for B-T and later).
///
/// The bound comes from a dry run: the same SignedData is encoded with a
/// zero content digest and a placeholder signature of the largest size the
/// algorithm and key can produce (for RSA the modulus length, which is
/// exactly the signature length; for ECDSA P-256, 72 bytes, the longest DER
/// Ecdsa-Sig-Value). Everything else — the certificates, the issuer and
/// serial number that appear twice, the attributes, the algorithm
/// identifiers — is determined by the signer's certificates and algorithm,
/// and DER lengths only grow with their contents, so the dry run is never
/// smaller than the real output. [`ESTIMATE_MARGIN`] bytes are added on top
/// as headroom, so that a mistake in this reasoning costs a little padding
/// rather than a failed signature.
///
/// If the certificates cannot be decoded, [`sign_detached`] refuses them
/// anyway; the number returned then is a generous formula (twice every
/// certificate, a 4096-bit signature, 2 KiB).
pub fn estimate_size(signer: &dyn Signer) -> usize {
    let dry_run = || -> Result<usize, SignError> {
        let algorithm = signer.algorithm();
        let certificates = SignerCertificates::new(signer)?;
        let placeholder = vec![0xff; max_signature_len(algorithm, &certificates.signer)?];
        let signed_attrs = signed_attributes(&[0; 32], signer.certificate(), &certificates)?;
        Ok(encode(algorithm, &certificates, signed_attrs, placeholder)?.len())
    };
    let bound = dry_run().unwrap_or_else(|_| {
        let certificates: usize =
            signer.certificate().len() + signer.chain().iter().map(Vec::len).sum::<usize>();
        2 * certificates + 512 + 2048
    });
    bound + ESTIMATE_MARGIN
}

/// Headroom that [`estimate_size`] adds to its dry run.
pub const ESTIMATE_MARGIN: usize = 64;

/// SigningCertificateV2 (RFC 5035 §3).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SigningCertificateV2 {
    /// The signer's certificate first; we write exactly one.
    pub certs: Vec<EssCertIdV2>,
    /// PolicyInformation values; we never write them.
    #[asn1(optional = "true")]
    pub policies: Option<Vec<Any>>,
}

/// ESSCertIDv2 (RFC 5035 §4).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct EssCertIdV2 {
    /// DEFAULT sha256: absent when the hash is SHA-256, since DER forbids
    /// encoding a default value. We always hash with SHA-256.
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    /// The hash of the certificate's DER.
    pub cert_hash: OctetString,
    /// The certificate's issuer and serial number.
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// IssuerSerial (RFC 5035 §4): the issuer as GeneralNames.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct IssuerSerial {
    /// One directoryName: the certificate's issuer.
    pub issuer: GeneralNames,
    /// The certificate's serial number.
    pub serial_number: SerialNumber,
}

/// RSASSA-PSS-params (RFC 4055 §3.1) as we write them: SHA-256, MGF1 with
/// SHA-256, a 32-byte salt, and the default trailer field (so absent).
/// Every field of the real type has a default; this one is for writing.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct RsaPssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    hash_algorithm: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT")]
    mask_gen_algorithm: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT")]
    salt_length: u32,
}

/// RSAPublicKey (RFC 8017 A.1.1), read to learn the modulus length.
#[derive(Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

/// Decodes a certificate and checks that re-encoding it gives back the same
/// bytes: the cms types hold certificates decoded, so one that is not DER
/// would come out changed, with a broken signature.
pub(super) fn parse_certificate(der: &[u8], what: &str) -> Result<Certificate, SignError> {
    let invalid = |reason: String| SignError::InvalidCertificate {
        what: what.to_string(),
        reason,
    };
    let certificate = Certificate::from_der(der)
        .map_err(|e| invalid(format!("not a DER X.509 certificate: {e}")))?;
    if certificate.to_der()? != der {
        return Err(invalid(
            "not in canonical DER (re-encoding would change it and break its signature)"
                .to_string(),
        ));
    }
    Ok(certificate)
}

/// The signer's certificate, decoded, and the certificate set to embed.
struct SignerCertificates {
    signer: Certificate,
    set: CertificateSet,
}

impl SignerCertificates {
    fn new(signer: &dyn Signer) -> Result<Self, SignError> {
        let certificate = parse_certificate(signer.certificate(), "signer certificate")?;
        let mut set = SetOfVec::new();
        set.insert(CertificateChoices::Certificate(certificate.clone()))?;
        let mut seen: Vec<&[u8]> = vec![signer.certificate()];
        for (index, der) in signer.chain().iter().enumerate() {
            if seen.contains(&der.as_slice()) {
                continue;
            }
            seen.push(der);
            let chain_cert = parse_certificate(der, &format!("chain certificate {}", index + 1))?;
            set.insert(CertificateChoices::Certificate(chain_cert))?;
        }
        Ok(SignerCertificates {
            signer: certificate,
            set: CertificateSet(set),
        })
    }
}

/// The largest signature `algorithm` makes with the key of `certificate`.
fn max_signature_len(
    algorithm: SignatureAlgorithm,
    certificate: &Certificate,
) -> Result<usize, SignError> {
    match algorithm {
        SignatureAlgorithm::RsaPkcs1Sha256 | SignatureAlgorithm::RsaPssSha256 => {
            let spki = &certificate.tbs_certificate.subject_public_key_info;
            let modulus = spki
                .subject_public_key
                .as_bytes()
                .and_then(|key| RsaPublicKey::from_der(key).ok())
                .map(|key| key.modulus.as_bytes().len());
            modulus.ok_or_else(|| SignError::InvalidCertificate {
                what: "signer certificate".to_string(),
                reason: format!(
                    "the signer signs with RSA, but the certificate's public key is {}",
                    spki.algorithm.oid
                ),
            })
        }
        // SEQUENCE { INTEGER r, INTEGER s }: each INTEGER at most 2 + 33
        // bytes (a leading zero when the top bit is set), plus 2 for the
        // SEQUENCE header.
        SignatureAlgorithm::EcdsaP256Sha256 => Ok(2 + 2 * (2 + 33)),
    }
}

fn sha256_identifier() -> AlgorithmIdentifierOwned {
    // RFC 5754 §2: SHA-2 identifiers are generated with absent parameters.
    AlgorithmIdentifierOwned {
        oid: oid::ID_SHA256,
        parameters: None,
    }
}

fn signature_algorithm_identifier(
    algorithm: SignatureAlgorithm,
) -> Result<AlgorithmIdentifierOwned, der::Error> {
    Ok(match algorithm {
        // RFC 4055 §5: the parameters of sha256WithRSAEncryption are NULL.
        SignatureAlgorithm::RsaPkcs1Sha256 => AlgorithmIdentifierOwned {
            oid: oid::SHA256_WITH_RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        SignatureAlgorithm::RsaPssSha256 => {
            let params = RsaPssParams {
                hash_algorithm: sha256_identifier(),
                mask_gen_algorithm: AlgorithmIdentifierOwned {
                    oid: oid::ID_MGF1,
                    parameters: Some(Any::encode_from(&sha256_identifier())?),
                },
                salt_length: 32,
            };
            AlgorithmIdentifierOwned {
                oid: oid::ID_RSASSA_PSS,
                parameters: Some(Any::encode_from(&params)?),
            }
        }
        // RFC 5758 §3.2: ecdsa-with-SHA256 has no parameters.
        SignatureAlgorithm::EcdsaP256Sha256 => AlgorithmIdentifierOwned {
            oid: oid::ECDSA_WITH_SHA256,
            parameters: None,
        },
    })
}

/// content-type, message-digest and signing-certificate-v2, in DER order.
fn signed_attributes(
    content_digest: &[u8; 32],
    certificate_der: &[u8],
    certificates: &SignerCertificates,
) -> Result<SignedAttributes, der::Error> {
    let tbs = &certificates.signer.tbs_certificate;
    let signing_certificate = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            hash_algorithm: None,
            cert_hash: OctetString::new(digest::digest(&digest::SHA256, certificate_der).as_ref())?,
            issuer_serial: Some(IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(tbs.issuer.clone())],
                serial_number: tbs.serial_number.clone(),
            }),
        }],
        policies: None,
    };
    SetOfVec::try_from(vec![
        attribute(oid::ID_CONTENT_TYPE, &oid::ID_DATA)?,
        attribute(
            oid::ID_MESSAGE_DIGEST,
            &OctetString::new(content_digest.as_slice())?,
        )?,
        attribute(oid::ID_AA_SIGNING_CERTIFICATE_V2, &signing_certificate)?,
    ])
}

fn attribute(
    oid: ObjectIdentifier,
    value: &(impl der::EncodeValue + der::Tagged),
) -> Result<Attribute, der::Error> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![Any::encode_from(value)?])?,
    })
}

fn encode(
    algorithm: SignatureAlgorithm,
    certificates: &SignerCertificates,
    signed_attrs: SignedAttributes,
    signature: Vec<u8>,
) -> Result<Vec<u8>, SignError> {
    let tbs = &certificates.signer.tbs_certificate;
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer.clone(),
            serial_number: tbs.serial_number.clone(),
        }),
        digest_alg: sha256_identifier(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: signature_algorithm_identifier(algorithm)?,
        signature: OctetString::new(signature)?,
        unsigned_attrs: None,
    };
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![sha256_identifier()])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: oid::ID_DATA,
            econtent: None,
        },
        certificates: Some(certificates.set.clone()),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info])?),
    };
    let content_info = ContentInfo {
        content_type: oid::ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data)?,
    };
    Ok(content_info.to_der()?)
}

#[cfg(test)]
mod tests;
