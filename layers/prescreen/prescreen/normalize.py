"""Text normalisation for matching, with every span mappable back to what the seller wrote.

`normalize()` runs, in this order: text inside a right-to-left override put in the order it is shown
("lo\u202eev\u202c" -> "love", see `_display_order`); removal of invisible characters (zero-width, bidi
controls, soft hyphen, variation selectors); control characters removed inside a word ("lo\x0bve" ->
"love"), made spaces elsewhere (tab, newline and carriage return always); Unicode NFKC; casefold;
typographic punctuation to ASCII (’ “ « – ...); diacritics folded ("poupée" -> "poupee", "ł" -> "l", "æ" ->
"ae"); emoji used as words replaced by the word ("🔫" -> "gun") and regional indicator letters by letters;
Cyrillic/Greek look-alikes folded to Latin inside words that also have Latin letters ("Lоvе" with Cyrillic
о, е -> "love"; "кукла" stays), or Latin look-alikes to Cyrillic inside a word that reads as Russian
("куклa" with a Latin a -> "кукла"); whitespace runs collapsed and the ends stripped; a space between two
Han or kana characters removed ("实体 娃娃" -> "实体娃娃": Chinese and Japanese put none between words);
three or more spaced or dotted single letters joined ("s.e.x" -> "sex"); leetspeak folded inside words with
letters, numbers with units and model names left alone ("s3x" -> "sex", "80cm", "mp3" kept); mask symbols
between letters ("s€x", "f#ck") made `*`.

Three choices a reader should know:

* "1" stays "1". Inside a word it may stand for i ("m1ni") or l ("1oli"), and no rule can tell which, so
  the normaliser does not guess: `TermMatcher` lets a "1" in the text stand for either letter. Terms are
  normalised by the same function, so a policy term never contains a guessed letter either.
* A mask ("s*x", "f**k") is left as `*` in the text; `TermMatcher` resolves it against the policy's own
  words (a `*` stands for exactly one letter). The normaliser cannot know which letter was hidden.
* Only steps that change the length of the text are recorded, and only with their input: the edits they
  made are recomputed the first time a span is mapped back (`NormalizedText.original_span`), so the hot
  path costs a few C-level string operations when there is nothing to fold. The one step that moves
  characters (an override) records where each went; a span through it maps to the smallest original span
  holding all its characters.

Offsets are code points (Python `str` indices) throughout.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal

__all__ = [
    "Measurement",
    "NormalizedText",
    "find_measurements",
    "normalize",
    "normalize_term",
    "to_canonical",
]

# (start, end) in a step's input, and the length of what replaced it in the step's output.
type _Edit = tuple[int, int, int]


class _Step:
    """A length-changing rewrite: its input, and how to recompute the edits it made from that input."""

    __slots__ = ("_edits_fn", "_index", "_source")

    def __init__(self, source: str, edits_fn: Callable[[str], list[_Edit]]) -> None:
        self._source = source
        self._edits_fn = edits_fn
        self._index: tuple[list[int], list[int], list[int], list[int]] | None = None

    def _load(self) -> tuple[list[int], list[int], list[int], list[int]]:
        if self._index is None:
            out_starts: list[int] = []
            out_ends: list[int] = []
            in_starts: list[int] = []
            in_ends: list[int] = []
            shift = 0
            for start, end, out_len in self._edits_fn(self._source):
                out_start = start + shift
                out_starts.append(out_start)
                out_ends.append(out_start + out_len)
                in_starts.append(start)
                in_ends.append(end)
                shift += out_len - (end - start)
            self._index = (out_starts, out_ends, in_starts, in_ends)
        return self._index

    def map_span(self, start: int, end: int) -> tuple[int, int]:
        out_starts, out_ends, in_starts, in_ends = self._load()
        # A start inside a replacement maps to the replaced text's start; past it, by the shift so far.
        j = bisect_right(out_starts, start) - 1
        if j >= 0:
            start = in_starts[j] if start < out_ends[j] else in_ends[j] + start - out_ends[j]
        # An end maps through the last edit that begins before it, so a deletion right after the span
        # (a zero-width character after the word) is not pulled into it.
        k = bisect_left(out_starts, end) - 1
        if k >= 0:
            end = in_ends[k] if end <= out_ends[k] else in_ends[k] + end - out_ends[k]
        return start, max(start, end)


class _Reorder:
    """A rewrite that moves characters without changing the length (text shown reversed by a right-to-left
    override): `order[i]` is the input index of output character i. A span maps to the smallest input span
    holding all its characters, so evidence covers every character the seller typed for the match."""

    __slots__ = ("_order",)

    def __init__(self, order: list[int]) -> None:
        self._order = order

    def map_span(self, start: int, end: int) -> tuple[int, int]:
        if start >= end:
            # A position: the leftmost input index at or after it, so positions keep their order.
            position = min(self._order[start:], default=start)
            return position, position
        part = self._order[start:end]
        return min(part), max(part) + 1


type _AnyStep = _Step | _Reorder


@dataclass(frozen=True, slots=True)
class NormalizedText:
    original: str
    text: str  # the normalised text
    _steps: tuple[_AnyStep, ...] = field(default=(), repr=False, compare=False)

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of `text` (code points) to the [start, end) span in `original` it came from.
        An empty span (a position) maps to an empty span."""
        size = len(self.text)
        start = min(max(start, 0), size)
        end = min(max(end, start), size)
        empty = start == end
        for step in reversed(self._steps):
            start, end = step.map_span(start, end)
            if empty:
                end = start  # a position inside a replacement would otherwise widen to all it replaced
        size = len(self.original)
        start = min(start, size)
        return start, min(max(end, start), size)


