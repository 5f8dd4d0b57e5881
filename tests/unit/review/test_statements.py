"""DSA statements of reasons: every final block yields a body the Transparency Database accepts, without
personal data; the body is checked by an independent reading of the API rules (support/transparency_db.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from prescreen.decide import UNKNOWN_FAMILY_CATEGORY
from prescreen.iso_codes import EU_COUNTRIES
from prescreen.marketplaces import MarketplaceConfig
from prescreen.models import STATEMENT_CATEGORIES, DecisionOutcome, Evidence, Reason
from prescreen.policy.loader import DEFAULT_POLICY_DIR, build_policy, policy_names, read_policy_dir
from prescreen.records import DecisionRecord, Verdict
from prescreen.review.statements import (
    FACTS_MAX,
    NoStatement,
    StatementCategory,
    StatementGroundsError,
    StatementOfReasons,
    build_statement,
    load_statement_grounds,
    parse_statement_grounds,
)
from support.transparency_db import statement_problems

T0 = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
DECISION_ID = "dec_01JDQ3ZV9M8X7K2P4R6T8W0Y2A"
LISTING_ID = "lst-98765-unique"
SELLER_ID = "seller-4242-unique"
OPERATOR = "moderator.jane.doe"
NOTE = "Seller phoned twice; see ticket 5531"
IMAGE_URL = "https://cdn.shop.example/images/98765.jpg"
SECRET = "whsec_cHJlc2NyZWVuLXRlc3Qtb25seS1zZWNyZXQtMzItYnl0ZXM="
TERMS_URL = "https://market.example/terms"
EAN = "4006381333931"  # a valid EAN-13 (check digit 1)

MINORS = "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
UNSAFE = "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS"
IP = "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS"
PRIVACY = "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS"
OTHER_TC = "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"


def listing(**changes: Any) -> dict[str, Any]:
    snapshot: dict[str, Any] = {
        "id": LISTING_ID,
        "title": "Poupée réaliste jeune fille 120 cm",
        "description": "Poupée en TPE, écolière, toutes fonctions.",
        "category": "Adultes > Poupées",
        "locale": "fr-FR",
        "gtin": EAN,
        "seller": {"id": SELLER_ID, "country": "FR", "account_age_days": 3},
        "image_urls": [IMAGE_URL],
        "attributes": {"height_cm": 120},
    }
    snapshot.update(changes)
    return snapshot


def doll_rule(action: str = "block") -> Reason:
    return Reason(source="rule", id="minors.childlike_sex_doll", category=MINORS, action=action, evidence=[
        Evidence(field="/title", text="Poupée", start=0, end=6),
        Evidence(field="/title", text="jeune fille", start=17, end=28),
        Evidence(field="/description", text="écolière", start=18, end=26),
        Evidence(field="/attributes/height_cm", text="120", start=0, end=3),
    ])


def counterfeit_rule() -> Reason:
    return Reason(source="rule", id="counterfeit.replica_wording", category=IP, action="block", evidence=[
        Evidence(field="/title", text="Rolex", start=0, end=5),
        Evidence(field="/title", text="1:1 replica", start=14, end=25),
    ])


def make_record(reasons: list[Reason], decision: DecisionOutcome = "block", **changes: Any) -> DecisionRecord:
    record = DecisionRecord(
        decision_id=DECISION_ID, marketplace="demo", listing_id=LISTING_ID, webhook_id="msg-1",
        body_sha256="ab" * 32, decision=decision,
        categories=list(dict.fromkeys(r.category for r in reasons if r.action != "allow")), reasons=reasons,
        policy_version="2026.11.1+0123456789ab", decided_at=T0, latency_ms=3.2, listing=listing(),
        seller_id=SELLER_ID, review_status="pending" if decision == "review" else None,
        expires_at=int((T0 + timedelta(days=400)).timestamp()),
    )
    return record.model_copy(update=changes)


def decide(record: DecisionRecord, verdict: str = "block", at: datetime = T0 + timedelta(days=2)) -> DecisionRecord:
    """An operator's verdict, as the review service records it (one revision more)."""
    return record.model_copy(update={
        "review_status": "decided", "revision": record.revision + 1, "claim": None,
        "verdict": Verdict.model_validate({"verdict": verdict, "operator": OPERATOR, "note": NOTE,
                                           "decided_at": at})})


