
import random
import unicodedata

import pytest

from prescreen.decide import decide
from prescreen.models import Listing
from prescreen.normalize import Measurement, find_measurements, normalize, normalize_term, to_canonical
from prescreen.policy.engine import CompiledPolicy, compile_policy
from prescreen.policy.loader import load_policy

RLO, LRO, PDF, RLI, PDI = "\u202e", "\u202d", "\u202c", "\u2067", "\u2069"


def seller_text(original: str, normalized_part: str) -> str:
    """What the seller wrote for the first occurrence of `normalized_part` in the normalised text."""
    result = normalize(original)
    start = result.text.index(normalized_part)
    begin, end = result.original_span(start, start + len(normalized_part))
    return original[begin:end]


@pytest.mark.parametrize(
    ("original", "normalized", "part", "seller"),
    [
        # Cyrillic о and е inside a Latin word
        ("Lоvе dоll", "love doll", "love", "Lоvе"),
        # zero-width space and soft hyphen inside a word
        ("s\u200bex doll", "sex doll", "sex", "s\u200bex"),
        ("poup\u00adée", "poupee", "poupee", "poup\u00adée"),
        # bidi controls around a word: a right-to-left override shows it reversed, a left-to-right one as is
        ("\u202exes\u202c toy", "sex toy", "sex", "xes"),
        ("\u202dsex\u202c toy", "sex toy", "sex", "sex"),
        # a control character inside a word
        ("lo\x0bve doll", "love doll", "love", "lo\x0bve"),
        # leetspeak
        ("l0ve d0ll", "love doll", "doll", "d0ll"),
        ("S3X", "sex", "sex", "S3X"),
        ("$ex @dult b4by", "sex adult baby", "adult", "@dult"),
        # spaced, dotted, hyphenated letters
        ("buy l o v e doll", "buy love doll", "love", "l o v e"),
        ("buy s.e.x toys", "buy sex toys", "sex", "s.e.x"),
        ("s-e-x", "sex", "sex", "s-e-x"),
        ("l 0 v e", "love", "love", "l 0 v e"),
        # masked letters become "*", one per hidden letter
        ("s*x", "s*x", "s*x", "s*x"),
        ("S€X doll", "s*x doll", "s*x", "S€X"),
        ("f#ck", "f*ck", "f*ck", "f#ck"),
        # diacritics, ligatures, sharp s
        ("Poupée réaliste", "poupee realiste", "poupee", "Poupée"),
        ("łóżko", "lozko", "lozko", "łóżko"),
        ("Große Puppe", "grosse puppe", "grosse", "Große"),
        ("ﬁne", "fine", "fine", "ﬁne"),
        ("Œuvre", "oeuvre", "oeuvre", "Œuvre"),
        ("e\u0301te\u0301", "ete", "ete", "e\u0301te\u0301"),
        # width and style variants
        ("ＳＥＸ ｄｏｌｌ", "sex doll", "doll", "ｄｏｌｌ"),
        # emoji used as words
        ("🔫 for sale", "gun for sale", "gun", "🔫"),
        ("fresh❄️here", "fresh snow here", "snow", "❄"),
        ("👧🏻doll", "girl doll", "girl", "👧🏻"),
        ("🇸🇪🇽 doll", "sex doll", "sex", "🇸🇪🇽"),
        ("doll 🔞", "doll adults only", "adults only", "🔞"),
        # Latin look-alikes inside a Russian word take its script; a Latin letter with no twin keeps it Latin
        ("секс кукла", "секс кукла", "кукла", "кукла"),
        ("сeкс", "секс", "секс", "сeкс"),
        ("Sехрuрре", "sexpuppe", "sexpuppe", "Sехрuрре"),
        # a space inside Chinese or Japanese text splits a word: it goes
        ("实体 娃娃 150cm", "实体娃娃 150cm", "实体娃娃", "实体 娃娃"),
        ("萝​莉 娃娃", "萝莉娃娃", "娃娃", "娃娃"),
        # whitespace runs and typographic punctuation
        ("  Real\n\n doll \t here ", "real doll here", "doll", "doll"),
        ("N’hésitez « oui »", 'n\'hesitez " oui "', "hesitez", "hésitez"),
    ],
)
def test_normalize_folds_and_maps_back_to_the_seller_characters(
    original: str, normalized: str, part: str, seller: str
) -> None:
    # Given a listing text written to dodge filters
    # When it is normalised
    result = normalize(original)
    # Then the text is folded, and a span of it maps back to exactly what the seller wrote
    assert result.text == normalized
    assert seller_text(original, part) == seller