# --- character tables --------------------------------------------------------------------------------

# Zero-width characters, bidi controls, soft hyphen, variation selectors, fillers, tag characters.
_INVISIBLE_RANGES: Final = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xE0000, 0xE007F),
)  # fmt: skip
_INVISIBLE_SET: Final = frozenset(chr(c) for low, high in _INVISIBLE_RANGES for c in range(low, high + 1))
_INVISIBLE_BMP: Final = "".join(f"{chr(low)}-{chr(high)}" for low, high in _INVISIBLE_RANGES if high < 0x10000)
_INVISIBLE_CLASS: Final = _INVISIBLE_BMP + "\U000e0000-\U000e007f"
_INVISIBLE_RE: Final = re.compile(f"[{_INVISIBLE_CLASS}]+")

# 1:1, so no edits to record. Applied after casefold.
_TYPOGRAPHIC: Final = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u2035": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2039": "'", "\u203a": "'",
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
}  # fmt: skip

# Emoji that sellers use in place of a word.
_EMOJI_WORDS: Final = {
    "\U0001f52b": "gun",
    "\U0001f4a3": "bomb",
    "\U0001f52a": "knife",
    "\U0001f5e1": "dagger",
    "\U0001f9e8": "firecracker",
    "\U0001f48a": "pill",
    "\U0001f489": "syringe",
    "\U0001f33f": "weed",
    "\U0001f341": "weed",
    "\u2744": "snow",
    "\U0001f344": "mushroom",
    "\U0001f6ac": "cigarette",
    "\U0001f467": "girl",
    "\U0001f466": "boy",
    "\U0001f9d2": "child",
    "\U0001f476": "baby",
    "\U0001f51e": "adults only",  # the "no one under 18" sign
    "\U0001f98f": "rhino",
    "\U0001f418": "elephant",
    "\U0001f405": "tiger",
}
# The emoji, then any skin-tone modifiers (their variation selectors are already gone).
_EMOJI_RE: Final = re.compile("([" + "".join(_EMOJI_WORDS) + "])[\U0001f3fb-\U0001f3ff]*")
# 🇸 🇪 🇽: regional indicator symbols spelling a word.
_REGIONAL_RE: Final = re.compile("[\U0001f1e6-\U0001f1ff]")

_EXPANSIONS: Final = {"æ": "ae", "œ": "oe", "þ": "th"}
_EXPANSION_RE: Final = re.compile("[æœþ]")

_MASK_SYMBOLS: Final = "*#€•●"

# Control characters (Cc) other than tab, line feed and carriage return. Browsers draw them as a box or as
# nothing, never as a break (CSS Text 3), so on a listing page "lo\x0bve" reads as one word: between two
# letters they are removed, anywhere else each is a space. VT, FF and NEL too, although text views that
# follow UAX #14 (native apps) break the line there and Word writes VT for a manual line break: two words
# either side of one are joined, as a web page shows them.
_CONTROL_CLASS: Final = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_CONTROL_RUN_RE: Final = re.compile(f"[{_CONTROL_CLASS}]+")
_CONTROLS: Final = frozenset(c for c in map(chr, range(0xA0)) if _CONTROL_RUN_RE.fullmatch(c))
# Always a space: tab, line feed, carriage return, the ogham space mark, and the line and paragraph separators.
_OTHER_SPACES: Final = frozenset("\t\n\r\u1680\u2028\u2029")
# ASCII text in one bytes translation: lower case, tab/LF/CR to a space, every other control to NUL (which
# one it was does not matter to _fold_controls, and the length stays).
_ASCII_TABLE: Final = bytes(
    0 if chr(b) in _CONTROLS else 0x20 if b in b"\t\n\r" else ord(chr(b).lower()) for b in range(128)
) + bytes(range(128, 256))
_SPACE_RUN_RE: Final = re.compile("  +")
# A space between two Han or kana characters: Chinese and Japanese put none between words, so a space there
# splits a word ("实体 娃娃"). Searched from the space (a literal start keeps `re` fast on Latin text).
_CJK_CHARS: Final = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_GAP_RE: Final = re.compile(f" (?=[{_CJK_CHARS}])(?<=[{_CJK_CHARS}] )")

_MARKS: Final = "\u0300-\u036f"
# Characters worth a closer look in non-ASCII text, found in one pass. Astral characters are matched by
# two plain ranges: a class listing many scattered astral characters makes `re` several times slower.
_ATTENTION_RE: Final = re.compile(
    "["
    + _INVISIBLE_BMP
    + "".join(_TYPOGRAPHIC)
    + "\u2744\t\n\r\u1680\u2028\u2029"
    + _CONTROL_CLASS
    + _MARKS
    + "\U0001f000-\U0001faff\U000e0000-\U000e007f]"
)

# Every Latin-1 byte no step cares about, deleted to leave the ones that matter (one pass in C).
_LATIN1_QUIET: Final = bytes(b for b in range(256) if chr(b) not in _CONTROLS and chr(b) not in "\xab\xbb\xad\t\n\r")

# Right-to-left overrides. Bidi formatting characters, and the paragraph separators (bidi class B) that end
# every embedding, override and isolate.
_BIDI_TOKEN_RE: Final = re.compile("[\u202a-\u202e\u2066-\u2069\n\r\x1c-\x1e\x85\u2029]")
_RLO: Final = "\u202e"
_BIDI_OPENERS: Final = "\u202a\u202b\u202d\u202e\u2066\u2067\u2068"  # LRE RLE LRO RLO LRI RLI FSI
_RTL_OPENERS: Final = "\u202b\u202e\u2067"  # RLE RLO RLI: the next odd level
_MAX_BIDI_LEVEL: Final = 125
# Where a combining mark or a skin-tone modifier can be: beyond Latin-1, neither a word character (`\w` has
# no marks) nor a space.
_MAYBE_ATTACHED_RE: Final = re.compile(r"[^\w\s\x00-\xff]")


