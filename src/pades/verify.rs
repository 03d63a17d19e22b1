//! Verifying the signatures of a PDF: one report per signature field, in the
//! vocabulary of ETSI EN 319 102-1 (TOTAL-PASSED / INDETERMINATE /
//! TOTAL-FAILED with a sub-indication).
//!
//! For each field with /FT /Sig whose /V has /ByteRange and /Contents:
//!
//! 1. the ByteRange starts at 0 and its gap is exactly the /Contents hex
//!    string (else INDETERMINATE/FORMAT_FAILURE);
//! 2. the digest (SHA-256, -384 or -512) of the covered bytes equals the message-digest attribute
//!    (else TOTAL-FAILED/HASH_FAILURE, `intact` false);
//! 3. the signature over the DER SET of the signed attributes verifies with
//!    the signer certificate's key (else TOTAL-FAILED/SIG_CRYPTO_FAILURE);
//!    signing-certificate-v2, when present, names that certificate (else
//!    INDETERMINATE/NO_SIGNING_CERTIFICATE_FOUND);
//! 4. what later revisions changed (see [`Modifications`]); "other" makes
//!    the signature TOTAL-FAILED with no sub-indication (ETSI has no code for
//!    it; pyHanko judges such a signature not valid);
//! 5. revocation of the signer certificate from the CRLs given (never from
//!    the network): revoked is TOTAL-FAILED/REVOKED (ETSI also allows
//!    INDETERMINATE/REVOKED_NO_POE; without a time-stamp we have no proof
//!    that the signature predates the revocation, and we fail closed); a
//!    certificate that names a CRL or OCSP source for which no CRL was given
//!    is INDETERMINATE/TRY_LATER; one that names none is "no_source" and
//!    does not lower the indication;
//! 6. a chain from the signer certificate through the CMS certificates to a
//!    trust anchor, every signature checked with ring, every validity period
//!    at the current time (no chain: INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND;
//!    a chain with a certificate outside its validity period:
//!    INDETERMINATE/OUT_OF_BOUNDS_NO_POE).
//!
//! A signature time-stamp (PAdES B-T, the unsigned attribute
//! id-aa-signatureTimeStampToken) is checked as step 3b, after the signature
//! value: the token is a SignedData whose eContent is a TSTInfo; its
//! messageImprint (SHA-256, -384 or -512) must be the hash of the signature
//! value, its message-digest attribute the hash of the TSTInfo DER, and its
//! signature must verify with the TSA certificate the token carries. An
//! imprint or message-digest that does not match is
//! TOTAL-FAILED/HASH_FAILURE, a token signature that does not verify
//! TOTAL-FAILED/SIG_CRYPTO_FAILURE (the codes ETSI EN 319 102-1 gives the
//! same failures of a signature; the detail says it was the time-stamp's),
//! and a token that cannot be read INDETERMINATE/FORMAT_FAILURE. The TSA's
//! chain is built like the signer's (to the same --trust anchors, valid
//! now, the TSA certificate with the extended key usage id-kp-timeStamping);
//! no chain makes the time-stamp `trusted: false` but does not lower the
//! signature's indication, which does not yet rely on the time-stamp's time
//! (revocation and validity are still judged at the current time). The TSA
//! certificate's revocation and the token's ESS signing-certificate
//! attribute are not checked.
//!
//! The first failing step in that order decides the indication.

use std::collections::BTreeSet;

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::OctetString;
use der::{Decode, Encode, Reader, Sequence, SliceReader, Tagged};
use jiff::Timestamp;
use lopdf::{Dictionary, Document, Object, ObjectId};
use ring::signature as rs;
use serde::Serialize;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::{AuthorityInfoAccessSyntax, CrlDistributionPoints, ExtendedKeyUsage};

use super::cms::SigningCertificateV2;
use super::oid;
use super::writer::newest_compressed_objects;
use super::writer::text_of;
use crate::pdf::{PdfError, PdfLimits};

/// What the verifier trusts and knows.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Trust anchors.
    pub trust: Vec<Certificate>,
    /// CRLs to judge revocation with.
    pub crls: Vec<CertificateList>,
    /// The time at which certificates must be valid.
    pub now: Timestamp,
}

/// The report on every signature of a file.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub signatures: Vec<SignatureReport>,
}