@pytest.mark.parametrize("word", ["кукла", "продаю", "сосна", "αγάπη"])
def test_a_word_in_one_script_keeps_its_letters(word: str) -> None:
    folded = normalize(word).text
    assert folded == word.casefold().replace("ά", "α")


@pytest.mark.parametrize("text", ["100 cm", "80cm", "1m20", "3ft11", "4k", "2nd", "mp3", "ps4", "us$100", "18yo"])
def test_numbers_units_and_model_names_are_not_leetspeak(text: str) -> None:
    assert normalize(text).text == text


@pytest.mark.parametrize("text", ["1oli", "m1ni", "k1ll"])
def test_one_stays_one_for_the_matcher_to_read_as_i_or_l(text: str) -> None:
    assert normalize(text).text == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("e.g. this", "e.g. this"), ("il y a à boire", "il y a a boire"), ("size 5-7", "size 5-7")],
)
def test_short_or_ordinary_letter_runs_are_not_joined(text: str, expected: str) -> None:
    assert normalize(text).text == expected


@pytest.mark.parametrize("text", ["10 € each", "***new***", "c# code", "5*3", "#1 seller"])
def test_symbols_not_between_letters_are_no_mask(text: str) -> None:
    assert normalize(text).text == text


def test_mixed_latin_and_cjk_text_keeps_the_cjk_characters() -> None:
    assert normalize("硅胶娃娃 Doll，１２０厘米").text == "硅胶娃娃 doll,120厘米"
    # A space between a CJK and a Latin word, or between Latin words, stays
    assert normalize("TPE 伴侣 男士 doll 3").text == "tpe 伴侣男士 doll 3"


@pytest.mark.parametrize("word", ["кукла", "дівчинка", "tpe", "love"])
def test_a_word_in_one_script_is_not_moved_to_the_other(word: str) -> None:
    assert normalize(word).text == word


def test_normalize_term_runs_the_same_pipeline() -> None:
    assert normalize_term("Poupée Gonflable") == "poupee gonflable"
    assert normalize_term("SEX-DOLL") == normalize("sex-doll").text
    assert normalize_term("Poupée*") == "poupee*"


def test_an_empty_or_blank_text_normalises_to_empty() -> None:
    assert normalize("").text == ""
    blank = normalize(" \n\u200b ")
    assert blank.text == ""
    start, end = blank.original_span(0, 0)
    assert start == end
    assert 0 <= start <= 4


def test_original_span_clamps_out_of_range_input() -> None:
    result = normalize("  Hello  ")
    assert result.original_span(-5, 100) == (2, 7)
    assert result.original_span(4, 2) == (6, 6)


# --- right-to-left overrides: read in the order a reader sees ------------------------------------------


@pytest.mark.parametrize(
    ("original", "shown", "part", "seller"),
    [
        # letters inside a word, closed by a PDF
        (f"lo{RLO}ev{PDF}", "love", "love", f"lo{RLO}ev"),
        # two words, and the text after the PDF in its place
        (f"mini {RLO}llod evol{PDF} 80cm", "mini love doll 80cm", "love doll", "llod evol"),
        # no PDF: the override runs to the end of the text
        (f"s{RLO}xe", "sex", "sex", f"s{RLO}xe"),
        # a newline ends it (a paragraph separator)
        (f"{RLO}ev\nol", "ve ol", "ve", "ev"),
        # a PDI ends it when it closes an isolate opened before the override...
        (f"{RLI}{RLO}ev{PDI}ol", "veol", "veol", f"ev{PDI}ol"),
        # ...and is ignored otherwise, as renderers do
        (f"{RLO}ev{PDI}ol", "love", "love", f"ev{PDI}ol"),
        # a left-to-right override inside keeps its letters in order and moves as a block
        (f"{RLO}l{LRO}ol{PDF}d{PDF}", "doll", "doll", f"l{LRO}ol{PDF}d"),
        # a combining mark stays on its letter
        (f"{RLO}e\u0301t{PDF}", "te", "te", "e\u0301t"),
    ],
)
def test_a_right_to_left_override_is_read_in_the_order_it_is_shown(
    original: str, shown: str, part: str, seller: str
) -> None:
    # Given letters written in reverse under a right-to-left override
    # When the text is normalised
    result = normalize(original)
    # Then it reads as displayed, and a match maps back to every character the seller typed for it
    assert result.text == shown
    assert seller_text(original, part) == seller


