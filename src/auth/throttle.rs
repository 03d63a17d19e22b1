//! Login throttling, in memory: too many failed logins for one username, or
//! from one address, lock that username or address out for a while.
//!
//! Usernames are compared case-insensitively; addresses exactly as given.
//! Callers should bound the length of both (the HTTP layer limits request
//! sizes).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// When the number of tracked keys (usernames or addresses) grows past this,
/// entries that no longer matter are dropped.
const PRUNE_THRESHOLD: usize = 10_000;

/// If a table still holds more keys than this after pruning, the keys that
/// are not locked out are dropped too (lockouts stay in force).
const HARD_CAP: usize = 100_000;

/// Limits on failed logins.
#[derive(Clone, Copy, Debug)]
pub struct ThrottlePolicy {
    /// Failures within `window` that lock a username out.
    pub max_failures_per_user: u32,
    /// Failures within `window` that lock an address out.
    pub max_failures_per_address: u32,
    /// Failures older than this do not count.
    pub window: Duration,
    /// How long a lockout lasts, from the last failure.
    pub lockout: Duration,
}

impl Default for ThrottlePolicy {
    /// 5 failures per username, 20 per address, within 15 minutes, lock out
    /// for 15 minutes.
    fn default() -> Self {
        Self {
            max_failures_per_user: 5,
            max_failures_per_address: 20,
            window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(15 * 60),
        }
    }
}

/// Failed-login bookkeeping for usernames and addresses. Thread-safe.
#[derive(Debug)]
pub struct Throttle {
    policy: ThrottlePolicy,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    users: Table,
    addresses: Table,
}

#[derive(Debug)]
struct Table {
    entries: HashMap<String, Entry>,
    /// Prune when a new key would take the table to this size.
    prune_at: usize,
}

impl Default for Table {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            prune_at: PRUNE_THRESHOLD,
        }
    }
}

#[derive(Debug, Default)]
struct Entry {
    /// Times of the recent failures, oldest first; fewer than the maximum.
    failures: VecDeque<Instant>,
    /// Time of the failure that locked the key out (or of the latest
    /// failure during the lockout).
    locked_at: Option<Instant>,
}

impl Entry {
    /// How long until the lockout ends, if the key is locked at `now`.
    fn retry_after(&self, now: Instant, lockout: Duration) -> Option<Duration> {
        let elapsed = now.saturating_duration_since(self.locked_at?);
        lockout.checked_sub(elapsed).filter(|d| !d.is_zero())
    }

    /// Whether the entry still affects any decision at `now`.
    fn is_live(&self, now: Instant, policy: &ThrottlePolicy) -> bool {
        self.retry_after(now, policy.lockout).is_some()
            || self
                .failures
                .back()
                .is_some_and(|&t| now.saturating_duration_since(t) < policy.window)
    }
}

impl Table {
    fn retry_after(&self, key: &str, now: Instant, lockout: Duration) -> Option<Duration> {
        self.entries.get(key)?.retry_after(now, lockout)
    }

    fn record_failure(&mut self, key: String, now: Instant, max: u32, policy: &ThrottlePolicy) {
        if !self.entries.contains_key(&key) && self.entries.len() >= self.prune_at {
            self.prune(now, policy);
        }
        let entry = self.entries.entry(key).or_default();
        if entry.retry_after(now, policy.lockout).is_some() {
            // Already locked: the lockout runs from the last failure.
            entry.locked_at = Some(now);
            return;
        }
        entry.locked_at = None;
        while entry
            .failures
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= policy.window)
        {
            entry.failures.pop_front();
        }
        entry.failures.push_back(now);
        // A maximum of 0 is treated as 1: every failure locks.
        if entry.failures.len() >= usize::try_from(max.max(1)).unwrap_or(usize::MAX) {
            entry.locked_at = Some(now);
            entry.failures.clear();
        }
    }

    fn clear(&mut self, key: &str) {
        self.entries.remove(key);
    }

    fn prune(&mut self, now: Instant, policy: &ThrottlePolicy) {
        self.entries.retain(|_, e| e.is_live(now, policy));
        if self.entries.len() > HARD_CAP {
            self.entries
                .retain(|_, e| e.retry_after(now, policy.lockout).is_some());
        }
        // Amortise: the next prune waits until the table has doubled.
        self.prune_at = PRUNE_THRESHOLD.max(self.entries.len().saturating_mul(2));
    }
}

impl Throttle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            state: Mutex::new(State::default()),
        }
    }

    pub fn policy(&self) -> ThrottlePolicy {
        self.policy
    }

    /// `Ok` if `user` may try to log in from `address` at `now`; otherwise
    /// `Err` with how long until they may try again.
    pub fn check(&self, user: &str, address: &str, now: Instant) -> Result<(), Duration> {
        let state = self.lock();
        let lockout = self.policy.lockout;
        let user = state.users.retry_after(&user_key(user), now, lockout);
        let address = state.addresses.retry_after(address, now, lockout);
        match user.max(address) {
            Some(retry_after) => Err(retry_after),
            None => Ok(()),
        }
    }

    /// Counts a failed login for `user` and for `address`.
    pub fn record_failure(&self, user: &str, address: &str, now: Instant) {
        let policy = self.policy;
        let mut state = self.lock();
        state
            .users
            .record_failure(user_key(user), now, policy.max_failures_per_user, &policy);
        state.addresses.record_failure(
            address.to_owned(),
            now,
            policy.max_failures_per_address,
            &policy,
        );
    }

    /// A successful login clears the user's failures (not the address's:
    /// one good account must not reset an address guessing at others).
    pub fn record_success(&self, user: &str, _address: &str, _now: Instant) {
        self.lock().users.clear(&user_key(user));
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update leaves the tables consistent, so a lock poisoned by a
        // panic elsewhere is safe to reuse.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new(ThrottlePolicy::default())
    }
}