impl Report {
    /// True when the file has signatures and every one is TOTAL-PASSED.
    pub fn all_passed(&self) -> bool {
        !self.signatures.is_empty()
            && self
                .signatures
                .iter()
                .all(|s| s.indication == Indication::TotalPassed)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub enum Indication {
    #[serde(rename = "TOTAL-PASSED")]
    TotalPassed,
    #[serde(rename = "INDETERMINATE")]
    Indeterminate,
    #[serde(rename = "TOTAL-FAILED")]
    TotalFailed,
}

impl Indication {
    pub fn as_str(self) -> &'static str {
        match self {
            Indication::TotalPassed => "TOTAL-PASSED",
            Indication::Indeterminate => "INDETERMINATE",
            Indication::TotalFailed => "TOTAL-FAILED",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    EntireFile,
    EntireRevision,
    Partial,
}

/// What the revisions after a signature changed, from least to most.
///
/// A conservative classifier over the objects that differ between the
/// signed revision and the whole file (lopdf's view of each):
/// - ignored: cross-reference and object streams;
/// - new objects count only through what references them, except new
///   annotations: a widget is `form_filling`, any other annotation
///   `annotations`;
/// - `form_filling`: the catalog changing only /AcroForm, /DSS, /Metadata;
///   the AcroForm changing only /Fields, /SigFlags, /DR, /NeedAppearances;
///   a /Fields array keeping its fields; a page changing only /Annots, an
///   /Annots array keeping its entries (new widgets: form filling, new other
///   annotations: annotations); a field or widget changing only /V, /AP,
///   /AS; /Info and XMP /Metadata, /DSS and its contents;
/// - `annotations`: an existing non-widget annotation changed;
/// - `other`: anything else, an object deleted included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Modifications {
    None,
    FormFilling,
    Annotations,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Revocation {
    Good,
    Revoked,
    Unknown,
    NoSource,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct CertificateSummary {
    pub subject: String,
    pub issuer: String,
    /// Hexadecimal, upper case.
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct SignatureReport {
    pub field: String,
    pub indication: Indication,
    pub sub_indication: Option<&'static str>,
    pub intact: bool,
    pub coverage: Coverage,
    pub modifications: Modifications,
    pub signer: Option<CertificateSummary>,
    pub revocation: Revocation,
    /// The claimed signing time (/M) as RFC 3339.
    pub signing_time: Option<String>,
    /// The signature time-stamp (B-T), null when there is none.
    pub timestamp: Option<TimestampReport>,
    /// Why the indication is what it is, for people (not in the ETSI set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What the signature time-stamp says and how it was judged.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct TimestampReport {
    /// The TSTInfo's genTime as RFC 3339 (null when it cannot be read).
    pub time: Option<String>,
    /// The imprint is the hash of the signature value, the token's
    /// message-digest the hash of its TSTInfo, and its signature verifies.
    pub intact: bool,
    /// Intact, and the TSA certificate (with id-kp-timeStamping) chains to a
    /// trust anchor.
    pub trusted: bool,
    /// The TSA certificate's subject (null when the token carries none).
    pub tsa: Option<String>,
}

/// Verifies every signature of `bytes`. Fails only when the file cannot be
/// read as a PDF at all.
pub fn verify_pdf(
    bytes: &[u8],
    options: &VerifyOptions,
    limits: &PdfLimits,
) -> Result<Report, PdfError> {
    let (_, mut doc) = crate::pdf::open(bytes, limits)?;
    newest_compressed_objects(&mut doc);
    let mut signatures = Vec::new();
    for (field, sig) in signature_fields(&doc) {
        signatures.push(verify_one(bytes, &doc, field, &sig, options, limits));
    }
    Ok(Report { signatures })
}

/// The signature fields (fully qualified name, signature dictionary).
fn signature_fields(doc: &Document) -> Vec<(String, Dictionary)> {
    let mut out = Vec::new();
    let Ok(catalog) = doc.catalog() else {
        return out;
    };
    let Some(acroform) = catalog
        .get(b"AcroForm")
        .ok()
        .and_then(|o| deref_dict(doc, o))
    else {
        return out;
    };
    let Some(fields) = acroform
        .get(b"Fields")
        .ok()
        .and_then(|o| deref_array(doc, o))
    else {
        return out;
    };
    let mut seen = BTreeSet::new();
    for f in fields {
        walk_field(doc, f, "", None, 0, &mut seen, &mut out);
    }
    out
}

fn walk_field(
    doc: &Document,
    node: &Object,
    parent_name: &str,
    parent_ft: Option<&[u8]>,
    depth: usize,
    seen: &mut BTreeSet<ObjectId>,
    out: &mut Vec<(String, Dictionary)>,
) {
    if depth > 32 {
        return;
    }
    if let Object::Reference(id) = node
        && !seen.insert(*id)
    {
        return;
    }
    let Some(d) = deref_dict(doc, node) else {
        return;
    };
    let name = match d.get(b"T").ok().and_then(text_of) {
        Some(t) if parent_name.is_empty() => t,
        Some(t) => format!("{parent_name}.{t}"),
        None => parent_name.to_string(),
    };
    let ft = d
        .get(b"FT")
        .ok()
        .and_then(|o| o.as_name().ok())
        .or(parent_ft);
    if let Some(kids) = d.get(b"Kids").ok().and_then(|o| deref_array(doc, o)) {
        let kids = kids.clone();
        for k in &kids {
            walk_field(doc, k, &name, ft, depth + 1, seen, out);
        }
        // A field with kids can still carry the value itself.
    }
    if ft == Some(&b"Sig"[..])
        && let Some(v) = d.get(b"V").ok().and_then(|o| deref_dict(doc, o))
        && v.has(b"ByteRange")
        && v.has(b"Contents")
    {
        out.push((name, v.clone()));
    }
}

fn deref_dict<'a>(doc: &'a Document, o: &'a Object) -> Option<&'a Dictionary> {
    match o {
        Object::Reference(id) => doc.get_object(*id).ok()?.as_dict().ok(),
        Object::Dictionary(d) => Some(d),
        _ => None,
    }
}

fn deref_array<'a>(doc: &'a Document, o: &'a Object) -> Option<&'a Vec<Object>> {
    match o {
        Object::Reference(id) => doc.get_object(*id).ok()?.as_array().ok(),
        Object::Array(a) => Some(a),
        _ => None,
    }
}

/// The report being built for one signature.
struct Judgement {
    report: SignatureReport,
}

impl Judgement {
    fn fail(
        mut self,
        indication: Indication,
        sub: Option<&'static str>,
        detail: impl Into<String>,
    ) -> SignatureReport {
        self.report.indication = indication;
        self.report.sub_indication = sub;
        self.report.detail = Some(detail.into());
        self.report
    }
}

fn verify_one(
    bytes: &[u8],
    doc: &Document,
    field: String,
    sig: &Dictionary,
    options: &VerifyOptions,
    limits: &PdfLimits,
) -> SignatureReport {
    let j = Judgement {
        report: SignatureReport {
            field,
            indication: Indication::TotalPassed,
            sub_indication: None,
            intact: false,
            coverage: Coverage::Partial,
            modifications: Modifications::Other,
            signer: None,
            revocation: Revocation::Unknown,
            signing_time: sig
                .get(b"M")
                .ok()
                .and_then(text_of)
                .and_then(|m| pdf_date(&m)),
            timestamp: None,
            detail: None,
        },
    };
    let format =
        |j: Judgement, why: &str| j.fail(Indication::Indeterminate, Some("FORMAT_FAILURE"), why);

    // 1. The ByteRange and /Contents.
    let range: Option<Vec<usize>> = sig
        .get(b"ByteRange")
        .and_then(Object::as_array)
        .ok()
        .and_then(|a| {
            a.iter()
                .map(|o| o.as_i64().ok().and_then(|n| usize::try_from(n).ok()))
                .collect()
        });
    let Some([zero, a, b, c]) = range
        .as_deref()
        .and_then(|r| <[usize; 4]>::try_from(r).ok())
    else {
        return format(j, "the /ByteRange is not four non-negative integers");
    };
    let end = b.saturating_add(c);
    if zero != 0 || a >= b || end > bytes.len() || b - a < 2 {
        return format(
            j,
            "the /ByteRange does not start at 0 or lies outside the file",
        );
    }
    if bytes[a] != b'<' || bytes[b - 1] != b'>' {
        return format(j, "the /ByteRange gap is not the /Contents hex string");
    }
    let Some(cms_der) = hex_decode(&bytes[a + 1..b - 1]) else {
        return format(j, "the /ByteRange gap is not the /Contents hex string");
    };
    let contents = sig.get(b"Contents").and_then(Object::as_str).ok();
    if contents != Some(cms_der.as_slice()) {
        return format(j, "the /ByteRange gap is not this signature's /Contents");
    }
    let mut j = j;
    j.report.coverage = if end == bytes.len() {
        Coverage::EntireFile
    } else if ends_a_revision(&bytes[..end]) {
        Coverage::EntireRevision
    } else {
        Coverage::Partial
    };
    if sig.get(b"SubFilter").and_then(Object::as_name).ok() == Some(&b"ETSI.RFC3161"[..]) {
        return format(j, "document time-stamps are not verified yet");
    }

    // 2. The CMS and the digest.
    let parsed = match parse_cms(&cms_der) {
        Ok(p) => p,
        Err(why) => return format(j, &why),
    };
    j.report.signer = parsed.signer.as_ref().map(summary);
    let timestamp = parsed
        .timestamp_token
        .as_ref()
        .map(|token| check_timestamp(token, parsed.signer_info.signature.as_bytes(), options));
    j.report.timestamp = timestamp.as_ref().map(|(r, _)| r.clone());
    let mut ctx = ring::digest::Context::new(parsed.digest_algorithm);
    ctx.update(&bytes[..a]);
    ctx.update(&bytes[b..end]);
    if ctx.finish().as_ref() != parsed.message_digest.as_slice() {
        return j.fail(
            Indication::TotalFailed,
            Some("HASH_FAILURE"),
            "the signed bytes do not match the message digest",
        );
    }
    j.report.intact = true;

    // 3. The signature value and the signing certificate.
    let Some(signer) = parsed.signer.clone() else {
        return j.fail(
            Indication::Indeterminate,
            Some("NO_SIGNING_CERTIFICATE_FOUND"),
            "the CMS does not carry the signer's certificate",
        );
    };
    match verify_signature(
        &signer.tbs_certificate.subject_public_key_info,
        &parsed.signer_info.signature_algorithm,
        &parsed.signed_attrs_der,
        parsed.signer_info.signature.as_bytes(),
    ) {
        Ok(()) => {}
        Err(SigFailure::Wrong) => {
            return j.fail(
                Indication::TotalFailed,
                Some("SIG_CRYPTO_FAILURE"),
                "the signature value does not verify with the signer's key",
            );
        }
        // ETSI EN 319 102-1 has no code for "this verifier cannot check
        // that algorithm"; the signature is neither passed nor failed.
        Err(SigFailure::Unsupported(what)) => {
            return j.fail(
                Indication::Indeterminate,
                Some("FORMAT_FAILURE"),
                format!("unsupported signature: {what}"),
            );
        }
    }
    // 3b. The signature time-stamp.
    if let Some((_, Err((indication, sub, why)))) = timestamp {
        return j.fail(indication, Some(sub), why);
    }
    if let Some(false) = parsed.signing_certificate_matches {
        return j.fail(
            Indication::Indeterminate,
            Some("NO_SIGNING_CERTIFICATE_FOUND"),
            "signing-certificate-v2 does not name the signer's certificate",
        );
    }

    // 4. What came after the signed revision.
    let mut modified_why = String::new();
    j.report.modifications = match j.report.coverage {
        Coverage::EntireFile => Modifications::None,
        Coverage::EntireRevision => match modifications(&bytes[..end], bytes, doc, limits) {
            Ok((m, why)) => {
                modified_why = why;
                m
            }
            Err(why) => {
                j.report.modifications = Modifications::Other;
                return format(j, &why);
            }
        },
        Coverage::Partial => {
            return format(
                j,
                "the /ByteRange ends neither at the end of the file nor of a revision",
            );
        }
    };
    if j.report.modifications == Modifications::Other {
        return j.fail(
            Indication::TotalFailed,
            None,
            format!(
                "a later revision changed the document beyond form filling and annotations \
                 ({modified_why})"
            ),
        );
    }

    // 5. Revocation and 6. the chain.
    let pool: Vec<Certificate> = parsed.certificates.clone();
    let issuer = find_issuer(&signer, &pool, &options.trust);
    j.report.revocation = revocation(&signer, issuer.as_ref(), &options.crls, options.now);
    if j.report.revocation == Revocation::Revoked {
        return j.fail(
            Indication::TotalFailed,
            Some("REVOKED"),
            "the signer's certificate is revoked",
        );
    }
    match build_chain(&signer, &pool, &options.trust, options.now) {
        Chain::Found => {}
        Chain::None => {
            return j.fail(
                Indication::Indeterminate,
                Some("NO_CERTIFICATE_CHAIN_FOUND"),
                "no chain to a trust anchor",
            );
        }
        Chain::OutOfBounds(who) => {
            return j.fail(
                Indication::Indeterminate,
                Some("OUT_OF_BOUNDS_NO_POE"),
                format!("{who} is not valid now"),
            );
        }
    }
    if j.report.revocation == Revocation::Unknown {
        return j.fail(
            Indication::Indeterminate,
            Some("TRY_LATER"),
            "the signer's certificate names a revocation source but no matching CRL was given",
        );
    }
    j.report
}

/// Whether `head` ends right after `%%EOF` and at most one end of line.
fn ends_a_revision(head: &[u8]) -> bool {
    let trimmed = head
        .strip_suffix(b"\r\n")
        .or_else(|| head.strip_suffix(b"\n"))
        .or_else(|| head.strip_suffix(b"\r"))
        .unwrap_or(head);
    trimmed.ends_with(b"%%EOF")
}

fn hex_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 2);
    let mut high: Option<u8> = None;
    for &ch in s {
        let v = match ch {
            b'0'..=b'9' => ch - b'0',
            b'a'..=b'f' => ch - b'a' + 10,
            b'A'..=b'F' => ch - b'A' + 10,
            b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0' => continue,
            _ => return None,
        };
        match high.take() {
            Some(h) => out.push(h << 4 | v),
            None => high = Some(v),
        }
    }
    if let Some(h) = high {
        out.push(h << 4);
    }
    Some(out)
}

/// `D:YYYYMMDDHHmmSS+07'00'` (with the optional parts of PDF 32000-1
/// §7.9.4) as RFC 3339.
pub fn pdf_date(s: &str) -> Option<String> {
    let s = s.strip_prefix("D:").unwrap_or(s);
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    if digits.len() < 4 {
        return None;
    }
    let part = |from: usize, len: usize, default: u32| -> Option<u32> {
        match digits.get(from..from + len) {
            Some(d) => d.parse().ok(),
            None => Some(default),
        }
    };
    let (y, mo, d) = (part(0, 4, 0)?, part(4, 2, 1)?, part(6, 2, 1)?);
    let (h, mi, se) = (part(8, 2, 0)?, part(10, 2, 0)?, part(12, 2, 0)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let rest = &s[digits.len()..];
    let offset = match rest.chars().next() {
        None | Some('Z') => "Z".to_string(),
        Some(sign @ ('+' | '-')) => {
            let nums: Vec<u32> = rest[1..]
                .split(|c: char| !c.is_ascii_digit())
                .filter(|p| !p.is_empty())
                .filter_map(|p| p.parse().ok())
                .collect();
            let oh = *nums.first().unwrap_or(&0);
            let om = *nums.get(1).unwrap_or(&0);
            if oh > 23 || om > 59 {
                return None;
            }
            format!("{sign}{oh:02}:{om:02}")
        }
        _ => return None,
    };
    Some(format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}{offset}"
    ))
}

fn time_string(t: x509_cert::time::Time) -> String {
    let secs = t.to_unix_duration().as_secs();
    i64::try_from(secs)
        .ok()
        .and_then(|s| Timestamp::from_second(s).ok())
        .map_or_else(|| secs.to_string(), |ts| ts.to_string())
}

fn summary(cert: &Certificate) -> CertificateSummary {
    let tbs = &cert.tbs_certificate;
    CertificateSummary {
        subject: tbs.subject.to_string(),
        issuer: tbs.issuer.to_string(),
        serial: hex::encode_upper(tbs.serial_number.as_bytes()),
        not_before: time_string(tbs.validity.not_before),
        not_after: time_string(tbs.validity.not_after),
    }
}

/// What the CMS says.
struct ParsedCms {
    signer_info: SignerInfo,
    signed_attrs_der: Vec<u8>,
    message_digest: Vec<u8>,
    digest_algorithm: &'static ring::digest::Algorithm,
    certificates: Vec<Certificate>,
    signer: Option<Certificate>,
    /// None when there is no signing-certificate-v2 attribute.
    signing_certificate_matches: Option<bool>,
    /// The signature-time-stamp unsigned attribute's value (DER).
    timestamp_token: Option<Vec<u8>>,
}

fn parse_cms(der_bytes: &[u8]) -> Result<ParsedCms, String> {
    // /Contents is zero padded: decode one value and ignore the rest.
    let mut reader = SliceReader::new(der_bytes).map_err(|e| format!("the CMS: {e}"))?;
    let content_info: ContentInfo = reader
        .decode()
        .map_err(|e| format!("the CMS is not a ContentInfo: {e}"))?;
    if content_info.content_type != oid::ID_SIGNED_DATA {
        return Err("the CMS is not SignedData".into());
    }
    let signed_data: SignedData = content_info
        .content
        .decode_as()
        .map_err(|e| format!("the SignedData cannot be decoded: {e}"))?;
    let mut infos = signed_data.signer_infos.0.iter();
    let (Some(signer_info), None) = (infos.next(), infos.next()) else {
        return Err("the CMS does not hold exactly one SignerInfo".into());
    };
    let digest = signer_info.digest_alg.oid;
    let Some((digest_algorithm, rsa_with_digest)) = digest_of(digest) else {
        return Err(format!(
            "the digest algorithm {digest} is not supported (SHA-256, SHA-384 and SHA-512 are)"
        ));
    };
    if signed_data.encap_content_info.econtent.is_some() {
        return Err("a detached signature must not encapsulate content".into());
    }
    let mut signer_info = signer_info.clone();
    // rsaEncryption as the signature algorithm: PKCS#1 v1.5 with the digest
    // algorithm's hash.
    if signer_info.signature_algorithm.oid == oid::RSA_ENCRYPTION {
        signer_info.signature_algorithm.oid = rsa_with_digest;
    }
    let signer_info = &signer_info;
    let Some(attrs) = &signer_info.signed_attrs else {
        return Err("the SignerInfo has no signed attributes".into());
    };
    let signed_attrs_der = attrs
        .to_der()
        .map_err(|e| format!("the signed attributes: {e}"))?;
    let single = |oid: der::asn1::ObjectIdentifier| {
        attrs
            .iter()
            .find(|a| a.oid == oid)
            .and_then(|a| a.values.iter().next())
    };
    let message_digest = single(oid::ID_MESSAGE_DIGEST)
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .ok_or("the signed attributes have no message digest")?
        .as_bytes()
        .to_vec();
    match single(oid::ID_CONTENT_TYPE)
        .and_then(|v| v.decode_as::<der::asn1::ObjectIdentifier>().ok())
    {
        Some(t) if t == oid::ID_DATA => {}
        _ => return Err("the content-type attribute is not id-data".into()),
    }
    let certificates: Vec<Certificate> = signed_data
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    let signer = certificates
        .iter()
        .find(|c| identifies(&signer_info.sid, c))
        .cloned();
    let signing_certificate_matches = single(oid::ID_AA_SIGNING_CERTIFICATE_V2).map(|v| {
        match (v.decode_as::<SigningCertificateV2>(), &signer) {
            (Ok(sc), Some(cert)) => sc.certs.first().is_some_and(|id| {
                let hash_alg = id.hash_algorithm.as_ref().map_or(oid::ID_SHA256, |h| h.oid);
                let algorithm = if hash_alg == oid::ID_SHA256 {
                    &ring::digest::SHA256
                } else if hash_alg == oid::ID_SHA384 {
                    &ring::digest::SHA384
                } else if hash_alg == oid::ID_SHA512 {
                    &ring::digest::SHA512
                } else {
                    return false;
                };
                cert.to_der().is_ok_and(|d| {
                    ring::digest::digest(algorithm, &d).as_ref() == id.cert_hash.as_bytes()
                })
            }),
            _ => false,
        }
    });
    let timestamp_token = signer_info
        .unsigned_attrs
        .iter()
        .flat_map(|a| a.iter())
        .find(|a| a.oid == oid::ID_AA_SIGNATURE_TIME_STAMP_TOKEN)
        .and_then(|a| a.values.iter().next())
        .map(|v| v.to_der().unwrap_or_default());
    Ok(ParsedCms {
        signer_info: signer_info.clone(),
        signed_attrs_der,
        message_digest,
        digest_algorithm,
        certificates,
        signer,
        signing_certificate_matches,
        timestamp_token,
    })
}

/// The ring digest and the RSA PKCS#1 v1.5 signature algorithm of a
/// SHA-2 digest algorithm.
fn digest_of(
    digest: der::asn1::ObjectIdentifier,
) -> Option<(
    &'static ring::digest::Algorithm,
    der::asn1::ObjectIdentifier,
)> {
    if digest == oid::ID_SHA256 {
        Some((&ring::digest::SHA256, oid::SHA256_WITH_RSA_ENCRYPTION))
    } else if digest == oid::ID_SHA384 {
        Some((&ring::digest::SHA384, oid::SHA384_WITH_RSA_ENCRYPTION))
    } else if digest == oid::ID_SHA512 {
        Some((&ring::digest::SHA512, oid::SHA512_WITH_RSA_ENCRYPTION))
    } else {
        None
    }
}

/// MessageImprint (RFC 3161).
#[derive(Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

/// How a time-stamp lowers the signature: (indication, sub-indication, why).
type TimestampFailure = (Indication, &'static str, String);

/// Judges the signature-time-stamp `token` over `signature_value`.
fn check_timestamp(
    token: &[u8],
    signature_value: &[u8],
    options: &VerifyOptions,
) -> (TimestampReport, Result<(), TimestampFailure>) {
    let mut report = TimestampReport {
        time: None,
        intact: false,
        trusted: false,
        tsa: None,
    };
    let result = judge_timestamp(token, signature_value, options, &mut report);
    (report, result)
}

fn judge_timestamp(
    token: &[u8],
    signature_value: &[u8],
    options: &VerifyOptions,
    report: &mut TimestampReport,
) -> Result<(), TimestampFailure> {
    let format = |why: String| {
        (
            Indication::Indeterminate,
            "FORMAT_FAILURE",
            format!("the signature time-stamp: {why}"),
        )
    };
    let content_info =
        ContentInfo::from_der(token).map_err(|e| format(format!("not a ContentInfo: {e}")))?;
    if content_info.content_type != oid::ID_SIGNED_DATA {
        return Err(format("not SignedData".into()));
    }
    let signed_data: SignedData = content_info
        .content
        .decode_as()
        .map_err(|e| format(format!("the SignedData cannot be decoded: {e}")))?;
    if signed_data.encap_content_info.econtent_type != oid::ID_CT_TST_INFO {
        return Err(format("the content is not a TSTInfo".into()));
    }
    let tst_der = signed_data
        .encap_content_info
        .econtent
        .as_ref()
        .and_then(|c| c.decode_as::<OctetString>().ok())
        .ok_or_else(|| format("the token holds no TSTInfo".into()))?
        .as_bytes()
        .to_vec();
    let (imprint, gen_time) =
        parse_tst_info(&tst_der).map_err(|e| format(format!("the TSTInfo: {e}")))?;
    report.time = gen_time;
    let certificates: Vec<Certificate> = signed_data
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    let mut infos = signed_data.signer_infos.0.iter();
    let (Some(info), None) = (infos.next(), infos.next()) else {
        return Err(format("not exactly one SignerInfo".into()));
    };
    let tsa = certificates.iter().find(|c| identifies(&info.sid, c));
    report.tsa = tsa.map(|c| c.tbs_certificate.subject.to_string());

    // The imprint: the hash of the signature value.
    let hash_failure = |why: &str| {
        (
            Indication::TotalFailed,
            "HASH_FAILURE",
            format!("the signature time-stamp: {why}"),
        )
    };
    let imprint_alg = imprint.hash_algorithm.oid;
    let (imprint_digest, _) = digest_of(imprint_alg)
        .ok_or_else(|| format(format!("the imprint's hash algorithm {imprint_alg}")))?;
    if ring::digest::digest(imprint_digest, signature_value).as_ref()
        != imprint.hashed_message.as_bytes()
    {
        return Err(hash_failure(
            "its imprint is not the hash of the signature value",
        ));
    }

    // The token's own signature.
    let (digest_algorithm, rsa_with_digest) = digest_of(info.digest_alg.oid)
        .ok_or_else(|| format(format!("the digest algorithm {}", info.digest_alg.oid)))?;
    let attrs = info
        .signed_attrs
        .as_ref()
        .ok_or_else(|| format("the SignerInfo has no signed attributes".into()))?;
    let single = |oid: der::asn1::ObjectIdentifier| {
        attrs
            .iter()
            .find(|a| a.oid == oid)
            .and_then(|a| a.values.iter().next())
    };
    match single(oid::ID_CONTENT_TYPE)
        .and_then(|v| v.decode_as::<der::asn1::ObjectIdentifier>().ok())
    {
        Some(t) if t == oid::ID_CT_TST_INFO => {}
        _ => {
            return Err(format(
                "the content-type attribute is not id-ct-TSTInfo".into(),
            ));
        }
    }
    let message_digest = single(oid::ID_MESSAGE_DIGEST)
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .ok_or_else(|| format("the signed attributes have no message digest".into()))?;
    if ring::digest::digest(digest_algorithm, &tst_der).as_ref() != message_digest.as_bytes() {
        return Err(hash_failure(
            "its TSTInfo does not match its message digest",
        ));
    }
    let Some(tsa) = tsa else {
        return Err(format(
            "the token does not carry the TSA's certificate".into(),
        ));
    };
    let mut algorithm = info.signature_algorithm.clone();
    if algorithm.oid == oid::RSA_ENCRYPTION {
        algorithm.oid = rsa_with_digest;
    }
    let attrs_der = attrs
        .to_der()
        .map_err(|e| format(format!("the signed attributes: {e}")))?;
    match verify_signature(
        &tsa.tbs_certificate.subject_public_key_info,
        &algorithm,
        &attrs_der,
        info.signature.as_bytes(),
    ) {
        Ok(()) => {}
        Err(SigFailure::Wrong) => {
            return Err((
                Indication::TotalFailed,
                "SIG_CRYPTO_FAILURE",
                "the signature time-stamp: its signature does not verify with the TSA's key".into(),
            ));
        }
        Err(SigFailure::Unsupported(what)) => {
            return Err(format(format!("unsupported signature: {what}")));
        }
    }
    report.intact = true;

    // The TSA's chain (not lowering the signature's indication).
    report.trusted = has_time_stamping_eku(tsa)
        && matches!(
            build_chain(tsa, &certificates, &options.trust, options.now),
            Chain::Found
        );
    Ok(())
}

/// Whether `cert` has the extended key usage id-kp-timeStamping.
fn has_time_stamping_eku(cert: &Certificate) -> bool {
    cert.tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == oid::ID_CE_EXT_KEY_USAGE)
        .and_then(|e| ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).ok())
        .is_some_and(|eku| eku.0.contains(&oid::ID_KP_TIME_STAMPING))
}

/// The messageImprint and genTime (RFC 3339, None when unreadable) of a
/// TSTInfo { version, policy, messageImprint, serialNumber, genTime, ... }.
fn parse_tst_info(tst_der: &[u8]) -> Result<(MessageImprint, Option<String>), der::Error> {
    let outer = der::Any::from_der(tst_der)?;
    if outer.tag() != der::Tag::Sequence {
        return Err(der::Tag::Sequence.value_error());
    }
    let mut r = SliceReader::new(outer.value())?;
    let _version: der::asn1::Int = r.decode()?;
    let _policy: der::asn1::ObjectIdentifier = r.decode()?;
    let imprint: MessageImprint = r.decode()?;
    let _serial: der::asn1::Int = r.decode()?;
    let gen_time: der::Any = r.decode()?;
    let time = (gen_time.tag() == der::Tag::GeneralizedTime)
        .then(|| generalized_time(gen_time.value()))
        .flatten();
    Ok((imprint, time))
}

/// `YYYYMMDDHHMMSS[.fff]Z` (fractions allowed, as RFC 3161 allows) as
/// RFC 3339.
fn generalized_time(v: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(v).ok()?.strip_suffix('Z')?;
    let (whole, fraction) = match s.split_once('.') {
        Some((w, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => (w, f),
        Some(_) => return None,
        None => (s, ""),
    };
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let text = format!(
        "{}-{}-{}T{}:{}:{}{}{}Z",
        &whole[0..4],
        &whole[4..6],
        &whole[6..8],
        &whole[8..10],
        &whole[10..12],
        &whole[12..14],
        if fraction.is_empty() { "" } else { "." },
        fraction
    );
    text.parse::<Timestamp>().ok().map(|t| t.to_string())
}

fn identifies(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    let tbs = &cert.tbs_certificate;
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => {
            ias.issuer == tbs.issuer && ias.serial_number == tbs.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => tbs
            .extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == oid::ID_CE_SUBJECT_KEY_IDENTIFIER)
            .and_then(|e| OctetString::from_der(e.extn_value.as_bytes()).ok())
            .is_some_and(|v| v.as_bytes() == ski.0.as_bytes()),
    }
}

/// RSASSA-PSS-params (RFC 4055 §3.1) as read: every field optional.
#[derive(Sequence)]
struct PssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_gen_algorithm: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt_length: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer_field: Option<u32>,
}

/// Why a signature does not verify.
#[derive(Debug)]
enum SigFailure {
    /// An algorithm, key type or parameter set we cannot check.
    Unsupported(String),
    /// The signature value is wrong for the message and key.
    Wrong,
}

/// Verifies `signature` over `message` with the key of `spki`, by the
/// algorithm `algorithm` names (ring: RSA PKCS#1 v1.5 and PSS, ECDSA, Ed25519).
fn verify_signature(
    spki: &SubjectPublicKeyInfoOwned,
    algorithm: &AlgorithmIdentifierOwned,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SigFailure> {
    let unsupported = |m: String| SigFailure::Unsupported(m);
    let key_type = spki.algorithm.oid;
    let key = spki.subject_public_key.raw_bytes();
    let alg = algorithm.oid;
    let rsa_key = key_type == oid::RSA_ENCRYPTION || key_type == oid::ID_RSASSA_PSS;
    let scheme: &dyn rs::VerificationAlgorithm = if rsa_key
        && alg == oid::SHA256_WITH_RSA_ENCRYPTION
    {
        &rs::RSA_PKCS1_2048_8192_SHA256
    } else if rsa_key && alg == oid::SHA384_WITH_RSA_ENCRYPTION {
        &rs::RSA_PKCS1_2048_8192_SHA384
    } else if rsa_key && alg == oid::SHA512_WITH_RSA_ENCRYPTION {
        &rs::RSA_PKCS1_2048_8192_SHA512
    } else if rsa_key && alg == oid::ID_RSASSA_PSS {
        let params = algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<PssParams>().ok())
            .ok_or_else(|| unsupported("RSASSA-PSS without readable parameters".into()))?;
        let hash = params.hash_algorithm.as_ref().map(|h| h.oid);
        let salt = params.salt_length.unwrap_or(20);
        let _ = (&params.mask_gen_algorithm, params.trailer_field);
        match (hash, salt) {
            (Some(h), 32) if h == oid::ID_SHA256 => &rs::RSA_PSS_2048_8192_SHA256,
            (Some(h), 48) if h == oid::ID_SHA384 => &rs::RSA_PSS_2048_8192_SHA384,
            (Some(h), 64) if h == oid::ID_SHA512 => &rs::RSA_PSS_2048_8192_SHA512,
            _ => {
                return Err(unsupported(
                    "RSASSA-PSS parameters other than SHA-2 with a salt of the hash length".into(),
                ));
            }
        }
    } else if key_type == oid::ID_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok());
        match curve {
            Some(c) if c == oid::SECP256R1 && alg == oid::ECDSA_WITH_SHA256 => {
                &rs::ECDSA_P256_SHA256_ASN1
            }
            Some(c) if c == oid::SECP256R1 && alg == oid::ECDSA_WITH_SHA384 => {
                &rs::ECDSA_P256_SHA384_ASN1
            }
            Some(c) if c == oid::SECP384R1 && alg == oid::ECDSA_WITH_SHA256 => {
                &rs::ECDSA_P384_SHA256_ASN1
            }
            Some(c) if c == oid::SECP384R1 && alg == oid::ECDSA_WITH_SHA384 => {
                &rs::ECDSA_P384_SHA384_ASN1
            }
            _ => return Err(unsupported(format!("ECDSA curve or algorithm {alg}"))),
        }
    } else if key_type == oid::ID_ED25519 && alg == oid::ID_ED25519 {
        &rs::ED25519
    } else {
        return Err(unsupported(format!(
            "algorithm {alg} with a {key_type} key"
        )));
    };
    rs::UnparsedPublicKey::new(scheme, key)
        .verify(message, signature)
        .map_err(|_| SigFailure::Wrong)
}

