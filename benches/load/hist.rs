//! A lock-free log-bucketed latency histogram (HDR-like: 64 sub-buckets per power of two, so a
//! reported percentile is within about 1.6 % of the true value). Recording is two relaxed atomic
//! adds; the load generator runs on one worker thread, so they are never contended.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
/// Values below SUB are exact; each octave above has SUB buckets, up to 2^63.
const BUCKETS: usize = (SUB + (64 - SUB_BITS as u64) * SUB) as usize;

fn index(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros() as u64;
    let shift = msb - SUB_BITS as u64;
    let sub = (v >> shift) - SUB;
    (SUB + shift * SUB + sub) as usize
}

/// A representative value (the middle) of bucket `i`.
fn value_at(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let shift = (i - SUB) / SUB;
    let sub = (i - SUB) % SUB;
    ((SUB + sub) << shift) + ((1u64 << shift) >> 1)
}

pub struct Histo {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    max: AtomicU64,
    sum: AtomicU64,
}

impl Default for Histo {
    fn default() -> Self {
        Histo {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
            sum: AtomicU64::new(0),
        }
    }
}

impl Histo {
    #[inline]
    pub fn record(&self, v: u64) {
        self.buckets[index(v)].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.sum.fetch_add(v, Relaxed);
        self.max.fetch_max(v, Relaxed);
    }

    pub fn snapshot(&self) -> Snap {
        Snap {
            counts: self.buckets.iter().map(|b| b.load(Relaxed)).collect(),
            count: self.count.load(Relaxed),
            max: self.max.load(Relaxed),
            sum: self.sum.load(Relaxed),
        }
    }
}

/// A plain copy of a histogram, for percentiles and merging.
#[derive(Clone)]
pub struct Snap {
    counts: Vec<u64>,
    pub count: u64,
    pub max: u64,
    sum: u64,
}

impl Default for Snap {
    fn default() -> Self {
        Snap { counts: vec![0; BUCKETS], count: 0, max: 0, sum: 0 }
    }
}

impl Snap {
    /// The value at quantile `q` (0..=1), or None when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(value_at(i).min(self.max));
            }
        }
        Some(self.max)
    }

    pub fn mean(&self) -> Option<u64> {
        (self.count > 0).then(|| self.sum / self.count)
    }
}