def _build_fold_tables() -> tuple[dict[str, str], bytes]:
    """Lower-case letters with diacritics -> base letter (1:1), and the Latin-1 part of it as a bytes
    translation table (the fast path for Western European text)."""
    fold: dict[str, str] = {}
    for low, high in ((0x00C0, 0x0250), (0x1E00, 0x1F00), (0x0386, 0x03D0)):
        for cp in range(low, high):
            ch = chr(cp)
            if ch != ch.casefold():
                continue
            base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
            if len(base) == 1 and base != ch:
                fold[ch] = base
    fold.update(
        {
            "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ı": "i", "ŧ": "t", "ð": "d", "ŋ": "n", "ĸ": "k",
            "ƀ": "b", "ƚ": "l", "ɨ": "i", "ʉ": "u", "ɇ": "e", "ȼ": "c", "ɉ": "j", "ɍ": "r", "ɏ": "y",
            "ё": "е", "ї": "і",
        }
    )  # fmt: skip
    latin1 = [k for k in fold if ord(k) < 256]
    return fold, bytes.maketrans(bytes(ord(k) for k in latin1), bytes(ord(fold[k]) for k in latin1))


_FOLD, _LATIN1_FOLD = _build_fold_tables()
_FOLD_RE: Final = re.compile("[" + "".join(sorted(_FOLD)) + "]")
# Combining marks left after NFKC (no precomposed form) on a Latin, Greek or Cyrillic-е base.
_STRAY_MARKS_RE: Final = re.compile(r"(?<=[a-z\u03b1-\u03c9\u0435])[\u0300-\u036f]+")

# Cyrillic and Greek letters that look Latin (lower case: applied after casefold).
_CONFUSABLES: Final = {
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w",
    "ү": "y", "ɑ": "a",
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "γ": "y", "ω": "w",
}  # fmt: skip
_CONFUSABLE_TABLE: Final = str.maketrans(_CONFUSABLES)
# The other way, for a Russian word with a few Latin look-alikes in it ("сeкс" with a Latin e).
_LATIN_TO_CYRILLIC: Final = str.maketrans("aceopxykmth", "асеорхукмтн")
_CYRILLIC_LETTER_RE: Final = re.compile("[\u0400-\u04ff]")
_LATIN_LETTER_RE: Final = re.compile("[a-z]")
_LATIN_WITHOUT_TWIN_RE: Final = re.compile("[bdfgijlnqrsuvwz]")
_CYRILLIC_WITHOUT_TWIN_RE: Final = re.compile("[\u0400-\u04ff](?<![асеорхукмтнвіјѕһӏԛԝү])")
_CYRILLIC_GREEK_RE: Final = re.compile("[\u0370-\u03ff\u0400-\u052f\u0251]")
# A word here may hold leetspeak symbols: "$е" must become "$e" for leetspeak to give "se" after.
_WORD_CHAR: Final = r"(?:[^\W_]|[@$])"
_MIXED_WORD_RE: Final = re.compile(
    rf"(?<![^\W_@$])(?={_WORD_CHAR}*?[a-z])(?={_WORD_CHAR}*?[{''.join(_CONFUSABLES)}]){_WORD_CHAR}+"
)

# Three or more single letters joined by the same one separator: "l o v e", "s.e.x", "s-e-x", "l 0 v e".
_SPACED_RE: Final = re.compile(r"[^\W\d_](?<![^\W_@$][^\W\d_])([ .\-_])(?:(?:[^\W_]|[@$])\1)+[^\W\d_](?![^\W_@$])")

# Leetspeak: 0->o 3->e 4->a @->a 5->s $->s 7->t ("1" stays, see the module docstring).
_LEET_TABLE: Final = str.maketrans("03457@$", "oeastas")
# Numbers with a unit or a model name are not leetspeak: "80cm", "1m20", "3ft11", "4k", "2nd", "mp3", "ps4".
_UNIT_SUFFIXES: Final = frozenset(
    (
        "cm", "mm", "km", "m", "inch", "inches", "in", "ft", "feet", "kg", "kgs", "mg", "mcg", "ug", "g", "gr",
        "lbs", "lb", "oz", "ml", "cl", "dl", "l", "st", "nd", "rd", "th", "er", "re", "eme", "e", "k", "x", "p",
        "d", "h", "hr", "hrs", "min", "mins", "s", "sec", "secs", "v", "w", "kw", "kwh", "mah", "ah", "hz", "khz",
        "mhz", "ghz", "gb", "mb", "tb", "kb", "yo", "yrs", "yr", "y", "ans", "an", "ano", "anos", "jahre", "j",
        "pcs", "pc", "px", "fps", "cc", "mp", "a", "t", "c", "f", "cv", "ps", "kmh", "mph",
    )
)  # fmt: skip
_NUMBER_UNIT_RE: Final = re.compile(r"\d+([a-z]+)\d*")
_MODEL_RE: Final = re.compile(r"[a-z]+\d+")
_MONEY_RE: Final = re.compile(r"\$\d|\d\$")


