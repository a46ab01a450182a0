//! Token-bucket rate limits: one bucket per connection for chat messages; for registrations and
//! logins, buckets per client address and per requested name, and the `LoginGuard` counting
//! failed logins per account and address. Client addresses are keyed by `client_key` (an IPv6
//! client by its /64).
//!
//! The login and registration limits bind every instance on one database together: their state
//! is slots in the store (`Store::update_limits`), read and written in one transaction per
//! check, in wall-clock seconds; this module holds only the rules over those slots. An
//! in-process `KeyedLimiter` per address, at the same rate, stands in front of them, so a flood
//! from one address is refused before it costs the database a write per request.
//!
//! The keyed map is bounded: when it grows past its cap, buckets that have refilled completely
//! (and so carry no information) are dropped, and if that is not enough the map is cleared;
//! an attacker cycling through keys can therefore not grow memory without limit. The stored
//! slots are bounded the same way: a slot that carries no information is deleted.

use std::{
    collections::HashMap,
    hash::Hash,
    net::{IpAddr, Ipv6Addr},
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::store::LimitSlot;

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

    /// Takes one of `tokens`, or says how long until one is available at this rate.
    fn take_from(self, tokens: &mut f64) -> Result<(), Duration> {
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else if self.per_second <= 0.0 {
            Err(Duration::from_secs(3600))
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.per_second))
        }
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
        rate.take_from(&mut self.tokens)
    }

    fn is_full(&mut self, rate: Rate, now: Instant) -> bool {
        self.refill(rate, now);
        self.tokens >= rate.burst
    }
}

/// How many failed logins an account absorbs from all addresses together, in multiples of what
/// one address may cause against it.
pub const ACCOUNT_FAILURE_FACTOR: f64 = 5.0;

/// The longest a slot whose bucket never refills (a rate of zero) is kept untouched.
const NEVER: f64 = 7.0 * 86_400.0;
/// Keys longer than this are cut: an unknown login is keyed by what was typed, and a database
/// index takes keys of a few kilobytes at most. Names sharing so long a prefix share a budget.
const KEY_MAX: usize = 256;

/// Now in wall-clock Unix seconds, the time of the shared limits: instances share no `Instant`.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// The shared slot of a client address (`client_key`): logins and registrations from it.
pub fn address_key(addr: IpAddr) -> String {
    format!("addr:{addr}")
}

/// The shared slot of a name asked for at registration.
pub fn name_key(name: &str) -> String {
    cut(format!("name:{}", name.trim().to_lowercase()))
}

fn cut(mut key: String) -> String {
    if key.len() > KEY_MAX {
        let mut end = KEY_MAX;
        while !key.is_char_boundary(end) {
            end -= 1;
        }
        key.truncate(end);
    }
    key
}

/// A stored token bucket and failure mark as of one moment (see `LimitSlot`, its stored form).
#[derive(Debug, Clone, Copy)]
struct Level {
    tokens: f64,
    mark: Option<f64>,
}

impl Level {
    /// The slot's state at `now`: refilled since it was stored, the mark dropped once older than
    /// `memory`. A missing slot is a full bucket without a mark.
    fn load(slot: Option<&LimitSlot>, rate: Rate, memory: f64, now: f64) -> Level {
        match slot {
            None => Level { tokens: rate.burst, mark: None },
            Some(s) => Level {
                // A clock set back refills nothing rather than draining the bucket.
                tokens: (s.tokens + (now - s.at).max(0.0) * rate.per_second).min(rate.burst),
                mark: s.mark.filter(|&m| now - m < memory),
            },
        }
    }

    /// What to store: nothing once the bucket is full and no mark counts (no information),
    /// else the slot, expiring when both have lapsed.
    fn save(self, rate: Rate, memory: f64, now: f64) -> Option<LimitSlot> {
        let full_at = if self.tokens >= rate.burst {
            now
        } else if rate.per_second > 0.0 {
            (now + (rate.burst - self.tokens) / rate.per_second).min(now + NEVER)
        } else {
            now + NEVER
        };
        let expires = self.mark.map_or(full_at, |m| full_at.max(m + memory));
        (expires > now).then_some(LimitSlot { tokens: self.tokens, at: now, mark: self.mark, expires })
    }

    fn is_full(&self, rate: Rate) -> bool {
        self.tokens >= rate.burst
    }

    fn take(&mut self, rate: Rate) -> Result<(), Duration> {
        rate.take_from(&mut self.tokens)
    }

    fn give_back(&mut self, rate: Rate) {
        self.tokens = (self.tokens + 1.0).min(rate.burst);
    }
}

