//! A learned classifier of offensive language beside the word list: it scores what the word list
//! cannot see, insults made of ordinary words ("you are worthless trash").
//!
//! The model is alt-profanity-check's (PyPI, MIT licence: `LICENSE-alt-profanity-check` beside
//! this file; Copyright (c) 2018 Victor Zhou, 2021 Menelaos Kotoglou, and Dimitrios Mistriotis),
//! a scikit-learn TfidfVectorizer and a CalibratedClassifierCV of linear SVMs trained on about
//! 200,000 human-labelled comments. `export.py` beside this file converts its pickles into
//! `model.bin` (its docstring documents the format and how to run it) and writes the equality
//! cases `tests/classifier/cases.tsv`; the binary embeds `model.bin`, so nothing is read or
//! downloaded at run time.
//!
//! `Classifier::score` is scikit-learn's `predict_proba(vectorizer.transform([text]))[0, 1]`,
//! reproduced step by step (to 1e-6, checked by `tests/classifier.rs`):
//! 1. Python's `str.lower()` (full case mapping and the final-sigma rule, from the tables the
//!    export took from Python, not from Rust's own Unicode version);
//! 2. tokens of `(?u)\b\w\w+\b`: runs of two or more characters that Python's `re` calls `\w`
//!    (letters, digits and numerals, underscore; not combining marks, which split a word as they
//!    do in Python); a token outside the vocabulary (stop words are outside it) counts for
//!    nothing;
//! 3. tf-idf: the count of each vocabulary term times its idf, then the l2 norm;
//! 4. per fold, the SVM's decision `w . x + intercept` and its sigmoid calibration
//!    `1 / (1 + exp(a * d + b))`; the probability is the mean over the folds.

use std::{
    collections::HashMap,
    hash::{BuildHasherDefault, Hasher},
};

/// A multiply-rotate hash (rustc's FxHash) for the vocabulary: its keys are the model's fixed
/// terms, not chosen by users, and a chat message costs one lookup per word, so SipHash's
/// flooding resistance buys nothing here and would be most of the scoring time.
#[derive(Default)]
struct TermHasher(u64);

impl Hasher for TermHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl TermHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type Vocabulary = HashMap<Box<str>, u32, BuildHasherDefault<TermHasher>>;

/// The score from which a message counts as offensive unless `--classifier-threshold` says
/// otherwise: the lowest threshold at which the classifier flagged at most 1 % of everyday chat,
/// of prose and of dictionary sentences (tests/classifier_eval.rs; README's Classifier part).
pub const DEFAULT_THRESHOLD: f64 = 0.7;

/// The term a violation found by the classifier is recorded with (the word list records the
/// listed term it found).
pub const TERM: &str = "classifier";

/// The reason of the report a flagged message files.
pub const REASON: &str = "offensive language (classifier)";

/// What the chat does with the classifier (`serve --classifier`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassifierMode {
    /// Not loaded.
    Off,
    /// Messages are delivered; `Chat::classify` scores them for moderators.
    Flag,
    /// A message or edit scoring at least the threshold is refused as a violation, like a
    /// word-list hit.
    Enforce,
}

impl ClassifierMode {
    pub fn name(self) -> &'static str {
        match self {
            ClassifierMode::Off => "off",
            ClassifierMode::Flag => "flag",
            ClassifierMode::Enforce => "enforce",
        }
    }
}

/// The exported model (see `export.py`).
static MODEL: &[u8] = include_bytes!("model.bin");

/// One calibrated fold: the SVM's intercept and its sigmoid's A and B.
#[derive(Debug, Clone, Copy)]
struct Fold {
    intercept: f64,
    a: f64,
    b: f64,
}

/// alt-profanity-check's model, ready to score.
pub struct Classifier {
    folds: Vec<Fold>,
    /// Term to column.
    vocabulary: Vocabulary,
    /// Per column: the idf, then the coefficient of each fold.
    weights: Vec<f64>,
    /// Inclusive code point ranges, sorted: Python's `\w`, Cased and Case_Ignorable.
    word: Vec<(u32, u32)>,
    cased: Vec<(u32, u32)>,
    ignorable: Vec<(u32, u32)>,
    /// Python's `str.lower()` of each non-ASCII character it changes, sorted by character.
    lower: Vec<(char, Box<[char]>)>,
    /// `word` and the characters of `lower` as bits for the planes in use (below `BITS_END`), so
    /// a character costs one load instead of two binary searches.
    word_bits: Bits,
    lower_bits: Bits,
}

