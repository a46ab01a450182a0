"""Exports alt-profanity-check's model into model.bin (beside this file) and writes the
equality cases tests/classifier/cases.tsv: texts with the probability scikit-learn gives them.

Needs (installs nothing itself):

    python3 -m venv /tmp/v && /tmp/v/bin/pip install scikit-learn==1.9.1 joblib alt-profanity-check==1.9.1
    /tmp/v/bin/python src/chat/classifier/export.py

alt-profanity-check (MIT, see LICENSE-alt-profanity-check beside this file) ships a
TfidfVectorizer (lowercase, token_pattern (?u)\\b\\w\\w+\\b, English stop words, unigrams, smooth
idf, l2 norm) and a CalibratedClassifierCV of LinearSVC (sigmoid calibration, one calibrated
classifier per fold, averaged). The script checks those parameters and refuses to export a
model of another shape, because the Rust scorer (`chat::classifier`) implements exactly this.

model.bin, all numbers little-endian:

    b"CBXPROF1"                               magic and format version
    u32 terms, u32 folds, u32 word_ranges, u32 lower_entries, u32 cased_ranges, u32 ignorable_ranges
    folds x (f64 intercept, f64 a, f64 b)     LinearSVC intercept, sigmoid p = 1 / (1 + exp(a*d + b))
    word_ranges x (u32 first, u32 last)       code points Python's re matches with \\w (inclusive)
    lower_entries x (u32 cp, u8 n, n x u32)   str.lower() of each non-ASCII code point it changes
    cased_ranges x (u32, u32)                 Unicode Cased, as Python's final-sigma rule sees it
    ignorable_ranges x (u32, u32)             Unicode Case_Ignorable, likewise
    terms x (u8 len, len bytes UTF-8, f64 idf, folds x f64 coef)    in column order

The tables make the Rust tokeniser Python's (the Unicode version of the Python that ran this
script) rather than the Rust standard library's.
"""

import math
import os
import random
import re
import struct
import sys
import unicodedata
import warnings
from importlib import resources

import joblib
import numpy as np
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
MAX_CP = 0x110000


def load():
    data = resources.files("profanity_check") / "data"
    with warnings.catch_warnings():
        # A pickle from another scikit-learn version warns; refuse it instead of guessing.
        warnings.simplefilter("error")
        vectorizer = joblib.load(data / "vectorizer.joblib")
        model = joblib.load(data / "model.joblib")
    return vectorizer, model


def check_shape(v, m):
    assert sklearn.__version__ == "1.9.1", sklearn.__version__
    assert type(v) is TfidfVectorizer, type(v)
    expected = dict(
        analyzer="word", lowercase=True, token_pattern=r"(?u)\b\w\w+\b", tokenizer=None,
        preprocessor=None, strip_accents=None, ngram_range=(1, 1), norm="l2", use_idf=True,
        smooth_idf=True, sublinear_tf=False, binary=False, stop_words="english", vocabulary=None,
    )
    for k, want in expected.items():
        got = getattr(v, k)
        assert got == want, f"vectorizer {k}={got!r}, the scorer implements {want!r}"
    assert type(m) is CalibratedClassifierCV and m.method == "sigmoid", m
    assert list(m.classes_) == [0, 1], m.classes_
    for cc in m.calibrated_classifiers_:
        assert type(cc.estimator) is LinearSVC and len(cc.calibrators) == 1
        assert cc.estimator.coef_.shape == (1, len(v.vocabulary_))


def ranges(pred):
    out, start = [], None
    for cp in range(MAX_CP):
        if 0xD800 <= cp <= 0xDFFF:
            hit = False  # never in a Rust &str
        else:
            hit = pred(chr(cp))
        if hit and start is None:
            start = cp
        elif not hit and start is not None:
            out.append((start, cp - 1))
            start = None
    if start is not None:
        out.append((start, MAX_CP - 1))
    return out