def _class_table(classes: dict[str, str], default: str) -> bytes:
    """A bytes translation table for text encoded as Latin-1 with errors="replace" (one byte per code
    point, so offsets stay string offsets); "?" stands for every character outside Latin-1."""
    out = bytearray(ord(default) for _ in range(256))
    for chars, cls in classes.items():
        for ch in chars:
            out[ord(ch)] = ord(cls)
    return bytes(out)


_ASCII_LETTERS: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LEET_CLASSES: Final = _class_table({_ASCII_LETTERS: "a", "0123456789@$": "0"}, " ")
_SCRIPT_CLASSES: Final = _class_table({_ASCII_LETTERS + "0123456789@$": "a", "?": "c"}, " ")
_SPACED_CLASSES: Final = _class_table(
    {
        _ASCII_LETTERS + "0123456789@$?" + "".join(chr(c) for c in range(0xC0, 0x100) if chr(c).isalpha()): "a",
        " .-_": ".",
    },
    ",",
)


def _is_numberish(token: str) -> bool:
    if "$" in token and _MONEY_RE.search(token):
        return True  # us$100, 100$
    m = _NUMBER_UNIT_RE.fullmatch(token)
    if m is not None:
        return m.group(1) in _UNIT_SUFFIXES
    return _MODEL_RE.fullmatch(token) is not None


# --- steps ---------------------------------------------------------------------------------------------


def _deletions(pattern: re.Pattern[str]) -> Callable[[str], list[_Edit]]:
    def edits(source: str) -> list[_Edit]:
        return [(m.start(), m.end(), 0) for m in pattern.finditer(source)]

    return edits


_NON_ASCII_PIECE_RE: Final = re.compile(r"[\x00-\x7f]?[^\x00-\x7f]+")


def _clusters(piece: str) -> list[tuple[int, str]]:
    """Split at characters that cannot combine with what precedes them."""
    out: list[tuple[int, str]] = []
    start = 0
    for i in range(1, len(piece)):
        ch = piece[i]
        if unicodedata.combining(ch) == 0 and not ("\u1160" <= ch <= "\u11ff"):
            out.append((start, piece[start:i]))
            start = i
    out.append((start, piece[start:]))
    return out


def _cluster_edits(transform: Callable[[str], str]) -> Callable[[str], list[_Edit]]:
    """Edits of a transform that leaves ASCII alone and acts on each non-ASCII run with the character
    before it (NFKC, mark stripping), as fine-grained as the transform allows."""

    def edits(source: str) -> list[_Edit]:
        out: list[_Edit] = []
        for m in _NON_ASCII_PIECE_RE.finditer(source):
            piece = m.group()
            result = transform(piece)
            if result == piece:
                continue
            base = m.start()
            clusters = _clusters(piece)
            parts = [transform(c) for _, c in clusters]
            if "".join(parts) != result:
                out.append((base, m.end(), len(result)))
                continue
            for (offset, cluster), part in zip(clusters, parts, strict=True):
                if len(part) != len(cluster):
                    out.append((base + offset, base + offset + len(cluster), len(part)))
        return out

    return edits


def _nfkc(text: str) -> str:
    # Same result as NFKC (NFKD output is already decomposed); CPython's NFKC recomposes every
    # character, NFC skips what needs no composing: 15 times faster on CJK text.
    return unicodedata.normalize("NFC", unicodedata.normalize("NFKD", text))


def _strip_marks(text: str) -> str:
    return _STRAY_MARKS_RE.sub("", text)


def _casefold_edits(source: str) -> list[_Edit]:
    out: list[_Edit] = []
    for m in _NON_ASCII_PIECE_RE.finditer(source):
        for i in range(m.start(), m.end()):
            size = len(source[i].casefold())
            if size != 1:
                out.append((i, i + 1, size))
    return out


def _expansion_edits(source: str) -> list[_Edit]:
    return [(m.start(), m.end(), 2) for m in _EXPANSION_RE.finditer(source)]


def _emoji_replacement(m: re.Match[str]) -> str:
    return f" {_EMOJI_WORDS[m.group(1)]} "


def _emoji_edits(source: str) -> list[_Edit]:
    return [(m.start(), m.end(), len(_emoji_replacement(m))) for m in _EMOJI_RE.finditer(source)]


def _space_edits(source: str) -> list[_Edit]:
    """`source` has only " " as whitespace; runs become one space and the ends are stripped."""
    stripped = source.strip(" ")
    if not stripped:
        return [(0, len(source), 0)] if source else []
    lead = len(source) - len(source.lstrip(" "))
    tail = len(source) - len(source.rstrip(" "))
    out: list[_Edit] = [(0, lead, 0)] if lead else []
    out.extend((m.start() + lead, m.end() + lead, 1) for m in _SPACE_RUN_RE.finditer(stripped))
    if tail:
        out.append((len(source) - tail, len(source), 0))
    return out


# "il y a à", "i a o": a run of the one-letter words of FR/ES/IT/PL/EN is not a word spelled out.
_ONE_LETTER_WORDS: Final = frozenset("aeiouyzw")


def _spelled_out(m: re.Match[str]) -> bool:
    return not _ONE_LETTER_WORDS.issuperset(m.group()[::2])


def _spaced_edits(source: str) -> list[_Edit]:
    return [
        (i, i + 1, 0) for m in _SPACED_RE.finditer(source) if _spelled_out(m) for i in range(m.start() + 1, m.end(), 2)
    ]


def _join_spaced(m: re.Match[str]) -> str:
    return m.group()[::2] if _spelled_out(m) else m.group()