def reopen(record: DecisionRecord) -> DecisionRecord:
    return record.model_copy(update={"review_status": "pending", "verdict": None, "revision": record.revision + 1,
                                     "reopened": record.reopened + 1})


def marketplace(**changes: Any) -> MarketplaceConfig:
    return MarketplaceConfig.model_validate({"secrets": [SECRET], **changes})


def body_of(record: DecisionRecord, market: MarketplaceConfig | None = None) -> dict[str, Any]:
    statement = build_statement(record, market or marketplace())
    body: dict[str, Any] = statement.model_dump(mode="json", exclude_none=True)
    return body


# ---- the statements ------------------------------------------------------------------------------------------


def test_an_automatic_block_of_a_childlike_doll_is_a_valid_fully_automated_statement() -> None:
    # Given a child-like sex doll listing that a rule blocked automatically
    record = make_record([doll_rule()])

    # When its statement is built
    body = body_of(record)

    # Then the database would accept it, and it says what happened
    assert statement_problems(body) == []
    assert body["category"] == MINORS
    assert body["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert "2011/93/EU" in body["illegal_content_legal_ground"]
    assert "decision_ground_reference_url" not in body  # illegal content is grounded in law, not the terms
    assert body["automated_detection"] == "Yes"
    assert body["automated_decision"] == "AUTOMATED_DECISION_FULLY"
    assert body["source_type"] == "SOURCE_VOLUNTARY"
    assert body["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert body["content_type"] == ["CONTENT_TYPE_PRODUCT"]
    assert body["puid"] == f"{DECISION_ID}-r0"
    assert body["content_date"] == body["application_date"] == "2026-11-27"
    assert body["territorial_scope"] == sorted(EU_COUNTRIES)
    assert len(body["territorial_scope"]) == 27
    assert body["content_language"] == "FR"
    assert body["content_id"] == {"EAN-13": EAN}
    facts = body["decision_facts"]
    assert "minors.childlike_sex_doll" in facts
    assert 'in the title: "Poupée", "jeune fille"' in facts
    assert 'in the description: "écolière"' in facts
    assert 'in the attribute "height_cm": "120"' in facts
    assert "2026.11.1+0123456789ab" in facts
    assert "without human review" in facts


def test_an_operators_block_is_not_automated_applies_at_the_verdict_and_each_verdict_has_its_own_puid() -> None:
    # Given a listing the screening sent to review, which an operator then blocked
    pending = make_record([doll_rule("review")], decision="review")
    with pytest.raises(NoStatement):
        build_statement(pending, marketplace())
    first = decide(pending, at=T0 + timedelta(days=2, hours=1))

    # When its statement is built
    body = body_of(first)

    # Then a person took the decision after automated detection, on the verdict's date
    assert statement_problems(body) == []
    assert body["automated_detection"] == "Yes"
    assert body["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
    assert body["content_date"] == "2026-11-27"
    assert body["application_date"] == "2026-11-30"  # 23:30 UTC + 2 days 1 hour
    assert body["category"] == MINORS
    assert "moderation team" in body["decision_facts"]
    assert body["puid"] == f"{DECISION_ID}-r1"

    # And when the decision is reopened (an appeal) and blocked again, that is a new statement
    reopened = reopen(first)
    with pytest.raises(NoStatement, match="'review'"):
        build_statement(reopened, marketplace())
    again = body_of(decide(reopened, at=T0 + timedelta(days=9)))
    assert statement_problems(again) == []
    assert again["puid"] == f"{DECISION_ID}-r3" != body["puid"]
    assert again["application_date"] == "2026-12-06"


def test_an_operator_confirming_an_automatic_block_after_a_reopening_is_described_as_such() -> None:
    record = decide(reopen(make_record([doll_rule()])))
    body = body_of(record)
    assert statement_problems(body) == []
    assert body["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
    assert "refused publication automatically" in body["decision_facts"]
    assert "reopened for human review" in body["decision_facts"]


def test_a_counterfeit_is_an_intellectual_property_infringement() -> None:
    # Given a replica listing blocked by a counterfeit rule, on a marketplace with published terms
    record = make_record([counterfeit_rule()], listing=listing(title="Rolex Submariner 1:1 replica"))

    # When its statement is built
    body = body_of(record, marketplace(terms_url=TERMS_URL))

    # Then it is illegal content under trade mark law
    assert statement_problems(body) == []
    assert body["category"] == IP
    assert body["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert "2017/1001" in body["illegal_content_legal_ground"]
    assert body["category_specification"] == ["KEYWORD_TRADEMARK_INFRINGEMENT"]
    assert "decision_ground_reference_url" not in body
    assert '"1:1 replica"' in body["decision_facts"]


def test_several_categories_give_a_main_category_from_the_first_rule_and_the_others_as_additions() -> None:
    # Given a block with a classifier signal listed first, then two rules of other categories
    reasons = [
        Reason(source="classifier", id="classifier.firearms", category=UNSAFE, action="block", score=0.97),
        Reason(source="rule", id="privacy.hidden_camera", category=PRIVACY, action="block",
               evidence=[Evidence(field="/title", text="hidden camera", start=0, end=13)]),
        counterfeit_rule(),
        Reason(source="rule", id="weapons.firearm_possible", category=UNSAFE, action="review"),
    ]
    record = make_record(reasons)

    # When its statement is built
    body = body_of(record, marketplace(terms_url=TERMS_URL))

    # Then the first rule gives the category (and the ground); the rest are additions in order
    assert statement_problems(body) == []
    assert body["category"] == PRIVACY
    assert body["category_addition"] == [IP, UNSAFE]
    assert body["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    assert body["decision_ground_reference_url"] == TERMS_URL
    assert body["category_specification"] == ["KEYWORD_TRADEMARK_INFRINGEMENT", "KEYWORD_PROHIBITED_PRODUCTS"]
    facts = body["decision_facts"]
    assert facts.index("privacy.hidden_camera") < facts.index("counterfeit.replica_wording") < facts.index(
        "classifier.firearms")
    assert "0.97" in facts
    assert "weapons.firearm_possible" not in facts  # a review reason did not decide an automatic block


def test_a_block_with_a_single_category_has_no_additions() -> None:
    body = body_of(make_record([doll_rule(), doll_rule()]))
    assert "category_addition" not in body


@pytest.mark.parametrize(("record", "final"), [
    (make_record([], decision="allow"), "'allow'"),
    (make_record([doll_rule("review")], decision="review"), "'review'"),
    (decide(make_record([doll_rule("review")], decision="review"), verdict="allow"), "'allow'"),
    (reopen(make_record([doll_rule()])), "'review'"),
])
def test_a_decision_that_is_not_finally_a_block_has_no_statement(record: DecisionRecord, final: str) -> None:
    with pytest.raises(NoStatement, match=final) as raised:
        build_statement(record, marketplace())
    assert DECISION_ID in str(raised.value)


def test_no_personal_data_appears_anywhere_in_the_statement() -> None:
    # Given a decided record full of personal data, and evidence that touches the seller and contact details
    reasons = [
        doll_rule(),
        Reason(source="rule", id="scams.unprotected_payment", category="STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
               action="block", evidence=[
                   Evidence(field="/seller/country", text="MT", start=0, end=2),
                   Evidence(field="/seller/account_age_days", text="3", start=0, end=1),
                   Evidence(field="/description", text="https://t.me/seller4242", start=0, end=23),
                   Evidence(field="/description", text="jane.doe@mail.example", start=30, end=51),
                   Evidence(field="/description", text="+33 6 12 34 56 78", start=60, end=77),
               ]),
    ]
    record = decide(reopen(make_record(reasons)))

    # When its statement is built
    text = json.dumps(body_of(record, marketplace(terms_url=TERMS_URL, territorial_scope=["FR", "DE"])),
                      ensure_ascii=False)

    # Then none of it is in the body
    for personal in (SELLER_ID, LISTING_ID, OPERATOR, NOTE, IMAGE_URL, "t.me", "seller4242", "jane.doe",
                     "mail.example", "12 34 56", '"MT"'):
        assert personal not in text
    assert "seller's account" in text  # only that a condition on the account held


def test_numbers_that_are_policy_words_are_kept_in_the_facts() -> None:
    reasons = [Reason(source="rule", id="weapons.stun_gun", category=UNSAFE, action="block", evidence=[
        Evidence(field="/title", text="1 000 000 V", start=0, end=11),
        Evidence(field="/title", text="Taser", start=12, end=17)])]
    facts = body_of(make_record(reasons))["decision_facts"]
    assert 'in the title: "1 000 000 V", "Taser"' in facts


def test_long_evidence_is_cut_so_that_the_facts_stay_within_5000_characters() -> None:
    # Given a block with very many signals, each with long matched words
    reasons = [
        Reason(source="rule", id=f"minors.rule_{index}", category=MINORS, action="block", evidence=[
            Evidence(field=f"/attributes/key {item}", text=("mot" * 40) + f" {item}", start=0, end=100)
            for item in range(30)])
        for index in range(60)
    ]
    record = make_record(reasons)

    # When its statement is built
    body = body_of(record)

    # Then the facts fit, keep their opening and outcome, and say that signals were left out
    facts = body["decision_facts"]
    assert len(facts) <= FACTS_MAX
    assert statement_problems(body) == []
    assert facts.startswith("A product listing submitted")
    assert "2026.11.1+0123456789ab" in facts
    assert facts.endswith("the listing was not published.")
    assert "(further signals omitted)" in facts


def test_a_listing_blocked_by_an_operator_without_any_automated_signal_is_not_an_automated_detection() -> None:
    # Given a listing the screening allowed, reopened (e.g. after a report) and blocked by an operator
    record = decide(reopen(make_record([], decision="allow")))
    body = body_of(record, marketplace(terms_url=TERMS_URL))
    assert statement_problems(body) == []
    assert body["automated_detection"] == "No"
    assert body["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
    assert body["category"] == OTHER_TC
    assert body["decision_ground_reference_url"] == TERMS_URL
    assert "no signal" in body["decision_facts"]


def test_a_category_without_its_own_ground_is_stated_as_a_breach_of_the_terms() -> None:
    record = make_record([Reason(source="rule", id="x.violent", category="STATEMENT_CATEGORY_VIOLENCE",
                                 action="block")])
    body = body_of(record)
    assert statement_problems(body) == []
    assert body["category"] == "STATEMENT_CATEGORY_VIOLENCE"
    assert body["incompatible_content_ground"] == load_statement_grounds().for_category(OTHER_TC).legal_ground


def test_fallback_and_classifier_reasons_are_described_without_listing_words() -> None:
    reasons = [Reason(source="fallback", id="fallback.no_signal", category="STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
                      action="review")]
    body = body_of(decide(make_record(reasons, decision="review")))
    assert statement_problems(body) == []
    assert body["category"] == "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE"
    assert "fallback.no_signal" in body["decision_facts"]
    assert "classifier was unavailable" in body["decision_facts"]


def test_territorial_scope_is_the_marketplaces_sorted_and_only_eea_countries_are_accepted() -> None:
    body = body_of(make_record([doll_rule()]), marketplace(territorial_scope=["NO", "FR", "DE", "FR"]))
    assert body["territorial_scope"] == ["DE", "FR", "NO"]
    with pytest.raises(ValidationError, match="US: not EEA"):
        build_statement(make_record([doll_rule()]), marketplace(territorial_scope=["FR", "US"]))


@pytest.mark.parametrize(("changes", "language", "content_id"), [
    ({"locale": "de-AT"}, "DE", {"EAN-13": EAN}),
    ({"locale": "fil-PH"}, None, {"EAN-13": EAN}),  # three letters: no ISO 639-1 code
    ({"locale": "zz-ZZ"}, None, {"EAN-13": EAN}),  # shaped like a language, but none
    ({"locale": None, "gtin": "400638133393"}, None, None),  # 12 digits: not an EAN-13
    ({"gtin": "4006381333932"}, "FR", None),  # wrong check digit
    ({"gtin": None}, "FR", None),
])
def test_content_language_and_ean_only_when_well_formed(changes: dict[str, Any], language: str | None,
                                                        content_id: dict[str, str] | None) -> None:
    body = body_of(make_record([doll_rule()], listing=listing(**changes)))
    assert statement_problems(body) == []
    assert body.get("content_language") == language
    assert body.get("content_id") == content_id


# ---- the grounds file ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("category", sorted(load_statement_grounds().categories))
def test_every_grounds_entry_yields_a_valid_statement(category: str) -> None:
    entry = load_statement_grounds().entry(category)
    assert entry is not None
    record = make_record([Reason(source="rule", id="some.rule", category=category, action="block")])
    body = body_of(record, marketplace(terms_url=TERMS_URL))
    assert statement_problems(body) == []
    assert body["category"] == category
    if entry.ground == "illegal":
        assert body["illegal_content_explanation"] == entry.explanation
    else:
        assert body["incompatible_content_explanation"] == entry.explanation
        assert body["decision_ground_reference_url"] == TERMS_URL
    assert body.get("category_specification", []) == entry.category_specification


def test_the_grounds_cover_every_category_the_bundled_policies_and_fallbacks_can_emit() -> None:
    files = read_policy_dir(DEFAULT_POLICY_DIR)
    emitted = {"STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE", UNKNOWN_FAMILY_CATEGORY}
    forms: dict[Any, Any] = {}
    for name in policy_names(files):
        policy = build_policy(files, name, term_forms=forms)
        emitted |= {placed.rule.category for placed in policy.rules} | set(policy.family_categories.values())
    assert emitted - set(load_statement_grounds().categories) == set()


def test_the_statement_categories_are_the_ones_the_policy_accepts() -> None:
    assert set(get_args(StatementCategory)) == STATEMENT_CATEGORIES


def test_the_grounds_are_loaded_once() -> None:
    assert load_statement_grounds() is load_statement_grounds()


GOOD_ENTRY = """
  STATEMENT_CATEGORY_OTHER_VIOLATION_TC:
    ground: incompatible
    legal_ground: Marketplace terms.
    explanation: Not accepted.
"""


@pytest.mark.parametrize(("entries", "message"), [
    ("""
  STATEMENT_CATEGORY_PROTECTION_OF_MINORS:
    ground: illegal
    legal_ground: "%s"
    explanation: x
""" % ("x" * 501), "categories.STATEMENT_CATEGORY_PROTECTION_OF_MINORS.legal_ground: String should have at most 500"),
    ("""
  STATEMENT_CATEGORY_ANIMAL_WELFARE:
    ground: illegal
    legal_ground: x
    explanation: x
    category_specification: [KEYWORD_OTHER]
""", "categories.STATEMENT_CATEGORY_ANIMAL_WELFARE.category_specification.0"),
    ("""
  STATEMENT_CATEGORY_ANIMAL_WELFARE:
    ground: illegalish
    legal_ground: x
    explanation: x
""", "categories.STATEMENT_CATEGORY_ANIMAL_WELFARE.ground"),
    ("""
  STATEMENT_CATEGORY_PETS:
    ground: illegal
    legal_ground: x
    explanation: x
""", "categories.STATEMENT_CATEGORY_PETS (key)"),
    ("""
  STATEMENT_CATEGORY_OTHER_VIOLATION_TC:
    ground: incompatible
    legal_ground: again
    explanation: again
""", "duplicate key 'STATEMENT_CATEGORY_OTHER_VIOLATION_TC'"),
])
def test_an_invalid_grounds_file_is_refused_with_the_entry_named(entries: str, message: str) -> None:
    with pytest.raises(StatementGroundsError, match=r"^grounds\.yaml: ") as raised:
        parse_statement_grounds("categories:" + GOOD_ENTRY + entries, "grounds.yaml")
    assert message in str(raised.value)


def test_a_grounds_file_without_the_terms_fallback_is_refused() -> None:
    text = "categories:\n  STATEMENT_CATEGORY_VIOLENCE: {ground: incompatible, legal_ground: x, explanation: y}\n"
    with pytest.raises(StatementGroundsError, match="STATEMENT_CATEGORY_OTHER_VIOLATION_TC is required"):
        parse_statement_grounds(text)


# ---- the checker cannot pass vacuously, and the model refuses the same bodies ----------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(name: str, value: object) -> Mutation:
    return lambda body: body.__setitem__(name, value)


def _drop(name: str) -> Mutation:
    return lambda body: body.pop(name)


BAD_BODIES: list[tuple[str, Mutation, str]] = [
    ("missing puid", _drop("puid"), "'puid' is required"),
    ("missing category", _drop("category"), "'category' is required"),
    ("missing decision_facts", _drop("decision_facts"), "'decision_facts' is required"),
    ("no decision_* field", _drop("decision_visibility"), "at least one of decision_visibility"),
    ("unknown category", _set("category", "STATEMENT_CATEGORY_PETS"), "category: 'STATEMENT_CATEGORY_PETS'"),
    ("unknown visibility", _set("decision_visibility", ["DECISION_VISIBILITY_HIDDEN"]), "decision_visibility"),
    ("bad automated_detection", _set("automated_detection", "yes"), "automated_detection"),
    ("bad automated_decision", _set("automated_decision", "AUTOMATED_DECISION_MOSTLY"), "automated_decision"),
    ("bad source_type", _set("source_type", "SOURCE_AI"), "source_type"),
    ("too long explanation", _set("illegal_content_explanation", "x" * 2001),
     "illegal_content_explanation: 2001 characters, at most 2000"),
    ("too long legal ground", _set("illegal_content_legal_ground", "x" * 501), "at most 500"),
    ("too long facts", _set("decision_facts", "x" * 5001), "at most 5000"),
    ("missing explanation of the ground", _drop("illegal_content_explanation"),
     "'illegal_content_explanation' is required with DECISION_GROUND_ILLEGAL_CONTENT"),
    ("puid with a slash", _set("puid", "dec/1-r0"), "puid"),
    ("puid with a space", _set("puid", "dec 1"), "puid"),
    ("puid too long", _set("puid", "a" * 501), "puid"),
    ("date in another format", _set("content_date", "27/11/2026"), "content_date"),
    ("impossible date", _set("application_date", "2026-02-30"), "application_date"),
    ("country outside the EEA", _set("territorial_scope", ["FR", "US"]), "territorial_scope: 'US'"),
    ("not a country", _set("territorial_scope", ["XX"]), "territorial_scope: 'XX'"),
    ("lower-case language", _set("content_language", "fr"), "content_language"),
    ("unknown field", _set("seller_id", SELLER_ID), "unknown field 'seller_id'"),
    ("EAN of 12 digits", _set("content_id", {"EAN-13": "400638133393"}), "content_id"),
    ("keyword without prefix", _set("category_specification", ["PROHIBITED_PRODUCTS"]), "category_specification"),
]


def _valid_body() -> dict[str, Any]:
    return body_of(make_record([doll_rule()]))


def test_the_checker_accepts_a_valid_body() -> None:
    assert statement_problems(_valid_body()) == []


@pytest.mark.parametrize(("mutate", "message"), [(m, msg) for _, m, msg in BAD_BODIES],
                         ids=[name for name, _, _ in BAD_BODIES])
def test_the_checker_rejects_a_bad_body(mutate: Mutation, message: str) -> None:
    body = _valid_body()
    mutate(body)
    problems = statement_problems(body)
    assert any(message in problem for problem in problems), problems


@pytest.mark.parametrize("mutate", [m for _, m, _ in BAD_BODIES], ids=[name for name, _, _ in BAD_BODIES])
def test_the_model_refuses_the_same_bad_bodies(mutate: Mutation) -> None:
    body = _valid_body()
    mutate(body)
    with pytest.raises(ValidationError):
        StatementOfReasons.model_validate(body)


def test_the_model_refuses_the_other_grounds_texts_and_a_repeated_category() -> None:
    body = _valid_body()
    with pytest.raises(ValidationError, match="takes only illegal_content"):
        StatementOfReasons.model_validate({**body, "incompatible_content_ground": "terms"})
    with pytest.raises(ValidationError, match="repeats the main category"):
        StatementOfReasons.model_validate({**body, "category_addition": [MINORS]})
    with pytest.raises(ValidationError, match="before content_date"):
        StatementOfReasons.model_validate({**body, "application_date": "2026-11-26"})
