//! Blocklist matching for automatic chat moderation: does a message contain a blocked term?
//!
//! A plain substring test both over-blocks ("Scunthorpe", "assess") and is trivially dodged
//! ("s.h.i.t", "sh1t", "ѕhіt" in Cyrillic). So text and terms are first folded into one
//! canonical form (compatibility decomposition with combining marks and invisible characters
//! dropped, lowercase, Cyrillic/Greek look-alikes mapped to Latin, leetspeak symbols read as the
//! letters they stand for) and then compared word by word, never as a substring of a longer
//! word. A word matches a term when it spells the term with any letter stretched ("shiiit") and
//! is optionally followed by a plain inflection ("idiots", "hating"). Separator tricks are met by
//! also trying the pieces of a punctuation-glued chunk joined together ("s.h.i.t", "sh-it") and by
//! scanning runs of one-letter words ("s h i t") as a single string. All comparisons are
//! bit-parallel automaton walks over input whose repeated characters are clamped, so the cost
//! stays linear in the message whatever it contains.

use std::collections::{HashMap, HashSet};

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// The terms used when the operator gives no --blocklist file.
///
/// Stems only: inflections ("fucker", "fucking", "bitches", "hated") are added by the matcher.
/// Adjectives in "-y" are listed because "-y" is deliberately not a suffix ("cocky", "assy"...).
pub const DEFAULT_TERMS: &[&str] = &[
    // The original list.
    "idiot",
    "stupid",
    "hate",
    "fool",
    "damn",
    "shit",
    // Common English profanity.
    "fuck",
    "motherfucker",
    "bullshit",
    "shitty",
    "cunt",
    "bitch",
    "bitchy",
    "bastard",
    "asshole",
    "ass",
    "dick",
    "cock",
    "piss",
    "crap",
    "crappy",
    "slut",
    "whore",
    "wanker",
    "twat",
    "prick",
    "dumbass",
    "jackass",
    "douche",
    "moron",
    "retard",
    // Compounds that whole-word matching of the stems above cannot reach.
    "shithead",
    "dipshit",
    "horseshit",
    "dickhead",
    "douchebag",
    "goddamn",
    "wank",
    "arse",
    "arsehole",
    "bollocks",
];

/// Pattern states live in a `u64`, one bit per letter.
const MAX_TERM_LETTERS: usize = 64;
/// Longest entry of any suffix table below.
const MAX_SUFFIX: usize = 4;
/// Within one whitespace-delimited chunk, at most this many adjacent pieces are glued together
/// ("sh-it", "you're.an.id-iot"), which keeps the work linear; the whole chunk is glued as well.
const MAX_SPAN: usize = 4;
/// How many leading leet symbols or digits may be read as punctuation ("!!idiot", "@idiot").
/// Each is a separate walk, so this must stay a small constant; trailing ones are free.
const MAX_EDGE_STRIP: usize = 3;

/// Plain inflections. "-y", "-ful", "-ish", "-proof", "-ity" are left out on purpose: they form
/// new, mostly innocent words ("cocky", "hateful", "foolish", "foolproof", "stupidity"), and the
/// offensive "-y" adjectives are listed explicitly instead. "in" catches the dropped-g "fuckin'".
const SUFFIXES: &[&str] = &["", "s", "es", "ed", "er", "ers", "est", "ing", "in"];
/// Terms of one or two letters would turn into real words with most suffixes.
const SHORT_SUFFIXES: &[&str] = &["", "s"];
/// For terms ending in "e", appended to the term without it: "hate" -> "hating", "hated".
const E_DROP_SUFFIXES: &[&str] = &["ing", "in", "ed", "er", "ers", "est"];
/// For terms ending in "y", appended to the term without it: "shitty" -> "shittiest".
const Y_DROP_SUFFIXES: &[&str] = &["ies", "ied", "ier", "iest"];

/// Terms whose ordinary inflections are mostly innocent words, so only the forms listed count.
const LIMITED: &[(&str, &[&str])] = &[
    // "cocked" (a gun, a head, a hat), "cocking", "Cocker spaniel".
    ("cock", &["", "s"]),
    // "pricked my finger", "a pricking sensation".
    ("prick", &["", "s"]),
    // "to dicker" (haggle), "dickering".
    ("dick", &["", "s"]),
    // "damning evidence".
    ("damn", &["", "s", "ed"]),
    // "craps", the dice game.
    ("crap", &["", "ed", "er", "ers", "ing", "in"]),
    // "retarding" (slowing down) and "retarder" are technical terms.
    ("retard", &["", "s", "ed"]),
];

/// What a character of folded text is, which decides how it may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Letter,
    /// Digits count as letters inside a word (leet) but a word of digits alone is a number.
    Digit,
    /// Leet symbols ("$", "@", "!") may stand for letters but also end sentences.
    Symbol,
}

/// One character of folded text: its primary reading `a` and an alternative `b` (often the
/// same). Ambiguous text ("1" may be i or l; i and l are confused on purpose to catch "IDlOT" and
/// "sIut") carries both, so no spelling variant is ever enumerated. Terms use only `a`, which
/// keeps the confusion one step deep: "!" reads as i, and i may stand for l, but "foo!" is not
/// "fool".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pos {
    a: char,
    b: char,
    kind: Kind,
}

impl Pos {
    fn has(self, c: char) -> bool {
        self.a == c || self.b == c
    }

    fn chars(self) -> impl Iterator<Item = char> {
        std::iter::once(self.a).chain((self.b != self.a).then_some(self.b))
    }
}

enum Unit {
    Space,
    /// Punctuation and other symbols: they split words inside a chunk but are not whitespace.
    Glue,
    /// Splits like glue, but may introduce a contraction or possessive ending.
    Apostrophe,
    Word(Pos),
}

fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}' | '\u{FFA0}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// Maps a character that merely looks like Latin letters. Returns false when `c` is not one.
fn look_alike(c: char, out: &mut impl FnMut(char)) -> bool {
    // Regional indicators and negative circled/squared letters have no decomposition.
    for base in [0x1F1E6, 0x1F150, 0x1F170] {
        let offset = u32::from(c).wrapping_sub(base);
        if offset < 26 {
            out(char::from(b'a' + offset as u8));
            return true;
        }
    }
    let latin = match c {
        // Greek capitals whose lowercase no longer looks like the Latin capital (Η -> η).
        '\u{0397}' => "h",
        '\u{039C}' => "m",
        '\u{039D}' => "n",
        '\u{03A5}' => "y",
        // α а ɑ ᴀ
        '\u{03B1}' | '\u{0430}' | '\u{0251}' | '\u{1D00}' => "a",
        // β в ь ʙ ƀ
        '\u{03B2}' | '\u{0432}' | '\u{044C}' | '\u{0299}' | '\u{0180}' => "b",
        // ϲ с ᴄ
        '\u{03F2}' | '\u{0441}' | '\u{1D04}' => "c",
        // ԁ ᴅ đ
        '\u{0501}' | '\u{1D05}' | '\u{0111}' => "d",
        // ε е є ᴇ
        '\u{03B5}' | '\u{0435}' | '\u{0454}' | '\u{1D07}' => "e",
        // ƒ ꜰ
        '\u{0192}' | '\u{A730}' => "f",
        // ɡ ɢ
        '\u{0261}' | '\u{0262}' => "g",
        // һ н ʜ ħ հ
        '\u{04BB}' | '\u{043D}' | '\u{029C}' | '\u{0127}' | '\u{0570}' => "h",
        // ι і ı ɩ ɪ ɨ
        '\u{03B9}' | '\u{0456}' | '\u{0131}' | '\u{0269}' | '\u{026A}' | '\u{0268}' => "i",
        // ϳ ј ȷ ᴊ
        '\u{03F3}' | '\u{0458}' | '\u{0237}' | '\u{1D0A}' => "j",
        // κ к ᴋ ĸ
        '\u{03BA}' | '\u{043A}' | '\u{1D0B}' | '\u{0138}' => "k",
        // ӏ ʟ ł
        '\u{04CF}' | '\u{029F}' | '\u{0142}' => "l",
        // м ᴍ
        '\u{043C}' | '\u{1D0D}' => "m",
        // η п ɴ ո
        '\u{03B7}' | '\u{043F}' | '\u{0274}' | '\u{0578}' => "n",
        // ο о ᴏ ø ɵ օ
        '\u{03BF}' | '\u{043E}' | '\u{1D0F}' | '\u{00F8}' | '\u{0275}' | '\u{0585}' => "o",
        // ρ р ᴘ
        '\u{03C1}' | '\u{0440}' | '\u{1D18}' => "p",
        // ԛ
        '\u{051B}' => "q",
        // г ʀ
        '\u{0433}' | '\u{0280}' => "r",
        // ѕ ꜱ
        '\u{0455}' | '\u{A731}' => "s",
        // τ т ᴛ ŧ
        '\u{03C4}' | '\u{0442}' | '\u{1D1B}' | '\u{0167}' => "t",
        // υ μ ᴜ ս ʉ
        '\u{03C5}' | '\u{03BC}' | '\u{1D1C}' | '\u{057D}' | '\u{0289}' => "u",
        // ν ᴠ ѵ
        '\u{03BD}' | '\u{1D20}' | '\u{0475}' => "v",
        // ω ԝ ᴡ
        '\u{03C9}' | '\u{051D}' | '\u{1D21}' => "w",
        // χ х
        '\u{03C7}' | '\u{0445}' => "x",
        // γ у ү ʏ
        '\u{03B3}' | '\u{0443}' | '\u{04AF}' | '\u{028F}' => "y",
        // ζ ᴢ
        '\u{03B6}' | '\u{1D22}' => "z",
        // ß æ œ: NFKD leaves these alone.
        '\u{00DF}' => "ss",
        '\u{00E6}' => "ae",
        '\u{0153}' => "oe",
        _ => return false,
    };
    latin.chars().for_each(&mut *out);
    true
}

fn classify(c: char) -> Unit {
    use Kind::{Digit, Letter, Symbol};
    let (a, b, kind) = match c {
        'i' => ('i', 'l', Letter),
        'l' => ('l', 'i', Letter),
        'a'..='z' => (c, c, Letter),
        '0' => ('o', 'o', Digit),
        '1' => ('i', 'l', Digit),
        '3' => ('e', 'e', Digit),
        '4' => ('a', 'a', Digit),
        '5' => ('s', 's', Digit),
        '7' => ('t', 't', Digit),
        '8' => ('b', 'b', Digit),
        '9' => ('g', 'g', Digit),
        '2' | '6' => (c, c, Digit),
        '$' => ('s', 's', Symbol),
        '@' => ('a', 'a', Symbol),
        '!' | '¡' => ('i', 'i', Symbol),
        '|' => ('i', 'l', Symbol),
        '+' => ('t', 't', Symbol),
        '€' => ('e', 'e', Symbol),
        '¢' => ('c', 'c', Symbol),
        '\'' | '`' | '\u{2018}' | '\u{2019}' | '\u{02BB}' | '\u{02BC}' | '\u{2032}' => {
            return Unit::Apostrophe
        }
        _ if c.is_whitespace() => return Unit::Space,
        _ if c.is_alphabetic() => (c, c, Letter),
        _ if c.is_numeric() => (c, c, Digit),
        _ => return Unit::Glue,
    };
    Unit::Word(Pos { a, b, kind })
}

fn fold_char(d: char, out: &mut impl FnMut(char)) {
    if is_invisible(d) || is_combining_mark(d) || look_alike(d, out) {
        return;
    }
    for l in d.to_lowercase() {
        if !is_combining_mark(l) && !look_alike(l, out) {
            out(l);
        }
    }
}