fn user_key(user: &str) -> String {
    user.to_lowercase()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);
    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn locks_user_after_five_failures_not_other_users() {
        let t = Throttle::default();
        let t0 = Instant::now();
        for i in 0..4 {
            let now = t0 + SEC * i;
            t.record_failure("alice", "10.0.0.1", now);
            assert_eq!(t.check("alice", "10.0.0.1", now), Ok(()), "after {}", i + 1);
        }
        let t5 = t0 + SEC * 4;
        t.record_failure("alice", "10.0.0.1", t5);
        assert_eq!(t.check("alice", "10.0.0.1", t5), Err(15 * MIN));
        // From another address too, and whatever the case of the name.
        assert_eq!(t.check("Alice", "10.0.0.2", t5 + MIN), Err(14 * MIN));
        assert_eq!(t.check("ALICE", "10.0.0.2", t5 + MIN), Err(14 * MIN));
        // Another user from the same address is not locked.
        assert_eq!(t.check("bob", "10.0.0.1", t5), Ok(()));
        // The lockout ends 15 minutes after the last failure.
        assert_eq!(t.check("alice", "10.0.0.1", t5 + 15 * MIN - SEC), Err(SEC));
        assert_eq!(t.check("alice", "10.0.0.1", t5 + 15 * MIN), Ok(()));
    }

    #[test]
    fn usernames_are_case_insensitive() {
        let t = Throttle::default();
        let now = Instant::now();
        for name in ["Alice", "ALICE", "alice", "aLiCe", "AlIcE"] {
            t.record_failure(name, "a", now);
        }
        assert!(t.check("alice", "b", now).is_err());
    }

    #[test]
    fn failure_during_lockout_extends_it() {
        let t = Throttle::default();
        let t0 = Instant::now();
        for _ in 0..5 {
            t.record_failure("alice", "a", t0);
        }
        t.record_failure("alice", "a", t0 + 10 * MIN);
        assert_eq!(t.check("alice", "b", t0 + 15 * MIN), Err(10 * MIN));
        assert_eq!(t.check("alice", "b", t0 + 25 * MIN), Ok(()));
    }

    #[test]
    fn address_limit() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..19 {
            t.record_failure(&format!("user{i}"), "192.0.2.7", now);
        }
        assert_eq!(t.check("someone", "192.0.2.7", now), Ok(()));
        t.record_failure("user19", "192.0.2.7", now);
        // No single user reached 5, but the address reached 20.
        assert_eq!(t.check("someone", "192.0.2.7", now), Err(15 * MIN));
        assert_eq!(t.check("user0", "192.0.2.7", now), Err(15 * MIN));
        assert_eq!(t.check("user0", "192.0.2.8", now), Ok(()));
    }

    #[test]
    fn success_clears_the_user_not_the_address() {
        let t = Throttle::new(ThrottlePolicy {
            max_failures_per_address: 6,
            ..ThrottlePolicy::default()
        });
        let now = Instant::now();
        for _ in 0..4 {
            t.record_failure("alice", "a", now);
        }
        t.record_success("ALICE", "a", now);
        t.record_failure("alice", "b", now);
        // One failure since the success: the user is not locked.
        assert_eq!(t.check("alice", "b", now), Ok(()));
        for _ in 0..3 {
            t.record_failure("alice", "b", now);
        }
        assert_eq!(t.check("alice", "b", now), Ok(()), "4 since the success");
        // Address "a" kept its 4 failures: 2 more lock it (6).
        t.record_failure("carol", "a", now);
        assert_eq!(t.check("dave", "a", now), Ok(()));
        t.record_failure("erin", "a", now);
        assert_eq!(t.check("dave", "a", now), Err(15 * MIN));
    }

    #[test]
    fn failures_outside_the_window_do_not_count() {
        let t = Throttle::default();
        let t0 = Instant::now();
        for _ in 0..4 {
            t.record_failure("alice", "a", t0);
        }
        // The fifth failure comes after the first four left the window.
        let late = t0 + 15 * MIN;
        t.record_failure("alice", "a", late);
        assert_eq!(t.check("alice", "a", late), Ok(()));
        // But failures spread within the window add up.
        for i in 0..4 {
            t.record_failure("bob", "b", t0 + 3 * MIN * i);
        }
        let fifth = t0 + 14 * MIN;
        t.record_failure("bob", "b", fifth);
        assert_eq!(t.check("bob", "b", fifth), Err(15 * MIN));
    }

    #[test]
    fn memory_stays_bounded() {
        let t = Throttle::default();
        let t0 = Instant::now();
        // A locked key among the stale ones must survive the prune.
        for _ in 0..5 {
            t.record_failure("locked", "x", t0 + 10 * MIN);
        }
        for i in 0..PRUNE_THRESHOLD - 1 {
            t.record_failure(&format!("u{i}"), &format!("a{i}"), t0);
        }
        {
            let state = t.lock();
            assert_eq!(state.users.entries.len(), PRUNE_THRESHOLD);
            assert_eq!(state.addresses.entries.len(), PRUNE_THRESHOLD);
        }
        // The u*/a* failures are now outside the window; a new key prunes.
        let later = t0 + 16 * MIN;
        t.record_failure("new", "new", later);
        let state = t.lock();
        assert_eq!(state.users.entries.len(), 2, "only 'locked' and 'new' left");
        assert_eq!(state.addresses.entries.len(), 2, "only 'x' and 'new' left");
        drop(state);
        assert!(t.check("locked", "y", later).is_err());
        assert_eq!(t.check("u1", "a1", later), Ok(()));
    }
}
