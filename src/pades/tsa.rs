//! RFC 3161 time-stamps for PAdES B-T: a TimeStampReq over the SHA-256 of
//! the signature value, POSTed to the TSA (`application/timestamp-query`);
//! the token from its TimeStampResp goes into the SignerInfo as the unsigned
//! attribute signature-time-stamp (1.2.840.113549.1.9.16.2.14).
//!
//! Plain HTTP: TSAs commonly serve RFC 3161 over http://, and the token is
//! signed, so its transport needs no protection.

use std::time::Duration;

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::asn1::{Any, SetOfVec};
use der::{Decode, Encode};
use x509_cert::attr::Attribute;

use super::SignError;
use super::oid;

/// id-aa-signatureTimeStampToken.
pub const ID_AA_SIGNATURE_TIME_STAMP_TOKEN: der::asn1::ObjectIdentifier =
    oid::ID_AA_SIGNATURE_TIME_STAMP_TOKEN;

fn fail(m: impl Into<String>) -> SignError {
    SignError::Signing(format!("time-stamp: {}", m.into()))
}

/// DER TimeStampReq { version 1, messageImprint {sha256, digest}, nonce,
/// certReq TRUE }.
pub fn request(digest: &[u8; 32], nonce: u64) -> Vec<u8> {
    // AlgorithmIdentifier { id-sha256 } (parameters absent, RFC 5754).
    let mut alg = vec![
        0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
    ];
    alg = [vec![0x30, alg.len() as u8], alg].concat();
    let mut imprint = alg;
    imprint.extend_from_slice(&[0x04, 32]);
    imprint.extend_from_slice(digest);
    let imprint = [vec![0x30, imprint.len() as u8], imprint].concat();
    let mut n = nonce.to_be_bytes().to_vec();
    while n.len() > 1 && n[0] == 0 && n[1] & 0x80 == 0 {
        n.remove(0);
    }
    if n[0] & 0x80 != 0 {
        n.insert(0, 0);
    }
    let mut body = vec![0x02, 0x01, 0x01];
    body.extend(imprint);
    body.extend([vec![0x02, n.len() as u8], n].concat());
    body.extend([0x01, 0x01, 0xff]);
    [vec![0x30, body.len() as u8], body].concat()
}

/// The TimeStampToken (a ContentInfo, DER) out of a TimeStampResp, when its
/// status is granted (0) or grantedWithMods (1).
pub fn token_of(response: &[u8]) -> Result<Vec<u8>, SignError> {
    #[derive(der::Sequence)]
    struct StatusInfo {
        status: der::asn1::Int,
        #[asn1(optional = "true")]
        _rest: Option<Any>,
    }
    #[derive(der::Sequence)]
    struct Response {
        status: Any,
        token: Option<ContentInfo>,
    }
    let r = Response::from_der(response).map_err(|e| fail(format!("unreadable response: {e}")))?;
    let status = r
        .status
        .decode_as::<StatusInfo>()
        .map_err(|e| fail(format!("unreadable status: {e}")))?;
    let code = status.status.as_bytes().last().copied().unwrap_or(255);
    if status.status.as_bytes().len() != 1 || code > 1 {
        return Err(fail(format!("the TSA refused the request (status {code})")));
    }
    let token = r.token.ok_or_else(|| fail("the response holds no token"))?;
    token.to_der().map_err(SignError::from)
}

/// Asks the TSA at `url` to time-stamp `digest`.
pub async fn timestamp(url: &str, digest: &[u8; 32]) -> Result<Vec<u8>, SignError> {
    let nonce = u64::from_be_bytes(
        uuid::Uuid::new_v4().as_bytes()[..8]
            .try_into()
            .unwrap_or_default(),
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let response = client
        .post(url)
        .header("content-type", "application/timestamp-query")
        .body(request(digest, nonce))
        .send()
        .await
        .map_err(|e| fail(format!("{url} cannot be reached: {e}")))?;
    if !response.status().is_success() {
        return Err(fail(format!("{url} answered {}", response.status())));
    }
    let body = response.bytes().await.map_err(|e| fail(e.to_string()))?;
    token_of(&body)
}

/// The signature value of the CMS's (only) SignerInfo.
pub fn signature_value(cms_der: &[u8]) -> Result<Vec<u8>, SignError> {
    let (_, signed) = signed_data(cms_der)?;
    let info = signed
        .signer_infos
        .0
        .get(0)
        .ok_or_else(|| fail("the CMS has no SignerInfo"))?;
    Ok(info.signature.as_bytes().to_vec())
}

fn signed_data(cms_der: &[u8]) -> Result<(ContentInfo, SignedData), SignError> {
    let ci = ContentInfo::from_der(cms_der)?;
    if ci.content_type != oid::ID_SIGNED_DATA {
        return Err(fail("the CMS is not SignedData"));
    }
    let sd = ci.content.decode_as::<SignedData>()?;
    Ok((ci, sd))
}

/// The CMS with `token` as the signature-time-stamp unsigned attribute.
pub fn add_signature_timestamp(cms_der: &[u8], token: &[u8]) -> Result<Vec<u8>, SignError> {
    let (ci, mut sd) = signed_data(cms_der)?;
    let mut infos: Vec<_> = sd.signer_infos.0.into_vec();
    let info = infos
        .first_mut()
        .ok_or_else(|| fail("the CMS has no SignerInfo"))?;
    let attribute = Attribute {
        oid: ID_AA_SIGNATURE_TIME_STAMP_TOKEN,
        values: SetOfVec::try_from(vec![Any::from_der(token)?])?,
    };
    info.unsigned_attrs = Some(SetOfVec::try_from(vec![attribute])?);
    sd.signer_infos = cms::signed_data::SignerInfos(SetOfVec::try_from(infos)?);
    let ci = ContentInfo {
        content_type: ci.content_type,
        content: Any::encode_from(&sd)?,
    };
    Ok(ci.to_der()?)
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_der_with_a_positive_nonce() {
        let r = request(&[7; 32], 0x80ff);
        assert_eq!(r[0], 0x30);
        assert_eq!(r[1] as usize, r.len() - 2);
        // ... nonce INTEGER 00 80 FF (a leading zero keeps it positive), certReq TRUE
        let tail = &r[r.len() - 8..];
        assert_eq!(tail, &[0x02, 0x03, 0x00, 0x80, 0xff, 0x01, 0x01, 0xff]);
    }

    #[test]
    fn a_refusal_names_its_status() {
        // TimeStampResp { status { rejection(2) } }
        let resp = [0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02];
        let err = token_of(&resp).expect_err("refused");
        assert!(err.to_string().contains("status 2"), "{err}");
    }
}