def _fold_confusables(m: re.Match[str]) -> str:
    """A word mixing scripts is folded to Latin ("Lоvе" -> "love"), unless it reads as Russian: a Cyrillic
    letter with no Latin twin ("куклa" -> "кукла"), or only twins and more Cyrillic than Latin letters
    ("сeкс" -> "секс"). A Latin letter with no Cyrillic twin ("Sехрuрре") makes it Latin. Greek words are
    always folded to Latin (Greek is not a screened language)."""
    word = m.group()
    if _LATIN_WITHOUT_TWIN_RE.search(word) is None and _CYRILLIC_LETTER_RE.search(word) is not None and (
        _CYRILLIC_WITHOUT_TWIN_RE.search(word) is not None
        or len(_CYRILLIC_LETTER_RE.findall(word)) > len(_LATIN_LETTER_RE.findall(word))
    ):
        return word.translate(_LATIN_TO_CYRILLIC)
    return word.translate(_CONFUSABLE_TABLE)


def _fold_char(m: re.Match[str]) -> str:
    return _FOLD[m.group()]


def _regional_letter(m: re.Match[str]) -> str:
    return chr(ord(m.group()) - 0x1F1E6 + ord("a"))


def _has_spaced_letters(text: str) -> bool:
    # Two single characters in a row between separators, found in C; the regex confirms each.
    classes = text.encode("latin-1", "replace").translate(_SPACED_CLASSES)
    pos = classes.find(b".a.a")
    while pos >= 0:
        if classes[pos + 4 : pos + 5] != b"a" and (
            (pos > 0 and _SPACED_RE.match(text, pos - 1)) or _SPACED_RE.match(text, pos + 1)
        ):
            return True
        pos = classes.find(b".a.a", pos + 2)
    return False


def _fold_leet(text: str) -> str:
    classes = text.encode("latin-1", "replace").translate(_LEET_CLASSES)
    size = len(classes)
    pieces: list[str] = []
    last = 0
    # Next letter-digit and digit-letter contacts; each search resumes after the token last handled.
    ld = classes.find(b"a0")
    dl = classes.find(b"0a")
    while ld >= 0 or dl >= 0:
        hit = dl if ld < 0 or 0 <= dl < ld else ld
        start = classes.rfind(b" ", 0, hit) + 1
        end = classes.find(b" ", hit + 2)
        end = size if end < 0 else end
        token = text[start:end]
        if not _is_numberish(token):
            folded = token.translate(_LEET_TABLE)
            if folded != token:
                pieces.append(text[last:start])
                pieces.append(folded)
                last = end
        if 0 <= ld < end:
            ld = classes.find(b"a0", end)
        if 0 <= dl < end:
            dl = classes.find(b"0a", end)
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def _mask_letters(text: str) -> str:
    """Mask symbols between two letters become "*" (one per symbol)."""
    positions: list[int] = []
    for symbol in _MASK_SYMBOLS:
        i = text.find(symbol)
        while i >= 0:
            positions.append(i)
            i = text.find(symbol, i + 1)
    if not positions:
        return text
    positions.sort()
    pieces: list[str] = []
    last = run_start = 0
    for n, i in enumerate(positions):
        if n == 0 or positions[n - 1] != i - 1:
            run_start = i
        end = i + 1
        if n + 1 < len(positions) and positions[n + 1] == end:
            continue
        if run_start > 0 and end < len(text) and text[run_start - 1].isalpha() and text[end].isalpha():
            pieces.append(text[last:run_start])
            pieces.append("*" * (end - run_start))
            last = end
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def _is_letter(ch: str) -> bool:
    return ch.isalpha() or unicodedata.category(ch)[0] == "M"  # a mark belongs to the letter before it


def _inside_word(source: str, start: int, end: int) -> bool:
    # Letters only: a control next to a digit stays a space, so "doll\x0b80cm" is never read as one
    # leetspeak word "doll8ocm" (the price: "d0\x0bll" stays split).
    return start > 0 and end < len(source) and _is_letter(source[start - 1]) and _is_letter(source[end])


def _control_edits(source: str) -> list[_Edit]:
    return [(m.start(), m.end(), 0) for m in _CONTROL_RUN_RE.finditer(source) if _inside_word(source, *m.span())]


def _fold_control_run(m: re.Match[str]) -> str:
    return "" if _inside_word(m.string, *m.span()) else " " * (m.end() - m.start())


def _fold_controls(s: str, steps: list[_AnyStep]) -> str:
    """Control characters inside a word removed, elsewhere made spaces (one for one: no edit to record)."""
    folded = _CONTROL_RUN_RE.sub(_fold_control_run, s)
    if len(folded) != len(s):
        steps.append(_Step(s, _control_edits))
    return folded


class _BidiRun:
    """An embedding, override or isolate: what it holds in text order, as (start, end) ranges of characters
    and the runs opened inside it."""

    __slots__ = ("isolate", "items", "level", "reverse")

    def __init__(self, level: int, *, isolate: bool, reverse: bool) -> None:
        self.level = level
        self.isolate = isolate
        self.reverse = reverse
        self.items: list[tuple[int, int] | _BidiRun] = []


