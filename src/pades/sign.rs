//! Signing a PDF: the revision (`writer`), the CMS (`cms`) over its
//! ByteRange, and a check of the written file before anyone sees it.

use jiff::Timestamp;
use jiff::tz::{Offset, TimeZone};

use super::appearance::{TextField, Visible};
use super::cms;
use super::signer::Signer;
use super::writer::{self, SignPdfError, SignatureSpec};
use crate::pdf::PdfLimits;

/// What the caller chooses about a signature.
#[derive(Clone, Debug, Default)]
pub struct SignOptions {
    pub field: Option<String>,
    pub reason: Option<String>,
    pub location: Option<String>,
    /// Bytes reserved in /Contents beyond the CMS itself (a time-stamp token).
    pub reserve_extra: usize,
    /// Where and how the signature shows; invisible when None.
    pub visible: Option<Visible>,
    /// Empty text fields the signing revision also creates, to be filled
    /// later with [`super::fill::fill_fields`].
    pub text_fields: Vec<TextField>,
}

/// What a signature was, for the caller (and the signature event).
#[derive(Clone, Debug)]
pub struct Signed {
    pub pdf: Vec<u8>,
    pub field: String,
    pub byte_range: [usize; 4],
    /// SHA-256 of the signed bytes (the ByteRange).
    pub digest: [u8; 32],
    /// The claimed signing time (/M), Vietnam time.
    pub signed_at: Timestamp,
}

/// `D:YYYYMMDDHHmmSS+07'00'`: the time in Vietnam, as /M carries it.
pub fn pdf_date(t: Timestamp) -> String {
    let zoned = t.to_zoned(TimeZone::fixed(Offset::constant(7)));
    format!("D:{}+07'00'", zoned.strftime("%Y%m%d%H%M%S"))
}

/// A signing revision written, waiting for the CMS over its ByteRange.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    pub prepared: writer::Prepared,
    /// SHA-256 of the ByteRange.
    pub digest: [u8; 32],
    pub signed_at: Timestamp,
}

/// Writes the signing revision of `input`, reserving room for `signer`'s CMS.
pub fn begin(
    input: &[u8],
    signer: &dyn Signer,
    options: &SignOptions,
    limits: &PdfLimits,
) -> Result<Pending, SignPdfError> {
    let (spec, signed_at) = spec_for(signer, options);
    let prepared = writer::prepare(input, &spec, limits)?;
    Ok(pending(prepared, signed_at))
}

/// [`begin`], writing the revision into `input`'s own buffer (see
/// [`writer::prepare_owned`]).
pub fn begin_owned(
    input: Vec<u8>,
    signer: &dyn Signer,
    options: &SignOptions,
    limits: &PdfLimits,
) -> Result<Pending, SignPdfError> {
    let (spec, signed_at) = spec_for(signer, options);
    let prepared = writer::prepare_owned(input, &spec, limits)?;
    Ok(pending(prepared, signed_at))
}

fn pending(prepared: writer::Prepared, signed_at: Timestamp) -> Pending {
    Pending {
        digest: prepared.digest(),
        prepared,
        signed_at,
    }
}

fn spec_for(signer: &dyn Signer, options: &SignOptions) -> (SignatureSpec, Timestamp) {
    let signed_at = Timestamp::now();
    let spec = SignatureSpec {
        field: options.field.clone(),
        pdf_date: pdf_date(signed_at),
        reason: options.reason.clone(),
        location: options.location.clone(),
        contents_size: cms::estimate_size(signer) + options.reserve_extra,
        visible: options.visible.clone(),
        text_fields: options.text_fields.clone(),
    };
    (spec, signed_at)
}

/// Puts `cms` into the pending revision and checks the written file —
/// against `original`, the file it was made from, when the caller still
/// has it (a two-phase session has only the revision itself).
pub fn complete(
    pending: Pending,
    cms: &[u8],
    original: Option<&[u8]>,
) -> Result<Signed, SignPdfError> {
    let Pending {
        prepared,
        digest,
        signed_at,
    } = pending;
    let byte_range = prepared.byte_range();
    let field = prepared.field.clone();
    let form = prepared.xref_form;
    let pdf = prepared.finish(cms)?;
    check_written(original, &pdf, byte_range, &digest, form)?;
    Ok(Signed {
        pdf,
        field,
        byte_range,
        digest,
        signed_at,
    })
}