/// Takes one token from a stored bucket of `rate` at `now`, or says how long until one is
/// available (the slot is then left as it was).
pub fn take(rate: Rate, slot: &mut Option<LimitSlot>, now: f64) -> Result<(), Duration> {
    let mut level = Level::load(slot.as_ref(), rate, 0.0, now);
    level.take(rate)?;
    *slot = level.save(rate, 0.0, now);
    Ok(())
}

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
///
/// The guard is only the rule: its state is two slots per attempt (`LoginGuard::keys`), which
/// the caller reads and stores in one transaction of the store, shared by every instance.
#[derive(Debug, Clone, Copy)]
pub struct LoginGuard {
    pair_rate: Rate,
    account_rate: Rate,
    /// How long, in seconds, a failure marks its address as a guesser of that account: until
    /// the account's budget has refilled from empty (an hour at most).
    memory: f64,
}

/// An admitted login attempt; hand it back to `LoginGuard::finish` with the verdict.
#[derive(Debug, Clone, Copy)]
#[must_use = "a login attempt's tokens are settled by LoginGuard::finish"]
pub struct Attempt {
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
    /// `rate` is the budget of one address against one account.
    pub fn new(rate: Rate) -> Self {
        let account_rate = Rate::new(rate.burst * ACCOUNT_FAILURE_FACTOR, rate.per_second);
        let refill_secs =
            if rate.per_second > 0.0 { account_rate.burst / rate.per_second } else { f64::INFINITY };
        LoginGuard { pair_rate: rate, account_rate, memory: refill_secs.min(3600.0) }
    }

    /// The slots of an attempt by `addr` (a `client_key`) against `account` (any key naming the
    /// account): the pair's, then the account's.
    pub fn keys(account: &str, addr: IpAddr) -> [String; 2] {
        // The address first: it has no spaces, so no two pairs share a key.
        [cut(format!("pair:{addr} {account}")), cut(format!("account:{account}"))]
    }

    /// Admits a login attempt, or says how long to wait, on the slots of `keys` at `now`.
    pub fn check(
        &self,
        pair: &mut Option<LimitSlot>,
        account: &mut Option<LimitSlot>,
        now: f64,
    ) -> Result<Attempt, Duration> {
        let mut p = Level::load(pair.as_ref(), self.pair_rate, self.memory, now);
        // An attempt in flight or a recent failure: this client guesses, or may be.
        let suspect = !p.is_full(self.pair_rate) || p.mark.is_some();
        p.take(self.pair_rate)?;
        let mut from_account = false;
        if suspect {
            let mut a = Level::load(account.as_ref(), self.account_rate, 0.0, now);
            a.take(self.account_rate)?;
            *account = a.save(self.account_rate, 0.0, now);
            from_account = true;
        }
        *pair = p.save(self.pair_rate, self.memory, now);
        Ok(Attempt { from_account })
    }

