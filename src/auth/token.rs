//! Bearer tokens: JSON Web Tokens (RFC 7519) in compact form, signed with
//! HMAC-SHA-256 (`HS256`), base64url without padding.
//!
//! Only `HS256` is accepted; the algorithm named in a token's header is
//! checked against it and never used to pick the verification method.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::{Deserialize, Serialize};

use super::AuthError;

/// The `iss` claim of every token this service issues and accepts.
pub const ISSUER: &str = "congvan";

/// Size of a generated key, and minimum size of a loaded one, in bytes.
pub const KEY_BYTES: usize = 32;

/// Longest token [`TokenKey::verify`] will look at, in bytes.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// How far in the future `iat` may be (clock skew between servers).
const IAT_LEEWAY_SECS: i64 = 30;

/// The header of every token we issue.
const HEADER_JSON: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// The secret HMAC key that signs and verifies tokens. Its `Debug` output
/// does not show the key.
pub struct TokenKey {
    key: hmac::Key,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey([redacted])")
    }
}

/// The claims of a token. Times are seconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The subject: the user the token was issued to.
    pub sub: String,
    /// The token's unique id (a UUIDv4), for revocation.
    pub jti: String,
    /// Issued at.
    pub iat: i64,
    /// Expires at: the token is valid while `now < exp`.
    pub exp: i64,
    /// Issuer: always [`ISSUER`].
    pub iss: String,
}

/// Why a token was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not a well-formed token: too long, not three base64url parts, bad
    /// JSON, missing claims, or issued too far in the future.
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token's signing algorithm is not supported")]
    UnsupportedAlgorithm,
    #[error("the token was issued by someone else")]
    WrongIssuer,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

fn random_key_bytes() -> Result<SecretSlice<u8>, AuthError> {
    let mut bytes = vec![0u8; KEY_BYTES];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| AuthError::Key("the system random generator failed".to_owned()))?;
    Ok(SecretSlice::from(bytes))
}

impl TokenKey {
    fn from_bytes(bytes: &[u8]) -> Result<Self, AuthError> {
        if bytes.len() < KEY_BYTES {
            return Err(AuthError::Key(format!(
                "the key is {} bytes long; at least {KEY_BYTES} are required",
                bytes.len()
            )));
        }
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes),
        })
    }

    /// A new random 32-byte key.
    ///
    /// # Panics
    ///
    /// If the operating system's random generator fails, which leaves no
    /// safe way to make a key. Use [`TokenKey::load_or_create`] for a
    /// fallible path.
    pub fn generate() -> Self {
        let bytes = random_key_bytes().expect(
            "invariant: the OS random generator (getrandom) does not fail on supported platforms",
        );
        Self::from_bytes(bytes.expose_secret())
            .expect("invariant: random_key_bytes returns KEY_BYTES bytes")
    }

    /// A key from base64 text (standard or URL-safe alphabet, with or
    /// without padding) of at least 32 bytes. Surrounding whitespace is
    /// ignored.
    pub fn from_base64(s: &str) -> Result<Self, AuthError> {
        let s = s.trim();
        let bytes = [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(s).ok())
            .map(SecretSlice::from)
            .ok_or_else(|| AuthError::Key("the key is not valid base64".to_owned()))?;
        Self::from_bytes(bytes.expose_secret())
    }

    /// Reads the key from `path` (base64 text), or, if there is no such
    /// file, makes a new key and writes it there, readable by its owner
    /// only (mode 0600 on unix).
    ///
    /// The file is written to a temporary file in the same directory,
    /// synced, then moved into place without replacing an existing file, so
    /// a crash leaves no half-written key and two processes starting
    /// together end up with the same key.
    pub fn load_or_create(path: &Path) -> Result<Self, AuthError> {
        match fs::read_to_string(path) {
            Ok(text) => return Self::from_base64(SecretString::from(text).expose_secret()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let bytes = random_key_bytes()?;
        let text = SecretString::from(STANDARD.encode(bytes.expose_secret()));
        match write_new_file(path, text.expose_secret().as_bytes()) {
            Ok(()) => Self::from_bytes(bytes.expose_secret()),
            // Another process created it first: use theirs.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let text = SecretString::from(fs::read_to_string(path)?);
                Self::from_base64(text.expose_secret())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Issues a token for `sub`, valid from `now` for `ttl`. Returns the
    /// token and its claims.
    pub fn issue(&self, sub: &str, now: jiff::Timestamp, ttl: Duration) -> (String, Claims) {
        let iat = now.as_second();
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: sub.to_owned(),
            jti: uuid::Uuid::new_v4().to_string(),
            iat,
            exp: iat.saturating_add(ttl),
            iss: ISSUER.to_owned(),
        };
        let header = URL_SAFE_NO_PAD.encode(HEADER_JSON);
        // Serializing a struct of strings and integers cannot fail.
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let signing_input = format!("{header}.{payload}");
        let tag = hmac::sign(&self.key, signing_input.as_bytes());
        let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
        (token, claims)
    }

    /// Verifies `token` at time `now`: the header must name `HS256`, the
    /// signature must match (compared in constant time), the issuer must be
    /// [`ISSUER`], `now` must be before `exp`, and `iat` may be at most 30 s
    /// in the future. Returns the claims.
    ///
    /// Revocation is not checked here; see [`super::Revocations`].
    pub fn verify(&self, token: &str, now: jiff::Timestamp) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        // The signing input is the token up to its last '.', exactly as sent.
        let signing_input = token
            .get(..header.len() + 1 + payload.len())
            .ok_or(TokenError::Malformed)?;

        let header_json = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| TokenError::Malformed)?;
        let header: Header =
            serde_json::from_slice(&header_json).map_err(|_| TokenError::Malformed)?;
        if header.alg != "HS256" {
            return Err(TokenError::UnsupportedAlgorithm);
        }

        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::BadSignature)?;
        hmac::verify(&self.key, signing_input.as_bytes(), &signature)
            .map_err(|_| TokenError::BadSignature)?;

        let payload_json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let claims: Claims =
            serde_json::from_slice(&payload_json).map_err(|_| TokenError::Malformed)?;
        if claims.iss != ISSUER {
            return Err(TokenError::WrongIssuer);
        }
        let now = now.as_second();
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        if claims.iat > now.saturating_add(IAT_LEEWAY_SECS) {
            return Err(TokenError::Malformed);
        }
        Ok(claims)
    }
}