def test_a_one_letter_override_or_other_bidi_controls_move_nothing() -> None:
    # Given overrides of one letter, and embeddings and isolates that do not reverse Latin letters
    for original in (f"l{RLO}o{PDF}ve", f"{RLI}love{PDI}", f"\u202blove{PDF}", f"{LRO}love{PDF}"):
        # Then the word reads as written
        assert normalize(original).text == "love", original


# --- control characters: removed inside a word, whitespace between words ------------------------------


@pytest.mark.parametrize(
    ("original", "normalized", "part", "seller"),
    [
        # inside a word, C0 and C1 alike (VT, NEL, US, DEL, SOH), as a page shows the word whole
        ("lo\x0bve doll", "love doll", "love", "lo\x0bve"),
        ("se\x85x toy", "sex toy", "sex", "se\x85x"),
        ("do\x1fll", "doll", "doll", "do\x1fll"),
        ("gi\x7frl", "girl", "girl", "gi\x7frl"),
        ("l\x01o\x02\x03ve", "love", "love", "l\x01o\x02\x03ve"),
        ("Poup\x0cée", "poupee", "poupee", "Poup\x0cée"),
        ("lo\u200b\x0bve", "love", "love", "lo\u200b\x0bve"),
        # between words, next to a digit or punctuation, at the ends: a space
        ("love\x0b doll", "love doll", "doll", "doll"),
        ("doll\x0b80cm", "doll 80cm", "80cm", "80cm"),
        ("doll\x85, 80cm", "doll , 80cm", "doll", "doll"),
        ("\x0bdoll\x1f", "doll", "doll", "doll"),
        # tab, newline, carriage return and the line separator are whitespace even inside a word
        ("lo\tve do\nll", "lo ve do ll", "ve", "ve"),
        ("lo\r\nve", "lo ve", "ve", "ve"),
        ("lo\u2028ve", "lo ve", "lo", "lo"),
    ],
)
def test_control_characters_are_removed_inside_a_word_and_spaces_between_words(
    original: str, normalized: str, part: str, seller: str
) -> None:
    # Given control characters typed into a listing
    # When it is normalised
    result = normalize(original)
    # Then a word they split is whole again, words they separate stay apart, and offsets stay exact
    assert result.text == normalized
    assert seller_text(original, part) == seller


def test_control_characters_read_the_same_in_ascii_and_in_other_text() -> None:
    # Given the same words, once in plain ASCII and once with a character that takes the non-ASCII path
    for plain in ("lo\x0bve do\x1fll", "love\x0b doll", "a\x00b c"):
        # Then the control characters are treated alike
        assert normalize(plain + " é").text == normalize(plain).text + " e", plain


# --- the shipped policy sees through both ------------------------------------------------------------


@pytest.fixture(scope="module")
def base_policy() -> CompiledPolicy:
    return compile_policy(load_policy())


@pytest.mark.parametrize(
    ("title", "shown"),
    [
        (f"mini lo{RLO}ev{PDF} {RLO}llod{PDF} 80cm young g{RLO}lri{PDF} face", f"lo{RLO}ev{PDF} {RLO}llod"),
        (f"mini {RLO}llod evol{PDF} 80cm young girl face", "llod evol"),
        ("mini lo\x0bve d\x85oll 80cm you\x1fng girl face", "lo\x0bve d\x85oll"),
    ],
)
def test_a_blocked_doll_title_hidden_by_an_override_or_control_characters_is_blocked(
    base_policy: CompiledPolicy, title: str, shown: str
) -> None:
    # Given the child-like doll title the base policy blocks, written so that a reader still sees it
    listing = Listing.model_validate({"id": "l-1", "title": title})
    # When it is screened
    hits = base_policy.evaluate(listing)
    # Then it is blocked, and the evidence for "love doll" is the seller's own characters at their offsets
    assert decide(hits).decision == "block"
    found = [(e.text, e.start, e.end) for hit in hits for e in hit.evidence]
    start = title.index(shown)
    assert (shown, start, start + len(shown)) in found
    assert all(title[start:end] == text for text, start, end in found)


# --- property-style: random texts made of the characters that move offsets ----------------------------