/// Whether `issuer` signed `cert`: the names chain and the signature verifies.
fn signed_by(cert: &Certificate, issuer: &Certificate) -> bool {
    if cert.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return false;
    }
    let Ok(tbs) = cert.tbs_certificate.to_der() else {
        return false;
    };
    let Some(sig) = cert.signature.as_bytes() else {
        return false;
    };
    verify_signature(
        &issuer.tbs_certificate.subject_public_key_info,
        &cert.signature_algorithm,
        &tbs,
        sig,
    )
    .is_ok()
}

fn valid_at(cert: &Certificate, now: Timestamp) -> bool {
    let v = &cert.tbs_certificate.validity;
    let now = now.as_second();
    let nb = v.not_before.to_unix_duration().as_secs() as i64;
    let na = v.not_after.to_unix_duration().as_secs() as i64;
    nb <= now && now <= na
}

fn find_issuer(
    cert: &Certificate,
    pool: &[Certificate],
    trust: &[Certificate],
) -> Option<Certificate> {
    trust
        .iter()
        .chain(pool)
        .find(|c| signed_by(cert, c))
        .cloned()
}

enum Chain {
    Found,
    None,
    /// A certificate of the chain, named, is outside its validity period.
    OutOfBounds(String),
}

/// A path from `cert` through `pool` to one of `trust`: every link's
/// signature verified, then every validity period at `now`.
fn build_chain(
    cert: &Certificate,
    pool: &[Certificate],
    trust: &[Certificate],
    now: Timestamp,
) -> Chain {
    let mut path = vec![cert.clone()];
    let mut current = cert.clone();
    for _ in 0..16 {
        if trust.iter().any(|t| t == &current) {
            return check_validity(&path, now);
        }
        if let Some(anchor) = trust.iter().find(|t| signed_by(&current, t)) {
            path.push(anchor.clone());
            return check_validity(&path, now);
        }
        let next = pool
            .iter()
            .find(|c| !path.contains(c) && signed_by(&current, c));
        match next {
            Some(n) => {
                path.push(n.clone());
                current = n.clone();
            }
            None => return Chain::None,
        }
    }
    Chain::None
}