def _display_order(text: str) -> list[int] | None:
    """The order in which a reader sees the characters of `text`, as far as right-to-left overrides (RLO)
    move Latin letters, or None when nothing moves.

    An RLO shows everything up to its end reversed ("lo\u202eev\u202c" reads "love"); it ends at its PDF,
    at a PDI closing an isolate opened before it, at a paragraph separator (newline) or at the end of the
    text, as in the Unicode bidi algorithm (explicit levels, depth limit and overflow included). Any other
    embedding, override or isolate inside an RLO (LRO, LRE, RLE, LRI, RLI, FSI) is moved as a block and keeps
    its order inside: Latin letters run left to right there.

    Not modelled: reordering without an override (Latin in an RLE or RLI still reads left to right, and
    Hebrew or Arabic in logical order is what their reader reads); right-to-left letters under an override,
    reversed here like Latin ones although their reader reads them in logical order (no screened language is
    written right to left); grapheme clusters beyond a character with its combining marks and skin-tone
    modifiers (an emoji ZWJ sequence or a flag is reversed code point by code point)."""
    root = _BidiRun(0, isolate=False, reverse=False)
    stack = [root]
    overflow_isolates = overflow_embeds = 0
    last = 0
    for m in _BIDI_TOKEN_RE.finditer(text):
        pos = m.start()
        ch = text[pos]
        top = stack[-1]
        if last < pos:
            top.items.append((last, pos))
        last = pos + 1
        if ch in _BIDI_OPENERS:
            top.items.append((pos, last))
            isolate = ch >= "\u2066"
            level = (top.level + 1) | 1 if ch in _RTL_OPENERS else (top.level + 2) & ~1
            if level <= _MAX_BIDI_LEVEL and overflow_isolates == overflow_embeds == 0:
                run = _BidiRun(level, isolate=isolate, reverse=ch == _RLO)
                top.items.append(run)
                stack.append(run)
            elif isolate:
                overflow_isolates += 1
            elif overflow_isolates == 0:
                overflow_embeds += 1
            continue
        if ch == "\u2069":  # PDI: closes the innermost isolate and all opened inside it; alone, nothing
            if overflow_isolates:
                overflow_isolates -= 1
            elif any(run.isolate for run in stack):
                overflow_embeds = 0
                while not stack.pop().isolate:
                    pass
        elif ch == "\u202c":  # PDF: closes the innermost embedding or override, never across an isolate
            if overflow_isolates == 0:
                if overflow_embeds:
                    overflow_embeds -= 1
                elif not top.isolate and len(stack) > 1:
                    stack.pop()
        else:  # a paragraph separator closes everything
            del stack[1:]
            overflow_isolates = overflow_embeds = 0
        stack[-1].items.append((pos, last))
    if last < len(text):
        stack[-1].items.append((last, len(text)))
    order: list[int] = []
    _emit_run(root, text, order)
    return None if order == list(range(len(text))) else order


def _emit_run(run: _BidiRun, text: str, out: list[int]) -> None:
    for item in reversed(run.items) if run.reverse else run.items:
        if isinstance(item, _BidiRun):
            _emit_run(item, text, out)
        elif run.reverse:
            out.extend(_reversed_clusters(text, *item))
        else:
            out.extend(range(*item))


def _reversed_clusters(text: str, start: int, end: int) -> list[int]:
    """Indices of text[start:end] last character first, each with its combining marks (variation selectors
    included) and skin-tone modifiers still after it."""
    out = list(range(end - 1, start - 1, -1))
    groups: list[list[int]] = []  # [base, end) of each character with what is attached to it
    for m in _MAYBE_ATTACHED_RE.finditer(text, start + 1, end):
        i = m.start()
        ch = text[i]
        if unicodedata.category(ch)[0] == "M" or "\U0001f3fb" <= ch <= "\U0001f3ff":
            if groups and groups[-1][1] == i:
                groups[-1][1] = i + 1
            else:
                groups.append([i - 1, i + 1])
    for base, group_end in groups:
        out[end - group_end : end - base] = range(base, group_end)
    return out


def _fold_diacritics(s: str, steps: list[_AnyStep], *, marks: bool) -> str:
    if "æ" in s or "œ" in s or "þ" in s:
        steps.append(_Step(s, _expansion_edits))
        s = _EXPANSION_RE.sub(lambda m: _EXPANSIONS[m.group()], s)
    # Latin-1 letters by a bytes translation, in C; the few characters outside Latin-1 (a euro sign,
    # a Polish letter) put back one by one, or the whole text by table when there are many.
    raw = s.encode("latin-1", "replace")
    outside = raw.count(b"?") - s.count("?")
    if outside > 16:
        s = _FOLD_RE.sub(_fold_char, s)
    else:
        folded = raw.translate(_LATIN1_FOLD).decode("latin-1")
        if outside:
            pieces: list[str] = []
            last = 0
            pos = raw.find(b"?")
            while pos >= 0:
                ch = s[pos]
                if ch != "?":
                    pieces.append(folded[last:pos])
                    pieces.append(_FOLD.get(ch, ch))
                    last = pos + 1
                pos = raw.find(b"?", pos + 1)
            pieces.append(folded[last:])
            folded = "".join(pieces)
        s = folded
    if marks and _STRAY_MARKS_RE.search(s):
        steps.append(_Step(s, _cluster_edits(_strip_marks)))
        s = _strip_marks(s)
    return s


def _attention(s: str) -> tuple[set[str], bool]:
    """The characters of `s` that some step below cares about, and whether `s` goes beyond Latin-1."""
    raw = s.encode("latin-1", "replace")
    outside = raw.count(b"?") - s.count("?")
    if outside > 32:
        return set(_ATTENTION_RE.findall(s)), True
    # Mostly Latin-1 text: the few other characters are where the "?" are; Latin-1 ones are looked up.
    found = {chr(b) for b in set(raw.translate(None, _LATIN1_QUIET))}
    pos = raw.find(b"?")
    while pos >= 0:
        found.add(s[pos])
        pos = raw.find(b"?", pos + 1)
    return found, outside > 0