/// Code points with a bit in `Bits`: the planes where scripts and emoji live.
const BITS_END: u32 = 0x4_0000;

struct Bits(Vec<u64>);

impl Bits {
    /// From inclusive ranges, a 64-bit word at a time (a range of the word table may span tens
    /// of thousands of code points).
    fn new(ranges: impl Iterator<Item = (u32, u32)>) -> Bits {
        let mut bits = vec![0u64; (BITS_END / 64) as usize];
        for (first, last) in ranges.filter(|&(first, _)| first < BITS_END) {
            let end = last.min(BITS_END - 1) + 1;
            let mut c = first;
            while c < end {
                let (word, bit) = ((c / 64) as usize, c % 64);
                let n = (64 - bit).min(end - c);
                let mask = if n == 64 { u64::MAX } else { ((1u64 << n) - 1) << bit };
                bits[word] |= mask;
                c += n;
            }
        }
        Bits(bits)
    }

    /// None beyond `BITS_END`.
    fn get(&self, c: char) -> Option<bool> {
        let c = c as u32;
        self.0.get((c / 64) as usize).map(|w| w & (1 << (c % 64)) != 0)
    }
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("terms", &self.vocabulary.len())
            .field("folds", &self.folds.len())
            .finish_non_exhaustive()
    }
}

/// Reads `model.bin` front to back.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        head.try_into().expect("split at N")
    }

    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }

    fn f64(&mut self) -> f64 {
        f64::from_le_bytes(self.take())
    }

    fn ranges(&mut self, n: u32) -> Vec<(u32, u32)> {
        (0..n).map(|_| (self.u32(), self.u32())).collect()
    }

    fn char(&mut self) -> char {
        char::from_u32(self.u32()).expect("model.bin holds code points")
    }
}

fn in_ranges(ranges: &[(u32, u32)], c: char) -> bool {
    let c = c as u32;
    let i = ranges.partition_point(|&(_, last)| last < c);
    ranges.get(i).is_some_and(|&(first, _)| first <= c)
}

const SIGMA: char = '\u{3A3}';

impl Classifier {
    /// The model built into the binary. It is checked when the crate is built (by the tests),
    /// so a malformed one is a bug and panics.
    pub fn embedded() -> Classifier {
        Classifier::from_bytes(MODEL)
    }

