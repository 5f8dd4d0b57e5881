"""DSA statements of reasons: the body of `POST /api/v1/statement` (EU Transparency Database, API schema v2).

Every decision whose final outcome is a block gets one statement; `model_dump(mode="json", exclude_none=True)`
is the request body. The decision ground of each category comes from `statement_grounds.yaml` next to this
module. No field carries personal data: no seller or listing id, no operator, no note, no URL of the listing.
"""
# ruff: noqa: SIM905 - whitespace-separated code lists are far easier to audit than quoted strings

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Sequence
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from prescreen.iso_codes import EEA_COUNTRIES, EU_COUNTRIES
from prescreen.marketplaces import MarketplaceConfig
from prescreen.models import Evidence, Reason
from prescreen.policy.loader import StrictYamlLoader
from prescreen.records import DecisionRecord

StatementCategory = Literal[
    "STATEMENT_CATEGORY_ANIMAL_WELFARE",
    "STATEMENT_CATEGORY_CONSUMER_INFORMATION",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN",
    "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
    "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
    "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
    "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
    "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
    "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
    "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "STATEMENT_CATEGORY_SELF_HARM",
    "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
    "STATEMENT_CATEGORY_VIOLENCE",
]

# API schema v2 keywords. KEYWORD_OTHER is left out on purpose: it requires a free text
# (category_specification_other) that statements never carry.
Keyword = Literal[
    "KEYWORD_ANIMAL_HARM", "KEYWORD_UNLAWFUL_SALE_ANIMALS",
    "KEYWORD_HIDDEN_ADVERTISEMENT", "KEYWORD_INSUFFICIENT_INFORMATION_ON_TRADERS",
    "KEYWORD_MISLEADING_INFO_CONSUMER_RIGHTS", "KEYWORD_MISLEADING_INFO_GOODS_SERVICES",
    "KEYWORD_NONCOMPLIANCE_PRICING",
    "KEYWORD_CYBER_BULLYING_INTIMIDATION", "KEYWORD_CYBER_HARASSMENT", "KEYWORD_CYBER_INCITEMENT",
    "KEYWORD_CYBER_STALKING", "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING", "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE",
    "KEYWORD_BULLYING_AGAINST_GIRLS", "KEYWORD_CYBER_HARASSMENT_AGAINST_WOMEN",
    "KEYWORD_CYBER_STALKING_AGAINST_WOMEN", "KEYWORD_FEMALE_GENDERED_DISINFORMATION",
    "KEYWORD_INCITEMENT_AGAINST_WOMEN", "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING_AGAINST_WOMEN",
    "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE_AGAINST_WOMEN",
    "KEYWORD_BIOMETRIC_DATA_BREACH", "KEYWORD_MISSING_PROCESSING_GROUND", "KEYWORD_RIGHT_TO_BE_FORGOTTEN",
    "KEYWORD_DATA_FALSIFICATION",
    "KEYWORD_DEFAMATION", "KEYWORD_DISCRIMINATION", "KEYWORD_HATE_SPEECH",
    "KEYWORD_COPYRIGHT_INFRINGEMENT", "KEYWORD_DESIGN_INFRINGEMENT", "KEYWORD_GEOGRAPHIC_INDICATIONS_INFRINGEMENT",
    "KEYWORD_PATENT_INFRINGEMENT", "KEYWORD_TRADE_SECRET_INFRINGEMENT", "KEYWORD_TRADEMARK_INFRINGEMENT",
    "KEYWORD_MISINFORMATION_DISINFORMATION", "KEYWORD_VIOLATION_EU_LAW", "KEYWORD_VIOLATION_NATIONAL_LAW",
    "KEYWORD_ONLINE_BULLYING_INTIMIDATION", "KEYWORD_STALKING",
    "KEYWORD_ADULT_SEXUAL_MATERIAL",
    "KEYWORD_AGE_SPECIFIC_RESTRICTIONS_MINORS", "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL",
    "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE", "KEYWORD_GROOMING_SEXUAL_ENTICEMENT_MINORS",
    "KEYWORD_UNSAFE_CHALLENGES",
    "KEYWORD_ILLEGAL_ORGANIZATIONS", "KEYWORD_RISK_ENVIRONMENTAL_DAMAGE", "KEYWORD_RISK_PUBLIC_HEALTH",
    "KEYWORD_TERRORIST_CONTENT",
    "KEYWORD_INAUTHENTIC_ACCOUNTS", "KEYWORD_INAUTHENTIC_LISTINGS", "KEYWORD_INAUTHENTIC_USER_REVIEWS",
    "KEYWORD_IMPERSONATION_ACCOUNT_HIJACKING", "KEYWORD_PHISHING", "KEYWORD_PYRAMID_SCHEMES",
    "KEYWORD_CONTENT_PROMOTING_EATING_DISORDERS", "KEYWORD_SELF_MUTILATION", "KEYWORD_SUICIDE",
    "KEYWORD_AGE_SPECIFIC_RESTRICTIONS", "KEYWORD_GEOGRAPHICAL_REQUIREMENTS", "KEYWORD_GOODS_SERVICES_NOT_PERMITTED",
    "KEYWORD_LANGUAGE_REQUIREMENTS", "KEYWORD_NUDITY",
    "KEYWORD_PROHIBITED_PRODUCTS", "KEYWORD_UNSAFE_PRODUCTS", "KEYWORD_DANGEROUS_TOYS",
    "KEYWORD_COORDINATED_HARM", "KEYWORD_GENDER_BASED_VIOLENCE", "KEYWORD_HUMAN_EXPLOITATION",
    "KEYWORD_HUMAN_TRAFFICKING", "KEYWORD_INCITEMENT_VIOLENCE_HATRED", "KEYWORD_TRAFFICKING_WOMEN_GIRLS",
]