fn check_validity(path: &[Certificate], now: Timestamp) -> Chain {
    match path.iter().find(|c| !valid_at(c, now)) {
        Some(c) => Chain::OutOfBounds(format!("the certificate {}", c.tbs_certificate.subject)),
        None => Chain::Found,
    }
}

/// The signer certificate's status from the CRLs given (no network).
fn revocation(
    cert: &Certificate,
    issuer: Option<&Certificate>,
    crls: &[CertificateList],
    now: Timestamp,
) -> Revocation {
    if let Some(issuer) = issuer {
        for crl in crls {
            let tbs = &crl.tbs_cert_list;
            if tbs.issuer != issuer.tbs_certificate.subject {
                continue;
            }
            let (Ok(tbs_der), Some(sig)) = (tbs.to_der(), crl.signature.as_bytes()) else {
                continue;
            };
            if verify_signature(
                &issuer.tbs_certificate.subject_public_key_info,
                &crl.signature_algorithm,
                &tbs_der,
                sig,
            )
            .is_err()
            {
                continue;
            }
            let serial = &cert.tbs_certificate.serial_number;
            if tbs
                .revoked_certificates
                .iter()
                .flatten()
                .any(|r| &r.serial_number == serial)
            {
                return Revocation::Revoked;
            }
            // A CRL past its next update no longer vouches for "good".
            let fresh = tbs
                .next_update
                .is_none_or(|t| t.to_unix_duration().as_secs() as i64 >= now.as_second());
            if fresh {
                return Revocation::Good;
            }
        }
    }
    let names_a_source = cert.tbs_certificate.extensions.iter().flatten().any(|e| {
        if e.extn_id == oid::ID_CE_CRL_DISTRIBUTION_POINTS {
            CrlDistributionPoints::from_der(e.extn_value.as_bytes())
                .map_or(true, |d| !d.0.is_empty())
        } else if e.extn_id == oid::ID_PE_AUTHORITY_INFO_ACCESS {
            AuthorityInfoAccessSyntax::from_der(e.extn_value.as_bytes()).map_or(true, |a| {
                a.0.iter().any(|d| d.access_method == oid::ID_AD_OCSP)
            })
        } else {
            false
        }
    });
    if names_a_source {
        Revocation::Unknown
    } else {
        Revocation::NoSource
    }
}

