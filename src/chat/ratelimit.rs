//! Token-bucket rate limits: one bucket per connection for chat messages, keyed buckets (client
//! address, account name) for registrations and for every login attempt per address, and the
//! `LoginGuard` counting failed logins per account and address. Client addresses are keyed by
//! `client_key` (an IPv6 client by its /64).
//!
//! The keyed map is bounded: when it grows past its cap, buckets that have refilled completely
//! (and so carry no information) are dropped, and if that is not enough the map is cleared;
//! an attacker cycling through keys can therefore not grow memory without limit.

use std::{
    collections::HashMap,
    hash::Hash,
    net::{IpAddr, Ipv6Addr},
    sync::Mutex,
    time::{Duration, Instant},
};

/// The key of a client address in the limits: an IPv4 address as it is (also when it arrives
/// mapped into IPv6), an IPv6 address by its /64. One host or subscriber usually holds a whole
/// /64, so keying single IPv6 addresses would give it 2^64 fresh budgets.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// How many events may happen at once.
    pub burst: f64,
    /// Sustained events per second.
    pub per_second: f64,
}

impl Rate {
    pub const fn new(burst: f64, per_second: f64) -> Self {
        Rate { burst, per_second }
    }
}

#[derive(Debug, Clone)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn full(rate: Rate) -> Self {
        Bucket { tokens: rate.burst, last: Instant::now() }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(rate.burst);
        self.last = now;
    }

    /// Takes one token, or says how long until one is available.
    pub fn take(&mut self, rate: Rate) -> Result<(), Duration> {
        self.take_at(rate, Instant::now())
    }

    fn take_at(&mut self, rate: Rate, now: Instant) -> Result<(), Duration> {
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else if rate.per_second <= 0.0 {
            Err(Duration::from_secs(3600))
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate.per_second))
        }
    }

    fn is_full(&mut self, rate: Rate, now: Instant) -> bool {
        self.refill(rate, now);
        self.tokens >= rate.burst
    }

    fn give_back(&mut self, rate: Rate) {
        self.tokens = (self.tokens + 1.0).min(rate.burst);
    }
}

/// How many failed logins an account absorbs from all addresses together, in multiples of what
/// one address may cause against it.
pub const ACCOUNT_FAILURE_FACTOR: f64 = 5.0;

/// Failed logins, counted so that guessers are held back without locking the owner out.
///
/// One budget per (account, address) pair, of the configured rate: a client guessing one
/// account runs out whatever the others do. One larger budget per account
/// (`ACCOUNT_FAILURE_FACTOR` times), shared by every address: once guessing from many addresses
/// has spent it, only addresses that have themselves failed against the account recently (or
/// have an attempt in flight) are refused; a client that has not failed, such as the owner on
/// another machine, still gets its try. Attempts are counted when they start, so concurrent
/// guesses cannot slip past a budget while bcrypt runs; an attempt that succeeds (or never got
/// a verdict) gives its tokens back.
#[derive(Debug)]
pub struct LoginGuard {
    pair_rate: Rate,
    account_rate: Rate,
    /// How long a failure marks its address as a guesser of that account: until the account's
    /// budget has refilled from empty (an hour at most).
    memory: Duration,
    cap: usize,
    state: Mutex<GuardState>,
}

#[derive(Debug, Default)]
struct GuardState {
    pairs: HashMap<(String, IpAddr), Pair>,
    accounts: HashMap<String, Bucket>,
}

#[derive(Debug)]
struct Pair {
    bucket: Bucket,
    last_failure: Option<Instant>,
}

/// An admitted login attempt; hand it back to `LoginGuard::finish` with the verdict.
#[derive(Debug)]
#[must_use = "a login attempt's tokens are settled by LoginGuard::finish"]
pub struct Attempt {
    account: String,
    ip: IpAddr,
    /// Whether a token of the account's budget was taken for it.
    from_account: bool,
}

/// What a login attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The password was wrong (or the account unknown).
    Failed,
    /// The password was right.
    Succeeded,
    /// No password was checked (overload, shutdown, an internal error).
    Undecided,
}