/// Folds `text` into units, stopping early when `emit` returns false.
///
/// Each character is decomposed on its own rather than through a streaming NFKD: canonical
/// reordering would buffer an unbounded flood of combining marks, and the marks are dropped
/// anyway, so their order cannot matter.
fn fold_text(text: &str, mut emit: impl FnMut(Unit) -> bool) {
    let mut go = true;
    for c in text.chars() {
        if c.is_ascii() {
            go = emit(classify(c.to_ascii_lowercase()));
        } else if !is_invisible(c) && !is_combining_mark(c) {
            decompose_compatible(c, |d| {
                if go {
                    fold_char(d, &mut |f| {
                        if go {
                            go = emit(classify(f));
                        }
                    });
                }
            });
        }
        if !go {
            return;
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Owner {
    Term(u32),
    /// One word of a multi-word term, matched against consecutive words of the text.
    Word {
        phrase: u32,
        word: u32,
    },
}

#[derive(Debug, Clone)]
struct Phrase {
    term: u32,
    words: u32,
}

/// A term (or stem) as a bit-parallel automaton: state `s` means "letters 0..=s are spelled".
#[derive(Debug, Clone)]
struct Pattern {
    owner: Owner,
    /// For each letter, the states spelling it: a table for a..z, which is nearly all
    /// look-ups, and a short list for other scripts.
    ascii: [u64; 26],
    other: Vec<(char, u64)>,
    /// Number of letters (states).
    len: usize,
    /// States that may repeat their letter: the last state of each run of equal letters, so
    /// every run in the text must be at least as long as the term's ("fol" is not "fool").
    stretch: u64,
    last: u64,
    suffixes: &'static [&'static str],
    /// Whether the pattern is also searched inside runs of one-letter words ("a s s").
    in_runs: bool,
}

impl Pattern {
    fn new(
        word: &[Pos],
        owner: Owner,
        suffixes: &'static [&'static str],
        stretch_last: bool,
        in_runs: bool,
    ) -> Pattern {
        let mut ascii = [0u64; 26];
        let mut other: Vec<(char, u64)> = Vec::new();
        let mut stretch = 0;
        for (s, p) in word.iter().enumerate() {
            let bit = 1u64 << s;
            if let Some(slot) = ascii_slot(p.a) {
                ascii[slot] |= bit;
            } else {
                match other.iter_mut().find(|(m, _)| *m == p.a) {
                    Some((_, bits)) => *bits |= bit,
                    None => other.push((p.a, bit)),
                }
            }
            let run_end = match word.get(s + 1) {
                Some(next) => next.a != p.a,
                None => stretch_last,
            };
            if run_end {
                stretch |= bit;
            }
        }
        Pattern {
            owner,
            ascii,
            other,
            len: word.len(),
            stretch,
            last: 1u64 << (word.len().max(1) - 1),
            suffixes,
            in_runs,
        }
    }

    fn char_mask(&self, c: char) -> u64 {
        match ascii_slot(c) {
            Some(slot) => self.ascii[slot],
            None => self.other.iter().find(|(m, _)| *m == c).map_or(0, |(_, bits)| *bits),
        }
    }

    /// The states `p` can advance into, and the states it can stretch. Stretching takes the
    /// primary reading only: i and l stand in for each other ("IDlOT"), but letting one repeat
    /// the other would turn "bullish" into "bullsh..." and "shilt" into "shit".
    fn masks(&self, p: Pos) -> (u64, u64) {
        let primary = self.char_mask(p.a);
        if p.b == p.a {
            (primary, primary)
        } else {
            (primary | self.char_mask(p.b), primary)
        }
    }

    fn step(&self, state: u64, (advance, stretch): (u64, u64)) -> u64 {
        ((state << 1) & advance) | (state & self.stretch & stretch)
    }

    /// Whether `tok[st..e]` is the pattern plus one of its suffixes, given `hist[i]`, the states
    /// after reading `i` characters from `st`.
    fn accepts(&self, tok: &[Pos], st: usize, e: usize, hist: &[u64]) -> bool {
        self.suffixes.iter().any(|suf| {
            let k = suf.len();
            if e - st <= k {
                return false;
            }
            hist.get(e - st - k).is_some_and(|h| h & self.last != 0)
                && suf.chars().zip(&tok[e - k..e]).all(|(c, p)| p.has(c))
        })
    }
}

/// Decides whether chat text contains a blocked term; see the module documentation.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// As written in the list, lowercased and trimmed; index = priority.
    terms: Vec<String>,
    patterns: Vec<Pattern>,
    phrases: Vec<Phrase>,
    /// Patterns by their first letters.
    index_all: Index,
    index_runs: Index,
    /// Letters in the shortest pattern: shorter tokens need no look-up at all.
    min_len: usize,
    /// A run of identical characters longer than this is cut. Every path through a longer run
    /// repeats some state on the same character, so once the run exceeds the longest pattern
    /// (plus a suffix) the reachable states no longer change: the rest of the run cannot alter
    /// the verdict and only costs time ("shiiii...iiit" with a million i's).
    run_clamp: usize,
}

impl Matcher {
    /// Builds a matcher; terms are normalised the same way as text. Err(String) with a clear
    /// message if the list is empty or a term has no letters.
    pub fn new<I, S>(terms: I) -> Result<Matcher, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Matcher::build(terms.into_iter().enumerate().map(|(i, t)| (format!("term {}", i + 1), t)))
    }

    /// The default list.
    pub fn default_terms() -> Matcher {
        // The list is a constant covered by the tests, so failure here is a programming error.
        Matcher::new(DEFAULT_TERMS).expect("DEFAULT_TERMS is a valid blocklist")
    }

    /// Parses a blocklist file: one term per line, blank lines and lines starting with '#'
    /// ignored, surrounding whitespace trimmed.
    pub fn from_list(text: &str) -> Result<Matcher, String> {
        // Editors on Windows like to start files with a byte-order mark, which would otherwise
        // turn a first-line "# comment" into a term.
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        Matcher::build(
            text.lines()
                .enumerate()
                .map(|(i, line)| (i + 1, line.trim()))
                .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
                .map(|(n, line)| (format!("line {n}"), line)),
        )
    }

    /// The first listed term (as written in the list, lowercased) that the text contains, or
    /// None.
    pub fn find(&self, text: &str) -> Option<&str> {
        let mut scan = Scanner::new(self);
        fold_text(text, |unit| scan.push(unit));
        let best = scan.finish()?;
        self.terms.get(best as usize).map(String::as_str)
    }

    /// The number of distinct terms.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// Always false for a successfully built matcher; kept for the usual `len` pairing.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    fn build<S: AsRef<str>>(entries: impl IntoIterator<Item = (String, S)>) -> Result<Matcher, String> {
        let mut m = Matcher {
            terms: Vec::new(),
            patterns: Vec::new(),
            phrases: Vec::new(),
            index_all: Index::default(),
            index_runs: Index::default(),
            min_len: MAX_TERM_LETTERS,
            run_clamp: 0,
        };
        let mut seen = HashSet::new();
        for (label, term) in entries {
            let written = term.as_ref().trim().to_lowercase();
            if written.is_empty() {
                return Err(format!("blocklist {label} is empty"));
            }
            let words = term_words(&written);
            if !words.iter().flatten().any(|p| p.kind == Kind::Letter) {
                return Err(format!("blocklist {label} ({written:?}) has no letters"));
            }
            let glued: Vec<Pos> = words.concat();
            if glued.len() > MAX_TERM_LETTERS {
                return Err(format!(
                    "blocklist {label} ({written:?}) is longer than {MAX_TERM_LETTERS} letters"
                ));
            }
            if !seen.insert(written.clone()) {
                continue;
            }
            let index = u32::try_from(m.terms.len()).map_err(|_| "blocklist too long")?;
            m.terms.push(written);
            // The glued form also catches "killyourself" and "k i l l y o u r s e l f".
            m.add_word(&glued, Owner::Term(index), true);
            if words.len() > 1 {
                let phrase = u32::try_from(m.phrases.len()).map_err(|_| "blocklist too long")?;
                for (w, word) in (0u32..).zip(&words) {
                    m.add_word(word, Owner::Word { phrase, word: w }, false);
                }
                m.phrases.push(Phrase { term: index, words: u32::try_from(words.len()).unwrap_or(u32::MAX) });
            }
        }
        if m.terms.is_empty() {
            return Err("the blocklist has no terms".to_string());
        }
        Ok(m)
    }

    fn add_word(&mut self, word: &[Pos], owner: Owner, in_runs: bool) {
        let n = word.len();
        if n == 0 {
            return;
        }
        let key: String = word.iter().map(|p| p.a).collect();
        let limited = LIMITED.iter().find(|(k, _)| *k == key).map(|(_, s)| *s);
        let suffixes = limited.unwrap_or(if n <= 2 { SHORT_SUFFIXES } else { SUFFIXES });
        self.add_pattern(word, Pattern::new(word, owner, suffixes, true, in_runs));
        if limited.is_none() && n >= 3 {
            let stem = &word[..n - 1];
            match word[n - 1].a {
                // The stem's last letter may not stretch, or "hatter" would be "hate" + "er".
                'e' => self.add_pattern(stem, Pattern::new(stem, owner, E_DROP_SUFFIXES, false, false)),
                'y' => self.add_pattern(stem, Pattern::new(stem, owner, Y_DROP_SUFFIXES, true, false)),
                _ => {}
            }
        }
    }

    fn add_pattern(&mut self, word: &[Pos], pattern: Pattern) {
        let Ok(id) = u32::try_from(self.patterns.len()) else { return };
        self.index_all.add(word, id);
        if pattern.in_runs {
            self.index_runs.add(word, id);
        }
        self.min_len = self.min_len.min(pattern.len);
        self.run_clamp = self.run_clamp.max(pattern.len + MAX_SUFFIX + 1);
        self.patterns.push(pattern);
    }
}

