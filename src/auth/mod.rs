//! Authentication building blocks: password hashing (argon2id), signed
//! bearer tokens (JWT, HS256), login throttling and token revocation.
//!
//! Pure library code: no HTTP here. The HTTP layer composes these pieces.

pub mod oidc;
pub mod password;
pub mod throttle;
pub mod token;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

pub use password::{check_new_password, dummy_verify, hash_password, verify_password};
pub use throttle::{Throttle, ThrottlePolicy};
pub use token::{Claims, ISSUER, TokenError, TokenKey};

/// Errors from setting up authentication material (keys, hashes).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid token key: {0}")]
    Key(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Revoked token ids (`jti`), each kept until the token's own expiry
/// (`exp`, seconds since the Unix epoch); after that the token is rejected
/// as expired anyway and [`Revocations::prune`] may forget it.
#[derive(Debug, Default)]
pub struct Revocations {
    revoked: Mutex<HashMap<String, i64>>,
}

impl Revocations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Revokes the token `jti`, which expires at `exp`.
    pub fn revoke(&self, jti: &str, exp: i64) {
        let mut revoked = self.lock();
        let entry = revoked.entry(jti.to_owned()).or_insert(exp);
        *entry = (*entry).max(exp);
    }

    pub fn is_revoked(&self, jti: &str) -> bool {
        self.lock().contains_key(jti)
    }

    /// Forgets revocations of tokens that have expired by `now_secs`.
    pub fn prune(&self, now_secs: i64) {
        self.lock().retain(|_, exp| *exp > now_secs);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, i64>> {
        // The map is valid after any panic (every mutation is a single
        // HashMap call), so a poisoned lock is safe to reuse.
        self.revoked.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn revocations_revoke_and_prune() {
        let r = Revocations::new();
        assert!(!r.is_revoked("a"));
        r.revoke("a", 100);
        r.revoke("b", 200);
        assert!(r.is_revoked("a"));
        assert!(r.is_revoked("b"));
        assert!(!r.is_revoked("c"));
        r.prune(100);
        assert!(!r.is_revoked("a"), "expired at 100, pruned at 100");
        assert!(r.is_revoked("b"));
        assert_eq!(r.len(), 1);
        r.prune(250);
        assert!(r.is_empty());
    }
}