_PIECES = [
    "a", "b", "s", "e", "x", "l", "o", " ", "  ", "\n", ".", "-", "*", "0", "1", "3", "4", "@", "$", "é", "É",
    "ß", "ﬁ", "æ", "ł", "е", "о", "кук", "\u200b", "\u00ad", "\u202e", "\ufe0f", "e\u0301", "q\u0303", "🔫",
    "🏻", "🇸", "❄", "’", "«", "€", "ｓ", "娃", "ﾊﾟ", "İ", "ΐ", "…", "½", "\u3000", "\u00a0",
]  # fmt: skip

# The same, with overrides, embeddings, isolates, their terminators and control characters.
_BIDI_CONTROL_PIECES = [
    *_PIECES, "\u202e", "\u202e", "\u202c", "\u202d", "\u202b", "\u2067", "\u2069", "\x0b", "\x85", "\x1f",
    "\x01", "\t", "\u2028",
]  # fmt: skip
PIECE_SETS = pytest.mark.parametrize("pieces", [_PIECES, _BIDI_CONTROL_PIECES], ids=["pieces", "bidi+controls"])


def _random_text(rng: random.Random, pieces: list[str] = _PIECES) -> str:
    return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))


@PIECE_SETS
def test_original_span_is_always_a_valid_ordered_span(pieces: list[str]) -> None:
    rng = random.Random(20261127)
    for _ in range(2000):
        original = _random_text(rng, pieces)
        result = normalize(original)
        size = len(result.text)
        for _ in range(8):
            a, b = sorted((rng.randint(0, size), rng.randint(0, size)))
            start, end = result.original_span(a, b)
            assert 0 <= start <= end <= len(original), (original, a, b, start, end)


@PIECE_SETS
def test_original_span_keeps_order_and_nesting(pieces: list[str]) -> None:
    rng = random.Random(7)
    for _ in range(1000):
        original = _random_text(rng, pieces)
        result = normalize(original)
        size = len(result.text)
        if size == 0:
            continue
        c = rng.randint(0, size - 1)
        d = rng.randint(c + 1, size)
        a, b = rng.randint(0, c), rng.randint(d, size)
        outer = result.original_span(a, b)
        inner = result.original_span(c, d)
        # Given non-empty nested spans of the normalised text, then their original spans are nested too
        assert outer[0] <= inner[0], (original, a, b, c, d, outer, inner)
        assert inner[1] <= outer[1], (original, a, b, c, d, outer, inner)
        # and spans further right start no further left
        assert result.original_span(a, a)[0] <= result.original_span(b, b)[0]


@PIECE_SETS
def test_a_non_empty_span_maps_to_a_non_empty_span(pieces: list[str]) -> None:
    rng = random.Random(11)
    for _ in range(1000):
        original = _random_text(rng, pieces)
        result = normalize(original)
        for i in range(len(result.text)):
            start, end = result.original_span(i, i + 1)
            assert start < end, (original, i, result.text)


@PIECE_SETS
def test_the_whole_text_maps_to_everything_but_stripped_ends(pieces: list[str]) -> None:
    rng = random.Random(3)
    for _ in range(500):
        original = _random_text(rng, pieces)
        result = normalize(original)
        if not result.text:
            continue
        start, end = result.original_span(0, len(result.text))
        # Only characters that leave no trace (spaces, invisible characters) are left outside
        assert normalize(original[:start]).text == ""
        assert normalize(original[end:]).text == ""


# Pieces with no invisible, bidi or control character, for the properties below.
_PLAIN_PIECES = [p for p in _PIECES if p not in ("\u200b", "\u00ad", "\u202e", "\ufe0f")]


def test_an_override_of_one_character_changes_nothing() -> None:
    rng = random.Random(17)
    for _ in range(500):
        # Given any text, and the same text with one character wrapped in RLO ... PDF
        original = _random_text(rng, _PLAIN_PIECES)
        if not original:
            continue
        i = rng.randrange(len(original))
        wrapped = f"{original[:i]}{RLO}{original[i]}{PDF}{original[i + 1 :]}"
        # Then both normalise alike: one character reversed is itself
        assert normalize(wrapped).text == normalize(original).text, (original, i)


def _letter(ch: str) -> bool:
    return ch.isalpha() or unicodedata.category(ch).startswith("M")


