//! Bearer tokens from an external OpenID Connect issuer: JWTs signed RS256
//! or ES256 by a key of the issuer's JWKS (RFC 7517), checked for issuer,
//! audience and lifetime. The JWKS is read from a file the deployment keeps
//! current (e.g. fetched from the issuer's `jwks_uri` by a timer); the server
//! makes no outgoing requests.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;

use super::token::{Claims, MAX_TOKEN_BYTES, TokenError};

/// Seconds of clock skew allowed on `nbf` and `iat`.
const LEEWAY: i64 = 30;

#[derive(Clone, Debug)]
enum Key {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// The uncompressed point 0x04 || x || y.
    P256(Vec<u8>),
}

#[derive(Clone, Debug)]
struct Jwk {
    kid: Option<String>,
    key: Key,
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<RawJwk>,
}

/// How an external issuer's tokens are accepted.
#[derive(Clone, Debug)]
pub struct OidcVerifier {
    issuer: String,
    audience: String,
    username_claim: String,
    keys: Vec<Jwk>,
}

#[derive(Debug, thiserror::Error)]
#[error("JWKS: {0}")]
pub struct JwksError(String);

fn b64(field: &str, s: Option<&String>) -> Result<Vec<u8>, JwksError> {
    let s = s.ok_or_else(|| JwksError(format!("a key lacks `{field}`")))?;
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| JwksError(format!("`{field}` is not base64url")))
}

impl OidcVerifier {
    /// `jwks` is the JSON of a JWK set; keys other than RSA and EC P-256
    /// signing keys are skipped.
    pub fn new(
        issuer: &str,
        audience: &str,
        username_claim: &str,
        jwks: &str,
    ) -> Result<Self, JwksError> {
        let raw: RawJwks = serde_json::from_str(jwks).map_err(|e| JwksError(e.to_string()))?;
        let mut keys = Vec::new();
        for k in raw.keys {
            if k.use_.as_deref().is_some_and(|u| u != "sig") {
                continue;
            }
            let key = match (k.kty.as_str(), k.crv.as_deref()) {
                ("RSA", _) => Key::Rsa {
                    n: b64("n", k.n.as_ref())?,
                    e: b64("e", k.e.as_ref())?,
                },
                ("EC", Some("P-256")) => {
                    let (x, y) = (b64("x", k.x.as_ref())?, b64("y", k.y.as_ref())?);
                    if x.len() != 32 || y.len() != 32 {
                        return Err(JwksError("a P-256 key's x and y must be 32 bytes".into()));
                    }
                    let mut point = vec![4u8];
                    point.extend_from_slice(&x);
                    point.extend_from_slice(&y);
                    Key::P256(point)
                }
                _ => continue,
            };
            keys.push(Jwk { kid: k.kid, key });
        }
        if keys.is_empty() {
            return Err(JwksError("no RSA or P-256 signing key".into()));
        }
        Ok(OidcVerifier {
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            username_claim: username_claim.to_string(),
            keys,
        })
    }