impl LoginGuard {
    /// `rate` is the budget of one address against one account; `cap` bounds each map.
    pub fn new(rate: Rate, cap: usize) -> Self {
        let account_rate = Rate::new(rate.burst * ACCOUNT_FAILURE_FACTOR, rate.per_second);
        let refill_secs =
            if rate.per_second > 0.0 { account_rate.burst / rate.per_second } else { f64::INFINITY };
        LoginGuard {
            pair_rate: rate,
            account_rate,
            memory: Duration::from_secs_f64(refill_secs.min(3600.0)),
            cap,
            state: Mutex::new(GuardState::default()),
        }
    }

    /// Admits a login attempt by `ip` against `account` (any key naming the account), or says
    /// how long to wait.
    pub fn check(&self, account: &str, ip: IpAddr) -> Result<Attempt, Duration> {
        let now = Instant::now();
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let st = &mut *guard;
        if st.pairs.len() >= self.cap || st.accounts.len() >= self.cap {
            self.evict(st, now);
        }
        let key = (account.to_string(), ip);
        let pair = st
            .pairs
            .entry(key)
            .or_insert_with(|| Pair { bucket: Bucket::full(self.pair_rate), last_failure: None });
        // An attempt in flight or a recent failure: this client guesses, or may be.
        let suspect = !pair.bucket.is_full(self.pair_rate, now)
            || pair.last_failure.is_some_and(|t| now.saturating_duration_since(t) < self.memory);
        pair.bucket.take_at(self.pair_rate, now)?;
        let mut from_account = false;
        if suspect {
            let bucket =
                st.accounts.entry(account.to_string()).or_insert_with(|| Bucket::full(self.account_rate));
            if let Err(wait) = bucket.take_at(self.account_rate, now) {
                pair.bucket.give_back(self.pair_rate);
                return Err(wait);
            }
            from_account = true;
        }
        Ok(Attempt { account: account.to_string(), ip, from_account })
    }

    /// Settles an attempt: a failure keeps its tokens (and spends one of the account's if it
    /// had none), anything else gives them back; a success also forgets the pair's failures.
    pub fn finish(&self, attempt: Attempt, verdict: Verdict) {
        let now = Instant::now();
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let st = &mut *guard;
        let key = (attempt.account, attempt.ip);
        match verdict {
            Verdict::Failed => {
                if let Some(pair) = st.pairs.get_mut(&key) {
                    pair.last_failure = Some(now);
                }
                if !attempt.from_account {
                    let bucket = st.accounts.entry(key.0).or_insert_with(|| Bucket::full(self.account_rate));
                    let _ = bucket.take_at(self.account_rate, now);
                }
            }
            Verdict::Succeeded | Verdict::Undecided => {
                if verdict == Verdict::Succeeded {
                    if let Some(pair) = st.pairs.get_mut(&key) {
                        pair.last_failure = None;
                    }
                }
                if let Some(pair) = st.pairs.get_mut(&key) {
                    pair.bucket.give_back(self.pair_rate);
                }
                if attempt.from_account {
                    if let Some(bucket) = st.accounts.get_mut(&key.0) {
                        bucket.give_back(self.account_rate);
                    }
                }
            }
        }
    }

    /// Keeps the maps bounded: entries that carry no information (full buckets, failures
    /// forgotten) go first; if that is not enough, everything goes, as in `KeyedLimiter`.
    fn evict(&self, st: &mut GuardState, now: Instant) {
        let (pair_rate, account_rate, memory) = (self.pair_rate, self.account_rate, self.memory);
        st.pairs.retain(|_, p| {
            !p.bucket.is_full(pair_rate, now)
                || p.last_failure.is_some_and(|t| now.saturating_duration_since(t) < memory)
        });
        st.accounts.retain(|_, b| !b.is_full(account_rate, now));
        if st.pairs.len() >= self.cap {
            st.pairs.clear();
        }
        if st.accounts.len() >= self.cap {
            st.accounts.clear();
        }
    }
}