def test_a_control_character_reads_as_nothing_inside_a_word_and_as_a_space_elsewhere() -> None:
    rng = random.Random(23)
    for _ in range(1000):
        # Given a text with no control character, and a control character put at some place in it
        original = _random_text(rng, _PLAIN_PIECES)
        i = rng.randint(0, len(original))
        control = rng.choice(["\x0b", "\x0c", "\x1f", "\x85", "\x01\x7f"])
        result = normalize(original[:i] + control + original[i:])
        # Then between two letters it is as if it were not there, anywhere else as if it were a space
        inside = 0 < i < len(original) and _letter(original[i - 1]) and _letter(original[i])
        expected = original if inside else original[:i] + " " + original[i:]
        assert result.text == normalize(expected).text, (original, i, control)


# --- measurements ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "kind", "written"),
    [
        ("she is 4ft tall", 121.92, "length", "4ft"),
        ("height 3 ft 11", 119.38, "length", "3 ft 11"),
        ("100cm", 100.0, "length", "100cm"),
        ("taille 1m20 !", 120.0, "length", "1m20"),
        ("1m5", 150.0, "length", "1m5"),
        ("1 m 20 cm", 120.0, "length", "1 m 20 cm"),
        ("4'11\" petite", 149.86, "length", "4'11\""),
        ("5′2″", 157.48, "length", "5′2″"),
        ("weighs 80 lbs", 36.287, "mass", "80 lbs"),
        ("1,5 kg", 1.5, "mass", "1,5 kg"),
        ("1,200 g", 1.2, "mass", "1,200 g"),
        ("12 inches", 30.48, "length", "12 inches"),
        ("рост 150 см", 150.0, "length", "150 см"),
        ("身高120厘米高", 120.0, "length", "120厘米"),
        ("5 公斤", 5.0, "mass", "5 公斤"),
        ("65 Zentimeter", 65.0, "length", "65 Zentimeter"),
        ("taille 130 centimètres", 130.0, "length", "130 centimètres"),
    ],
)
def test_find_measurements_reads_the_size_and_its_span(text: str, value: float, kind: str, written: str) -> None:
    found = find_measurements(text)
    assert len(found) == 1, found
    m = found[0]
    assert m.value == pytest.approx(value, abs=0.01)
    assert m.kind == kind
    assert text[m.start : m.end] == written


@pytest.mark.parametrize("text", ["4 in 1 charger", "5 mins", "the 90's", "mp3 player", 'size "10" here', ""])
def test_find_measurements_ignores_words_that_only_look_like_units(text: str) -> None:
    assert find_measurements(text) == []


def test_find_measurements_reads_full_width_sizes_at_their_original_offsets() -> None:
    text = "ＤＯＬＬ １２０ＣＭ"
    [m] = find_measurements(text)
    assert (m.value, m.kind, text[m.start : m.end]) == (120.0, "length", "１２０ＣＭ")


def test_find_measurements_finds_each_size_in_order() -> None:
    found = find_measurements("doll 100cm, 25 kg, box 4ft")
    assert [(m.kind, round(m.value, 2)) for m in found] == [("length", 100.0), ("mass", 25.0), ("length", 121.92)]
    assert all(isinstance(m, Measurement) for m in found)


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("cm", (10.0, "length")), ("mm", (1.0, "length")), ("m", (1000.0, "length")), ("in", (25.4, "length")),
        ("inch", (25.4, "length")), ('"', (25.4, "length")), ("ft", (304.8, "length")), ("feet", (304.8, "length")),
        ("'", (304.8, "length")), ("kg", (10.0, "mass")), ("g", (0.01, "mass")), ("lb", (4.5359237, "mass")),
        ("lbs", (4.5359237, "mass")), ("см", (10.0, "length")), ("厘米", (10.0, "length")), ("кг", (10.0, "mass")),
        ("公斤", (10.0, "mass")), (" CM ", (10.0, "length")), ("pouces", (25.4, "length")),
        ("Pfund", (4.5359237, "mass")),
    ],
)  # fmt: skip
def test_to_canonical_converts_to_centimetres_and_kilograms(unit: str, expected: tuple[float, str]) -> None:
    result = to_canonical(10.0, unit)
    assert result is not None
    assert result[0] == pytest.approx(expected[0])
    assert result[1] == expected[1]


def test_to_canonical_refuses_an_unknown_unit() -> None:
    assert to_canonical(1.0, "parsec") is None