    pub fn from_file(
        issuer: &str,
        audience: &str,
        username_claim: &str,
        path: &Path,
    ) -> Result<Self, JwksError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| JwksError(format!("{}: {e}", path.display())))?;
        Self::new(issuer, audience, username_claim, &text)
    }

    /// Whether a token is one of ours to check (an RS256 or ES256 header).
    pub fn claims_token(token: &str) -> bool {
        header(token).is_some_and(|h| matches!(h.alg.as_str(), "RS256" | "ES256"))
    }

    /// Checks the token and returns its claims, `sub` holding the username
    /// (the configured claim, lowercased).
    pub fn verify(&self, token: &str, now: jiff::Timestamp) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let head = header(token).ok_or(TokenError::Malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| TokenError::BadSignature)?;
        let message = format!("{h}.{p}");
        let candidates = self
            .keys
            .iter()
            .filter(|k| head.kid.is_none() || k.kid.is_none() || k.kid == head.kid);
        let mut verified = false;
        for k in candidates {
            let ok = match (&k.key, head.alg.as_str()) {
                (Key::Rsa { n, e }, "RS256") => RsaPublicKeyComponents { n, e }
                    .verify(
                        &signature::RSA_PKCS1_2048_8192_SHA256,
                        message.as_bytes(),
                        &signature,
                    )
                    .is_ok(),
                (Key::P256(point), "ES256") => {
                    UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                        .verify(message.as_bytes(), &signature)
                        .is_ok()
                }
                (_, "RS256" | "ES256") => false,
                _ => return Err(TokenError::UnsupportedAlgorithm),
            };
            if ok {
                verified = true;
                break;
            }
        }
        if !verified {
            return Err(TokenError::BadSignature);
        }
        let payload = URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| TokenError::Malformed)?;
        let c: serde_json::Value =
            serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        if c.get("iss").and_then(|v| v.as_str()) != Some(self.issuer.as_str()) {
            return Err(TokenError::WrongIssuer);
        }
        let aud_ok = match c.get("aud") {
            Some(serde_json::Value::String(a)) => *a == self.audience,
            Some(serde_json::Value::Array(list)) => list
                .iter()
                .any(|a| a.as_str() == Some(self.audience.as_str())),
            _ => false,
        };
        if !aud_ok {
            return Err(TokenError::WrongIssuer);
        }
        let now = now.as_second();
        let exp = c
            .get("exp")
            .and_then(|v| v.as_i64())
            .ok_or(TokenError::Malformed)?;
        if exp <= now {
            return Err(TokenError::Expired);
        }
        if c.get("nbf")
            .and_then(|v| v.as_i64())
            .is_some_and(|nbf| nbf > now + LEEWAY)
        {
            return Err(TokenError::Malformed);
        }
        let user = c
            .get(&self.username_claim)
            .and_then(|v| v.as_str())
            .ok_or(TokenError::Malformed)?
            .to_lowercase();
        Ok(Claims {
            sub: user,
            jti: c
                .get("jti")
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .unwrap_or_else(|| crate::digest::Sha256Digest::of(token.as_bytes()).to_string()),
            iat: c.get("iat").and_then(|v| v.as_i64()).unwrap_or(now),
            exp,
            iss: self.issuer.clone(),
        })
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