/// Writes `contents` to a new file at `path` (mode 0600 on unix): first to a
/// temporary file in the same directory, synced, then linked into place. It
/// fails with `AlreadyExists` if `path` exists. On file systems without hard
/// links it falls back to a rename (which would replace a file created in the
/// meantime).
fn write_new_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the key path has no file name")
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    let tmp = dir.join(tmp_name);

    let result = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        #[cfg(unix)]
        {
            // The mode given to open() is filtered by the umask; make sure.
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        match fs::hard_link(&tmp, path) {
            Ok(()) => fs::remove_file(&tmp),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
            Err(_) => fs::rename(&tmp, path),
        }
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    // Make the new directory entry durable too (best effort).
    #[cfg(unix)]
    if let Ok(dir) = fs::File::open(&dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn now() -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_750_000_000).unwrap()
    }

    const HOUR: Duration = Duration::from_secs(3600);

    /// Builds a token from raw JSON parts, signed with `key` (or with the
    /// given raw signature if `key` is `None`).
    fn forge(header: &str, payload: &str, key: Option<&TokenKey>) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let sig = match key {
            Some(k) => URL_SAFE_NO_PAD.encode(hmac::sign(&k.key, input.as_bytes()).as_ref()),
            None => String::new(),
        };
        format!("{input}.{sig}")
    }

    #[test]
    fn issue_verify_round_trip() {
        let key = TokenKey::generate();
        let (token, claims) = key.issue("alice", now(), HOUR);
        assert_eq!(token.split('.').count(), 3);
        assert!(!token.contains('='));
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.iss, ISSUER);
        assert_eq!(claims.iat, 1_750_000_000);
        assert_eq!(claims.exp, 1_750_003_600);
        let jti = uuid::Uuid::parse_str(&claims.jti).unwrap();
        assert_eq!(jti.get_version_num(), 4);
        assert_eq!(key.verify(&token, now()), Ok(claims.clone()));
        // Still valid one second before expiry.
        let later = jiff::Timestamp::from_second(claims.exp - 1).unwrap();
        assert_eq!(key.verify(&token, later), Ok(claims));
        // Each token has its own id.
        let (_, other) = key.issue("alice", now(), HOUR);
        assert_ne!(other.jti, key.issue("alice", now(), HOUR).1.jti);
    }

    #[test]
    fn flipped_signature_char_is_bad_signature() {
        let key = TokenKey::generate();
        let (token, _) = key.issue("alice", now(), HOUR);
        let dot = token.rfind('.').unwrap();
        let mut bytes = token.into_bytes();
        let i = dot + 5;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(key.verify(&tampered, now()), Err(TokenError::BadSignature));
    }

    #[test]
    fn edited_payload_is_bad_signature() {
        let key = TokenKey::generate();
        let (token, claims) = key.issue("alice", now(), HOUR);
        let parts: Vec<&str> = token.split('.').collect();
        let edited = Claims {
            sub: "admin".to_owned(),
            ..claims
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&edited).unwrap());
        let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert_eq!(key.verify(&tampered, now()), Err(TokenError::BadSignature));
    }

    #[test]
    fn expired_token() {
        let key = TokenKey::generate();
        let (token, claims) = key.issue("alice", now(), HOUR);
        let at_exp = jiff::Timestamp::from_second(claims.exp).unwrap();
        assert_eq!(key.verify(&token, at_exp), Err(TokenError::Expired));
        let much_later = now() + jiff::SignedDuration::from_hours(48);
        assert_eq!(key.verify(&token, much_later), Err(TokenError::Expired));
    }

    #[test]
    fn alg_none_is_rejected() {
        let key = TokenKey::generate();
        let payload = format!(
            r#"{{"sub":"admin","jti":"x","iat":1750000000,"exp":1760000000,"iss":"{ISSUER}"}}"#
        );
        let token = forge(r#"{"alg":"none","typ":"JWT"}"#, &payload, None);
        assert_eq!(
            key.verify(&token, now()),
            Err(TokenError::UnsupportedAlgorithm)
        );
        // Even with a valid HS256 MAC, another alg name is refused.
        let token = forge(r#"{"alg":"HS512"}"#, &payload, Some(&key));
        assert_eq!(
            key.verify(&token, now()),
            Err(TokenError::UnsupportedAlgorithm)
        );
        // The same payload under an HS256 header and our key is accepted.
        let token = forge(r#"{"alg":"HS256"}"#, &payload, Some(&key));
        assert_eq!(key.verify(&token, now()).unwrap().sub, "admin");
    }

    #[test]
    fn other_key_is_bad_signature() {
        let key = TokenKey::generate();
        let other = TokenKey::generate();
        let (token, _) = other.issue("alice", now(), HOUR);
        assert_eq!(key.verify(&token, now()), Err(TokenError::BadSignature));
    }

    #[test]
    fn wrong_issuer_and_future_iat() {
        let key = TokenKey::generate();
        let h = r#"{"alg":"HS256","typ":"JWT"}"#;
        let token = forge(
            h,
            r#"{"sub":"a","jti":"x","iat":1750000000,"exp":1760000000,"iss":"evil"}"#,
            Some(&key),
        );
        assert_eq!(key.verify(&token, now()), Err(TokenError::WrongIssuer));
        // iat 30 s ahead is tolerated, 31 s is not.
        let token = forge(
            h,
            r#"{"sub":"a","jti":"x","iat":1750000030,"exp":1760000000,"iss":"congvan"}"#,
            Some(&key),
        );
        assert!(key.verify(&token, now()).is_ok());
        let token = forge(
            h,
            r#"{"sub":"a","jti":"x","iat":1750000031,"exp":1760000000,"iss":"congvan"}"#,
            Some(&key),
        );
        assert_eq!(key.verify(&token, now()), Err(TokenError::Malformed));
    }

    #[test]
    fn malformed_tokens() {
        let key = TokenKey::generate();
        let (token, _) = key.issue("alice", now(), HOUR);
        for bad in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            &format!("{token}.x"),
            "!!!.e30.",
            &format!("{}.{}", URL_SAFE_NO_PAD.encode("{}"), "e30.x"),
        ] {
            assert_eq!(key.verify(bad, now()), Err(TokenError::Malformed), "{bad}");
        }
        // Validly signed, but the payload is not a set of claims.
        let token = forge(r#"{"alg":"HS256"}"#, r#"{"sub":"a"}"#, Some(&key));
        assert_eq!(key.verify(&token, now()), Err(TokenError::Malformed));
        // Too long, rejected before decoding.
        let long = format!("{token}{}", "A".repeat(MAX_TOKEN_BYTES));
        assert_eq!(key.verify(&long, now()), Err(TokenError::Malformed));
    }

    #[test]
    fn key_from_base64() {
        let raw = [7u8; 32];
        let a = TokenKey::from_base64(&STANDARD.encode(raw)).unwrap();
        let b = TokenKey::from_base64(&format!(" {}\n", URL_SAFE_NO_PAD.encode(raw))).unwrap();
        let (token, _) = a.issue("alice", now(), HOUR);
        assert!(b.verify(&token, now()).is_ok());
        assert!(matches!(
            TokenKey::from_base64(&STANDARD.encode([7u8; 31])),
            Err(AuthError::Key(_))
        ));
        assert!(matches!(
            TokenKey::from_base64("not base64!"),
            Err(AuthError::Key(_))
        ));
        assert_eq!(format!("{a:?}"), "TokenKey([redacted])");
    }

    #[test]
    fn load_or_create_is_stable_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.key");
        let first = TokenKey::load_or_create(&path).unwrap();
        let second = TokenKey::load_or_create(&path).unwrap();
        let (token, _) = first.issue("alice", now(), HOUR);
        assert!(second.verify(&token, now()).is_ok(), "same key both times");
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(STANDARD.decode(text.trim()).unwrap().len(), KEY_BYTES);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary files left behind.
        let entries: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn write_new_file_does_not_replace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        write_new_file(&path, b"one").unwrap();
        let err = write_new_file(&path, b"two").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"one");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