DecisionGround = Literal["DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT"]
DecisionVisibility = Literal[
    "DECISION_VISIBILITY_CONTENT_REMOVED", "DECISION_VISIBILITY_CONTENT_DISABLED",
    "DECISION_VISIBILITY_CONTENT_DEMOTED", "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
    "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED", "DECISION_VISIBILITY_CONTENT_LABELLED",
]
DecisionMonetary = Literal["DECISION_MONETARY_SUSPENSION", "DECISION_MONETARY_TERMINATION"]
DecisionProvision = Literal[
    "DECISION_PROVISION_PARTIAL_SUSPENSION", "DECISION_PROVISION_TOTAL_SUSPENSION",
    "DECISION_PROVISION_PARTIAL_TERMINATION", "DECISION_PROVISION_TOTAL_TERMINATION",
]
DecisionAccount = Literal["DECISION_ACCOUNT_SUSPENDED", "DECISION_ACCOUNT_TERMINATED"]
ContentType = Literal["CONTENT_TYPE_PRODUCT"]  # statements here are about listings only
SourceType = Literal["SOURCE_ARTICLE_16", "SOURCE_TRUSTED_FLAGGER", "SOURCE_TYPE_OTHER_NOTIFICATION",
                     "SOURCE_VOLUNTARY"]
AutomatedDecision = Literal["AUTOMATED_DECISION_FULLY", "AUTOMATED_DECISION_PARTIALLY",
                            "AUTOMATED_DECISION_NOT_AUTOMATED"]
GroundKind = Literal["illegal", "incompatible"]


# ISO 639-1 (two-letter) language codes; a listing's locale outside them gets no content_language rather than
# a value the database refuses.
ISO_639_1: frozenset[str] = frozenset(
    """
    aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el
    en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it
    iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt
    my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl
    sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo
    za zh zu
    """.split()
)

LEGAL_GROUND_MAX = 500
EXPLANATION_MAX = 2000
FACTS_MAX = 5000
FALLBACK_CATEGORY: StatementCategory = "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
GROUNDS_FILE = "statement_grounds.yaml"

_PUID = r"^[A-Za-z0-9_-]{1,500}$"
_SOURCE_RANK = {"rule": 0, "classifier": 1, "fallback": 2}  # a rule names the seller's words: it explains best


