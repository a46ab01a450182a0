//! Token-bucket rate limits: one bucket per connection for chat messages, and keyed buckets
//! (client address, account name) for logins and registrations.
//!
//! The keyed map is bounded: when it grows past its cap, buckets that have refilled completely
//! (and so carry no information) are dropped, and if that is not enough the map is cleared;
//! an attacker cycling through keys can therefore not grow memory without limit.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::Mutex,
    time::{Duration, Instant},
};

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
        self.refill(rate, Instant::now());
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
    fn burst_then_refuse_with_retry_after() {
        let l = KeyedLimiter::new(Rate::new(3.0, 0.5), 100);
        for _ in 0..3 {
            assert!(l.check(&"a").is_ok());
        }
        let wait = l.check(&"a").unwrap_err();
        assert!(wait > Duration::from_millis(1500) && wait <= Duration::from_secs(2));
        assert!(l.check(&"b").is_ok(), "keys are independent");
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