#[derive(Debug)]
pub struct KeyedLimiter<K> {
    rate: Rate,
    cap: usize,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    pub fn new(rate: Rate, cap: usize) -> Self {
        KeyedLimiter { rate, cap, buckets: Mutex::new(HashMap::new()) }
    }

    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.cap && !map.contains_key(key) {
            let now = Instant::now();
            let rate = self.rate;
            map.retain(|_, b| !b.is_full(rate, now));
            if map.len() >= self.cap {
                map.clear();
            }
        }
        map.entry(key.clone()).or_insert_with(|| Bucket::full(self.rate)).take(self.rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_and_ipv4_as_is() {
        let key = |s: &str| client_key(s.parse().unwrap()).to_string();
        assert_eq!(key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_ne!(key("203.0.113.7"), key("203.0.113.8"));
    }

    #[test]
    fn burst_then_refuse_with_retry_after() {
        let l = KeyedLimiter::new(Rate::new(3.0, 0.5), 100);
        for _ in 0..3 {
            assert!(l.check(&"a").is_ok());
        }
        let wait = l.check(&"a").unwrap_err();
        assert!(wait > Duration::from_millis(1500) && wait <= Duration::from_secs(2));
        assert!(l.check(&"b").is_ok(), "keys are independent");
    }

    fn addr(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    /// One failed attempt by `ip` against `account`, or the wait if it was refused.
    fn fail(g: &LoginGuard, account: &str, ip: IpAddr) -> Result<(), Duration> {
        g.finish(g.check(account, ip)?, Verdict::Failed);
        Ok(())
    }

    #[test]
    fn guessing_from_many_addresses_does_not_lock_out_a_client_that_has_not_failed() {
        let g = LoginGuard::new(Rate::new(3.0, 0.0001), 100);
        // Five addresses each spend their own budget: 15 failures, the account's whole budget.
        for n in 1..=5 {
            for _ in 0..3 {
                fail(&g, "#1", addr(n)).unwrap();
            }
            assert!(g.check("#1", addr(n)).is_err(), "address {n} spent its own budget");
        }
        // The owner, from an address that never failed, gets in.
        let owner = g.check("#1", addr(9)).expect("a client that never failed is admitted");
        g.finish(owner, Verdict::Succeeded);
        // A fresh address gets one try, and after its failure it is a guesser like the others.
        fail(&g, "#1", addr(10)).unwrap();
        assert!(g.check("#1", addr(10)).is_err(), "the account's budget is spent");
        // Other accounts are untouched.
        fail(&g, "#2", addr(1)).unwrap();
    }

    #[test]
    fn concurrent_attempts_cannot_outrun_the_budget_and_successes_give_tokens_back() {
        let g = LoginGuard::new(Rate::new(2.0, 0.0001), 100);
        let a = g.check("#1", addr(1)).unwrap();
        let b = g.check("#1", addr(1)).unwrap();
        assert!(g.check("#1", addr(1)).is_err(), "two in flight: the pair's budget is taken");
        g.finish(a, Verdict::Succeeded);
        g.finish(b, Verdict::Undecided);
        for _ in 0..2 {
            fail(&g, "#1", addr(1)).unwrap();
        }
        assert!(g.check("#1", addr(1)).is_err());
    }

    #[test]
    fn guard_maps_stay_bounded() {
        let g = LoginGuard::new(Rate::new(1.0, 0.0001), 10);
        for i in 0..1000u32 {
            let _ = fail(&g, &format!("#{i}"), addr((i % 250) as u8));
        }
        let st = g.state.lock().unwrap();
        assert!(st.pairs.len() <= 10 && st.accounts.len() <= 10);
    }

    #[test]
    fn map_stays_bounded() {
        let l = KeyedLimiter::new(Rate::new(1.0, 0.001), 10);
        for i in 0..1000 {
            let _ = l.check(&i);
        }
        assert!(l.buckets.lock().unwrap().len() <= 10);
    }
}