/// Compares the revision `signed` (the file up to the signature's end, a
/// prefix of `bytes`) with `now`, the document read from the whole file
/// `bytes`, and classifies the difference.
fn modifications(
    signed: &[u8],
    bytes: &[u8],
    now: &Document,
    limits: &PdfLimits,
) -> Result<(Modifications, String), String> {
    let (_, mut old) = crate::pdf::open(signed, limits)
        .map_err(|e| format!("the signed revision cannot be read: {e}"))?;
    newest_compressed_objects(&mut old);
    let mut level = Modifications::None;
    let mut raise = |m: Modifications| level = level.max(m);
    let root = |d: &Document| d.trailer.get(b"Root").and_then(Object::as_reference).ok();
    let info = |d: &Document| d.trailer.get(b"Info").and_then(Object::as_reference).ok();
    let (Some(old_root), Some(new_root)) = (root(&old), root(now)) else {
        return Ok((Modifications::Other, "a revision has no catalog".into()));
    };
    if old_root != new_root {
        return Ok((Modifications::Other, "the catalog was replaced".into()));
    }
    // Objects with special roles in the new file.
    let catalog = now.get_object(new_root).and_then(Object::as_dict).ok();
    let acroform_ref = catalog.and_then(|c| c.get(b"AcroForm").and_then(Object::as_reference).ok());
    let fields_ref = catalog
        .and_then(|c| c.get(b"AcroForm").ok())
        .and_then(|o| deref_dict(now, o))
        .and_then(|a| a.get(b"Fields").and_then(Object::as_reference).ok());
    let dss_ref = catalog.and_then(|c| c.get(b"DSS").and_then(Object::as_reference).ok());
    let mut annots_arrays: BTreeSet<ObjectId> = BTreeSet::new();
    for (_, page) in now.get_pages() {
        if let Ok(Object::Reference(r)) = now
            .get_object(page)
            .and_then(Object::as_dict)
            .and_then(|d| d.get(b"Annots"))
        {
            annots_arrays.insert(*r);
        }
    }

    let ids: BTreeSet<ObjectId> = old
        .objects
        .keys()
        .chain(now.objects.keys())
        .copied()
        .collect();
    for id in ids {
        let (before, after) = (old.objects.get(&id), now.objects.get(&id));
        match (before, after) {
            (Some(b), Some(a)) if b == a || same_stream(b, (signed, &old), a, (bytes, now)) => {}
            (Some(b), None) => {
                if !is_structural_stream(b) {
                    return Ok((
                        Modifications::Other,
                        format!("object {} {} was deleted", id.0, id.1),
                    ));
                }
            }
            (None, Some(a)) => match annotation_kind(a) {
                Some(true) => raise(Modifications::FormFilling),
                Some(false) => raise(Modifications::Annotations),
                None => {}
            },
            (Some(b), Some(a)) => {
                if is_structural_stream(a) && is_structural_stream(b) {
                    continue;
                }
                let m = if id == new_root {
                    catalog_change(b, a, &old, now)
                } else if Some(id) == acroform_ref {
                    acroform_change(Some(b), a, &old, now)
                } else if Some(id) == fields_ref {
                    array_growth(b, a, &old, now, true).max(Modifications::FormFilling)
                } else if annots_arrays.contains(&id) {
                    array_growth(b, a, &old, now, false)
                } else if Some(id) == info(now) || Some(id) == dss_ref || is_metadata(a) {
                    Modifications::FormFilling
                } else if is_page(a) && is_page(b) {
                    page_change(b, a, &old, now)
                } else {
                    match (annotation_kind(b), annotation_kind(a)) {
                        (Some(true), Some(true)) => field_change(b, a, &[b"V", b"AP", b"AS"]),
                        (Some(false), Some(false)) => Modifications::Annotations,
                        // A field that is not its own widget (its kids
                        // are): only its value may change.
                        (None, None) if is_field(b) && is_field(a) => field_change(b, a, &[b"V"]),
                        _ => Modifications::Other,
                    }
                };
                if m == Modifications::Other {
                    return Ok((
                        Modifications::Other,
                        format!("object {} {} changed", id.0, id.1),
                    ));
                }
                raise(m);
            }
            (None, None) => {}
        }
    }
    Ok((level, String::new()))
}