fn header(token: &str) -> Option<Header> {
    let h = token.split('.').next()?;
    let bytes = URL_SAFE_NO_PAD.decode(h).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
    };
    use serde_json::json;

    use super::*;

    const ISS: &str = "https://sso.example.gov.vn/realms/ubnd";
    const AUD: &str = "congvan";

    fn now() -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000).unwrap()
    }

    fn jwt(
        alg: &str,
        kid: &str,
        claims: &serde_json::Value,
        sign: impl Fn(&[u8]) -> Vec<u8>,
    ) -> String {
        let h = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT", "kid": kid}).to_string());
        let p = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{h}.{p}");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sign(input.as_bytes())))
    }

    fn claims(aud: &str, exp: i64) -> serde_json::Value {
        json!({"iss": ISS, "aud": [aud, "other"], "exp": exp, "iat": 1_799_999_000, "preferred_username": "ChuyenVien", "jti": "abc"})
    }

    fn ec() -> (EcdsaKeyPair, String) {
        let rng = SystemRandom::new();
        let pk8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pk8.as_ref(), &rng).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "ec1", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])}]});
        (pair, jwks.to_string())
    }

    #[test]
    fn es256_tokens_of_the_issuer_are_accepted_and_others_refused() {
        let (pair, jwks) = ec();
        let v = OidcVerifier::new(ISS, AUD, "preferred_username", &jwks).unwrap();
        let rng = SystemRandom::new();
        let sign = |m: &[u8]| pair.sign(&rng, m).unwrap().as_ref().to_vec();
        let token = jwt("ES256", "ec1", &claims(AUD, 1_800_000_100), sign);
        assert!(OidcVerifier::claims_token(&token));
        let c = v.verify(&token, now()).unwrap();
        assert_eq!(
            (c.sub.as_str(), c.jti.as_str(), c.exp),
            ("chuyenvien", "abc", 1_800_000_100)
        );

        assert_eq!(
            v.verify(
                &jwt("ES256", "ec1", &claims("someone-else", 1_800_000_100), sign),
                now()
            ),
            Err(TokenError::WrongIssuer)
        );
        assert_eq!(
            v.verify(
                &jwt("ES256", "ec1", &claims(AUD, 1_799_999_999), sign),
                now()
            ),
            Err(TokenError::Expired)
        );
        let mut wrong_iss = claims(AUD, 1_800_000_100);
        wrong_iss["iss"] = json!("https://evil.example");
        assert_eq!(
            v.verify(&jwt("ES256", "ec1", &wrong_iss, sign), now()),
            Err(TokenError::WrongIssuer)
        );
        // Another key with the same kid: the signature does not verify.
        let (other, _) = ec();
        let forged = jwt("ES256", "ec1", &claims(AUD, 1_800_000_100), |m| {
            other.sign(&rng, m).unwrap().as_ref().to_vec()
        });
        assert_eq!(v.verify(&forged, now()), Err(TokenError::BadSignature));
        // A payload edited after signing.
        let mut parts: Vec<&str> = token.split('.').collect();
        let edited = URL_SAFE_NO_PAD.encode(
            json!({"iss": ISS, "aud": AUD, "exp": 1_900_000_000, "preferred_username": "lanhdao"})
                .to_string(),
        );
        parts[1] = &edited;
        assert_eq!(
            v.verify(&parts.join("."), now()),
            Err(TokenError::BadSignature)
        );
        // HS256 (our own tokens) and `none` are not OIDC tokens.
        let hs = jwt("HS256", "ec1", &claims(AUD, 1_800_000_100), |_| {
            vec![1, 2, 3]
        });
        assert!(!OidcVerifier::claims_token(&hs));
        assert_eq!(v.verify(&hs, now()), Err(TokenError::UnsupportedAlgorithm));
    }

    #[test]
    fn rs256_tokens_verify_against_the_rsa_key() {
        let der = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/oidc-test-rsa.der"
        ))
        .unwrap();
        let pair = RsaKeyPair::from_der(&der).unwrap();
        let public = pair.public().as_ref();
        // The public key is DER RSAPublicKey: take n and e with a tiny parser.
        let (n, e) = rsa_components(public);
        let jwks = json!({"keys": [{"kty": "RSA", "kid": "r1", "n": URL_SAFE_NO_PAD.encode(&n), "e": URL_SAFE_NO_PAD.encode(&e)}]}).to_string();
        let v = OidcVerifier::new(ISS, AUD, "preferred_username", &jwks).unwrap();
        let rng = SystemRandom::new();
        let sign = |m: &[u8]| {
            let mut sig = vec![0; pair.public().modulus_len()];
            pair.sign(&RSA_PKCS1_SHA256, &rng, m, &mut sig).unwrap();
            sig
        };
        let token = jwt("RS256", "r1", &claims(AUD, 1_800_000_100), sign);
        assert_eq!(v.verify(&token, now()).unwrap().sub, "chuyenvien");
        let mut bad = token.into_bytes();
        let last = bad.len() - 3;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            v.verify(std::str::from_utf8(&bad).unwrap(), now()),
            Err(TokenError::BadSignature)
        );
    }

    /// n and e of a DER `RSAPublicKey ::= SEQUENCE { n INTEGER, e INTEGER }`.
    fn rsa_components(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
        fn tlv(b: &[u8]) -> (&[u8], &[u8]) {
            let (len, start) = if b[1] < 0x80 {
                (b[1] as usize, 2)
            } else {
                let k = (b[1] & 0x7f) as usize;
                (
                    b[2..2 + k].iter().fold(0usize, |a, x| a << 8 | *x as usize),
                    2 + k,
                )
            };
            (&b[start..start + len], &b[start + len..])
        }
        let (seq, _) = tlv(der);
        let (n, rest) = tlv(seq);
        let (e, _) = tlv(rest);
        let strip = |x: &[u8]| {
            x.iter()
                .skip_while(|b| **b == 0)
                .copied()
                .collect::<Vec<u8>>()
        };
        (strip(n), strip(e))
    }

    #[test]
    fn a_jwks_without_signing_keys_is_refused() {
        assert!(
            OidcVerifier::new(
                ISS,
                AUD,
                "sub",
                r#"{"keys": [{"kty": "oct", "k": "AAAA"}]}"#
            )
            .is_err()
        );
        assert!(OidcVerifier::new(ISS, AUD, "sub", "not json").is_err());
    }
}