    /// Settles an attempt: a failure keeps its tokens (and spends one of the account's if it
    /// had none), anything else gives them back; a success also forgets the pair's failures.
    pub fn finish(
        &self,
        pair: &mut Option<LimitSlot>,
        account: &mut Option<LimitSlot>,
        attempt: Attempt,
        verdict: Verdict,
        now: f64,
    ) {
        let mut p = Level::load(pair.as_ref(), self.pair_rate, self.memory, now);
        let mut a = Level::load(account.as_ref(), self.account_rate, 0.0, now);
        match verdict {
            Verdict::Failed => {
                p.mark = Some(now);
                if !attempt.from_account {
                    let _ = a.take(self.account_rate);
                }
            }
            Verdict::Succeeded | Verdict::Undecided => {
                if verdict == Verdict::Succeeded {
                    p.mark = None;
                }
                p.give_back(self.pair_rate);
                if attempt.from_account {
                    a.give_back(self.account_rate);
                }
            }
        }
        *pair = p.save(self.pair_rate, self.memory, now);
        *account = a.save(self.account_rate, 0.0, now);
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

    /// The slots as a store keeps them, and a clock.
    #[derive(Default)]
    struct Slots {
        map: HashMap<String, LimitSlot>,
        now: f64,
    }

    impl Slots {
        /// What `Store::update_limits` does: expired slots read as missing, None deletes.
        fn update<T>(&mut self, keys: &[String], f: impl FnOnce(&mut [Option<LimitSlot>], f64) -> T) -> T {
            let now = self.now;
            let mut slots: Vec<Option<LimitSlot>> =
                keys.iter().map(|k| self.map.get(k).copied().filter(|s| s.expires >= now)).collect();
            let out = f(&mut slots, now);
            for (k, slot) in keys.iter().zip(slots) {
                match slot {
                    Some(s) => self.map.insert(k.clone(), s),
                    None => self.map.remove(k),
                };
            }
            out
        }

        fn check(&mut self, g: &LoginGuard, account: &str, ip: IpAddr) -> Result<Attempt, Duration> {
            self.update(&LoginGuard::keys(account, ip), |s, now| {
                let [pair, acc] = s else { unreachable!() };
                g.check(pair, acc, now)
            })
        }

        fn finish(&mut self, g: &LoginGuard, account: &str, ip: IpAddr, attempt: Attempt, verdict: Verdict) {
            self.update(&LoginGuard::keys(account, ip), |s, now| {
                let [pair, acc] = s else { unreachable!() };
                g.finish(pair, acc, attempt, verdict, now)
            })
        }

        /// One failed attempt by `ip` against `account`, or the wait if it was refused.
        fn fail(&mut self, g: &LoginGuard, account: &str, ip: IpAddr) -> Result<(), Duration> {
            let attempt = self.check(g, account, ip)?;
            self.finish(g, account, ip, attempt, Verdict::Failed);
            Ok(())
        }
    }

    #[test]
    fn stored_buckets_refuse_with_retry_after_and_refill_with_time() {
        let rate = Rate::new(3.0, 0.5);
        let mut slots = Slots { now: 1_000.0, ..Slots::default() };
        let key = [address_key(addr(1))];
        let spend = |slots: &mut Slots| slots.update(&key, |s, now| take(rate, &mut s[0], now));
        for _ in 0..3 {
            assert!(spend(&mut slots).is_ok());
        }
        let wait = spend(&mut slots).unwrap_err();
        assert!(wait > Duration::from_millis(1500) && wait <= Duration::from_secs(2), "{wait:?}");
        slots.now += 2.0;
        assert!(spend(&mut slots).is_ok(), "one token refilled in 2 s");
        assert!(spend(&mut slots).is_err());
        // A clock set back refills nothing.
        slots.now -= 100.0;
        assert!(spend(&mut slots).is_err());
    }

    #[test]
    fn guessing_from_many_addresses_does_not_lock_out_a_client_that_has_not_failed() {
        let g = LoginGuard::new(Rate::new(3.0, 0.0001));
        let mut s = Slots::default();
        // Five addresses each spend their own budget: 15 failures, the account's whole budget.
        for n in 1..=5 {
            for _ in 0..3 {
                s.fail(&g, "#1", addr(n)).unwrap();
            }
            assert!(s.check(&g, "#1", addr(n)).is_err(), "address {n} spent its own budget");
        }
        // The owner, from an address that never failed, gets in.
        let owner = s.check(&g, "#1", addr(9)).expect("a client that never failed is admitted");
        s.finish(&g, "#1", addr(9), owner, Verdict::Succeeded);
        // A fresh address gets one try, and after its failure it is a guesser like the others.
        s.fail(&g, "#1", addr(10)).unwrap();
        assert!(s.check(&g, "#1", addr(10)).is_err(), "the account's budget is spent");
        // Other accounts are untouched.
        s.fail(&g, "#2", addr(1)).unwrap();
    }

    #[test]
    fn concurrent_attempts_cannot_outrun_the_budget_and_successes_give_tokens_back() {
        let g = LoginGuard::new(Rate::new(2.0, 0.0001));
        let mut s = Slots::default();
        let a = s.check(&g, "#1", addr(1)).unwrap();
        let b = s.check(&g, "#1", addr(1)).unwrap();
        assert!(s.check(&g, "#1", addr(1)).is_err(), "two in flight: the pair's budget is taken");
        s.finish(&g, "#1", addr(1), a, Verdict::Succeeded);
        s.finish(&g, "#1", addr(1), b, Verdict::Undecided);
        for _ in 0..2 {
            s.fail(&g, "#1", addr(1)).unwrap();
        }
        assert!(s.check(&g, "#1", addr(1)).is_err());
    }

    #[test]
    fn slots_without_information_are_deleted_and_the_others_expire_when_they_have_none() {
        // Refills in 10 s per token; a failure is remembered for the account's refill, 50 s.
        let g = LoginGuard::new(Rate::new(1.0, 0.1));
        let mut s = Slots { now: 5_000.0, ..Slots::default() };
        let ok = s.check(&g, "#1", addr(1)).unwrap();
        s.finish(&g, "#1", addr(1), ok, Verdict::Succeeded);
        assert!(s.map.is_empty(), "a success leaves nothing stored: {:?}", s.map);
        s.fail(&g, "#1", addr(1)).unwrap();
        let [pair, account] = LoginGuard::keys("#1", addr(1));
        assert!((s.map[&pair].expires - 5_050.0).abs() < 1e-6, "the failure counts for 50 s");
        assert!((s.map[&account].expires - 5_010.0).abs() < 1e-6, "its token refills in 10 s");
        s.now += 49.0;
        assert!(s.check(&g, "#1", addr(1)).is_ok(), "the pair's bucket has refilled");
        s.now += 60.0;
        let expired = s.map.values().filter(|slot| slot.expires < s.now).count();
        assert_eq!(expired, s.map.len(), "everything has expired by now: {:?}", s.map);
    }

    #[test]
    fn keys_of_different_pairs_differ_and_long_ones_are_cut() {
        assert_ne!(LoginGuard::keys("a b", addr(1))[0], LoginGuard::keys("b", addr(1))[0]);
        assert_ne!(LoginGuard::keys("x", addr(1)), LoginGuard::keys("x", addr(2)));
        let long = "é".repeat(1000);
        assert!(LoginGuard::keys(&long, addr(1)).iter().all(|k| k.len() <= KEY_MAX));
        assert!(name_key(&long).len() <= KEY_MAX);
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