class NoStatement(Exception):
    """The decision restricts nothing (yet), so it has no statement of reasons."""


class StatementGroundsError(ValueError):
    """The statement grounds file is unreadable or invalid; the message names each bad entry."""


# ---- the API body --------------------------------------------------------------------------------------------


def _eea_scope(countries: list[str]) -> list[str]:
    outside = [code for code in countries if code not in EEA_COUNTRIES]
    if outside:
        raise ValueError(f"{', '.join(outside)}: not EEA countries (the EU 27, IS, LI, NO)")
    return sorted(set(countries))


def _distinct[T: Hashable](values: list[T]) -> list[T]:
    if len(set(values)) != len(values):
        raise ValueError("values must be distinct")
    return values


LegalGroundText = Annotated[str, StringConstraints(min_length=1, max_length=LEGAL_GROUND_MAX)]
ExplanationText = Annotated[str, StringConstraints(min_length=1, max_length=EXPLANATION_MAX)]


class StatementOfReasons(BaseModel):
    """One statement of reasons as the Transparency Database API takes it (fields we never send are absent)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decision_visibility: Annotated[list[DecisionVisibility], Field(min_length=1),
                                   AfterValidator(_distinct)] | None = None
    decision_monetary: DecisionMonetary | None = None
    decision_provision: DecisionProvision | None = None
    decision_account: DecisionAccount | None = None
    decision_ground: DecisionGround
    decision_ground_reference_url: Annotated[
        str, StringConstraints(max_length=500, pattern=r"^https?://[^\s]+$")] | None = None
    illegal_content_legal_ground: LegalGroundText | None = None
    illegal_content_explanation: ExplanationText | None = None
    incompatible_content_ground: LegalGroundText | None = None
    incompatible_content_explanation: ExplanationText | None = None
    content_type: Annotated[list[ContentType], Field(min_length=1), AfterValidator(_distinct)]
    category: StatementCategory
    category_addition: Annotated[list[StatementCategory], Field(min_length=1),
                                 AfterValidator(_distinct)] | None = None
    category_specification: Annotated[list[Keyword], Field(min_length=1), AfterValidator(_distinct)] | None = None
    territorial_scope: Annotated[list[str], Field(min_length=1), AfterValidator(_eea_scope)] | None = None
    content_language: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    content_date: date
    application_date: date
    content_id: dict[Literal["EAN-13"], Annotated[str, StringConstraints(pattern=r"^[0-9]{13}$")]] | None = None
    decision_facts: Annotated[str, StringConstraints(min_length=1, max_length=FACTS_MAX)]
    source_type: SourceType
    automated_detection: Literal["Yes", "No"]
    automated_decision: AutomatedDecision
    puid: Annotated[str, StringConstraints(pattern=_PUID)]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not (self.decision_visibility or self.decision_monetary or self.decision_provision
                or self.decision_account):
            raise ValueError("at least one of decision_visibility, decision_monetary, decision_provision and "
                             "decision_account is required")
        illegal = (self.illegal_content_legal_ground, self.illegal_content_explanation)
        incompatible = (self.incompatible_content_ground, self.incompatible_content_explanation)
        if self.decision_ground == "DECISION_GROUND_ILLEGAL_CONTENT":
            required, required_names, other = illegal, "illegal_content_legal_ground and explanation", incompatible
        else:
            required, required_names, other = incompatible, "incompatible_content_ground and explanation", illegal
        if any(value is None for value in required):
            raise ValueError(f"{self.decision_ground} requires {required_names}")
        if any(value is not None for value in other):
            # One statement has one ground: the other pair's texts would contradict it.
            raise ValueError(f"{self.decision_ground} takes only {required_names}")
        if self.category_addition and self.category in self.category_addition:
            raise ValueError("category_addition repeats the main category")
        if self.application_date < self.content_date:
            raise ValueError("application_date is before content_date")
        return self


# ---- the grounds file ----------------------------------------------------------------------------------------


class StatementGround(BaseModel):
    """How a statement of one category is grounded: the law it breaks, or the marketplace's terms."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ground: GroundKind
    legal_ground: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=LEGAL_GROUND_MAX)]
    explanation: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=EXPLANATION_MAX)]
    category_specification: Annotated[list[Keyword], AfterValidator(_distinct)] = Field(default_factory=list)