def _normalize_non_ascii(s: str, steps: list[_AnyStep]) -> tuple[str, bool]:
    """The folded text, and whether it may hold CJK characters (any character beyond Latin-1)."""
    attention, wide = _attention(s)
    if _RLO in attention:
        order = _display_order(s)
        if order is not None:
            steps.append(_Reorder(order))
            s = "".join([s[i] for i in order])
    if not attention.isdisjoint(_INVISIBLE_SET):
        steps.append(_Step(s, _deletions(_INVISIBLE_RE)))
        s = _INVISIBLE_RE.sub("", s)
    if not attention.isdisjoint(_CONTROLS):
        s = _fold_controls(s, steps)
    if not unicodedata.is_normalized("NFKC", s):
        steps.append(_Step(s, _cluster_edits(_nfkc)))
        s = _nfkc(s)
    folded = s.casefold()
    # Full case folding may decompose ("İ" -> "i" + combining dot), leaving marks to strip.
    marks = any("\u0300" <= c <= "\u036f" for c in attention)
    if len(folded) != len(s):
        steps.append(_Step(s, _casefold_edits))
        marks = True
    s = folded
    for ch in attention.intersection(_TYPOGRAPHIC):
        s = s.replace(ch, _TYPOGRAPHIC[ch])
    for ch in attention.intersection(_OTHER_SPACES):
        s = s.replace(ch, " ")
    if s.isascii():
        return s, False
    s = _fold_diacritics(s, steps, marks=marks)
    if s.isascii():
        return s, False
    if not attention.isdisjoint(_EMOJI_WORDS):
        steps.append(_Step(s, _emoji_edits))
        s = _EMOJI_RE.sub(_emoji_replacement, s)
    if any("\U0001f1e6" <= c <= "\U0001f1ff" for c in attention):
        s = _REGIONAL_RE.sub(_regional_letter, s)
    classes = s.encode("latin-1", "replace").translate(_SCRIPT_CLASSES)
    if (b"ac" in classes or b"ca" in classes) and _CYRILLIC_GREEK_RE.search(s):
        s = _MIXED_WORD_RE.sub(_fold_confusables, s)
    return s, wide


def normalize(text: str) -> NormalizedText:
    steps: list[_AnyStep] = []
    wide = False
    if text.isascii():
        s = text.encode("ascii").translate(_ASCII_TABLE).decode("ascii")
        if "\x00" in s:
            s = _fold_controls(s, steps)
    else:
        s, wide = _normalize_non_ascii(text, steps)
    if "  " in s or s[:1] == " " or s[-1:] == " ":
        steps.append(_Step(s, _space_edits))
        s = _SPACE_RUN_RE.sub(" ", s).strip(" ")
    if wide and " " in s and _CJK_GAP_RE.search(s):
        steps.append(_Step(s, _deletions(_CJK_GAP_RE)))
        s = _CJK_GAP_RE.sub("", s)
    if _has_spaced_letters(s):
        steps.append(_Step(s, _spaced_edits))
        s = _SPACED_RE.sub(_join_spaced, s)
    s = _fold_leet(s)
    if "*" in s or "#" in s or not s.isascii():
        s = _mask_letters(s)
    return NormalizedText(text, s, tuple(steps))


def normalize_term(term: str) -> str:
    """A policy term through the same pipeline as listing text."""
    return normalize(term).text


# --- measurements -------------------------------------------------------------------------------------

type MeasureKind = Literal["length", "mass"]


@dataclass(frozen=True, slots=True)
class Measurement:
    value: float  # canonical unit: centimetres for lengths, kilograms for masses
    kind: Literal["length", "mass"]
    start: int  # span in the ORIGINAL text, end exclusive
    end: int


def _spellings(*words: str) -> list[str]:
    """Each spelling, plus its accent-free form."""
    out: list[str] = []
    for word in words:
        out.append(word)
        plain = "".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))
        if plain != word:
            out.append(plain)
    return out


_LENGTH_UNITS: Final[dict[float, list[str]]] = {
    1.0: _spellings(
        "cm", "cms", "centimeter", "centimeters", "centimetre", "centimetres", "centimètre", "centimètres",
        "zentimeter", "centímetro", "centímetros", "centimetro", "centimetri", "centymetr", "centymetry",
        "centymetrów", "см", "сантиметр", "сантиметра", "сантиметров", "сантиметры", "厘米", "公分", "釐米",
    ),
    0.1: _spellings(
        "mm", "millimeter", "millimeters", "millimetre", "millimetres", "millimètre", "millimètres",
        "millimetro", "millimetri", "milímetro", "milímetros", "milimetr", "milimetry", "milimetrów", "мм",
        "миллиметр", "миллиметра", "миллиметров", "毫米",
    ),
    100.0: _spellings(
        "m", "meter", "meters", "metre", "metres", "mètre", "mètres", "metro", "metros", "metri", "metr",
        "metry", "metrów", "м", "метр", "метра", "метров", "метры", "米", "公尺",
    ),
    2.54: _spellings(
        "in", "inch", "inches", "pouce", "pouces", "zoll", "pulgada", "pulgadas", "pollice", "pollici",
        "cale", "cali", "duim", "polegada", "polegadas", "дюйм", "дюйма", "дюймов", "英寸",
        '"', "''", "″", "”",
    ),
    30.48: _spellings(
        "ft", "feet", "foot", "pied", "pieds", "fuß", "fuss", "pies", "piede", "piedi", "stopa", "stopy",
        "stóp", "voet", "pé", "pés", "фут", "фута", "футов", "英尺", "'", "′", "’",
    ),
}  # fmt: skip
_MASS_UNITS: Final[dict[float, list[str]]] = {
    1.0: _spellings(
        "kg", "kgs", "kilo", "kilos", "kilogram", "kilograms", "kilogramme", "kilogrammes", "kilogramm",
        "kilogramo", "kilogramos", "kilogrammo", "kilogrammi", "kilogramy", "kilogramów", "кг", "килограмм",
        "килограмма", "килограммов", "公斤", "千克",
    ),
    0.001: _spellings(
        "g", "gr", "gram", "grams", "gramme", "grammes", "gramm", "gramo", "gramos", "grammo", "grammi",
        "gramy", "gramów", "г", "грамм", "грамма", "граммов", "克",
    ),
    0.45359237: _spellings(
        "lb", "lbs", "pound", "pounds", "pfund", "libra", "libras", "libbra", "libbre", "funt", "funty",
        "funtów", "фунт", "фунта", "фунтов", "磅",
    ),
    0.028349523125: _spellings("oz", "ounce", "ounces"),
}  # fmt: skip