fn ascii_slot(c: char) -> Option<usize> {
    c.is_ascii_lowercase().then(|| usize::from(c as u8 - b'a'))
}

/// Pattern ids by their first two letters, so a word only meets the patterns it could spell:
/// with a large blocklist, indexing by the first letter alone leaves hundreds of candidates for
/// every word (and for every letter of "s s s s ...").
#[derive(Debug, Clone, Default)]
struct Index {
    /// One-letter patterns by their letter.
    singles: HashMap<char, Vec<u32>>,
    /// Longer patterns: a 26 x 26 table for a..z, which is nearly all look-ups, and a map.
    ascii_pairs: Vec<Vec<u32>>,
    other_pairs: HashMap<(char, char), Vec<u32>>,
}

impl Index {
    fn add(&mut self, word: &[Pos], id: u32) {
        let Some(first) = word.first() else { return };
        let Some(second) = word.get(1) else {
            self.singles.entry(first.a).or_default().push(id);
            return;
        };
        match pair_slot(first.a, second.a) {
            Some(slot) => {
                if self.ascii_pairs.is_empty() {
                    self.ascii_pairs = vec![Vec::new(); 26 * 26];
                }
                self.ascii_pairs[slot].push(id);
            }
            None => self.other_pairs.entry((first.a, second.a)).or_default().push(id),
        }
    }

    fn singles(&self, c: char) -> &[u32] {
        if self.singles.is_empty() {
            return &[];
        }
        self.singles.get(&c).map_or(&[], Vec::as_slice)
    }

    fn pairs(&self, c0: char, c1: char) -> &[u32] {
        match pair_slot(c0, c1) {
            Some(slot) => self.ascii_pairs.get(slot).map_or(&[], Vec::as_slice),
            None if self.other_pairs.is_empty() => &[],
            None => self.other_pairs.get(&(c0, c1)).map_or(&[], Vec::as_slice),
        }
    }

    /// Patterns that could spell `tok` from `st`, each once (a pattern has one key). The
    /// second letter is met either right after `st` or, if the first letter stretches, where
    /// the stretch must end: at the first character whose primary reading differs.
    fn token_candidates(&self, tok: &[Pos], st: usize, seconds: &mut Vec<char>, out: &mut Vec<u32>) {
        out.clear();
        for c0 in tok[st].chars() {
            out.extend_from_slice(self.singles(c0));
            seconds.clear();
            for p in &tok[st + 1..] {
                for c in p.chars() {
                    if !seconds.contains(&c) {
                        seconds.push(c);
                    }
                }
                if p.a != c0 {
                    break;
                }
            }
            for &c1 in seconds.iter() {
                out.extend_from_slice(self.pairs(c0, c1));
            }
        }
    }

    /// Patterns that can start a substring of a run ending with `prev`, `p`: substrings are
    /// found from their last possible start, so a stretched first letter needs no look-up.
    fn run_candidates(&self, prev: Option<Pos>, p: Pos, out: &mut Vec<u32>) {
        out.clear();
        for c in p.chars() {
            out.extend_from_slice(self.singles(c));
        }
        if let Some(q) = prev {
            for c0 in q.chars() {
                for c1 in p.chars() {
                    out.extend_from_slice(self.pairs(c0, c1));
                }
            }
        }
    }
}

fn pair_slot(c0: char, c1: char) -> Option<usize> {
    Some(ascii_slot(c0)? * 26 + ascii_slot(c1)?)
}

/// The words of a term: whitespace separates words, punctuation inside a word is ignored.
fn term_words(term: &str) -> Vec<Vec<Pos>> {
    let mut words: Vec<Vec<Pos>> = vec![Vec::new()];
    fold_text(term, |unit| {
        match unit {
            Unit::Word(p) => {
                if let Some(w) = words.last_mut() {
                    w.push(p);
                }
            }
            Unit::Space => {
                if words.last().is_some_and(|w| !w.is_empty()) {
                    words.push(Vec::new());
                }
            }
            Unit::Glue | Unit::Apostrophe => {}
        }
        true
    });
    words.retain(|w| !w.is_empty());
    words
}

/// Appends `p` unless it would extend a run of identical characters beyond `clamp`; the run
/// counted is the one ending `buf` after index `floor`.
fn push_clamped(buf: &mut Vec<Pos>, floor: usize, same: &mut usize, clamp: usize, p: Pos) {
    if buf.len() > floor && buf.last() == Some(&p) {
        if *same >= clamp {
            return;
        }
        *same += 1;
    } else {
        *same = 1;
    }
    buf.push(p);
}

/// A maximal run of word characters inside a chunk, as a range of the chunk.
#[derive(Clone, Copy)]
struct Piece {
    start: usize,
    end: usize,
    /// A contraction or possessive ending after an apostrophe ("'s", "'re").
    clitic: bool,
}

/// Whether `tok`, which follows an apostrophe right after a word of `prev_len` characters, is a
/// contraction or possessive ending; trailing symbols are punctuation here ("who're!"). After a
/// single letter only the plural "'s" counts ("A's and S's"): other endings there are more
/// likely an evasion ("s'h'i't").
fn is_clitic(tok: &[Pos], prev_len: usize) -> bool {
    const ENDINGS: &[&str] = &["s", "t", "d", "m", "re", "ve", "ll"];
    let letters = tok.iter().rposition(|p| p.kind == Kind::Letter).map_or(0, |l| l + 1);
    let core = &tok[..letters];
    ENDINGS.iter().any(|ending| {
        (prev_len > 1 || *ending == "s")
            && ending.len() == core.len()
            && ending.chars().zip(core).all(|(c, p)| p.kind == Kind::Letter && p.a == c)
    })
}

/// The state of one `find` call, fed the folded text unit by unit.
struct Scanner<'m> {
    m: &'m Matcher,
    best: Option<u32>,
    /// The current whitespace-delimited chunk and the word pieces in it.
    chunk: Vec<Pos>,
    pieces: Vec<Piece>,
    piece_start: Option<usize>,
    same: usize,
    /// An apostrophe directly follows the last piece, and the open piece directly followed one.
    apostrophe_pending: bool,
    after_apostrophe: bool,
    /// Automaton states over the current run of one-letter words, per pattern: reachable at
    /// all, and reachable through at least one non-digit (so "4 5 5" is a number, not "ass").
    run_any: Vec<u64>,
    run_lettered: Vec<u64>,
    run_seen: Vec<u64>,
    run_clock: u64,
    run_active: Vec<u32>,
    run_next: Vec<u32>,
    run_prev: Option<Pos>,
    /// Per phrase, bit w set when the last pieces matched its words 0..=w.
    progress: Vec<u64>,
    word_hits: Vec<u64>,
    touched: Vec<u32>,
    phrase_active: Vec<u32>,
    joined: Vec<Pos>,
    hist: Vec<u64>,
    cands: Vec<u32>,
    seconds: Vec<char>,
    /// For a token without letters: how many leet symbols precede each position.
    symbols: Vec<u32>,
}