def unicode_tables():
    word = re.compile(r"(?u)\w")
    words = ranges(lambda c: word.fullmatch(c) is not None)
    lower = []
    for cp in range(0x80, MAX_CP):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        low = chr(cp).lower()
        if low != chr(cp):
            lower.append((cp, [ord(x) for x in low]))
    # CPython's final-sigma rule (unicodeobject.c, handle_capital_sigma) consults Cased and
    # Case_Ignorable, which Python does not expose; both are read off its behaviour: after a
    # space (neither), Sigma is final iff the character before it is cased; after "A" it is final
    # iff that character is cased or skipped as case-ignorable.
    cased = ranges(lambda c: (" " + c + "\u03a3").lower()[-1] == "\u03c2")
    final_after_a = ranges(lambda c: ("A" + c + "\u03a3").lower()[-1] == "\u03c2")
    cased_set = set()
    for a, b in cased:
        cased_set.update(range(a, b + 1))
    ignorable = ranges_from_set(
        cp for a, b in final_after_a for cp in range(a, b + 1) if cp not in cased_set
    )
    return words, lower, cased, ignorable


def ranges_from_set(cps):
    out = []
    for cp in sorted(cps):
        if out and out[-1][1] == cp - 1:
            out[-1] = (out[-1][0], cp)
        else:
            out.append((cp, cp))
    return out


def export(v, m, path):
    terms = sorted(v.vocabulary_.items(), key=lambda kv: kv[1])
    assert [i for _, i in terms] == list(range(len(terms)))
    folds = m.calibrated_classifiers_
    words, lower, cased, ignorable = unicode_tables()
    out = bytearray(b"CBXPROF1")
    out += struct.pack("<6I", len(terms), len(folds), len(words), len(lower), len(cased), len(ignorable))
    for cc in folds:
        cal = cc.calibrators[0]
        out += struct.pack("<3d", float(cc.estimator.intercept_[0]), float(cal.a_), float(cal.b_))
    for a, b in words:
        out += struct.pack("<2I", a, b)
    for cp, low in lower:
        out += struct.pack("<IB", cp, len(low)) + struct.pack(f"<{len(low)}I", *low)
    for table in (cased, ignorable):
        for a, b in table:
            out += struct.pack("<2I", a, b)
    coefs = np.stack([cc.estimator.coef_[0] for cc in folds], axis=1)
    for (term, i) in terms:
        raw = term.encode("utf-8")
        assert len(raw) < 256
        out += struct.pack("<B", len(raw)) + raw
        out += struct.pack(f"<{1 + len(folds)}d", float(v.idf_[i]), *map(float, coefs[i]))
    with open(path, "wb") as f:
        f.write(out)
    print(f"{path}: {len(out)} bytes, {len(terms)} terms, {len(folds)} folds, "
          f"{len(words)} word ranges, {len(lower)} lowercase entries")


def unescape(line):
    return re.sub(r"\\u\{([0-9A-Fa-f]+)\}", lambda mt: chr(int(mt.group(1), 16)), line)


def escape(text):
    """The `\\u{XXXX}` escapes of tests/support/escapes.rs for what a TSV line cannot hold or
    shows as nothing (controls, format and separator characters, the backslash)."""
    out = []
    for c in text:
        cat = unicodedata.category(c)
        if c == "\\" or (cat[0] in "CZ" and c != " "):
            out.append("\\u{%X}" % ord(c))
        else:
            out.append(c)
    return "".join(out)


def moderation_lines(name):
    with open(os.path.join(ROOT, "tests", "moderation", name), encoding="utf-8") as f:
        rows = [unescape(l.rstrip("\n")) for l in f if l.strip() and not l.startswith("#")]
    return rows


