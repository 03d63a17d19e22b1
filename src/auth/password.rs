//! Password hashing with argon2id (the argon2 crate's default parameters),
//! stored as PHC strings (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`).

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use ring::rand::{SecureRandom, SystemRandom};

use super::AuthError;

/// Minimum password length, in characters (Unicode scalar values).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Maximum password length, in bytes of UTF-8.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Hashes `password` with argon2id, default parameters and a fresh random
/// 16-byte salt. Returns the PHC string.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| AuthError::Hash("the system random generator failed".to_owned()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Hash(e.to_string()))?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| AuthError::Hash(e.to_string()))?;
    Ok(hash.to_string())
}

/// Checks `password` against the PHC string `phc`. A malformed `phc` (or an
/// unsupported algorithm in it) verifies nothing: `false`.
pub fn verify_password(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the time of one [`verify_password`] against a real hash, and
/// discards the result. Call it when the username is unknown, so that an
/// unknown user takes as long to reject as a wrong password.
pub fn dummy_verify(password: &str) {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        // A fixed salt keeps this free of the RNG; the parameters are the
        // defaults, the same as `hash_password`'s, so the cost matches.
        let salt = SaltString::from_b64("Y29uZ3Zhbi1kdW1teS1zYWx0").ok()?;
        Argon2::default()
            .hash_password(b"congvan dummy password", &salt)
            .ok()
            .map(|h| h.to_string())
    });
    if let Some(phc) = dummy {
        let _ = std::hint::black_box(verify_password(phc, password));
    }
}

/// Checks a password chosen by a user: at least [`MIN_PASSWORD_CHARS`]
/// characters and at most [`MAX_PASSWORD_BYTES`] bytes. On failure returns
/// the rule broken, in English.
///
/// The demo account's password ("demo") is set by the seeding code without
/// this check; it is deliberately too short for a real account.
pub fn check_new_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "the password must be at least {MIN_PASSWORD_CHARS} characters long"
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "the password must be at most {MAX_PASSWORD_BYTES} bytes long"
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hash_verify_round_trip_and_wrong_password() {
        let phc = hash_password("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(verify_password(&phc, "correct horse battery"));
        assert!(!verify_password(&phc, "correct horse batterY"));
        assert!(!verify_password(&phc, ""));
    }

    #[test]
    fn salts_differ() {
        let a = hash_password("same password").unwrap();
        let b = hash_password("same password").unwrap();
        assert_ne!(a, b);
        assert!(verify_password(&a, "same password"));
        assert!(verify_password(&b, "same password"));
    }

    #[test]
    fn malformed_phc_is_false() {
        assert!(!verify_password("", "x"));
        assert!(!verify_password("not a hash", "x"));
        assert!(!verify_password("$argon2id$v=19$m=19456,t=2,p=1$bad", "x"));
        let phc = hash_password("password1").unwrap();
        let truncated = &phc[..phc.len() - 5];
        assert!(!verify_password(truncated, "password1"));
    }

    #[test]
    fn dummy_verify_runs() {
        // No observable result; it must not panic, and twice uses the cache.
        dummy_verify("whatever");
        dummy_verify("whatever");
    }

    #[test]
    fn new_password_rules() {
        assert!(check_new_password("demo").is_err());
        assert!(check_new_password("1234567").is_err());
        assert!(check_new_password("12345678").is_ok());
        // 8 characters, more than 8 bytes.
        assert!(check_new_password("mậtkhẩuu").is_ok());
        assert!(check_new_password(&"a".repeat(1024)).is_ok());
        let err = check_new_password(&"a".repeat(1025)).unwrap_err();
        assert!(err.contains("1024"), "{err}");
        let err = check_new_password("short").unwrap_err();
        assert!(err.contains("at least 8"), "{err}");
    }
}