class StatementGrounds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    categories: dict[StatementCategory, StatementGround]

    @model_validator(mode="after")
    def _has_fallback(self) -> Self:
        if FALLBACK_CATEGORY not in self.categories:
            raise ValueError(f"{FALLBACK_CATEGORY} is required: it grounds categories without an entry")
        return self

    def entry(self, category: str) -> StatementGround | None:
        # A scan rather than .get(): keys are typed as the Literal of categories, lookups come as plain str.
        return next((ground for name, ground in self.categories.items() if name == category), None)

    def for_category(self, category: str) -> StatementGround:
        """The category's ground; a category without an entry is stated as a breach of the terms."""
        return self.entry(category) or self.categories[FALLBACK_CATEGORY]




def _location(loc: Sequence[int | str]) -> str:
    parts: list[str] = []
    for part in loc:
        if part == "[key]":
            parts[-1:] = [f"{parts[-1]} (key)"] if parts else ["(key)"]
        else:
            parts.append(str(part))
    return ".".join(parts)


def parse_statement_grounds(text: str, source: str = GROUNDS_FILE) -> StatementGrounds:
    """Validates a grounds document; every problem is reported as `source: categories.<CATEGORY>.<field>: ...`."""
    try:
        document = yaml.load(text, Loader=StrictYamlLoader)  # the policies' loader: safe_load, duplicate keys refused
    except yaml.YAMLError as error:
        raise StatementGroundsError(f"{source}: YAML: {error}") from error
    try:
        return StatementGrounds.model_validate(document)
    except ValidationError as error:
        lines = [f"{source}: {_location(item['loc']) or '(document)'}: {item['msg'].removeprefix('Value error, ')}"
                 for item in error.errors(include_url=False)]
        raise StatementGroundsError("\n".join(lines)) from error


@cache
def load_statement_grounds(path: Path | None = None) -> StatementGrounds:
    """The bundled grounds (or those of `path`), read and validated once per process."""
    try:
        if path is None:
            text = resources.files("prescreen.review").joinpath(GROUNDS_FILE).read_text(encoding="utf-8")
        else:
            text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise StatementGroundsError(f"{path or GROUNDS_FILE}: {error}") from error
    return parse_statement_grounds(text, str(path) if path is not None else GROUNDS_FILE)


# ---- building a statement ------------------------------------------------------------------------------------