/// Two streams with the same dictionary and data, each read by
/// [`crate::pdf::open`] from the bytes given with its document (which may
/// leave a stream's data in the file).
fn same_stream(
    before: &Object,
    (signed, old): (&[u8], &Document),
    after: &Object,
    (bytes, now): (&[u8], &Document),
) -> bool {
    let (Object::Stream(b), Object::Stream(a)) = (before, after) else {
        return false;
    };
    b.dict == a.dict
        && matches!(
            (
                crate::pdf::stream_data(signed, old, b),
                crate::pdf::stream_data(bytes, now, a),
            ),
            (Some(x), Some(y)) if x == y
        )
}

/// Cross-reference streams and object streams: containers, judged by what
/// they contain.
fn is_structural_stream(o: &Object) -> bool {
    matches!(o, Object::Stream(s) if matches!(
        s.dict.get(b"Type").and_then(Object::as_name).ok(),
        Some(b"XRef" | b"ObjStm")
    ))
}

fn is_metadata(o: &Object) -> bool {
    matches!(o, Object::Stream(s) if s.dict.get(b"Type").and_then(Object::as_name).ok() == Some(&b"Metadata"[..]))
}

fn is_page(o: &Object) -> bool {
    o.as_dict()
        .is_ok_and(|d| d.get(b"Type").and_then(Object::as_name).ok() == Some(&b"Page"[..]))
}

/// Some(true) for a widget annotation, Some(false) for any other
/// annotation, None for what is not an annotation.
fn annotation_kind(o: &Object) -> Option<bool> {
    let d = o.as_dict().ok()?;
    let subtype = d.get(b"Subtype").and_then(Object::as_name).ok();
    let annot = d.get(b"Type").and_then(Object::as_name).ok() == Some(&b"Annot"[..])
        || (subtype.is_some() && d.has(b"Rect"));
    annot.then_some(subtype == Some(&b"Widget"[..]))
}

/// A form field's dictionary (a terminal field or a parent of fields).
fn is_field(o: &Object) -> bool {
    o.as_dict()
        .is_ok_and(|d| d.has(b"FT") || d.has(b"T") || d.has(b"Kids"))
}