    fn from_bytes(bytes: &[u8]) -> Classifier {
        assert!(bytes.starts_with(b"CBXPROF1"), "model.bin: not a classifier model");
        let mut r = Reader(&bytes[8..]);
        let [terms, folds, words, lowers, cased, ignorable] = [(); 6].map(|_| r.u32());
        let folds: Vec<Fold> =
            (0..folds).map(|_| Fold { intercept: r.f64(), a: r.f64(), b: r.f64() }).collect();
        let word = r.ranges(words);
        let lower: Vec<(char, Box<[char]>)> = (0..lowers)
            .map(|_| {
                let from = r.char();
                let n = r.u8();
                (from, (0..n).map(|_| r.char()).collect())
            })
            .collect();
        let cased = r.ranges(cased);
        let ignorable = r.ranges(ignorable);
        let stride = 1 + folds.len();
        let mut vocabulary = Vocabulary::with_capacity_and_hasher(terms as usize, Default::default());
        let mut weights = Vec::with_capacity(terms as usize * stride);
        for column in 0..terms {
            let len = usize::from(r.u8());
            let (term, rest) = r.0.split_at(len);
            r.0 = rest;
            let term = std::str::from_utf8(term).expect("model.bin terms are UTF-8");
            vocabulary.insert(term.into(), column);
            let (row, rest) = r.0.split_at(8 * stride);
            r.0 = rest;
            weights.extend(row.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes"))));
        }
        assert!(r.0.is_empty(), "model.bin: trailing bytes");
        let word_bits = Bits::new(word.iter().copied());
        let lower_bits = Bits::new(lower.iter().map(|(from, _)| (*from as u32, *from as u32)));
        Classifier { folds, vocabulary, weights, word, cased, ignorable, lower, word_bits, lower_bits }
    }

    /// Python's `\w` (in `re`, for `str` patterns).
    fn is_word(&self, c: char) -> bool {
        if c.is_ascii() {
            c.is_ascii_alphanumeric() || c == '_'
        } else {
            self.word_bits.get(c).unwrap_or_else(|| in_ranges(&self.word, c))
        }
    }

    /// Appends Python's lowercase of `text` to `out` (`str.lower()`).
    fn lowercase_into(&self, text: &str, out: &mut String) {
        if text.is_ascii() {
            out.push_str(text);
            out.make_ascii_lowercase();
            return;
        }
        for (i, c) in text.char_indices() {
            if c.is_ascii() {
                out.push(c.to_ascii_lowercase());
            } else if c == SIGMA {
                out.push(if self.final_sigma(&text[..i], &text[i + c.len_utf8()..]) { 'ς' } else { 'σ' });
            } else if self.lower_bits.get(c) == Some(false) {
                out.push(c);
            } else {
                match self.lower.binary_search_by(|(from, _)| from.cmp(&c)) {
                    Ok(at) => out.extend(self.lower[at].1.iter()),
                    Err(_) => out.push(c),
                }
            }
        }
    }

    /// CPython's `handle_capital_sigma`: a cased character before (skipping case-ignorable
    /// ones) and none after.
    fn final_sigma(&self, before: &str, after: &str) -> bool {
        let cased = |c: char| in_ranges(&self.cased, c);
        let ignorable = |c: char| in_ranges(&self.ignorable, c);
        before.chars().rev().find(|&c| !ignorable(c)).is_some_and(cased)
            && !after.chars().find(|&c| !ignorable(c)).is_some_and(cased)
    }

    /// The columns of the vocabulary terms among `text`'s tokens, one per occurrence.
    fn columns(&self, lowered: &str, out: &mut Vec<u32>) {
        let mut start = None;
        let mut chars = 0usize;
        let push = |from: usize, to: usize, chars: usize, out: &mut Vec<u32>| {
            if chars >= 2 {
                if let Some(&column) = self.vocabulary.get(&lowered[from..to]) {
                    out.push(column);
                }
            }
        };
        for (i, c) in lowered.char_indices() {
            if self.is_word(c) {
                if start.is_none() {
                    start = Some(i);
                    chars = 0;
                }
                chars += 1;
            } else if let Some(from) = start.take() {
                push(from, i, chars, out);
            }
        }
        if let Some(from) = start {
            push(from, lowered.len(), chars, out);
        }
    }

    /// The probability that `text` is offensive: scikit-learn's `predict_proba(...)[:, 1]`.
    pub fn score(&self, text: &str) -> f64 {
        let mut lowered = String::with_capacity(text.len() + 8);
        self.lowercase_into(text, &mut lowered);
        let mut columns = Vec::with_capacity(32);
        self.columns(&lowered, &mut columns);
        columns.sort_unstable();

        let stride = 1 + self.folds.len();
        // At most a handful of folds (5 in this model); more would only cost a heap array.
        let mut dots = [0.0f64; 8];
        assert!(self.folds.len() <= dots.len(), "at most 8 folds");
        let mut squares = 0.0;
        for run in columns.chunk_by(|a, b| a == b) {
            let row = &self.weights[run[0] as usize * stride..][..stride];
            let value = run.len() as f64 * row[0];
            squares += value * value;
            for (dot, coef) in dots.iter_mut().zip(&row[1..]) {
                *dot += value * coef;
            }
        }
        let norm = if squares > 0.0 { squares.sqrt() } else { 1.0 };
        let sum: f64 = self
            .folds
            .iter()
            .zip(dots)
            .map(|(fold, dot)| {
                let decision = dot / norm + fold.intercept;
                1.0 / (1.0 + (fold.a * decision + fold.b).exp())
            })
            .sum();
        sum / self.folds.len() as f64
    }

    /// How many vocabulary terms and calibrated folds the model has.
    pub fn shape(&self) -> (usize, usize) {
        (self.vocabulary.len(), self.folds.len())
    }
}