def build_statement(record: DecisionRecord, marketplace: MarketplaceConfig,
                    grounds: StatementGrounds | None = None) -> StatementOfReasons:
    """The statement of reasons of a decision whose final outcome is a block; NoStatement otherwise."""
    final = record.final_decision
    if final != "block":
        why = "it awaits an operator's verdict" if final == "review" else "nothing was restricted"
        raise NoStatement(f"decision {record.decision_id} has no statement of reasons: its final decision is "
                          f"'{final}' ({why})")
    grounds = grounds or load_statement_grounds()
    by_operator = record.verdict is not None and record.review_status != "pending"
    decisive = _decisive_reasons(record.reasons)
    categories: list[str] = list(dict.fromkeys(reason.category for reason in decisive))
    if not categories:
        # Only an operator can block a listing the screening raised nothing against (a reopened 'allow').
        categories = [FALLBACK_CATEGORY]
    main = grounds.for_category(categories[0])
    keywords: list[str] = list(main.category_specification)
    for category in categories[1:]:
        entry = grounds.entry(category)
        if entry is not None:
            keywords += [keyword for keyword in entry.category_specification if keyword not in keywords]

    body: dict[str, Any] = {
        # The listing is refused publication (or taken down when a reopened decision is reversed): either way
        # the content is removed from the marketplace, not merely demoted or labelled.
        "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
        "content_type": ["CONTENT_TYPE_PRODUCT"],
        "category": categories[0],
        "category_addition": categories[1:] or None,
        "category_specification": keywords or None,
        # No scope configured (or an empty one, which would say nothing) means the EU 27.
        "territorial_scope": list(marketplace.territorial_scope or EU_COUNTRIES),
        "content_language": _content_language(record.listing.get("locale")),
        "content_date": _utc_date(record.decided_at),
        "application_date": _utc_date(record.applied_at),
        "content_id": _content_id(record.listing.get("gtin")),
        "decision_facts": _decision_facts(record, decisive, by_operator),
        # Every listing is screened on our own initiative before publication: no notice is involved.
        "source_type": "SOURCE_VOLUNTARY",
        "automated_detection": "Yes" if decisive else "No",
        # An operator's verdict is a person's decision taken after automated detection: NOT_AUTOMATED, not
        # PARTIALLY (which would mean the system itself took part of the decision).
        "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED" if by_operator else "AUTOMATED_DECISION_FULLY",
        # A reopened decision decided again is a new statement: the revision keeps the puid unique.
        "puid": f"{record.decision_id}-r{record.revision}",
    }
    if main.ground == "illegal":
        body["decision_ground"] = "DECISION_GROUND_ILLEGAL_CONTENT"
        body["illegal_content_legal_ground"] = main.legal_ground
        body["illegal_content_explanation"] = main.explanation
    else:
        body["decision_ground"] = "DECISION_GROUND_INCOMPATIBLE_CONTENT"
        body["incompatible_content_ground"] = main.legal_ground
        body["incompatible_content_explanation"] = main.explanation
        body["decision_ground_reference_url"] = marketplace.terms_url
    return StatementOfReasons.model_validate({key: value for key, value in body.items() if value is not None})


def _decisive_reasons(reasons: Iterable[Reason]) -> list[Reason]:
    """The reasons behind the block: blocking ones if any (an automatic block), else those that sent the
    listing to review (the operator blocked on them); rules first, then classifier, then fallbacks."""
    active = [reason for reason in reasons if reason.action != "allow"]
    blocking = [reason for reason in active if reason.action == "block"] or active
    return sorted(blocking, key=lambda reason: _SOURCE_RANK.get(reason.source, len(_SOURCE_RANK)))


def _utc_date(moment: datetime) -> date:
    # Stored times are UTC; a naive one (older records, tests) is read as UTC too.
    return (moment if moment.tzinfo is None else moment.astimezone(UTC)).date()


def _content_language(locale: object) -> str | None:
    if not isinstance(locale, str):
        return None
    primary = locale.split("-", 1)[0].lower()
    return primary.upper() if primary in ISO_639_1 else None


def _content_id(gtin: object) -> dict[str, str] | None:
    # A 13-digit GTIN is an EAN-13; one with a wrong check digit is a seller's typo, not an identifier.
    if not isinstance(gtin, str) or not re.fullmatch(r"[0-9]{13}", gtin):
        return None
    total = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(gtin[:12]))
    return {"EAN-13": gtin} if (10 - total % 10) % 10 == int(gtin[12]) else None


# ---- decision facts ------------------------------------------------------------------------------------------

_MAX_WORDS_PER_FIELD = 10
_MAX_WORD = 80
_MAX_VERSION = 100
# Contact details or links are never policy words; should a match contain one, it is not repeated.
_LINK_OR_EMAIL = re.compile(r"://|www\.|@")
_PHONE_LIKE = re.compile(r"\+?\d[\d ()./-]{7,}\d")


def _decision_facts(record: DecisionRecord, decisive: Sequence[Reason], by_operator: bool) -> str:
    """Plain-language facts (<= 5000 characters): what was screened, the signals, the outcome.

    Named: rule ids, classifier signals, the listing fields and the words the rules matched (our policy's
    terms as the seller wrote them), the policy version. Never: ids of the listing or seller, operators,
    notes, links. Only the list of signals is shortened when needed; the opening and the outcome stay whole.
    """
    version = _clip(record.policy_version, _MAX_VERSION)
    opening = (f"A product listing submitted to an online marketplace for publication was screened before "
               f"publication against the marketplace's content policy (version {version}).")
    if decisive:
        signals = " ".join(_describe(reason) for reason in decisive)
    else:
        signals = "The automated screening raised no signal against the listing."
    outcome = _outcome(record, by_operator)
    budget = FACTS_MAX - len(opening) - len(outcome) - 2
    return f"{opening} {_shorten(signals, budget)} {outcome}"