/// A field (or widget) changing only `allowed` keys: form filling, unless
/// it is a signature field whose signature is replaced or removed.
fn field_change(before: &Object, after: &Object, allowed: &[&[u8]]) -> Modifications {
    let m = dict_change(before, after, allowed);
    let (Ok(b), Ok(a)) = (before.as_dict(), after.as_dict()) else {
        return Modifications::Other;
    };
    let signature = b.get(b"FT").and_then(Object::as_name).ok() == Some(&b"Sig"[..]);
    if signature && b.has(b"V") && b.get(b"V").ok() != a.get(b"V").ok() {
        return Modifications::Other;
    }
    m
}

/// Form filling when the dictionaries differ only in `allowed` keys.
fn dict_change(before: &Object, after: &Object, allowed: &[&[u8]]) -> Modifications {
    let (Ok(b), Ok(a)) = (before.as_dict(), after.as_dict()) else {
        return Modifications::Other;
    };
    let keys: BTreeSet<&[u8]> = b
        .iter()
        .chain(a.iter())
        .map(|(k, _)| k.as_slice())
        .collect();
    for k in keys {
        if b.get(k).ok() != a.get(k).ok() && !allowed.contains(&k) {
            return Modifications::Other;
        }
    }
    Modifications::FormFilling
}

/// The catalog: only /AcroForm (itself judged), /DSS, /Metadata, and
/// /Version and /Extensions (pyHanko declares the ESIC extension when it
/// signs) may change.
fn catalog_change(
    before: &Object,
    after: &Object,
    old: &Document,
    now: &Document,
) -> Modifications {
    let allowed: &[&[u8]] = &[b"AcroForm", b"DSS", b"Metadata", b"Version", b"Extensions"];
    if dict_change(before, after, allowed) == Modifications::Other {
        return Modifications::Other;
    }
    let form = |o: &Object| {
        o.as_dict()
            .ok()
            .and_then(|d| d.get(b"AcroForm").ok())
            .cloned()
    };
    match (form(before), form(after)) {
        (b, Some(a)) if b.as_ref() != Some(&a) => {
            let b = b.as_ref().and_then(|b| deref_dict(old, b)).cloned();
            let Some(a) = deref_dict(now, &a).cloned() else {
                return Modifications::Other;
            };
            acroform_change(
                b.map(Object::Dictionary).as_ref(),
                &Object::Dictionary(a),
                old,
                now,
            )
            .max(Modifications::FormFilling)
        }
        (Some(_), None) => Modifications::Other,
        _ => Modifications::FormFilling,
    }
}

/// The AcroForm: only /Fields (gaining fields), /SigFlags, /DR and
/// /NeedAppearances may change.
fn acroform_change(
    before: Option<&Object>,
    after: &Object,
    old: &Document,
    now: &Document,
) -> Modifications {
    let empty = Object::Dictionary(Dictionary::new());
    let before = before.unwrap_or(&empty);
    if dict_change(
        before,
        after,
        &[b"Fields", b"SigFlags", b"DR", b"NeedAppearances"],
    ) == Modifications::Other
    {
        return Modifications::Other;
    }
    let fields = |o: &Object| {
        o.as_dict()
            .ok()
            .and_then(|d| d.get(b"Fields").ok())
            .cloned()
    };
    match (fields(before), fields(after)) {
        (b, Some(a)) if b.as_ref() != Some(&a) => {
            array_growth(&b.unwrap_or(Object::Array(Vec::new())), &a, old, now, true)
                .max(Modifications::FormFilling)
        }
        (Some(_), None) => Modifications::Other,
        _ => Modifications::FormFilling,
    }
}

/// A page whose only change is /Annots gaining entries.
fn page_change(before: &Object, after: &Object, old: &Document, now: &Document) -> Modifications {
    if dict_change(before, after, &[b"Annots"]) == Modifications::Other {
        return Modifications::Other;
    }
    let annots = |o: &Object| {
        o.as_dict()
            .ok()
            .and_then(|d| d.get(b"Annots").ok())
            .cloned()
    };
    match (annots(before), annots(after)) {
        (None, Some(a)) => array_growth(&Object::Array(Vec::new()), &a, old, now, false),
        (Some(b), Some(a)) => array_growth(&b, &a, old, now, false),
        (None, None) => Modifications::None,
        (Some(_), None) => Modifications::Other,
    }
}

/// An array of references that keeps every old entry and gains new ones:
/// form filling for widgets (and, in /Fields, for any field), annotations
/// for other annotations.
fn array_growth(
    before: &Object,
    after: &Object,
    old: &Document,
    now: &Document,
    fields: bool,
) -> Modifications {
    let (Some(b), Some(a)) = (deref_array(old, before), deref_array(now, after)) else {
        return Modifications::Other;
    };
    if !b.iter().all(|o| a.contains(o)) {
        return Modifications::Other;
    }
    let mut level = Modifications::None;
    for added in a.iter().filter(|o| !b.contains(o)) {
        let target = match added {
            Object::Reference(id) => now.objects.get(id),
            o => Some(o),
        };
        let kind = match target {
            Some(o) if fields && is_field(o) => Some(true),
            Some(o) => annotation_kind(o),
            None => None,
        };
        level = level.max(match kind {
            Some(true) => Modifications::FormFilling,
            Some(false) => Modifications::Annotations,
            None => return Modifications::Other,
        });
    }
    level
}

/// Reads trust anchors: PEM (one or more certificates) or DER.
pub fn read_certificates(bytes: &[u8]) -> Result<Vec<Certificate>, String> {
    if bytes.starts_with(b"-----") || bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        Certificate::load_pem_chain(bytes).map_err(|e| format!("not PEM certificates: {e}"))
    } else {
        Certificate::from_der(bytes)
            .map(|c| vec![c])
            .map_err(|e| format!("not a DER certificate: {e}"))
    }
}

/// Reads a CRL: DER or PEM (`X509 CRL`).
pub fn read_crl(bytes: &[u8]) -> Result<CertificateList, String> {
    let der = if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        der::pem::decode_vec(bytes)
            .map_err(|e| format!("not a PEM CRL: {e}"))?
            .1
    } else {
        bytes.to_vec()
    };
    CertificateList::from_der(&der).map_err(|e| format!("not a DER CRL: {e}"))
}

/// The human report.
pub fn render_text(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if report.signatures.is_empty() {
        out.push_str("no signatures\n");
    }
    for s in &report.signatures {
        let _ = writeln!(
            out,
            "{}: {}{}",
            s.field,
            s.indication.as_str(),
            s.sub_indication
                .map(|x| format!("/{x}"))
                .unwrap_or_default()
        );
        if let Some(d) = &s.detail {
            let _ = writeln!(out, "  why:           {d}");
        }
        if let Some(c) = &s.signer {
            let _ = writeln!(out, "  signer:        {} (serial {})", c.subject, c.serial);
            let _ = writeln!(out, "  issuer:        {}", c.issuer);
            let _ = writeln!(out, "  valid:         {} to {}", c.not_before, c.not_after);
        }
        let _ = writeln!(
            out,
            "  intact:        {}\n  coverage:      {}\n  modifications: {}\n  revocation:    {}\n  signing time:  {}",
            s.intact,
            json_word(&s.coverage),
            json_word(&s.modifications),
            json_word(&s.revocation),
            s.signing_time.as_deref().unwrap_or("none")
        );
        let _ = writeln!(
            out,
            "  time-stamp:    {}",
            match &s.timestamp {
                None => "none".to_string(),
                Some(t) => format!(
                    "{} by {}, {}, {}",
                    t.time.as_deref().unwrap_or("(unreadable time)"),
                    t.tsa.as_deref().unwrap_or("(no TSA certificate)"),
                    if t.intact { "intact" } else { "NOT intact" },
                    if t.trusted { "trusted" } else { "not trusted" },
                ),
            }
        );
    }
    out
}