impl<'m> Scanner<'m> {
    fn new(m: &'m Matcher) -> Scanner<'m> {
        Scanner {
            m,
            best: None,
            chunk: Vec::new(),
            pieces: Vec::new(),
            piece_start: None,
            same: 0,
            apostrophe_pending: false,
            after_apostrophe: false,
            run_any: Vec::new(),
            run_lettered: Vec::new(),
            run_seen: Vec::new(),
            run_clock: 0,
            run_active: Vec::new(),
            run_next: Vec::new(),
            run_prev: None,
            progress: vec![0; m.phrases.len()],
            word_hits: vec![0; m.phrases.len()],
            touched: Vec::new(),
            phrase_active: Vec::new(),
            joined: Vec::new(),
            hist: Vec::new(),
            cands: Vec::new(),
            seconds: Vec::new(),
            symbols: Vec::new(),
        }
    }

    /// Returns false once nothing can improve the verdict (the top-priority term matched).
    fn push(&mut self, unit: Unit) -> bool {
        match unit {
            Unit::Word(p) => {
                if self.piece_start.is_none() {
                    self.piece_start = Some(self.chunk.len());
                    self.after_apostrophe = std::mem::take(&mut self.apostrophe_pending);
                }
                let start = self.piece_start.unwrap_or(0);
                push_clamped(&mut self.chunk, start, &mut self.same, self.m.run_clamp, p);
            }
            Unit::Apostrophe => {
                let open = self.piece_start.is_some();
                self.close_piece();
                self.apostrophe_pending = open;
            }
            Unit::Glue => {
                self.close_piece();
                self.apostrophe_pending = false;
            }
            Unit::Space => {
                self.close_piece();
                self.apostrophe_pending = false;
                self.flush_chunk();
            }
        }
        self.best != Some(0)
    }

    fn finish(mut self) -> Option<u32> {
        if self.best != Some(0) {
            self.close_piece();
            self.flush_chunk();
        }
        self.best
    }

    fn close_piece(&mut self) {
        if let Some(start) = self.piece_start.take() {
            let end = self.chunk.len();
            // "who're", "Shi'ite's", "devotion's-hit": an ending after a word belongs to that
            // word and must not be glued into anything.
            let clitic = self.after_apostrophe
                && self
                    .pieces
                    .last()
                    .is_some_and(|prev| is_clitic(&self.chunk[start..end], prev.end - prev.start));
            self.pieces.push(Piece { start, end, clitic });
        }
    }

    fn hit_term(&mut self, term: u32) {
        self.best = Some(self.best.map_or(term, |b| b.min(term)));
    }

    fn flush_chunk(&mut self) {
        let chunk = std::mem::take(&mut self.chunk);
        let pieces = std::mem::take(&mut self.pieces);
        for piece in &pieces {
            if piece.clitic {
                // Part of the previous word: not a word of its own for phrases or runs.
                self.run_reset();
                continue;
            }
            let tok = &chunk[piece.start..piece.end];
            self.match_token(tok, true);
            self.advance_phrases();
            match single_char(tok) {
                Some(p) => self.run_step(p),
                None => self.run_reset(),
            }
        }
        for segment in pieces.split(|piece| piece.clitic) {
            self.match_joined(&chunk, segment);
        }
        self.chunk = chunk;
        self.chunk.clear();
        self.pieces = pieces;
        self.pieces.clear();
    }

    /// Tries adjacent pieces of one chunk glued together ("sh-it", "i.d.i.o.t.s").
    fn match_joined(&mut self, chunk: &[Pos], pieces: &[Piece]) {
        if pieces.len() < 2 {
            return;
        }
        let mut joined = std::mem::take(&mut self.joined);
        for i in 0..pieces.len() {
            joined.clear();
            let mut same = 0;
            for (j, piece) in pieces.iter().enumerate().skip(i).take(MAX_SPAN) {
                for &p in &chunk[piece.start..piece.end] {
                    push_clamped(&mut joined, 0, &mut same, self.m.run_clamp, p);
                }
                // One-character pieces are the run automaton's job already.
                if j > i && pieces[i..=j].iter().any(|piece| piece.end - piece.start > 1) {
                    self.match_token(&joined, false);
                }
            }
        }
        if pieces.len() > MAX_SPAN {
            joined.clear();
            let mut same = 0;
            for piece in pieces {
                for &p in &chunk[piece.start..piece.end] {
                    push_clamped(&mut joined, 0, &mut same, self.m.run_clamp, p);
                }
            }
            self.match_token(&joined, false);
        }
        self.joined = joined;
    }

    /// Whole-word test of one token against every pattern that can start it. Leet symbols and
    /// digits at the edges may be letters ("$hit", "sh17") or punctuation ("damn!", "idiot2",
    /// "f001!"), so the word may start at any of the first few of them and end at any of the
    /// trailing ones. Ends are only tried as far as the walk survived, which keeps this linear.
    fn match_token(&mut self, tok: &[Pos], words: bool) {
        let m = self.m;
        let n = tok.len();
        if n < m.min_len {
            return;
        }
        // Where the word proper may start and end: letters anchor it, and without letters only
        // symbols can be punctuation, never digits ("2304@5554" is not "@55").
        let (lead, min_end) = match tok.iter().position(|p| p.kind == Kind::Letter) {
            Some(f) => {
                let l = tok.iter().rposition(|p| p.kind == Kind::Letter).unwrap_or(f);
                self.symbols.clear();
                (f, l + 1)
            }
            None => {
                let edge = |p: &&Pos| p.kind == Kind::Symbol;
                let lead = tok.iter().take_while(edge).count().min(n - 1);
                let trail = tok.iter().rev().take_while(edge).count();
                // The word must still contain a leet symbol: digits alone are a number.
                self.symbols.clear();
                self.symbols.push(0);
                for p in tok {
                    let before = self.symbols.last().copied().unwrap_or(0);
                    self.symbols.push(before + u32::from(p.kind == Kind::Symbol));
                }
                if self.symbols.last() == Some(&0) {
                    return;
                }
                (lead, (n - trail).max(1))
            }
        };
        let starts = (0..=lead.min(MAX_EDGE_STRIP)).chain((lead > MAX_EDGE_STRIP).then_some(lead));
        for st in starts {
            m.index_all.token_candidates(tok, st, &mut self.seconds, &mut self.cands);
            for ci in 0..self.cands.len() {
                let pat = &m.patterns[self.cands[ci] as usize];
                if n - st < pat.len || (!words && matches!(pat.owner, Owner::Word { .. })) {
                    continue;
                }
                self.hist.clear();
                self.hist.push(0);
                let mut state = 0;
                for (i, &p) in tok[st..].iter().enumerate() {
                    let masks = pat.masks(p);
                    state = pat.step(state, masks) | if i == 0 { masks.0 & 1 } else { 0 };
                    self.hist.push(state);
                    if state == 0 {
                        break;
                    }
                }
                let max_end = n.min(st + self.hist.len() - 1 + MAX_SUFFIX);
                for e in min_end.max(st + 1)..=max_end {
                    if !self.symbols.is_empty() && self.symbols[e] == self.symbols[st] {
                        continue;
                    }
                    if pat.accepts(tok, st, e, &self.hist) {
                        match pat.owner {
                            Owner::Term(t) => self.hit_term(t),
                            Owner::Word { phrase, word } => {
                                let slot = &mut self.word_hits[phrase as usize];
                                if *slot == 0 {
                                    self.touched.push(phrase);
                                }
                                *slot |= 1u64 << word;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Moves every phrase on by the piece just matched.
    fn advance_phrases(&mut self) {
        if self.touched.is_empty() && self.phrase_active.is_empty() {
            return;
        }
        let m = self.m;
        let mut next: Vec<(u32, u64)> = Vec::with_capacity(self.touched.len());
        for &ph in &self.touched {
            let i = ph as usize;
            next.push((ph, ((self.progress[i] << 1) | 1) & self.word_hits[i]));
            self.word_hits[i] = 0;
        }
        for &ph in &self.phrase_active {
            self.progress[ph as usize] = 0;
        }
        self.phrase_active.clear();
        self.touched.clear();
        for (ph, v) in next {
            if v == 0 {
                continue;
            }
            self.progress[ph as usize] = v;
            self.phrase_active.push(ph);
            let phrase = &m.phrases[ph as usize];
            if v & (1u64 << (phrase.words.clamp(1, 64) - 1)) != 0 {
                self.hit_term(phrase.term);
            }
        }
    }

    /// Feeds one one-letter word to the run automaton, which looks for a term starting at any
    /// word of the run ("you a s s"), so fresh starts are injected at every step.
    fn run_step(&mut self, p: Pos) {
        let m = self.m;
        if self.run_any.is_empty() {
            self.run_any = vec![0; m.patterns.len()];
            self.run_lettered = vec![0; m.patterns.len()];
            self.run_seen = vec![0; m.patterns.len()];
        }
        self.run_clock += 1;
        let clock = self.run_clock;
        let active = std::mem::take(&mut self.run_active);
        let mut next = std::mem::take(&mut self.run_next);
        next.clear();
        let prev = self.run_prev.replace(p);
        m.index_runs.run_candidates(prev, p, &mut self.cands);
        let fresh = self.cands.len();
        let letter = p.kind != Kind::Digit;
        let pair_letter = letter || prev.is_some_and(|q| q.kind != Kind::Digit);
        for (k, &id) in self.cands.iter().chain(active.iter()).enumerate() {
            let i = id as usize;
            if self.run_seen[i] == clock {
                continue;
            }
            self.run_seen[i] = clock;
            let pat = &m.patterns[i];
            let masks = pat.masks(p);
            // A new start: one-letter patterns at `p`, longer ones at `prev`.
            let (start, start_letter) = match prev {
                _ if k >= fresh => (0, false),
                _ if pat.len == 1 => (masks.0 & 1, letter),
                Some(q) => (pat.step(pat.masks(q).0 & 1, masks), pair_letter),
                None => (0, false),
            };
            let any = pat.step(self.run_any[i], masks) | start;
            let lettered = if letter {
                any
            } else {
                pat.step(self.run_lettered[i], masks) | if start_letter { start } else { 0 }
            };
            self.run_any[i] = any;
            self.run_lettered[i] = lettered;
            if lettered & pat.last != 0 {
                if let Owner::Term(t) = pat.owner {
                    self.best = Some(self.best.map_or(t, |b| b.min(t)));
                }
            }
            if any != 0 {
                next.push(id);
            }
        }
        self.run_active = next;
        self.run_next = active;
    }

    fn run_reset(&mut self) {
        for &id in &self.run_active {
            self.run_any[id as usize] = 0;
            self.run_lettered[id as usize] = 0;
        }
        self.run_active.clear();
        self.run_prev = None;
    }
}

/// The letter a piece contributes to a run of one-letter words: the piece itself if it is one
/// character, else its only letter once edge symbols are dropped ("s h i t!").
fn single_char(tok: &[Pos]) -> Option<Pos> {
    if let [p] = tok {
        return Some(*p);
    }
    let f = tok.iter().position(|p| p.kind == Kind::Letter)?;
    let l = tok.iter().rposition(|p| p.kind == Kind::Letter)?;
    (f == l).then(|| tok[f])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m() -> Matcher {
        Matcher::default_terms()
    }

    #[track_caller]
    fn hit(text: &str, term: &str) {
        assert_eq!(m().find(text), Some(term), "text {text:?}");
    }

    #[track_caller]
    fn clean(text: &str) {
        assert_eq!(m().find(text), None, "text {text:?}");
    }

    #[test]
    fn default_list_has_required_terms() {
        for t in [
            "idiot",
            "stupid",
            "hate",
            "fool",
            "damn",
            "shit",
            "fuck",
            "motherfucker",
            "bullshit",
            "shitty",
            "cunt",
            "bitch",
            "bitchy",
            "bastard",
            "asshole",
            "ass",
            "dick",
            "cock",
            "piss",
            "crap",
            "crappy",
            "slut",
            "whore",
            "wanker",
            "twat",
            "prick",
            "dumbass",
            "jackass",
            "douche",
            "moron",
            "retard",
        ] {
            assert!(DEFAULT_TERMS.contains(&t), "{t} missing");
        }
        let matcher = m();
        assert_eq!(matcher.len(), DEFAULT_TERMS.len());
        assert!(!matcher.is_empty());
        for t in DEFAULT_TERMS {
            assert_eq!(matcher.find(t), Some(*t), "a term must find itself");
        }
    }

    #[test]
    fn plain_and_case_insensitive() {
        hit("you are an idiot", "idiot");
        hit("You Are An IDIOT", "idiot");
        hit("STUPID", "stupid");
        hit("I hate mondays", "hate");
        hit("Damn it", "damn");
        hit("oh shit", "shit");
        hit("what a FOOL", "fool");
    }

    #[test]
    fn first_listed_term_wins() {
        hit("fucking idiot", "idiot");
        hit("shit, you fool", "fool");
        let custom = Matcher::from_list("zebra\nyak").unwrap();
        assert_eq!(custom.find("yak and zebra"), Some("zebra"));
    }

    #[test]
    fn innocent_words_are_not_punished() {
        for w in [
            "Scunthorpe",
            "shiitake",
            "shitake",
            "assess",
            "classic",
            "cockpit",
            "cocktail",
            "Dickens",
            "stupidity",
            "hateful",
            "hello",
            "passage",
            "bass",
            "grass",
            "hatch",
            "whatever",
            "foolproof",
            "foolish",
            "assassin",
            "Hancock",
            "peacock",
            "analysis",
            "therapist",
            "Mad Hatter",
            "hatting",
            "shuttlecock",
            "retardant",
            "arsenal",
            "Cockburn",
            "Penistone",
            "massive",
            "embarrass",
            "Dickinson",
            "hitch",
            "cocky",
        ] {
            clean(w);
        }
        clean("I read the classic novels of Dickens in Scunthorpe, then had shiitake soup.");
        clean("We need to assess the passage of the bass through the grass.");
        // Contractions and possessives are never glued into one word.
        clean("who're you?");
        clean("the Shi'ite's view");
        clean("As's value");
        clean("who\u{2019}re they");
        clean("oblivion's/hitters");
        clean("devotion's-hit's");
        clean("foo! bar");
        clean("bullish|7794");
        clean("$hilts");
        clean("who're!");
        clean("As's!");
        clean("straight A's and S's, a S's");
        hit("sh'it", "shit");
        hit("s'h'i't", "shit");
        hit("you're an idiot's idiot", "idiot");
        hit("idiot'S", "idiot");
    }

    #[test]
    fn innocent_inflections_of_limited_terms() {
        clean("I pricked my finger");
        clean("a pricking sensation");
        clean("he cocked his head and the gun");
        clean("my Cocker spaniel");
        clean("damning evidence");
        clean("let's shoot craps");
        clean("they dicker over the price");
        clean("retarding the reaction");
        hit("pricks", "prick");
        hit("cocks", "cock");
        hit("damned", "damn");
        hit("crapped", "crap");
    }

    #[test]
    fn inflections() {
        for (w, t) in [
            ("idiots", "idiot"),
            ("stupidest", "stupid"),
            ("stupider", "stupid"),
            ("hated", "hate"),
            ("hates", "hate"),
            ("hating", "hate"),
            ("hater", "hate"),
            ("haters", "hate"),
            ("hatin", "hate"),
            ("fools", "fool"),
            ("fooled", "fool"),
            ("fooling", "fool"),
            ("damned", "damn"),
            ("shits", "shit"),
            ("shitting", "shit"),
            ("shitter", "shit"),
            ("fucker", "fuck"),
            ("fuckers", "fuck"),
            ("fucking", "fuck"),
            ("fuckin", "fuck"),
            ("fucked", "fuck"),
            ("bitches", "bitch"),
            ("asses", "ass"),
            ("whores", "whore"),
            ("whoring", "whore"),
            ("morons", "moron"),
            ("shittiest", "shitty"),
            ("crappier", "crappy"),
            ("motherfuckers", "motherfucker"),
        ] {
            hit(w, t);
        }
    }

    #[test]
    fn leetspeak() {
        for (w, t) in [
            ("sh1t", "shit"),
            ("$hit", "shit"),
            ("5h1t", "shit"),
            ("sh!t", "shit"),
            ("sh|t", "shit"),
            ("@ss", "ass"),
            ("a$$", "ass"),
            ("@$$", "ass"),
            ("1d10t", "idiot"),
            ("!d!ot", "idiot"),
            ("f00l", "fool"),
            ("h4te", "hate"),
            ("d4mn", "damn"),
            ("stup1d", "stupid"),
            ("b1tch", "bitch"),
            ("s1ut", "slut"),
            ("+wat", "twat"),
            ("douch€", "douche"),
            ("IDlOT", "idiot"),
            ("sIut", "slut"),
            ("sh1tty", "shitty"),
            ("1d10ts", "idiot"),
        ] {
            hit(w, t);
        }
    }

    #[test]
    fn numbers_are_not_words() {
        clean("I owe you 455 dollars");
        clean("call 5417 now");
        clean("scores: 4 5 5");
        clean("$5 and 3 items, 2nd place, 1st try");
        clean("2304@5554 and 373@5564+");
        clean("455!");
        hit("@55!", "ass");
    }

    #[test]
    fn edge_punctuation() {
        hit("damn!", "damn");
        hit("you idiot!!", "idiot");
        hit("idiot?!", "idiot");
        hit("(shit)", "shit");
        hit("\"fool\"", "fool");
        hit("idiot's hat", "idiot");
        hit("idiot2", "idiot");
        hit("...stupid...", "stupid");
        clean("hello!");
        clean("hello!!! what's up?");
        clean("hi! hey! wow!!");
    }

    #[test]
    fn separators() {
        for (w, t) in [
            ("s.h.i.t", "shit"),
            ("s h i t", "shit"),
            ("s-h-i-t", "shit"),
            ("s_h_i_t", "shit"),
            ("s . h . i . t", "shit"),
            ("s h i t!", "shit"),
            ("f o o l", "fool"),
            ("you a s s", "ass"),
            ("sh-it", "shit"),
            ("i.d.i.o.t.s", "idiot"),
            ("what the f u c k", "fuck"),
            ("you're.an.id-iot", "idiot"),
            ("m-o-t-h-e-r-f-u-c-k-e-r", "fuck"), // "fuck" is listed first
            ("S H I I I T", "shit"),
            ("5 h 1 t", "shit"),
        ] {
            hit(w, t);
        }
        clean("a b c d e f");
        clean("plan B I guess");
        clean("grade: A, B, C");
    }

    #[test]
    fn repeated_letters() {
        hit("shiiiit", "shit");
        hit("fooool", "fool");
        hit("SHIIIT", "shit");
        hit("ssshhhiiittt", "shit");
        hit("iiiidiot", "idiot");
        hit("dammmmned", "damn");
        clean("fol");
        clean("assess");
        let long = format!("sh{}t", "i".repeat(100_000));
        hit(&long, "shit");
    }

    #[test]
    fn unicode_look_alikes() {
        hit("\u{0455}\u{04BB}\u{0456}t", "shit"); // ѕһіt
        hit("\u{0430}ss", "ass"); // Cyrillic а
        hit("id\u{0456}\u{043E}t", "idiot"); // Cyrillic і, о
        hit("id\u{03B9}\u{03BF}t", "idiot"); // Greek ι, ο
        hit("\u{0405}\u{041D}\u{0406}\u{0422}", "shit"); // ЅНІТ, Cyrillic capitals
        hit("S\u{0397}IT", "shit"); // Greek capital Η
        hit("\u{03BA}ill cock", "cock");
        hit("f\u{03BF}\u{03BF}l", "fool");
        hit("\u{0455}lut", "slut");
    }

    #[test]
    fn compatibility_forms_and_accents() {
        hit("\u{FF53}\u{FF48}\u{FF49}\u{FF54}", "shit"); // ｓｈｉｔ
        hit("\u{FF33}\u{FF28}\u{FF11}\u{FF34}", "shit"); // ＳＨ１Ｔ
        hit("sh\u{00EF}t", "shit"); // shït precomposed
        hit("shi\u{0308}t", "shit"); // shït with a combining mark
        hit("f\u{00FA}ck", "fuck");
        hit("\u{00CD}D\u{00CE}\u{00D3}T", "idiot");
        hit("\u{1D42C}\u{1D421}\u{1D422}\u{1D42D}", "shit"); // mathematical bold
        hit("\u{24E2}\u{24D7}\u{24D8}\u{24E3}", "shit"); // circled letters
        hit("\u{1D00}ss", "ass"); // small capital A
        hit("\u{1F1F8} \u{1F1ED} \u{1F1EE} \u{1F1F9}", "shit"); // regional indicators
    }

    #[test]
    fn invisible_characters() {
        for z in [
            '\u{200B}', '\u{200C}', '\u{200D}', '\u{200E}', '\u{200F}', '\u{2060}', '\u{2061}', '\u{2062}',
            '\u{2063}', '\u{2064}', '\u{FEFF}', '\u{00AD}', '\u{180E}', '\u{034F}',
        ] {
            hit(&format!("s{z}h{z}i{z}t"), "shit");
            hit(&format!("{z}idiot{z}"), "idiot");
        }
        hit("f\u{200B}\u{200B}\u{FEFF}ool", "fool");
        clean("hel\u{200B}lo");
    }

    #[test]
    fn mixed_scripts_and_other_languages() {
        hit("\u{0455}h1\u{0442}", "shit"); // Cyrillic ѕ, digit 1, Cyrillic т
        hit("ｆ\u{03BF}0l", "fool");
        clean("Привет, как дела?");
        clean("Καλημέρα κόσμε");
        clean("こんにちは世界");
        clean("😀🎉👍");
    }

    #[test]
    fn empty_and_whitespace() {
        clean("");
        clean("   ");
        clean("\n\t \r\n");
        clean("\u{200B}\u{FEFF}");
        clean("!!! ... ---");
    }

    #[test]
    fn from_list_parses_comments_blank_lines_and_whitespace() {
        let list = "# my list\n\n  Frak  \n\t# indented comment\nSh!t\n\nsmeg\nfrak\n";
        let matcher = Matcher::from_list(list).unwrap();
        assert_eq!(matcher.len(), 3);
        assert_eq!(matcher.find("oh FRAKKING hell"), Some("frak"));
        assert_eq!(matcher.find("shit"), Some("sh!t"));
        assert_eq!(matcher.find("smegs"), Some("smeg"));
        assert_eq!(matcher.find("idiot"), None);
        assert_eq!(matcher.find("# frak"), Some("frak"));
    }

    #[test]
    fn from_list_ignores_byte_order_mark_and_crlf() {
        let matcher = Matcher::from_list("\u{FEFF}# comment\r\nfrak\r\n\r\n").unwrap();
        assert_eq!(matcher.len(), 1);
        assert_eq!(matcher.find("comment"), None);
        assert_eq!(matcher.find("FRAK"), Some("frak"));
    }

    #[test]
    fn long_runs_of_leet_and_letters() {
        hit(&format!("{}hit", "$".repeat(1000)), "shit");
        hit(&format!("{}h1t", "5".repeat(1000)), "shit");
        hit(&format!("f{}l", "0".repeat(5000)), "fool");
        hit(&format!("{}diot", "1".repeat(3000)), "idiot");
        clean(&format!("f{}", "o".repeat(5000)));
        clean(&"5".repeat(10_000));
    }

    #[test]
    fn from_list_errors() {
        assert!(Matcher::from_list("").is_err());
        assert!(Matcher::from_list("# only\n\n   \n#comments").is_err());
        let err = Matcher::from_list("fine\n---\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("no letters"), "{err}");
        assert!(Matcher::from_list("1234").is_err());
        assert!(Matcher::from_list("!!!").is_err());
        assert!(Matcher::from_list(&"a".repeat(65)).is_err());
        assert!(Matcher::from_list(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn new_errors_and_custom_terms() {
        let empty: [&str; 0] = [];
        assert!(Matcher::new(empty).unwrap_err().contains("no terms"));
        assert!(Matcher::new(["ok", ""]).unwrap_err().contains("term 2"));
        assert!(Matcher::new(["..."]).unwrap_err().contains("no letters"));
        let matcher = Matcher::new(vec![String::from("Gosh"), String::from("gosh")]).unwrap();
        assert_eq!(matcher.len(), 1);
        assert_eq!(matcher.find("GOSH!"), Some("gosh"));
        let accented = Matcher::new(["caf\u{00E9}"]).unwrap();
        assert_eq!(accented.find("cafe"), Some("caf\u{00E9}"));
        assert_eq!(accented.find("CAFE\u{0301}S"), Some("caf\u{00E9}"));
        let foreign = Matcher::new(["дурак"]).unwrap();
        assert_eq!(foreign.find("ты дурак!"), Some("дурак"));
        assert_eq!(foreign.find("дураки"), None);
        assert_eq!(foreign.find("ДУРАААК"), Some("дурак"));
        let cloned = foreign.clone();
        assert_eq!(cloned.len(), 1);
        assert!(format!("{cloned:?}").contains("Matcher"));
    }

    #[test]
    fn ambiguous_and_short_custom_terms() {
        let matcher = Matcher::from_list("ill\nli\nx\noops").unwrap();
        assert_eq!(matcher.find("so 1ll today"), Some("ill"));
        assert_eq!(matcher.find("I|l"), Some("ill"));
        assert_eq!(matcher.find("l1"), Some("li"));
        assert_eq!(matcher.find("xxx"), Some("x"));
        assert_eq!(matcher.find("x's"), Some("x"));
        assert_eq!(matcher.find("x y z"), Some("x"));
        assert_eq!(matcher.find("oooops"), Some("oops"));
        assert_eq!(matcher.find("ops"), None);
        assert_eq!(matcher.find("o o p s"), Some("oops"));
        assert_eq!(matcher.find("lip tax"), None);
    }

    #[test]
    fn multi_word_terms() {
        let matcher = Matcher::from_list("kill yourself\nson of a bitch").unwrap();
        assert_eq!(matcher.find("go kill yourself"), Some("kill yourself"));
        assert_eq!(matcher.find("KILL, YOURSELF!"), Some("kill yourself"));
        assert_eq!(matcher.find("killyourself"), Some("kill yourself"));
        assert_eq!(matcher.find("kill-yourself"), Some("kill yourself"));
        assert_eq!(matcher.find("k i l l y o u r s e l f"), Some("kill yourself"));
        assert_eq!(matcher.find("you son of a b1tch"), Some("son of a bitch"));
        assert_eq!(matcher.find("kill the bug yourself"), None);
        assert_eq!(matcher.find("yourself kill"), None);
        assert_eq!(matcher.find("son of a gun"), None);
    }

    #[test]
    fn pathological_input_returns() {
        let matcher = m();
        let _ = matcher.find(&"s ".repeat(500_000));
        let _ = matcher.find(&"i 1 ".repeat(200_000));
        let _ = matcher.find(&format!("a{}", "\u{0301}".repeat(100_000)));
        let _ = matcher.find(&format!("a{}", "\u{0E49}".repeat(100_000)));
        let _ = matcher.find(&"x".repeat(1_000_000));
        let _ = matcher.find(&"ab".repeat(500_000));
        let _ = matcher.find(&"i1".repeat(500_000));
        let _ = matcher.find(&"s.".repeat(500_000));
        let _ = matcher.find(&"\u{200B}".repeat(300_000));
        let _ = matcher.find(&"\u{FDFA}".repeat(50_000));
        let _ = matcher.find(&"!$@".repeat(300_000));
        assert_eq!(matcher.find(&format!("{} idiot", "s ".repeat(500_000))), Some("idiot"));
        assert_eq!(matcher.find(&format!("{}!", "z".repeat(1_000_000))), None);
    }
}