def _outcome(record: DecisionRecord, by_operator: bool) -> str:
    if not by_operator:
        return "The screening refused publication automatically, without human review; the listing was not published."
    if record.decision == "review":
        return ("The screening held the listing for human review. After reviewing it, a member of the "
                "marketplace's moderation team decided that the listing may not be published.")
    automatic = "refused" if record.decision == "block" else "allowed"
    return (f"The screening {automatic} publication automatically; the decision "
            f"was then reopened for human review, and a member of the marketplace's moderation team decided that "
            f"the listing may not be published.")


def _describe(reason: Reason) -> str:
    category = _category_label(reason.category)
    if reason.source == "rule":
        found = _evidence_text(reason.evidence)
        return f"Rule {reason.id} ({category}) matched{' ' + found if found else ''}."
    if reason.source == "classifier":
        score = f" with a score of {reason.score:.2f}" if reason.score is not None else ""
        return f"The text classifier signalled {reason.id} ({category}){score}."
    if reason.id == "fallback.no_signal":
        return (f"The text classifier was unavailable and no product family was suspected; the policy's "
                f"fallback {reason.id} applied ({category}).")
    return (f"The text classifier was unavailable; the policy's fallback {reason.id} applied to the suspected "
            f"product family ({category}).")


def _category_label(category: str) -> str:
    return category.removeprefix("STATEMENT_CATEGORY_").replace("_", " ").lower()


def _evidence_text(evidence: Iterable[Evidence]) -> str:
    """`in the title: "young girl", "sex doll"; in the attribute "height_cm": "120"`, per field in order."""
    words_by_field: dict[str, list[str]] = {}
    seller_condition = False
    for item in evidence:
        label = _field_label(item.field)
        if label is None:
            seller_condition = True  # facts about the seller's account are not repeated, only that one held
            continue
        words = words_by_field.setdefault(label, [])
        word = _clip(" ".join(item.text.split()), _MAX_WORD)
        if word and not _looks_like_contact(word) and word not in words:
            words.append(word)
    parts = []
    for label, words in words_by_field.items():
        shown = ", ".join(f'"{word}"' for word in words[:_MAX_WORDS_PER_FIELD])
        more = f" and {len(words) - _MAX_WORDS_PER_FIELD} more" if len(words) > _MAX_WORDS_PER_FIELD else ""
        parts.append(f"in the {label}: {shown}{more}" if words else f"in the {label}")
    if seller_condition:
        parts.append("and a condition on the seller's account held")
    return "; ".join(parts)


def _looks_like_contact(word: str) -> bool:
    # Nine digits or more in a row of digits and separators reads as a phone number; "1 000 000 V" does not.
    if _LINK_OR_EMAIL.search(word):
        return True
    return any(sum(ch.isdigit() for ch in match.group()) >= 9 for match in _PHONE_LIKE.finditer(word))


def _field_label(pointer: str) -> str | None:
    """A readable name of a JSON pointer into the listing; None for the seller's account."""
    parts = [part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]
    if not parts:
        return "listing"
    if parts[0] == "seller":
        return None
    if parts[0] == "attributes" and len(parts) > 1:
        return f'attribute "{_clip(" ".join(parts[1].split()), _MAX_WORD)}"'
    if parts[0] == "price":
        return "price"
    return _clip(" ".join(parts), _MAX_WORD)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a space (never inside a word, so never inside a character's
    combining marks), with a note that signals were left out."""
    if len(text) <= limit:
        return text
    note = " … (further signals omitted)"
    cut = text[: max(limit - len(note), 0)]
    space = cut.rfind(" ")
    if space > 0:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + note
