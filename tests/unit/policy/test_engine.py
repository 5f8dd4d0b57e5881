"""The compiled policy: condition semantics, evidence in the seller's own words, and the child-like doll rules."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from prescreen.models import Listing, RuleHit
from prescreen.policy.engine import CompiledPolicy, compile_policy, split_attribute_key
from prescreen.policy.loader import build_policy, load_policy

CATEGORY = "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS"
TERMS = """\
sets:
  doll:
    en: [doll, dolls, sex doll]
    fr: [poupée*]
  adult:
    en: [adult, for men]
  young:
    en: [young girl, teen]
  toy:
    en: [toy, for children]
  brand:
    any: [rolex]
  cjk:
    zh: [娃娃]
"""


def compiled(when: str, *, unless: str = "", extra: str = "", fields: str = "") -> CompiledPolicy:
    """A one-rule policy (rule id `t.rule`) over TERMS, compiled from files in memory."""
    rule = textwrap.dedent(f"""\
        rules:
          - id: t.rule
            description: test rule
            category: {CATEGORY}
            family: toys
            action: block
            legal_ground: a law
            explanation: why
        """)
    body = "".join(f"    {line}\n" for line in textwrap.dedent(when).strip().splitlines())
    rule += "    when:\n" + "".join(f"  {line}\n" for line in body.splitlines())
    if unless:
        rule += "    unless:\n" + "".join(f"      {line}\n" for line in textwrap.dedent(unless).strip().splitlines())
    rule += "".join(f"    {line}\n" for line in textwrap.dedent(extra).strip().splitlines()) if extra else ""
    rule += f"    fields: {fields}\n" if fields else ""
    files = {
        "base.yaml": b'version: "1"\nreference_prices: {rolex: 5000}\ncategory_families: {toys: [toy*]}\n',
        "terms/t.yaml": TERMS.encode(),
        "rules/t.yaml": rule.encode(),
    }
    return compile_policy(build_policy(files))


def listing(title: str, **fields: Any) -> Listing:
    return Listing.model_validate({"id": "l-1", "title": title, **fields})


def evidence(hits: list[RuleHit]) -> list[tuple[str, str, int, int]]:
    return [(e.field, e.text, e.start, e.end) for hit in hits for e in hit.evidence]


# --- condition semantics ----------------------------------------------------------------------------------


def test_terms_evidence_points_at_the_original_words_with_accents_and_case() -> None:
    # Given a French term "poupée*" and a title in capitals with an accent
    policy = compiled("terms: doll")
    title = "Très belle POUPÉES anciennes"
    # When screened
    hits = policy.evaluate(listing(title))
    # Then the evidence is the seller's own spelling, offsets in code points of the original title
    assert evidence(hits) == [("/title", "POUPÉES", 11, 18)]
    assert title[11:18] == "POUPÉES"


def test_evidence_survives_look_alike_letters_and_invisible_characters() -> None:
    policy = compiled("terms: doll")
    title = "S\u0435x\u200b d\u043ell"  # Cyrillic e and o, a zero-width space
    [hit] = policy.evaluate(listing(title))
    [item] = hit.evidence
    assert (item.start, item.end) == (0, len(title))
    assert item.text == title


def test_a_span_inside_a_larger_one_is_not_repeated() -> None:
    # "sex doll" and "doll" both match; the evidence shows the larger span once
    hits = compiled("terms: doll").evaluate(listing("a sex doll"))
    assert evidence(hits) == [("/title", "sex doll", 2, 10)]


def test_every_field_is_screened_and_named_by_its_json_pointer() -> None:
    policy = compiled("terms: doll")
    hits = policy.evaluate(listing("nothing", description="a doll", category="Toys > Dolls",
                                   attributes={"type/kind": "doll"}))
    assert evidence(hits) == [("/description", "doll", 2, 6), ("/category", "Dolls", 7, 12),
                              ("/attributes/type~1kind", "doll", 0, 4)]


def test_rule_fields_limit_where_terms_count() -> None:
    policy = compiled("terms: doll", fields="[/title, /attributes]")
    assert policy.evaluate(listing("nothing", description="a doll")) == []
    assert policy.evaluate(listing("nothing", attributes={"kind": "doll"})) != []


def test_terms_in_looks_only_at_its_own_fields() -> None:
    policy = compiled("terms_in: {sets: [doll], fields: [/category]}")
    assert policy.evaluate(listing("a doll")) == []
    assert evidence(policy.evaluate(listing("x", category="Dolls"))) == [("/category", "Dolls", 0, 5)]


def test_whole_words_unless_stemmed_and_cjk_without_boundaries() -> None:
    policy = compiled("terms: [doll, cjk]")
    assert policy.evaluate(listing("one dollar")) == []            # doll is a whole word
    assert policy.evaluate(listing("硅胶娃娃出售")) != []            # CJK needs no word boundary
    assert compiled("terms: doll").evaluate(listing("poupées")) != []  # poupée* is a stem


@pytest.mark.parametrize(("title", "hit"), [
    ("doll for men", True),                            # adjacent: distance 1
    ("doll made of soft vinyl, for men", True),        # 5 words apart
    ("doll made of soft vinyl and cloth, for men", False),  # 7 words apart
    ("for men", False),
])
def test_near_counts_words_between_occurrences(title: str, hit: bool) -> None:
    policy = compiled("near: {a: doll, b: adult, within: 5}")
    assert bool(policy.evaluate(listing(title))) is hit


def test_near_needs_both_in_the_same_field_and_shows_both() -> None:
    policy = compiled("near: {a: doll, b: adult, within: 3}")
    assert policy.evaluate(listing("doll", description="for men")) == []
    assert evidence(policy.evaluate(listing("doll for men"))) == [("/title", "doll", 0, 4),
                                                                  ("/title", "for men", 5, 12)]


def test_near_in_a_long_text_finds_the_close_pair_among_many() -> None:
    policy = compiled("near: {a: doll, b: adult, within: 1}")
    description = " ".join(["doll filler filler"] * 200 + ["adult doll"])
    hits = policy.evaluate(listing("x", description=description))
    assert [(e.text, e.start) for e in hits[0].evidence] == [("adult", len(description) - 10),
                                                              ("doll", len(description) - 4)]


def test_regex_runs_on_normalised_text_and_points_at_the_original() -> None:
    policy = compiled(r"regex: '\bak-?47\b'")
    [hit] = policy.evaluate(listing("Réplique AK-47 d'occasion"))
    assert evidence([hit]) == [("/title", "AK-47", 9, 14)]
    assert policy.evaluate(listing("ak470")) == []


def test_regex_runs_only_once_the_cheaper_conditions_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a rule "doll AND regex", When a listing without a doll is screened, Then the regex never runs
    policy = compiled(r"""
        all:
          - regex: 'x\d'
          - terms: doll
    """)
    runs: list[str] = []
    import prescreen.policy.engine as engine

    original = engine._State.regex_spans

    def counting(self: Any, index: int, pattern: Any, field: int) -> list[tuple[int, int]]:
        runs.append(pattern.pattern)
        return original(self, index, pattern, field)

    monkeypatch.setattr(engine._State, "regex_spans", counting)
    assert policy.evaluate(listing("x1 toy")) == []
    assert runs == []
    assert policy.evaluate(listing("x1 doll")) != []
    assert runs == [r"x\d"]


@pytest.mark.parametrize(("item", "hit", "shown"), [
    (listing("doll 100 cm"), True, ("/title", "100 cm")),
    (listing("doll 3ft 11"), True, ("/title", "3ft 11")),                      # 119 cm
    (listing("doll 150 cm"), False, None),
    (listing("doll", attributes={"height_cm": 100}), True, ("/attributes/height_cm", "100")),
    (listing("doll", attributes={"Height (in)": 40}), True, ("/attributes/Height (in)", "40")),   # 101.6 cm
    (listing("doll", attributes={"height_in": 60}), False, None),             # 152.4 cm
    (listing("doll", attributes={"taille": "100"}), True, ("/attributes/taille", "100")),  # condition's unit
    (listing("doll", attributes={"taille": "1,20 m"}), True, ("/attributes/taille", "1,20 m")),
    (listing("doll", attributes={"weight_kg": 100}), False, None),            # not a listed key
    (listing("doll", attributes={"height_cm": True}), False, None),
])
def test_size_reads_text_and_listed_attributes(item: Listing, hit: bool,
                                               shown: tuple[str, str] | None) -> None:
    policy = compiled("size: {lt: 140, unit: cm, keys: [height, taille]}")
    hits = policy.evaluate(item)
    assert bool(hits) is hit
    if shown is not None:
        assert shown in [(e.field, e.text) for e in hits[0].evidence]


def test_size_largest_compares_the_body_height_not_the_bust() -> None:
    # Given an adult doll's measurements
    title = "doll height 165 cm, bust 80 cm, waist 55 cm"
    # Then "any size < 140" holds (the bust), but "largest size < 140" does not
    assert compiled("size: {lt: 140, unit: cm}").evaluate(listing(title)) != []
    assert compiled("size: {lt: 140, unit: cm, largest: true}").evaluate(listing(title)) == []
    # And a small doll's largest size is its height
    small = compiled("size: {lt: 140, unit: cm, largest: true}").evaluate(listing("doll 100 cm, bust 50 cm"))
    assert evidence(small) == [("/title", "100 cm", 5, 11)]


def test_size_ranges_and_masses() -> None:
    policy = compiled("size: {ge: 10, le: 20, unit: kg, keys: [weight]}")
    assert policy.evaluate(listing("doll 15kg")) != []
    assert policy.evaluate(listing("doll", attributes={"weight_lb": 30})) != []      # 13.6 kg
    assert policy.evaluate(listing("doll 25 kg")) == []
    assert policy.evaluate(listing("doll 15 cm")) == []                              # a length, not a mass


@pytest.mark.parametrize(("price", "hit"), [
    ({"amount": 499, "currency": "EUR"}, True),     # below 0.1 x 5000
    ({"amount": 500, "currency": "EUR"}, False),
    ({"amount": 550, "currency": "USD"}, True),     # ~473 EUR
    ({"amount": 450, "currency": "GBP"}, False),    # ~513 EUR
    ({"amount": 100, "currency": "XCG"}, False),    # no rate: not guessed
    (None, False),
])
def test_price_below_converts_to_eur(price: dict[str, Any] | None, hit: bool) -> None:
    policy = compiled("price_below: {reference: rolex, ratio: 0.1}")
    item = listing("a watch", price=price) if price else listing("a watch")
    hits = policy.evaluate(item)
    assert bool(hits) is hit
    if hit and price is not None:
        assert evidence(hits) == [("/price/amount", str(price["amount"]), 0, len(str(price["amount"])))]


@pytest.mark.parametrize(("seller", "hit"), [
    ({"account_age_days": 3, "country": "CN"}, True),
    ({"account_age_days": 3, "country": "FR"}, False),
    ({"account_age_days": 300, "country": "CN"}, False),
    ({"country": "CN"}, False),
    (None, False),
])
def test_seller_needs_every_given_key(seller: dict[str, Any] | None, hit: bool) -> None:
    policy = compiled("seller: {max_account_age_days: 30, countries: [CN, HK]}")
    item = listing("x", seller=seller) if seller else listing("x")
    hits = policy.evaluate(item)
    assert bool(hits) is hit
    if hit:
        assert evidence(hits) == [("/seller/account_age_days", "3", 0, 1), ("/seller/country", "CN", 0, 2)]


def test_all_any_not_combine_and_not_adds_no_evidence() -> None:
    policy = compiled("""
        all:
          - terms: doll
          - any:
              - terms: adult
              - terms: young
          - not: {terms: toy}
    """)
    assert evidence(policy.evaluate(listing("doll for men, teen"))) == [
        ("/title", "doll", 0, 4), ("/title", "for men", 5, 12), ("/title", "teen", 14, 18)]
    assert policy.evaluate(listing("doll for men toy")) == []
    assert policy.evaluate(listing("doll")) == []


def test_unless_is_scoped_to_its_rule() -> None:
    policy = compiled("terms: doll", unless="- terms: toy")
    assert policy.evaluate(listing("doll toy")) == []
    assert policy.evaluate(listing("doll")) != []


def test_a_price_only_rule_is_evaluated_without_any_term() -> None:
    # Rules without trigger sets must not be skipped by the term index
    policy = compiled("all: [{not: {terms: doll}}, {price_below: {reference: rolex, ratio: 0.1}}]")
    assert policy.evaluate(listing("watch", price={"amount": 10, "currency": "EUR"})) != []


def test_shadow_rules_hit_with_their_mode() -> None:
    [hit] = compiled("terms: doll", extra="mode: shadow").evaluate(listing("doll"))
    assert (hit.rule_id, hit.mode, hit.action, hit.family, hit.category) == ("t.rule", "shadow", "block", "toys",
                                                                             CATEGORY)


def test_policy_metadata_for_callers() -> None:
    policy = compiled("terms: doll")
    assert policy.name == "base"
    assert policy.version.startswith("1+")
    assert list(policy.rules) == ["t.rule"]
    assert policy.category_families == {"toys": ["toy*"]}
    assert policy.family_category("toys") == CATEGORY
    with pytest.raises(KeyError, match="no rule"):
        policy.family_category("drugs")
    assert policy.families_for_category("Home > Toys & Games") == ["toys"]
    assert policy.families_for_category("Garden") == []


def test_attribute_keys_drop_a_trailing_unit() -> None:
    assert split_attribute_key("height_cm") == ("height", "cm")
    assert split_attribute_key("Größe (in)") == ("grosse", "in")
    assert split_attribute_key("taille") == ("taille", None)
    assert split_attribute_key("cm") == ("cm", None)


# --- the bundled child-like sex doll rules ----------------------------------------------------------------


@pytest.fixture(scope="module")
def base() -> CompiledPolicy:
    return compile_policy(load_policy("base"))


def doll_hits(policy: CompiledPolicy, item: Listing) -> dict[str, RuleHit]:
    return {hit.rule_id: hit for hit in policy.evaluate(item) if hit.family == "childlike_sex_doll"}


@pytest.mark.parametrize("title", [
    "Poupée d'amour 100 cm visage juvénile",
    "mini love doll 80cm young girl face",
    "L\u043ev\u0435 d\u043ell young girl",  # Cyrillic o and e
    "L\u043ev\u0435 d\u043ell young 100cm",  # a bare "young" and a small body: two weak cues
    "Realistic TPE doll for men, schoolgirl uniform",
    "Sexpuppe Schulmädchen 120 cm",
    "Muñeca sexual colegiala con esqueleto metálico",
    "Bambola sessuale ragazzina 110 cm",
    "Lalka erotyczna nastolatka 125 cm",
    "Sekspop tienermeisje",
    "Boneca sexual menina 100cm",
    "Секс кукла школьница 130 см",
    "硅胶娃娃 萝莉 成人用品",
    "Love doll loli, 3 holes",
    "Poupée silicone 125cm pour adulte, aspect enfantin",
    "Realistic doll for men, collector edition, loli",   # "for men" is not excused by "collector"
])
def test_childlike_sex_dolls_are_blocked_in_ten_languages(base: CompiledPolicy, title: str) -> None:
    hits = doll_hits(base, listing(title))
    assert "minors.childlike_sex_doll" in hits, title
    hit = hits["minors.childlike_sex_doll"]
    assert (hit.action, hit.category) == ("block", "STATEMENT_CATEGORY_PROTECTION_OF_MINORS")
    for item in hit.evidence:
        assert title[item.start:item.end] == item.text  # always the seller's own words


def test_childlike_doll_evidence_names_the_doll_and_the_cue(base: CompiledPolicy) -> None:
    hit = doll_hits(base, listing("Poupée d'amour 100 cm visage juvénile"))["minors.childlike_sex_doll"]
    texts = [item.text for item in hit.evidence]
    assert "Poupée d'amour" in texts
    assert "juvénile" in texts


def test_small_height_in_an_attribute_is_a_cue(base: CompiledPolicy) -> None:
    item = listing("Mini love doll", attributes={"height_cm": 100, "material": "TPE"})
    hit = doll_hits(base, item)["minors.childlike_sex_doll"]
    assert ("/attributes/height_cm", "100") in [(e.field, e.text) for e in hit.evidence]


@pytest.mark.parametrize("title", [
    "Mini sex doll, TPE",                     # a weak word alone
    "Love doll young",                        # a bare "young" alone
    "Petite love doll 150 cm, young-looking face",     # a weak word on a body under 160 cm
    "Love doll 110 cm, big breasts",          # a small body with an adult body
    "Doll 120 cm for adults",                 # a small body on a doll only softly for adults
    "Sex lalka 120 cm",                       # "sex" next to a doll word, and a small body
])
def test_one_weak_cue_is_sent_to_review(base: CompiledPolicy, title: str) -> None:
    hits = doll_hits(base, listing(title))
    assert list(hits) == ["minors.childlike_sex_doll_review"], title
    assert hits["minors.childlike_sex_doll_review"].action == "review"


@pytest.mark.parametrize("item", [
    listing("Sex doll 120 cm"),                                     # a child's height on a sex doll
    listing("Realistic doll for men", attributes={"height_cm": 105}),
    listing("Love doll", attributes={"Height (in)": 44}),           # 112 cm
    listing("TPE companion for lonely guys, all functions", attributes={"height_cm": 98}),
    listing("Silicone companion, fully functional, for adults", attributes={"body_type": "child"}),
    listing("Mannequin 115 cm, soft TPE skin, fully functional for adults, youthful face"),
    listing("Life-size silicone sculpture with openings, 110 cm"),
    listing("Torso with a teen head, silicone, for adult use"),   # a torso with a youth word
    listing("Pop voor 18+ gebruik, 1m10"),                        # Dutch "pop" for adult use with a body
    listing("Compañera de TPE para hombres solos, todas las funciones", attributes={"altura_cm": 100}),
    listing("Kukla dlya vzroslyh 110 sm devochka"),                # Russian in Latin letters
    listing("shiti wawa luoli"),                                   # Chinese in pinyin
    listing("实体 娃娃 幼女"),                                        # a space inside a Chinese word
    listing("С\u0435кс кукл\u0430 школьница"),
    listing("Loli doll 105 cm for adult collectors"),              # collectors' dolls stay under 90 cm
    listing("\uff33\uff25\uff38 \uff24\uff2f\uff2c\uff2c \uff11\uff11\uff10\uff23\uff2d"),  # full-width 110CM
    listing("Doll for adults, 110 cm, teen look, not for children"),   # a warning is no children's doll
    listing("Love doll, looks underage"),
])
def test_disguised_childlike_sex_dolls_are_blocked(base: CompiledPolicy, item: Listing) -> None:
    hits = doll_hits(base, item)
    assert "minors.childlike_sex_doll" in hits, item.title


def test_a_body_without_a_doll_word_in_an_adult_listing_is_reviewed(base: CompiledPolicy) -> None:
    # Given an adult listing whose product name is disguised beyond recognition, with a small body height
    item = listing("D0-ll for adults, tiny and slim", category="Adult", attributes={"height_cm": 150})
    # Then a reviewer sees it
    assert list(doll_hits(base, item)) == ["minors.childlike_body_review"]
    # But a garment with a model's height is no body
    lingerie = listing("Petite lace lingerie set", category="Adult > Lingerie", attributes={"height_cm": 150})
    assert doll_hits(base, lingerie) == {}


@pytest.mark.parametrize("item", [
    listing("Reborn baby doll 55 cm, gift for children 3+"),
    listing("Mannequin vitrine femme taille adulte 175 cm"),
    listing("Poupée sexuelle réaliste 165 cm, poitrine 85 cm, taille 55 cm"),   # an adult doll
    listing("Love doll, young woman look, 165 cm"),
    listing("Puppe für Kinder ab 3 Jahren, kleines Mädchen, 45 cm"),
    listing("BJD ball jointed doll 1/4 scale, teen girl, adults only collectors"),
    listing("Sex doll torso 60 cm"),
    listing("Barbie doll teen fashion"),
    listing("Schaufensterpuppe Kind 120 cm für Kinderbekleidung"),
    listing("Vintage doll for adult collectors, little girl, 1950s"),
    listing("Love doll 160cm, mini skirt outfit"),             # a weak word next to an adult height
    listing("Harry Potter Hermione doll, schoolgirl uniform, 30cm, ages 6+"),
    listing("Interactive baby doll, all functions, girl, 40 cm"),          # "all functions" is no sex
    listing("Schaufensterpuppe Kind 110 cm, voll funktionsfähig"),         # nor on a shop mannequin
    listing("CPR manikin child size, fully functional, for first aid training"),
    listing("Travel companion for men, mini size"),                        # a companion that is no doll
    listing("Companion robot for kids, fully functional"),
    listing("K-pop album for men, teen idols"),                            # another "pop"
    listing("Reborn doll 50 cm. Sex: girl"),                               # "sex" as the doll's gender
    listing("Vinyl doll 40 cm, sex: girl"),
    listing("Poupée ancienne 60 cm, petite fille, pour collectionneurs adultes"),
    listing("Anatomy torso model, child, 85 cm, life size"),
    listing("Puppe ab 18 Monaten, Mädchen, 30 cm"),
    listing("Reborn doll, little girl, 50 cm, with openings for the pacifier magnet"),
    # an adult doll that excludes minors names them without describing the doll
    listing("Liebespuppe 165 cm, kein Verkauf an Minderjährige"),
    listing("成人娃娃 165cm 未成年人禁止购买"),
    listing("Love doll 168 cm, no sales to underage buyers"),
])
def test_lookalikes_are_not_childlike_sex_dolls(base: CompiledPolicy, item: Listing) -> None:
    assert doll_hits(base, item) == {}, item.title


def test_an_explicit_word_overrides_the_art_doll_exception(base: CompiledPolicy) -> None:
    item = listing("BJD ball jointed doll, teen girl, sexual use")
    assert "minors.childlike_sex_doll" in doll_hits(base, item)


# --- the bundled overlays ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def adult_free() -> CompiledPolicy:
    return compile_policy(load_policy("adult_free"))


@pytest.fixture(scope="module")
def de_only() -> CompiledPolicy:
    return compile_policy(load_policy("de_only"))


def rule_ids(policy: CompiledPolicy, item: Listing) -> dict[str, str]:
    return {hit.rule_id: hit.action for hit in policy.evaluate(item)}


@pytest.mark.parametrize("title", [
    "Vibromasseur rabbit rechargeable", "Realistic dildo 18 cm", "Sexpuppe 165 cm", "跳蛋 无线遥控",
])
def test_adult_free_blocks_adult_products_under_its_terms(adult_free: CompiledPolicy, base: CompiledPolicy,
                                                          title: str) -> None:
    hits = rule_ids(adult_free, listing(title))
    assert hits.get("adult_free.adult_product") == "block", title
    assert "adult_free.adult_product" not in rule_ids(base, listing(title))  # the base accepts adult products
    [hit] = [h for h in adult_free.evaluate(listing(title)) if h.rule_id == "adult_free.adult_product"]
    assert hit.category == "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"


@pytest.mark.parametrize("title", [
    "Betonrüttler Innenrüttler Vibrator 38 mm",
    "iPhone 12 vibrator motor replacement part",
    "Mannequin vitrine femme taille adulte 175 cm",
])
def test_adult_free_leaves_look_alikes_alone(adult_free: CompiledPolicy, title: str) -> None:
    assert rule_ids(adult_free, listing(title)) == {}


def test_adult_free_blocks_a_doll_with_a_single_weak_cue(adult_free: CompiledPolicy, base: CompiledPolicy) -> None:
    item = listing("Mini love doll, TPE")
    assert rule_ids(base, item) == {"minors.childlike_sex_doll_review": "review"}
    assert rule_ids(adult_free, item)["minors.childlike_sex_doll_review"] == "block"


@pytest.mark.parametrize(("title", "expected"), [
    ("Hakenkreuz Fahne original 1938", {"de.nazi_symbols": "block"}),
    ("SS Totenkopf Ring Silber", {"de.nazi_symbols": "block"}),
    ("Nazi flag WW2 original", {"de.nazi_symbols": "block"}),
    ("Buch: Die Geschichte des Hakenkreuzes, Sachbuch", {"de.nazi_media_review": "review"}),
    ("Wehrmacht Orden Drittes Reich Original", {"de.nazi_memorabilia_review": "review"}),
    ("Hindu swastika brass pendant, Diwali gift", {}),
    ("Anti-Nazi Aufkleber durchgestrichenes Hakenkreuz", {}),
    ("Butterflymesser Edelstahl", {"de.prohibited_weapons": "block"}),
    ("Wurfsterne Set 3 Stück", {"de.prohibited_weapons": "block"}),
    ("Butterflymesser Trainer stumpf ohne Klinge", {}),
])
def test_de_only_enforces_german_law(de_only: CompiledPolicy, base: CompiledPolicy, title: str,
                                     expected: dict[str, str]) -> None:
    mine = {rule: action for rule, action in rule_ids(de_only, listing(title)).items() if rule.startswith("de.")}
    assert mine == expected, title
    assert not any(rule.startswith("de.") for rule in rule_ids(base, listing(title)))
