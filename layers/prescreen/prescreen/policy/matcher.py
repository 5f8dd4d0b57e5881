"""Multi-pattern term matching, compiled once per policy version.

All terms go into one Hyperscan literal database scanned over the UTF-8 bytes of a *key* of the text:
ASCII punctuation and common non-ASCII symbols become spaces, runs of spaces become one, and "i" and "1"
become "l". On that key:

* Whole words need no boundary check in Python: a term's pattern carries its boundaries as spaces
  (" doll " for `doll`, " doll" for the stem `doll*`), and the key is padded with a space at each end. A
  separator is anything but a letter or digit, so "dollar" never reaches Python as a hit for `doll`. CJK
  terms carry no boundary spaces (they match inside a run of CJK text).
* A multi-word term matches across any run of spaces and punctuation ("sex-doll", "sex, doll" ->
  "sex doll") and also written as one word ("sexdoll", and "s e x d o l l" once the normaliser has joined
  the letters).
* "1" in the text may stand for "i" or "l" (the normaliser leaves it: it cannot know which). Folding
  i, l and 1 together in the key finds "m1ni" for `mini` and "1oli" for `loli`; each hit is then checked
  against the real text so that folding never makes "fail" match `fall`.
* A masked word ("s*x", "f**k": the normaliser turns mask symbols between letters into "*", one per
  hidden letter) is resolved against the policy's own words: each word that fits the mask is put in its
  place and the neighbourhood scanned again. Masks are rare, so this costs nothing on clean text.

Hyperscan reports the end of each literal; the start follows from the literal's length, so no
start-of-match tracking is compiled in. If Hyperscan cannot be imported, pyahocorasick does the same job.

Building a matcher normalises every term and compiles the database (most of a policy's compile time).
`export()` gives both results (a JSON-able pattern table and the database bytes) and `restore()` starts a
matcher from them without either step: precompiled.py ships them with the build.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any, Final, Literal, Protocol

from prescreen.normalize import normalize_term

try:
    import hyperscan

    _HAVE_HYPERSCAN = True
except ImportError:  # pragma: no cover - the Lambda layer ships hyperscan
    _HAVE_HYPERSCAN = False

try:
    import ahocorasick

    _HAVE_AHOCORASICK = True
except ImportError:
    _HAVE_AHOCORASICK = False

__all__ = ["TermMatch", "TermMatcher", "compile_count", "split_term", "term_form"]

type EngineName = Literal["hyperscan", "ahocorasick"]


@dataclass(frozen=True, slots=True)
class TermMatch:
    term_id: int  # index into the `terms` given to the constructor
    start: int  # code points in the normalised text, end exclusive
    end: int


# --- the key -------------------------------------------------------------------------------------------

_ALNUM: Final = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# ASCII: letters and digits kept, "*" kept (masks), everything else a space; bytes >= 0x80 kept.
_KEY_TABLE: Final = bytes(b if b in _ALNUM or b == ord("*") or b >= 0x80 else ord(" ") for b in range(256))
_MERGE_TABLE: Final = _KEY_TABLE.translate(bytes.maketrans(b"i1", b"ll"))
# UTF-8 of non-ASCII punctuation and symbols (what is left of them after NFKC): Latin-1 symbols, the
# times and divide signs, U+2000-2BFF (punctuation, currency, arrows, maths, shapes, dingbats), CJK
# punctuation (not the iteration and kana repeat marks, which are letters), the katakana middle dot,
# U+FE00-FFFF, emoji.
_NON_ASCII_SEP_RE: Final = re.compile(
    rb"\xc2[\xa0-\xbf]|\xc3[\x97\xb7]|\xe2[\x80-\xaf][\x80-\xbf]|\xe3\x80[\x80-\x84\x88-\xb0\xb6-\xba\xbd-\xbf]"
    rb"|\xe3\x83\xbb|\xef[\xb8-\xbf][\x80-\xbf]|\xf0\x9f[\x80-\xbf][\x80-\xbf]"
)
_NON_ASCII_SEP_LEADS: Final = (
    b"\xc2",
    b"\xc3\x97",
    b"\xc3\xb7",
    b"\xe2",
    b"\xe3\x80",
    b"\xe3\x83\xbb",
    b"\xef",
    b"\xf0\x9f",
)
_CJK_RE: Final = re.compile(
    "[\u1100-\u11ff\u2e80-\u2fdf\u3005-\u3007\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\U00020000-\U0003134f]"
)


def _blank(m: re.Match[bytes]) -> bytes:
    return b" " * len(m.group())


def _key_unsqueezed(raw: bytes, table: bytes, ascii_only: bool) -> bytes:
    """`raw` (UTF-8) with every separator a space, byte for byte (offsets unchanged)."""
    key = raw.translate(table)
    if not ascii_only and any(lead in key for lead in _NON_ASCII_SEP_LEADS):
        key = _NON_ASCII_SEP_RE.sub(_blank, key)
    start = key.find(b"*")
    if start < 0:
        return key
    # A run of "*" is a masked part of a word only between two letters or digits.
    pieces: list[bytes] = []
    last = 0
    size = len(key)
    while start >= 0:
        end = start + 1
        while end < size and key[end] == 42:
            end += 1
        if start == 0 or end == size or key[start - 1] == 32 or key[end] == 32:
            pieces.append(key[last:start])
            pieces.append(b" " * (end - start))
            last = end
        start = key.find(b"*", end)
    if not pieces:
        return key
    pieces.append(key[last:])
    return b"".join(pieces)


_SPACE_FLAGS: Final = bytes(1 if b == 32 else 0 for b in range(256))


def _mark_extra_spaces(key: bytes) -> bytes:
    """`key` with every space that is followed by another space turned into NUL (so removing the NULs
    squeezes the runs, and counting them maps squeezed offsets back). Done as arithmetic on big integers,
    which runs in C over the whole key at once."""
    size = len(key)
    flags = key.translate(_SPACE_FLAGS)
    doubled = int.from_bytes(flags, "big") & int.from_bytes(flags[1:] + b"\0", "big")
    return (int.from_bytes(key, "big") - doubled * 0x20).to_bytes(size, "big")


def _squeeze(key: bytes) -> bytes:
    return _mark_extra_spaces(key).replace(b"\0", b"") if b"  " in key else key


class _Unsqueeze:
    """Squeezed-key offsets back to offsets in the unsqueezed key (the UTF-8 of the text), for offsets
    asked in increasing order: each step counts the NULs only over the stretch it moves across."""

    __slots__ = ("_key", "_marked", "_raw")

    def __init__(self, marked: bytes) -> None:
        self._marked = marked
        self._key = 0
        self._raw = 0

    def position(self, key: int) -> int:
        """The byte of the text at squeezed offset `key` (a letter or digit, never a squeezed space)."""
        marked = self._marked
        if key < self._key:
            self._key = self._raw = 0
        low = self._raw
        raw = low + key - self._key
        nuls = marked.count(b"\0", low, raw)
        while nuls:
            low, raw = raw, raw + nuls
            nuls = marked.count(b"\0", low, raw)
        while marked[raw] == 0:
            raw += 1
        self._key, self._raw = key, raw
        return raw


def _term_key(text: str) -> str:
    """The separator-normalised form of a normalised term (or of a slice of text), not i/l-merged."""
    raw = text.encode()
    return _squeeze(_key_unsqueezed(raw, _KEY_TABLE, text.isascii())).strip(b" ").decode()


# --- terms as written ----------------------------------------------------------------------------------

# Normalised form of a term's text (without the stem mark), by that text. normalize_term is a pure
# function, so one table can serve the loader's checks and every matcher built from the same files.
type TermForms = MutableMapping[str, str]


def split_term(term: str) -> tuple[str, bool]:
    """A term as written -> (its text without the stem mark, whether it is a stem): "Poupée*" ->
    ("Poupée", True)."""
    term = term.strip()
    stem = term.endswith("*")
    return (term.rstrip("*") if stem else term), stem


def term_form(term: str, forms: TermForms | None = None) -> tuple[str, bool]:
    """(the normalised text of a term, whether it is a stem), normalising each distinct text once per
    `forms` table."""
    text, stem = split_term(term)
    if forms is None:
        return normalize_term(text), stem
    form = forms.get(text)
    if form is None:
        form = forms[text] = normalize_term(text)
    return form, stem


# --- engines -------------------------------------------------------------------------------------------


class _Engine(Protocol):
    name: EngineName

    def scan(self, data: bytes) -> list[tuple[int, int]]:
        """(pattern id, end offset) of every occurrence."""
        ...

    def serialize(self) -> bytes: ...


def _collect(pattern_id: int, _start: int, end: int, _flags: int, hits: Any) -> None:
    hits.append((pattern_id, end))


_compiles_lock = threading.Lock()
_compiles = 0


def compile_count() -> int:
    """How many pattern databases this process has compiled (a precompiled start compiles none)."""
    return _compiles


def _count_compile() -> None:
    global _compiles
    with _compiles_lock:
        _compiles += 1


class _HyperscanEngine:
    name: EngineName = "hyperscan"

    def __init__(self, patterns: Sequence[bytes], serialized: bytes | None = None) -> None:
        if serialized is not None:
            self._db = hyperscan.loadb(serialized, hyperscan.HS_MODE_BLOCK)
        else:
            self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            self._db.compile(expressions=list(patterns), ids=list(range(len(patterns))), flags=0, literal=True)
            _count_compile()
        self._prototype = hyperscan.Scratch(self._db)
        # One scratch per thread: a scan releases the GIL, and a scratch serves one scan at a time.
        self._local = threading.local()

    def scan(self, data: bytes) -> list[tuple[int, int]]:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = self._prototype.clone()
        hits: list[tuple[int, int]] = []
        self._db.scan(data, match_event_handler=_collect, context=hits, scratch=scratch)
        return hits

    def serialize(self) -> bytes:
        return hyperscan.dumpb(self._db)


class _AhoCorasickEngine:
    name: EngineName = "ahocorasick"

    def __init__(self, patterns: Sequence[bytes]) -> None:
        # Bytes as Latin-1 text: one character per byte, so offsets stay byte offsets.
        self._automaton = ahocorasick.Automaton()
        for pattern_id, pattern in enumerate(patterns):
            self._automaton.add_word(pattern.decode("latin-1"), pattern_id)
        self._automaton.make_automaton()
        _count_compile()

    def scan(self, data: bytes) -> list[tuple[int, int]]:
        return [(pattern_id, end + 1) for end, pattern_id in self._automaton.iter(data.decode("latin-1"))]

    def serialize(self) -> bytes:
        raise NotImplementedError("only a Hyperscan database can be serialised")


class _NoEngine:
    name: EngineName = "hyperscan"

    def scan(self, data: bytes) -> list[tuple[int, int]]:
        return []

    def serialize(self) -> bytes:
        return b""


# --- the matcher ---------------------------------------------------------------------------------------

# (term id, the term's key as the text must show it)
type _Entry = tuple[int, str]
_MAGIC: Final = b"prescreen-terms-v1\0"
_TABLE_FORMAT: Final = 1
_TO_DIGIT: Final = bytes.maketrans(b"\x00\x01", b"01")
_FROM_DIGIT: Final = bytes.maketrans(b"01", b"\x00\x01")
_MAX_JOINED_GAPS: Final = 3
_MASK_WINDOW: Final = 80


def _variants(key: str) -> list[str]:
    """The term as written, and with the gaps between its words closed ("sex doll" -> "sexdoll"), every
    combination for up to three gaps."""
    words = key.split(" ")
    if len(words) == 1:
        return [key]
    gaps = len(words) - 1
    joins = product((" ", ""), repeat=gaps) if gaps <= _MAX_JOINED_GAPS else iter([(" ",) * gaps, ("",) * gaps])
    out: list[str] = []
    for joiners in joins:
        out.append(words[0] + "".join(j + w for j, w in zip(joiners, words[1:], strict=True)))
    return out


def _matches_key(found: str, key: str) -> bool:
    """`found` (a key taken from the text) is `key`, where a "1" in the text may stand for i or l."""
    if found == key:
        return True
    if len(found) != len(key) or "1" not in found:
        return False
    for have, want in zip(found, key, strict=True):
        if have != want and not (have == "1" and want in "il"):
            return False
    return any(ch.isalpha() for ch in found)


class TermMatcher:
    """All the terms of a policy version, compiled once; `scan` finds them in normalised text."""

    # Per pattern (pattern id = index): its length in bytes, its left and right boundary spaces (0 or 1 byte
    # each), and its entries: (term id, the term's key as the text must show it) for i in
    # range(_firsts[id], _firsts[id + 1]). Flat columns rather than rows of tuples, so that restore() takes
    # them as JSON parsed them (lists of scalars parse fastest).
    _sizes: list[int]
    _lefts: list[int]
    _rights: list[int]
    _firsts: list[int]
    _entry_terms: list[int]
    _entry_keys: list[str]

    def __init__(
        self,
        terms: Sequence[str],
        *,
        engine: EngineName | None = None,
        serialized: bytes | None = None,
        forms: TermForms | None = None,
    ) -> None:
        """`terms` as written in the policy ("Poupée*", "sex doll", "硅胶娃娃"); a trailing "*" makes a stem.
        `serialized` is the output of `serialize()` for the same terms: it skips the database compile.
        `forms` is a table of normalised term texts to read and fill (see term_form)."""
        patterns: dict[bytes, int] = {}
        pattern_list: list[bytes] = []
        sizes: list[int] = []
        lefts: list[int] = []
        rights: list[int] = []
        entries: list[list[_Entry]] = []
        for term_id, raw_term in enumerate(terms):
            normalized, stem = term_form(raw_term, forms)
            key = _term_key(normalized)
            if not key:
                continue
            left = not _CJK_RE.match(key[0])
            right = not stem and not _CJK_RE.match(key[-1])
            for variant in _variants(key):
                pattern = (b" " if left else b"") + variant.encode().translate(_MERGE_TABLE) + (b" " if right else b"")
                pattern_id = patterns.get(pattern)
                if pattern_id is None:
                    pattern_id = patterns[pattern] = len(pattern_list)
                    pattern_list.append(pattern)
                    sizes.append(len(pattern))
                    lefts.append(int(left))
                    rights.append(int(right))
                    entries.append([])
                if (term_id, variant) not in entries[pattern_id]:
                    entries[pattern_id].append((term_id, variant))
        self._sizes, self._lefts, self._rights = sizes, lefts, rights
        self._firsts = [0]
        self._entry_terms, self._entry_keys = [], []
        for row in entries:
            self._entry_terms += [term_id for term_id, _ in row]
            self._entry_keys += [key for _, key in row]
            self._firsts.append(len(self._entry_terms))
        self._term_count = len(terms)
        self._word_index: dict[tuple[int, str, bool], str] | None = None
        self._fingerprint = hashlib.sha256(b"\0".join(pattern_list)).digest()
        self._engine = self._make_engine(pattern_list, engine, serialized)

    # precompiled --------------------------------------------------------------------------------------

    def export(self) -> tuple[dict[str, Any], bytes]:
        """(the pattern table as JSON-able data, the Hyperscan database): what `restore` needs to start this
        matcher again without normalising a term or compiling. Only a Hyperscan matcher can be exported."""
        if self._engine.name != "hyperscan":
            raise ValueError(f"only a Hyperscan database can be exported, not {self._engine.name}")
        table = {
            "format": _TABLE_FORMAT,
            "terms": self._term_count,
            "fingerprint": self._fingerprint.hex(),
            "sizes": self._sizes,
            "lefts": bytes(self._lefts).translate(_TO_DIGIT).decode(),  # "0110...": a string parses at once
            "rights": bytes(self._rights).translate(_TO_DIGIT).decode(),
            "firsts": self._firsts,
            "entry_terms": self._entry_terms,
            "entry_keys": self._entry_keys,
        }
        return table, self._engine.serialize()

    @classmethod
    def restore(cls, table: Mapping[str, Any], database: bytes) -> TermMatcher:
        """The matcher `export()` described (its table may have been through JSON). Raises ValueError if the
        table or the database cannot be used here (another format, Hyperscan version or CPU, damaged bytes)."""
        if table.get("format") != _TABLE_FORMAT:
            raise ValueError(f"pattern table format {table.get('format')!r}, expected {_TABLE_FORMAT}")
        sizes, lefts, rights = table["sizes"], table["lefts"], table["rights"]
        firsts, entry_terms, entry_keys = table["firsts"], table["entry_terms"], table["entry_keys"]
        if not (isinstance(sizes, list) and isinstance(lefts, str) and isinstance(rights, str)
                and isinstance(firsts, list) and isinstance(entry_terms, list) and isinstance(entry_keys, list)
                and len(sizes) == len(lefts) == len(rights) == len(firsts) - 1
                and firsts[0] == 0 and firsts[-1] == len(entry_terms) == len(entry_keys)):
            raise ValueError("the pattern table's columns are missing or do not fit together")
        matcher = cls.__new__(cls)
        matcher._sizes = sizes
        matcher._lefts = list(lefts.encode().translate(_FROM_DIGIT))
        matcher._rights = list(rights.encode().translate(_FROM_DIGIT))
        matcher._firsts, matcher._entry_terms, matcher._entry_keys = firsts, entry_terms, entry_keys
        matcher._term_count = int(table["terms"])
        matcher._word_index = None
        matcher._fingerprint = bytes.fromhex(table["fingerprint"])
        if not matcher._sizes:
            matcher._engine = _NoEngine()
        elif not _HAVE_HYPERSCAN:
            raise ValueError("a precompiled database needs Hyperscan, which cannot be imported")
        else:
            try:
                matcher._engine = _HyperscanEngine((), database)
            except hyperscan.error as exc:
                raise ValueError(f"the Hyperscan database cannot be loaded here: {exc!r}") from exc
        return matcher

    @property
    def term_count(self) -> int:
        """How many terms the matcher was built from (term ids run from 0 to this, exclusive)."""
        return self._term_count

    def _make_engine(self, patterns: list[bytes], engine: EngineName | None, serialized: bytes | None) -> _Engine:
        if not patterns:
            return _NoEngine()
        if engine is None:
            engine = "hyperscan" if _HAVE_HYPERSCAN else "ahocorasick"
        if engine == "ahocorasick":
            if not _HAVE_AHOCORASICK:
                raise ImportError("neither hyperscan nor pyahocorasick can be imported")
            if serialized is not None:
                raise ValueError("a serialised database needs Hyperscan")
            return _AhoCorasickEngine(patterns)
        if not _HAVE_HYPERSCAN:
            raise ImportError("hyperscan cannot be imported")
        blob = None
        if serialized is not None:
            if not serialized.startswith(_MAGIC) or serialized[len(_MAGIC) : len(_MAGIC) + 32] != self._fingerprint:
                raise ValueError("the serialised database was compiled from other terms")
            blob = serialized[len(_MAGIC) + 32 :]
        return _HyperscanEngine(patterns, blob)

    @property
    def engine(self) -> EngineName:
        return self._engine.name

    @property
    def pattern_count(self) -> int:
        return len(self._sizes)

    def serialize(self) -> bytes:
        """The compiled database, to ship with a build and pass back as `serialized`."""
        return _MAGIC + self._fingerprint + self._engine.serialize()

    def scan(self, text: str) -> list[TermMatch]:
        """Every occurrence of every term in `text` (a `NormalizedText.text`), ordered by position."""
        found = self._scan(text)
        if "*" in text and self._sizes:
            found.update(self._scan_masked(text))
        return [TermMatch(t, s, e) for s, e, t in sorted(found)]

    def _scan(self, text: str) -> set[tuple[int, int, int]]:
        raw = text.encode()
        ascii_only = len(raw) == len(text)
        unsqueezed = _key_unsqueezed(raw, _MERGE_TABLE, ascii_only)
        marked = _mark_extra_spaces(unsqueezed) if b"  " in unsqueezed else None
        key = unsqueezed if marked is None else marked.replace(b"\0", b"")
        hits = self._engine.scan(b" " + key + b" ")
        found: set[tuple[int, int, int]] = set()
        if not hits:
            return found
        sizes, lefts, rights, firsts = self._sizes, self._lefts, self._rights, self._firsts
        entry_terms, entry_keys = self._entry_terms, self._entry_keys
        unsqueeze = None if marked is None else _Unsqueeze(marked)
        if unsqueeze is not None:
            hits.sort(key=lambda hit: hit[1] - sizes[hit[0]])
        for pattern_id, end in hits:
            # The term's own bytes lie between its boundary spaces; the padding space shifts the key by one.
            key_start = end - sizes[pattern_id] + lefts[pattern_id] - 1
            key_end = end - rights[pattern_id] - 1
            if unsqueeze is None:
                raw_start, raw_end = key_start, key_end
            else:
                raw_start = unsqueeze.position(key_start)
                raw_end = raw_start + key_end - key_start
                if marked is not None and marked.find(b"\0", raw_start, raw_end) >= 0:
                    raw_end = unsqueeze.position(key_end - 1) + 1
            if ascii_only:
                start, stop = raw_start, raw_end
            else:
                start = len(raw[:raw_start].decode())
                stop = start + len(raw[raw_start:raw_end].decode())
            piece = text[start:stop]
            piece_key: str | None = None
            for entry in range(firsts[pattern_id], firsts[pattern_id + 1]):
                want = entry_keys[entry]
                if piece == want:
                    found.add((start, stop, entry_terms[entry]))
                    continue
                if piece_key is None:
                    piece_key = _term_key(piece)
                if _matches_key(piece_key, want):
                    found.add((start, stop, entry_terms[entry]))
        return found

    def _scan_masked(self, text: str) -> set[tuple[int, int, int]]:
        found: set[tuple[int, int, int]] = set()
        for token_start, token_end in _masked_tokens(text):
            token = text[token_start:token_end]
            window_start = max(0, token_start - _MASK_WINDOW)
            if window_start > 0:
                space = text.find(" ", window_start, token_start)
                window_start = token_start if space < 0 else space + 1
            window_end = min(len(text), token_end + _MASK_WINDOW)
            if window_end < len(text):
                space = text.rfind(" ", token_end, window_end)
                window_end = token_end if space < 0 else space
            for word in self._mask_candidates(token):
                filled = text[window_start:token_start] + word + text[token_start + len(word) : window_end]
                for start, stop, term_id in self._scan(filled):
                    start += window_start
                    stop += window_start
                    if start < token_end and stop > token_start:
                        found.add((start, stop, term_id))
        return found

    def _mask_candidates(self, token: str) -> list[str]:
        """Policy words that fit `token` ("*" = any one letter): the whole token, or a stem's length of it."""
        index = self._word_index
        if index is None:
            # Built on the first masked text: every word of every term (a stem's last word may be followed
            # by more letters), and every variant written as one word.
            grouped: dict[tuple[int, str, bool], set[str]] = {}
            for pattern_id, right in enumerate(self._rights):
                for variant in self._entry_keys[self._firsts[pattern_id] : self._firsts[pattern_id + 1]]:
                    words = variant.split(" ")
                    stem = not right and not _CJK_RE.match(variant[-1])
                    for i, word in enumerate(words):
                        grouped.setdefault((len(word), word[0], stem and i == len(words) - 1), set()).add(word)
            index = self._word_index = {k: "\n".join(sorted(v)) for k, v in grouped.items()}
        firsts = "il1" if token[0] in "il1" else token[0]
        out: list[str] = []
        for size in range(1, len(token) + 1):
            stem_only = size < len(token)
            part = token[:size]
            if "*" not in part and stem_only:
                continue
            pattern = re.compile(
                "^" + "".join("[^\n]" if c == "*" else "[il1]" if c == "1" else re.escape(c) for c in part) + "$",
                re.MULTILINE,
            )
            for first in firsts:
                for stem in (True,) if stem_only else (False, True):
                    bucket = index.get((size, first, stem))
                    if bucket:
                        out.extend(pattern.findall(bucket))
        return sorted(set(out), key=len, reverse=True)


def _masked_tokens(text: str) -> list[tuple[int, int]]:
    """Spans of the words with a "*" between two of their letters or digits."""
    spans: list[tuple[int, int]] = []
    pos = text.find("*")
    while pos >= 0:
        start = pos
        while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "*"):
            start -= 1
        end = pos
        while end < len(text) and (text[end].isalnum() or text[end] == "*"):
            end += 1
        token = text[start:end].strip("*")
        if "*" in token:
            lead = len(text[start:end]) - len(text[start:end].lstrip("*"))
            spans.append((start + lead, start + lead + len(token)))
        pos = text.find("*", end)
    return spans