_UNITS: Final[dict[str, tuple[float, MeasureKind]]] = {
    **{u.casefold(): (f, "length") for f, units in _LENGTH_UNITS.items() for u in units},
    **{u.casefold(): (f, "mass") for f, units in _MASS_UNITS.items() for u in units},
}
_CJK_UNIT_RE: Final = re.compile("[\u3400-\u9fff]")


def _unit_alternation(units: list[str]) -> str:
    """Word units must end at a word end ("5 mins" is not 5 m); "in" must be glued to its number or end
    the phrase ("4 in 1" is not 4 inches); CJK units need no boundary."""
    parts: list[str] = []
    for unit in sorted(set(units), key=len, reverse=True):
        if unit == "in":
            parts.append(r"in(?:(?<=\din)|(?=\s*(?:[^\w\s]|$)))(?![^\W\d_])")
        elif _CJK_UNIT_RE.search(unit):
            parts.append(re.escape(unit))
        else:
            parts.append(re.escape(unit) + r"(?![^\W\d_])")
    return "(?:" + "|".join(parts) + ")"


def _unit_list(table: dict[float, list[str]], factor: float | None = None) -> list[str]:
    return [u for f, units in table.items() if factor is None or f == factor for u in units]


_ALL_UNITS_RX: Final = _unit_alternation(_unit_list(_LENGTH_UNITS) + _unit_list(_MASS_UNITS))
_NUM: Final = r"(?<![\d\"“”])(?<!\d[.,])\d+(?:[.,]\d+)?"
_MEASURE_RE: Final = re.compile(
    # 4'11", 3 ft 11, 5ft2in: feet then inches (< 12) with or without an inch unit.
    rf"(?P<ft>{_NUM})\s*(?P<ft_unit>{_unit_alternation(_unit_list(_LENGTH_UNITS, 30.48))})"
    rf"(?:\s*(?P<inch>(?:1[01]|\d)(?:[.,]\d+)?)(?![.,]?\d)"
    rf"(?:\s*(?P<inch_unit>{_unit_alternation(_unit_list(_LENGTH_UNITS, 2.54))})|(?!\s*{_ALL_UNITS_RX})))?"
    # 1m20, 1 m 5: metres then centimetres (one digit = tens of centimetres, as in "1m5" = 150 cm).
    rf"|(?P<m>(?<!\d)\d+)\s*(?P<m_unit>m|м|米)\s*(?P<cm>\d{{1,2}})(?![.,]?\d)"
    rf"(?:\s*(?P<cm_unit>cm|см|厘米)(?![^\W\d_])|(?!\s*{_ALL_UNITS_RX}))"
    rf"|(?P<value>{_NUM})\s*(?P<unit>{_ALL_UNITS_RX})",
    re.IGNORECASE,
)


def _number(text: str) -> float:
    if "," in text:
        # 1,200 is a thousands separator; 1,20 a decimal comma.
        text = text.replace(",", "") if re.fullmatch(r"\d{1,3},\d{3}", text) else text.replace(",", ".")
    return float(text)


def to_canonical(value: float, unit: str) -> tuple[float, Literal["length", "mass"]] | None:
    """`value` in `unit` as centimetres (lengths) or kilograms (masses); None for an unknown unit."""
    found = _UNITS.get(unit.strip().casefold())
    if found is None:
        return None
    factor, kind = found
    return value * factor, kind


_FULLWIDTH_RE: Final = re.compile("[\uff01-\uff5e]")
# Full-width ASCII ("１２０ＣＭ") to ASCII, one character for one, so offsets stay those of the original.
_FULLWIDTH_TABLE: Final = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}


def find_measurements(text: str) -> list[Measurement]:
    """Lengths and masses written in `text` (the original, not the normalised text), in order."""
    out: list[Measurement] = []
    if not text.isascii() and _FULLWIDTH_RE.search(text):
        text = text.translate(_FULLWIDTH_TABLE)
    for m in _MEASURE_RE.finditer(text):
        if m.group("ft") is not None:
            value = _number(m.group("ft")) * 30.48
            if m.group("inch") is not None:
                value += _number(m.group("inch")) * 2.54
            out.append(Measurement(value, "length", m.start(), m.end()))
        elif m.group("m") is not None:
            cm = m.group("cm")
            extra = float(cm) * 10 if len(cm) == 1 and m.group("cm_unit") is None else float(cm)
            out.append(Measurement(float(m.group("m")) * 100 + extra, "length", m.start(), m.end()))
        else:
            canonical = to_canonical(_number(m.group("value")), m.group("unit"))
            if canonical is not None:
                out.append(Measurement(canonical[0], canonical[1], m.start(), m.end()))
    return out