HANDWRITTEN = [
    "", " ", "a", "ab", "hello", "hello there, how are you?", "good morning everyone!",
    "anyone up for lunch at 12:30?", "the build is green again", "thanks, that fixed it",
    "you are worthless trash", "you are an idiot", "you're so stupid", "shut up", "go away loser",
    "nobody likes you, just leave", "you are a disgrace to your family", "what a pathetic moron",
    "kill yourself", "i hope you die", "your mother is ugly", "get lost, you clown",
    "fuck you", "FUCK YOU", "Fuck off", "shit", "this is bullshit", "what the hell", "damn it",
    "you suck", "suck it", "dumbass", "bitch please", "son of a bitch", "asshole", "piece of shit",
    "I love you all", "I hate Mondays", "the film is about love and hate", "kill the process",
    "the git commit killed the build", "Scunthorpe", "cocktail party tonight", "assess the risk",
    "Fuck", "fUcK", "f u c k", "f*ck", "sh!t", "fuuuuck", "fuckfuckfuck", "fuck_you", "fuck-you",
    "fuck123", "123", "1 2 3", "a b c d", "x" * 3, "_", "__", "__init__", "snake_case_name",
    "İstanbul is big", "STRASSE ẞ", "ΣΊΣΥΦΟΣ", "ΌΣΟΣ Σ", "μελ", "ΜΕΛ", "ΕΤΗΤΗΣ", "ετητης",
    "pokémon", "POKÉMON", "Pokémon Go", "pokémon", "josé", "JOSÉ", "Beyoncé", "expért",
    "dαlus", "Dαlus", "βcommand", "snunɐw", "trácht", "míkka",
    "竜龙", "聖やや", "連絡ください", "見学 迷惑", "ውይይት", "нахуй", "сука блять", "scheiße",
    "putain de merde", "hijo de puta", "नमस्ते दोस्त", "مرحبا بالعالم", "שלום עולם",
    "Ｆｕｃｋ", "ﬁne ﬂow", "ｓｈｉｔ", "fuck\u0301", "fu\u0301ck", "fu\u200bck", "fuck\u00a0you",
    "😀😀😀", "fuck 🖕", "🖕", "you 💩", "👍 great job", "ok👌", "🇺🇸 flag", "👨‍👩‍👧 family",
    "tab\tseparated\tidiot", "line\nbreak\nfuck", "back\\slash stupid", "carriage\rreturn",
    "١٢٣ ٤٥", "²³ ½", "Ⅻ roman", "x²y", "naïve café", "ǅemal", "ǄEMAL", "ﬀ",
    "idiot\u0903", "stupid\u093fmoron", "fuck\u0301you", "\u0900shit", "İDİOT", "STUPİD you",
    "ΣHIT", "fuckΣ", "Σfuck", "idiotΣ.", "ǅ fuck", "word" * 50, "you stupid " * 100, "the quick brown fox jumps over the lazy dog " * 45,
    "idiot " * 300, "fuck" * 400,
]


def cases(vectorizer, model):
    rnd = random.Random(14)
    texts = list(HANDWRITTEN)
    for name in ("clean_chat.txt", "innocent_use.txt", "names.txt", "prose.txt"):
        rows = moderation_lines(name)
        texts += [r.split("\t")[-1] for r in rnd.sample(rows, min(40, len(rows)))]
    for name in ("evasions.txt", "holdout_evasions.txt"):
        rows = moderation_lines(name)
        texts += [r.split("\t", 1)[-1].replace("||", " ") for r in rnd.sample(rows, 50)]
    texts += [w for w in (r.split("\t")[0] for r in moderation_lines("dictionary_flagged.txt"))][:30]
    # Random strings over scripts, marks, digits, punctuation and emoji: the tokeniser's edges.
    alphabet = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_ ,.!?'-"
                "éÉßẞİıΣσςΆάÅåØøĲĳǅǄﬁＦｕ٣²½Ⅻ\u0301\u0308\u0903\u093f\u200b\u00a0\u2028"
                "नमस्तेابتשלום竜聖やабвгд😀🖕💩👍🏽\u200d")
    vocab = sorted(vectorizer.vocabulary_)
    for _ in range(60):
        parts = []
        for _ in range(rnd.randint(1, 12)):
            if rnd.random() < 0.5:
                parts.append(rnd.choice(vocab) if rnd.random() < 0.5 else rnd.choice(vocab).upper())
            else:
                parts.append("".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 8))))
        texts.append(rnd.choice(["", " ", "-", "\u0301", "_"]).join(parts))
    probs = model.predict_proba(vectorizer.transform(texts))[:, 1]
    path = os.path.join(ROOT, "tests", "classifier", "cases.tsv")
    with open(path, "w", encoding="utf-8") as f:
        f.write("# Written by src/chat/classifier/export.py: scikit-learn's predict_proba(text)[:, 1]\n")
        f.write("# for alt-profanity-check's model, then the text with \\u{XXXX} escapes.\n")
        for t, p in zip(texts, probs):
            f.write(f"{float(p)!r}\t{escape(t)}\n")
    print(f"{path}: {len(texts)} cases")


def main():
    vectorizer, model = load()
    check_shape(vectorizer, model)
    export(vectorizer, model, os.path.join(HERE, "model.bin"))
    cases(vectorizer, model)


if __name__ == "__main__":
    sys.exit(main())