/// Adds a PAdES B-B signature of `signer` to `input` as one incremental
/// revision and returns the signed file, checked.
pub fn sign_pdf(
    input: &[u8],
    signer: &dyn Signer,
    options: &SignOptions,
    limits: &PdfLimits,
) -> Result<Signed, SignPdfError> {
    let pending = begin(input, signer, options, limits)?;
    let cms = cms::sign_detached(&pending.digest, signer)
        .map_err(|e| SignPdfError::Unsupported(format!("signing failed: {e}")))?;
    complete(pending, &cms, Some(input))
}

/// [`sign_pdf`], building the signed file in `input`'s own buffer instead
/// of a copy (see [`writer::prepare_owned`]). The original is not compared
/// with the signed file's prefix afterwards: it is that prefix, the
/// revision is only appended to it.
pub fn sign_pdf_owned(
    input: Vec<u8>,
    signer: &dyn Signer,
    options: &SignOptions,
    limits: &PdfLimits,
) -> Result<Signed, SignPdfError> {
    let pending = begin_owned(input, signer, options, limits)?;
    let cms = cms::sign_detached(&pending.digest, signer)
        .map_err(|e| SignPdfError::Unsupported(format!("signing failed: {e}")))?;
    complete(pending, &cms, None)
}

/// PAdES B-T: as [`sign_pdf`], with an RFC 3161 time-stamp token over the
/// signature value, fetched by `timestamp` (given a SHA-256, it returns the
/// token's DER). Room for the token is measured by one request over a dummy
/// digest first, so /Contents is sized from a real token, not a guess.
pub fn sign_pdf_timestamped(
    input: &[u8],
    signer: &dyn Signer,
    options: &SignOptions,
    limits: &PdfLimits,
    timestamp: impl Fn(&[u8; 32]) -> Result<Vec<u8>, super::SignError>,
) -> Result<Signed, SignPdfError> {
    let failed = |e: super::SignError| SignPdfError::Unsupported(format!("signing failed: {e}"));
    let probe = timestamp(&[0; 32]).map_err(failed)?;
    let mut options = options.clone();
    // The token, its attribute's wrapping (OID, SET, SEQUENCE, [1]), and room
    // for a token a few bytes longer (another serial or time precision).
    options.reserve_extra += probe.len() + 64 + 128;
    let pending = begin(input, signer, &options, limits)?;
    let cms = cms::sign_detached(&pending.digest, signer).map_err(failed)?;
    let value = super::tsa::signature_value(&cms).map_err(failed)?;
    let token = timestamp(&super::tsa::sha256(&value)).map_err(failed)?;
    let cms = super::tsa::add_signature_timestamp(&cms, &token).map_err(failed)?;
    complete(pending, &cms, Some(input))
}

/// Re-reads the written file: the predecessor unchanged, the ByteRange
/// covering everything but /Contents to the end, the same digest, the
/// predecessor's cross-reference form, and a new revision lopdf reads
/// (see [`super::check`]).
fn check_written(
    original: Option<&[u8]>,
    pdf: &[u8],
    [zero, a, b, c]: [usize; 4],
    digest: &[u8; 32],
    form: writer::XrefForm,
) -> Result<(), SignPdfError> {
    let fail = |m: &str| Err(SignPdfError::Check(m.to_string()));
    if original.is_some_and(|input| !pdf.starts_with(input)) {
        return fail("the original revision changed");
    }
    if zero != 0 || b + c != pdf.len() || pdf.get(a) != Some(&b'<') || pdf.get(b - 1) != Some(&b'>')
    {
        return fail("the ByteRange does not cover the file around /Contents");
    }
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&pdf[..a]);
    ctx.update(&pdf[b..]);
    if ctx.finish().as_ref() != digest {
        return fail("the signed bytes changed after signing");
    }
    // The revision itself, parsed object by object (the predecessor was
    // read whole by the intake checks and is an unchanged prefix).
    super::check::revision_reads_back(pdf, [zero, a, b, c], form)
        .map_err(|why| SignPdfError::Check(format!("the signed file cannot be read back: {why}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claimed_time_is_vietnam_time() {
        let t: Timestamp = "2026-11-22T07:30:05Z".parse().expect("time");
        assert_eq!(pdf_date(t), "D:20261122143005+07'00'");
    }
}