fn json_word(v: &impl Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_pdf_dates_become_rfc3339() {
        assert_eq!(
            pdf_date("D:20261122143005+07'00'").as_deref(),
            Some("2026-11-22T14:30:05+07:00")
        );
        assert_eq!(
            pdf_date("D:20261122143005Z").as_deref(),
            Some("2026-11-22T14:30:05Z")
        );
        assert_eq!(pdf_date("D:2026").as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(pdf_date("D:20261322").as_deref(), None);
    }

    #[test]
    fn verify_time_stamp_times_become_rfc3339() {
        assert_eq!(
            generalized_time(b"20261123005301Z").as_deref(),
            Some("2026-11-23T00:53:01Z")
        );
        assert_eq!(
            generalized_time(b"20261123005301.25Z").as_deref(),
            Some("2026-11-23T00:53:01.25Z")
        );
        assert_eq!(generalized_time(b"20261123005301").as_deref(), None);
        assert_eq!(generalized_time(b"20261323005301Z").as_deref(), None);
    }

    /// A file signed (with a placeholder CMS: the classifier reads no
    /// signature) with two empty text fields.
    fn signed_with_fields() -> Vec<u8> {
        let spec = crate::pades::writer::SignatureSpec {
            field: None,
            pdf_date: "D:20261122143005+07'00'".into(),
            reason: None,
            location: None,
            contents_size: 64,
            visible: None,
            text_fields: vec![crate::pades::TextField {
                name: "so".into(),
                page: 1,
                rect: [72.0, 700.0, 200.0, 20.0],
                font_size: 12.0,
            }],
        };
        let input = crate::pdf::sample::sample_pdf("x", 1);
        crate::pades::writer::prepare(&input, &spec, &PdfLimits::default())
            .expect("prepare")
            .finish(&[0x30, 0x00])
            .expect("finish")
    }

    fn classify(signed: &[u8], now: &[u8]) -> Modifications {
        let doc = Document::load_mem(now).expect("read");
        modifications(signed, now, &doc, &PdfLimits::default())
            .expect("classified")
            .0
    }

    /// `signed` with object `id` replaced by `f(old)`, as a revision.
    fn revise(signed: &[u8], id: ObjectId, f: impl Fn(&mut Dictionary)) -> Vec<u8> {
        let doc = Document::load_mem(signed).expect("read");
        let mut d = doc
            .get_object(id)
            .and_then(Object::as_dict)
            .expect("dict")
            .clone();
        f(&mut d);
        let mut objects = crate::pades::writer::NewObjects::new(&doc);
        objects.put_object(id, &Object::Dictionary(d)).expect("put");
        let (prev, form) = crate::pades::writer::last_xref(signed).expect("xref");
        crate::pades::writer::append_revision(signed, &doc.trailer, prev, form, objects)
            .expect("append")
            .bytes
    }

    /// A page's content stream written again in a later revision: with the
    /// same dictionary and data it is no change, with other data it is;
    /// whether the documents hold the data or leave it in the file.
    #[test]
    fn verify_a_stream_written_again_is_judged_by_its_data() {
        let signed = signed_with_fields();
        let doc = Document::load_mem(&signed).expect("read");
        let page = *doc.get_pages().get(&1).expect("page 1");
        let contents = doc
            .get_object(page)
            .and_then(Object::as_dict)
            .and_then(|d| d.get(b"Contents"))
            .and_then(Object::as_reference)
            .expect("contents");
        let stream = doc
            .get_object(contents)
            .and_then(Object::as_stream)
            .expect("stream");
        let rewrite = |data: &[u8]| {
            let mut dict = stream.dict.clone();
            dict.set("Length", data.len() as i64);
            let mut body = Vec::new();
            crate::pades::writer::write_object(&mut body, &Object::Dictionary(dict)).expect("dict");
            body.extend_from_slice(b"\nstream\n");
            body.extend_from_slice(data);
            body.extend_from_slice(b"\nendstream");
            let mut objects = crate::pades::writer::NewObjects::new(&doc);
            objects.put(contents, body);
            let (prev, form) = crate::pades::writer::last_xref(&signed).expect("xref");
            crate::pades::writer::append_revision(&signed, &doc.trailer, prev, form, objects)
                .expect("append")
                .bytes
        };
        let lazily = |now: &[u8]| {
            let (_, doc) = crate::pdf::open(now, &PdfLimits::default()).expect("open");
            let lazy = doc.objects.values().any(|o| {
                matches!(o, Object::Stream(s) if s.content.is_empty() && s.start_position.is_some())
            });
            assert!(lazy, "some stream's data is left in the file");
            modifications(&signed, now, &doc, &PdfLimits::default())
                .expect("classified")
                .0
        };
        let same = rewrite(&stream.content);
        let mut other_data = stream.content.clone();
        other_data.extend_from_slice(b" 0 0 m");
        let other = rewrite(&other_data);
        assert_eq!(classify(&signed, &same), Modifications::None);
        assert_eq!(lazily(&same), Modifications::None);
        assert_eq!(classify(&signed, &other), Modifications::Other);
        assert_eq!(lazily(&other), Modifications::Other);
    }

    fn field_id(bytes: &[u8], name: &str) -> ObjectId {
        let doc = Document::load_mem(bytes).expect("read");
        let named = |o: &Object| {
            o.as_dict()
                .ok()
                .and_then(|d| d.get(b"T").ok())
                .and_then(text_of)
                .is_some_and(|t| t == name)
        };
        doc.objects
            .iter()
            .find(|(_, o)| named(o))
            .map(|(id, _)| *id)
            .expect("the field")
    }

    #[test]
    fn verify_filling_a_text_field_is_form_filling() {
        let signed = signed_with_fields();
        let filled = crate::pades::fill_fields(
            &signed,
            &[("so".into(), "12/QĐ-UBND".into())],
            &PdfLimits::default(),
        )
        .expect("fill");
        assert_eq!(classify(&signed, &filled), Modifications::FormFilling);
    }

    #[test]
    fn verify_replacing_a_signature_or_a_field_type_is_other() {
        let signed = signed_with_fields();
        let sig = field_id(&signed, "Signature1");
        let replaced = revise(&signed, sig, |d| d.set("V", Object::Null));
        assert_eq!(classify(&signed, &replaced), Modifications::Other);
        let so = field_id(&signed, "so");
        let retyped = revise(&signed, so, |d| d.set("FT", Object::Name(b"Btn".to_vec())));
        assert_eq!(classify(&signed, &retyped), Modifications::Other);
        let moved = revise(&signed, so, |d| {
            d.set(
                "Rect",
                Object::Array(vec![0.into(), 0.into(), 10.into(), 10.into()]),
            )
        });
        assert_eq!(classify(&signed, &moved), Modifications::Other);
    }

    #[test]
    fn verify_a_parent_field_may_change_only_its_value() {
        let parent = |extra: &[(&str, Object)]| {
            let mut d = Dictionary::new();
            d.set("T", Object::string_literal("ngay"));
            d.set("FT", Object::Name(b"Tx".to_vec()));
            d.set("Kids", Object::Array(vec![Object::Reference((9, 0))]));
            for (k, v) in extra {
                d.set(*k, v.clone());
            }
            Object::Dictionary(d)
        };
        let before = parent(&[]);
        assert!(is_field(&before));
        let filled = parent(&[("V", Object::string_literal("23/11/2026"))]);
        assert_eq!(
            field_change(&before, &filled, &[b"V"]),
            Modifications::FormFilling
        );
        let flagged = parent(&[("Ff", Object::Integer(1))]);
        assert_eq!(
            field_change(&before, &flagged, &[b"V"]),
            Modifications::Other
        );
        let signed = parent(&[
            ("FT", Object::Name(b"Sig".to_vec())),
            ("V", Object::Reference((7, 0))),
        ]);
        let resigned = parent(&[
            ("FT", Object::Name(b"Sig".to_vec())),
            ("V", Object::Reference((8, 0))),
        ]);
        assert_eq!(
            field_change(&signed, &resigned, &[b"V"]),
            Modifications::Other
        );
    }

    #[test]
    fn verify_a_revision_ends_after_eof() {
        assert!(ends_a_revision(b"x\n%%EOF\n"));
        assert!(ends_a_revision(b"x\n%%EOF\r\n"));
        assert!(ends_a_revision(b"x\n%%EOF"));
        assert!(!ends_a_revision(b"x\n%%EOF\n\n"));
        assert!(!ends_a_revision(b"x\n%%EO"));
    }
}
