"""A policy compiled once per version, and the per-listing evaluation of its rules.

Hot path, per listing:
1. each text field is normalised once and scanned once by ONE TermMatcher holding every term of every set;
   each match is fanned out to the sets that contain the term (term id -> set ids);
2. only rules that can possibly be true are evaluated: every rule has *trigger sets* (sets one of which must
   occur for its `when` to hold, worked out from the condition tree at compile time), and an inverted index
   set -> rules finds them. Rules without triggers (price- or seller-only conditions) are always evaluated;
3. a rule's condition tree is evaluated against the set occurrences already found: Python loops run over the
   handful of occurrences, never over the text.

Regex conditions are rare. They are compiled once, `all` runs them last (cheap children first, so a regex
only runs when the rest of the rule already holds) and a regex runs at most once per field per listing
(cached). Folding them into the hyperscan database was rejected: hyperscan lacks parts of Python's syntax
and reports only match ends, while evidence needs exact starts.

Evidence is collected as spans of the normalised text and mapped back to the seller's original words
(NormalizedText.original_span) only for rules that hit.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Literal

from prescreen.classifier.policy import ClassifierPolicy
from prescreen.models import Evidence, Listing, RuleHit, attribute_pointer
from prescreen.normalize import NormalizedText, find_measurements, normalize, normalize_term, to_canonical
from prescreen.policy.loader import Policy
from prescreen.policy.matcher import TermMatcher
from prescreen.policy.schema import Condition, Rule, Size, as_list, referenced_sets, rule_conditions

# Approximate EUR value of one unit of each currency (ECB reference rates, rounded, late 2025). Price rules
# compare against "far below the usual price" ratios, so a few per cent of drift does not matter; a currency
# missing here makes price_below false rather than guessing.
EUR_RATES: Mapping[str, float] = {
    "EUR": 1.0, "USD": 0.86, "GBP": 1.14, "CHF": 1.07, "PLN": 0.235, "CZK": 0.041, "HUF": 0.0026,
    "RON": 0.197, "BGN": 0.511, "SEK": 0.091, "NOK": 0.085, "DKK": 0.134, "ISK": 0.0069, "TRY": 0.021,
    "RUB": 0.0107, "UAH": 0.0207, "CNY": 0.121, "HKD": 0.111, "TWD": 0.028, "JPY": 0.0057, "KRW": 0.00061,
    "INR": 0.0098, "SGD": 0.665, "AUD": 0.565, "NZD": 0.495, "CAD": 0.615, "MXN": 0.047, "BRL": 0.159,
    "ZAR": 0.049, "AED": 0.234, "SAR": 0.229, "ILS": 0.262, "THB": 0.0265, "MYR": 0.205,
}

MAX_EVIDENCE = 50  # per hit: a description repeating a word 500 times needs no 500 evidence items

# Units in attribute keys ("height_cm", "Größe (in)", "身高cm" is not split: write 身高 + a unit in the value).
_KEY_UNITS: Mapping[str, str] = {
    "cm": "cm", "mm": "mm", "m": "m", "in": "in", "inch": "in", "inches": "in", "zoll": "in", "pouces": "in",
    "ft": "ft", "feet": "ft", "kg": "kg", "g": "g", "lb": "lb", "lbs": "lb",
}
_KEY_SPLIT = re.compile(r"[\W_]+")
_BARE_NUMBER = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*$")
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
# A word for `near`: a run of letters/digits, or a single CJK character (CJK has no spaces to count by).
_WORD = re.compile(rf"[^\W_{_CJK}]+|[{_CJK}]")
_WORD_REST = re.compile(rf"[^\W_{_CJK}]*")

# Internal evidence: (source index, start, end, spans are in normalised text). Sources 0..n-1 are the text
# fields; extra sources (numeric attributes, price, seller) are appended per listing as needed.
_Ev = tuple[int, int, int, bool]
_Result = list[_Ev] | None  # None: false; a list (maybe empty, e.g. for `not`): true with that evidence


class _Mask:
    """Which sources a rule (or a terms_in) may read, for one listing."""

    __slots__ = ("allows", "fields")

    def __init__(self, fields: tuple[str, ...] | None, pointers: Sequence[str]) -> None:
        self.fields = fields
        self.allows = [self.allows_pointer(pointer) for pointer in pointers]

    def allows_pointer(self, pointer: str) -> bool:
        if self.fields is None:
            return True
        return any(pointer == f or pointer.startswith(f + "/") for f in self.fields)


class _State:
    """What is known about one listing while its rules are evaluated; caches make each fact cost once."""

    __slots__ = ("_extra", "_keyed", "_masks", "_measures", "_regex", "_words", "listing", "n_fields",
                 "normalized", "occurrences", "originals", "pointers")

    def __init__(self, listing: Listing, fields: list[tuple[str, str]]) -> None:
        self.listing = listing
        self.pointers = [pointer for pointer, _ in fields]
        self.originals = [value for _, value in fields]
        self.n_fields = len(fields)
        self.normalized: list[NormalizedText] = []
        self.occurrences: dict[int, list[tuple[int, int, int]]] = {}  # set id -> (field, start, end)
        self._masks: dict[tuple[str, ...] | None, _Mask] = {}
        self._words: dict[int, list[int]] = {}
        self._measures: dict[int, list[tuple[float, str, int, int]]] = {}
        self._regex: dict[tuple[int, int], list[tuple[int, int]]] = {}
        self._keyed: list[tuple[str, str | None, str, str | int | float]] | None = None
        self._extra: dict[tuple[str, str], int] = {}

    def mask(self, fields: tuple[str, ...] | None) -> _Mask:
        found = self._masks.get(fields)
        if found is None:
            found = self._masks[fields] = _Mask(fields, self.pointers[: self.n_fields])
        return found

    def source(self, pointer: str, text: str) -> int:
        """Index of an extra evidence source (a value that is not a text field), one per (pointer, text)."""
        index = self._extra.get((pointer, text))
        if index is None:
            index = self._extra[(pointer, text)] = len(self.pointers)
            self.pointers.append(pointer)
            self.originals.append(text)
        return index

    def word_span(self, field: int, start: int, end: int) -> tuple[int, int]:
        starts = self._words.get(field)
        if starts is None:
            starts = self._words[field] = [m.start() for m in _WORD.finditer(self.normalized[field].text)]
        first = max(bisect.bisect_right(starts, start) - 1, 0)
        last = max(bisect.bisect_right(starts, max(end - 1, start)) - 1, first)
        return first, last

    def measurements(self, field: int) -> list[tuple[float, str, int, int]]:
        """(canonical value, kind, start, end) of sizes written in a field's original text."""
        found = self._measures.get(field)
        if found is None:
            found = self._measures[field] = [(m.value, m.kind, m.start, m.end)
                                             for m in find_measurements(self.originals[field])]
        return found

    def regex_spans(self, index: int, pattern: re.Pattern[str], field: int) -> list[tuple[int, int]]:
        key = (index, field)
        found = self._regex.get(key)
        if found is None:
            found = self._regex[key] = [m.span() for m in pattern.finditer(self.normalized[field].text)
                                        if m.end() > m.start()][:MAX_EVIDENCE]
        return found

    def keyed_attributes(self) -> list[tuple[str, str | None, str, str | int | float]]:
        """(key name without unit, unit named in the key, key, value) for every non-boolean attribute."""
        if self._keyed is None:
            self._keyed = []
            for key, value in self.listing.attributes.items():
                if isinstance(value, bool):
                    continue
                base, unit = split_attribute_key(key)
                self._keyed.append((base, unit, key, value))
        return self._keyed

    def evidence(self, items: Iterable[_Ev]) -> list[Evidence]:
        """Spans in the seller's original text, in field order. Each distinct word is shown once per field
        (its first occurrence), and a span inside another one ("doll" inside "sex doll") is left out."""
        first: dict[tuple[int, str], tuple[int, int]] = {}
        spans: set[tuple[int, int, int]] = set()
        for source, start, end, in_normalized in items:
            if not in_normalized:
                spans.add((source, start, end))
                continue
            key = (source, self.normalized[source].text[start:end])
            seen = first.get(key)
            if seen is None or start < seen[0]:
                first[key] = (start, end)
        for (source, _), (start, end) in first.items():
            spans.add((source, *self.normalized[source].original_span(start, end)))
        out: list[Evidence] = []
        last_source, last_end = -1, -1
        for source, start, end in sorted(spans, key=lambda span: (span[0], span[1], -span[2])):
            if source == last_source and end <= last_end:
                continue  # inside the previous kept span (it starts no later and ends no earlier)
            last_source, last_end = source, end
            text = self.originals[source]
            # model_construct: offsets and pointers are built here, validating them again would only cost.
            out.append(Evidence.model_construct(field=self.pointers[source], text=text[start:end], start=start,
                                                end=end))
            if len(out) >= MAX_EVIDENCE:
                break
        return out


def split_attribute_key(key: str) -> tuple[str, str | None]:
    """'height_cm' -> ('height', 'cm'); 'Größe (in)' -> ('grosse', 'in'); 'taille' -> ('taille', None)."""
    words = [w for w in _KEY_SPLIT.split(normalize_term(key)) if w]
    unit = _KEY_UNITS.get(words[-1]) if len(words) > 1 else None
    if unit is not None:
        words = words[:-1]
    return " ".join(words), unit


# --- condition nodes --------------------------------------------------------------------------------------


class _Node:
    cost = 0  # evaluation order inside `all`: cheaper first

    def eval(self, state: _State, mask: _Mask) -> _Result:
        raise NotImplementedError

    def triggers(self) -> frozenset[int] | None:
        """Sets one of which must occur for this node to be true; None if it can be true without any."""
        return None


class _Terms(_Node):
    def __init__(self, sets: Sequence[int], fields: tuple[str, ...] | None = None, restricted: bool = False):
        self.sets = tuple(sets)
        self.fields = fields
        self.restricted = restricted  # terms_in: its own fields replace the rule's

    def eval(self, state: _State, mask: _Mask) -> _Result:
        allows = (state.mask(self.fields) if self.restricted else mask).allows
        found = [(f, s, e, True) for set_id in self.sets for f, s, e in state.occurrences.get(set_id, ())
                 if allows[f]]
        return found or None

    def triggers(self) -> frozenset[int] | None:
        return frozenset(self.sets)


class _Near(_Node):
    cost = 1

    def __init__(self, a: Sequence[int], b: Sequence[int], within: int):
        self.a, self.b, self.within = tuple(a), tuple(b), within

    def eval(self, state: _State, mask: _Mask) -> _Result:
        a_occ = [o for s in self.a for o in state.occurrences.get(s, ()) if mask.allows[o[0]]]
        if not a_occ:
            return None
        b_occ = [o for s in self.b for o in state.occurrences.get(s, ()) if mask.allows[o[0]]]
        if not b_occ:
            return None
        # Per field, b occurrences sorted by first word; for each a, only b's starting within reach are
        # examined (bisect), so a long description costs O((|a| + |b|) log |b|), not |a| x |b|.
        by_field: dict[int, list[tuple[int, int, int, int]]] = {}
        for f, s, e in b_occ:
            w0, w1 = state.word_span(f, s, e)
            by_field.setdefault(f, []).append((w0, w1, s, e))
        longest = {f: max(w1 - w0 for w0, w1, _, _ in items) for f, items in by_field.items()}
        for items in by_field.values():
            items.sort()
        found: list[_Ev] = []
        for f, s, e in a_occ:
            candidates = by_field.get(f)
            if not candidates:
                continue
            a0, a1 = state.word_span(f, s, e)
            low = bisect.bisect_left(candidates, (a0 - self.within - longest[f], -1, -1, -1))
            high = bisect.bisect_right(candidates, (a1 + self.within, 1 << 62, 0, 0))
            matched = False
            for b0, b1, bs, be in candidates[low:high]:
                gap = b0 - a1 if b0 > a1 else a0 - b1 if a0 > b1 else 0
                if gap <= self.within:
                    found.append((f, bs, be, True))
                    matched = True
            if matched:
                found.append((f, s, e, True))
        return found or None

    def triggers(self) -> frozenset[int] | None:
        return frozenset(self.a)


class _Regex(_Node):
    cost = 3

    def __init__(self, index: int, pattern: str):
        self.index = index
        self.pattern = re.compile(pattern)

    def eval(self, state: _State, mask: _Mask) -> _Result:
        found: list[_Ev] = []
        for field in range(state.n_fields):
            if mask.allows[field]:
                found += [(field, s, e, True) for s, e in state.regex_spans(self.index, self.pattern, field)]
        return found or None


class _Size(_Node):
    cost = 2

    def __init__(self, size: Size):
        canonical = to_canonical(1.0, size.unit)
        if canonical is None:  # the schema only allows units normalize knows; this guards a drift between them
            raise ValueError(f"unit '{size.unit}' is unknown to prescreen.normalize")
        self.kind = canonical[1]
        self.unit = size.unit
        self.bounds = [(op, self._canonical(limit)) for op, limit in
                       (("lt", size.lt), ("le", size.le), ("gt", size.gt), ("ge", size.ge)) if limit is not None]
        self.keys = frozenset(split_attribute_key(key)[0] for key in size.keys)
        self.largest = size.largest

    def _canonical(self, value: float) -> float:
        converted = to_canonical(value, self.unit)
        assert converted is not None  # checked in __init__
        return converted[0]

    def holds(self, value: float) -> bool:
        for op, limit in self.bounds:
            if (op == "lt" and not value < limit) or (op == "le" and not value <= limit) or (
                    op == "gt" and not value > limit) or (op == "ge" and not value >= limit):
                return False
        return True

    def _values(self, state: _State, mask: _Mask) -> list[tuple[float, _Ev]]:
        values: list[tuple[float, _Ev]] = []
        for field in range(state.n_fields):
            if mask.allows[field]:
                values += [(v, (field, s, e, False)) for v, kind, s, e in state.measurements(field)
                           if kind == self.kind]
        if not self.keys:
            return values
        for base, key_unit, key, value in state.keyed_attributes():
            if base not in self.keys or not mask.allows_pointer(attribute_pointer(key)):
                continue
            number: float | None = None
            if isinstance(value, str):
                bare = _BARE_NUMBER.match(value)
                if bare is None:
                    continue  # "100 cm" and the like are text fields, measured above
                number = float(bare.group(1).replace(",", "."))
            else:
                number = float(value)
            # A bare number is read in the unit its key names, else in the condition's own unit.
            converted = to_canonical(number, key_unit or self.unit)
            if converted is None or converted[1] != self.kind:
                continue
            if isinstance(value, str):
                field = state.pointers.index(attribute_pointer(key))
                bare_match = _BARE_NUMBER.match(value)
                assert bare_match is not None
                values.append((converted[0], (field, bare_match.start(1), bare_match.end(1), False)))
            else:
                text = str(value)
                values.append((converted[0], (state.source(attribute_pointer(key), text), 0, len(text), False)))
        return values

    def eval(self, state: _State, mask: _Mask) -> _Result:
        values = self._values(state, mask)
        if not values:
            return None
        if self.largest:
            top = max(v for v, _ in values)
            return [ev for v, ev in values if v == top] if self.holds(top) else None
        return [ev for v, ev in values if self.holds(v)] or None


class _PriceBelow(_Node):
    def __init__(self, limit_eur: float):
        self.limit_eur = limit_eur

    def eval(self, state: _State, mask: _Mask) -> _Result:
        price = state.listing.price
        if price is None or price.currency not in EUR_RATES:
            return None
        if float(price.amount) * EUR_RATES[price.currency] >= self.limit_eur:
            return None
        text = _decimal_text(price.amount)
        return [(state.source("/price/amount", text), 0, len(text), False)]


class _Seller(_Node):
    def __init__(self, max_age: int | None, countries: Sequence[str] | None):
        self.max_age = max_age
        self.countries = frozenset(countries) if countries is not None else None

    def eval(self, state: _State, mask: _Mask) -> _Result:
        seller = state.listing.seller
        if seller is None:
            return None
        found: list[_Ev] = []
        if self.max_age is not None:
            if seller.account_age_days is None or seller.account_age_days > self.max_age:
                return None
            text = str(seller.account_age_days)
            found.append((state.source("/seller/account_age_days", text), 0, len(text), False))
        if self.countries is not None:
            if seller.country is None or seller.country not in self.countries:
                return None
            found.append((state.source("/seller/country", seller.country), 0, len(seller.country), False))
        return found


class _All(_Node):
    def __init__(self, children: Sequence[_Node]):
        self.children = sorted(children, key=lambda child: child.cost)  # stable: authors' order among equals
        self.cost = max(child.cost for child in self.children)

    def eval(self, state: _State, mask: _Mask) -> _Result:
        found: list[_Ev] = []
        for child in self.children:
            result = child.eval(state, mask)
            if result is None:
                return None
            found += result
        return found

    def triggers(self) -> frozenset[int] | None:
        # Any one child's triggers are necessary; the smallest set of triggers wakes the rule least often.
        options = [t for t in (child.triggers() for child in self.children) if t is not None]
        return min(options, key=len) if options else None


class _Any(_Node):
    def __init__(self, children: Sequence[_Node]):
        self.children = tuple(children)
        self.cost = max(child.cost for child in self.children)

    def eval(self, state: _State, mask: _Mask) -> _Result:
        found: list[_Ev] = []
        true = False
        for child in self.children:
            result = child.eval(state, mask)
            if result is not None:
                true = True
                found += result
        return found if true else None

    def triggers(self) -> frozenset[int] | None:
        union: set[int] = set()
        for child in self.children:
            child_triggers = child.triggers()
            if child_triggers is None:
                return None
            union |= child_triggers
        return frozenset(union)


class _Not(_Node):
    def __init__(self, child: _Node):
        self.child = child
        self.cost = child.cost

    def eval(self, state: _State, mask: _Mask) -> _Result:
        return [] if self.child.eval(state, mask) is None else None


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    rule: Rule
    fields: tuple[str, ...] | None
    when: _Node
    unless: tuple[_Node, ...]


# --- the compiled policy ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TermTable:
    """Every term the policy's matcher holds, one per distinct spelling, and what a match of each means."""

    terms: Sequence[str]  # as written; the matcher's term ids index this list
    sets: Sequence[Sequence[int]]  # term id -> ids of the used sets holding it
    families: Sequence[Sequence[int]]  # term id -> indexes (in category_families) of the families holding it


def term_table(policy: Policy, set_ids: Mapping[str, int]) -> TermTable:
    """The terms of the used sets (`set_ids`) and of the category families, each spelling once."""
    # Spellings that normalise alike ("Poupée", "poupee") stay separate terms: the matcher reports all of
    # them for one span, and _scan keeps one occurrence per set and span.
    index: dict[str, int] = {}
    terms: list[str] = []
    sets: list[set[int]] = []
    families: list[set[int]] = []

    def add(term: str) -> int:
        key = term.strip()
        found = index.get(key)
        if found is None:
            found = index[key] = len(terms)
            terms.append(term)
            sets.append(set())
            families.append(set())
        return found

    for set_name, by_language in policy.sets.items():
        set_id = set_ids.get(set_name)
        if set_id is None:
            continue
        for language_terms in by_language.values():
            for term in language_terms:
                sets[add(term)].add(set_id)
    for family_index, family_terms in enumerate(policy.category_families.values()):
        for term in family_terms:
            families[add(term)].add(family_index)
    return TermTable(terms, [tuple(sorted(ids)) for ids in sets], [tuple(sorted(ids)) for ids in families])


type Origin = Literal["compiled", "precompiled"]


class CompiledPolicy:
    """A policy ready to screen listings. Immutable and thread-safe: per-listing state lives in evaluate()."""

    def __init__(self, policy: Policy, *, prebuilt: tuple[TermTable, TermMatcher] | None = None) -> None:
        """`prebuilt` is this policy's term table and matcher as a build precompiled them (precompiled.py);
        without it they are worked out and compiled here."""
        self.policy = policy
        # Only sets some rule names go into the matcher: a set nobody uses would cost scan time for nothing.
        used = {name for placed in policy.rules for _, node in rule_conditions(placed.rule, "")
                for _, name in referenced_sets(node)}
        self._set_ids = {name: index for index, name in enumerate(n for n in policy.sets if n in used)}
        # ONE matcher for the set terms and the category-family words: one database to compile or load.
        if prebuilt is not None:
            table, matcher = prebuilt
            if not len(table.terms) == len(table.sets) == len(table.families) == matcher.term_count:
                raise ValueError("the precompiled term table and matcher do not fit together")
            self._origin: Origin = "precompiled"
        else:
            table = term_table(policy, self._set_ids)
            matcher = TermMatcher(table.terms, forms=policy.term_forms)
            self._origin = "compiled"
        self._table, self._matcher = table, matcher
        self._term_sets = table.sets
        self._term_families = table.families
        self._term_is_stem = [term.rstrip().endswith("*") for term in table.terms]  # as split_term sees it

        self._regexes: dict[str, _Regex] = {}
        self._rules = [self._compile_rule(placed.rule) for placed in policy.rules]
        self._rule_map: Mapping[str, Rule] = MappingProxyType({c.rule.id: c.rule for c in self._rules})
        by_set: dict[int, list[int]] = {}
        always: list[int] = []
        for index, compiled in enumerate(self._rules):
            triggers = compiled.when.triggers()
            if triggers is None:
                always.append(index)
            else:
                for set_id in triggers:
                    by_set.setdefault(set_id, []).append(index)
        self._rules_by_set = {set_id: tuple(indexes) for set_id, indexes in by_set.items()}
        self._always = tuple(always)
        self._families = list(policy.category_families)

    # public view -----------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.policy.name

    @property
    def version(self) -> str:
        return self.policy.version

    @property
    def rules(self) -> Mapping[str, Rule]:
        """Enabled rules by id, overlay overrides applied, in policy order."""
        return self._rule_map

    @property
    def category_families(self) -> Mapping[str, Sequence[str]]:
        return self.policy.category_families

    @property
    def classifier(self) -> ClassifierPolicy:
        """How classifier scores act on this policy's decisions (thresholds, fallbacks)."""
        return self.policy.classifier

    @property
    def origin(self) -> Origin:
        """"precompiled" when the matcher was restored from a build's precompiled policy, else "compiled"."""
        return self._origin

    @property
    def term_table(self) -> TermTable:
        """The matcher's terms and what each one means (for precompiled.py)."""
        return self._table

    @property
    def matcher(self) -> TermMatcher:
        """The one term matcher (set terms and category-family words)."""
        return self._matcher

    def family_category(self, family: str) -> str:
        """The DSA statement category of a family (KeyError if no rule has that family)."""
        try:
            return self.policy.family_categories[family]
        except KeyError:
            raise KeyError(f"no rule of policy {self.version} has family '{family}'") from None

    def families_for_category(self, category_path: str) -> list[str]:
        """Families whose category words occur in a seller's category path, in order of appearance."""
        if not self._families:
            return []
        term_families = self._term_families
        found = sorted((match.start, match.end, family) for match in self._matcher.scan(normalize(category_path).text)
                       for family in term_families[match.term_id])
        out: list[str] = []
        for _, _, family in found:
            name = self._families[family]
            if name not in out:
                out.append(name)
        return out

    # evaluation ------------------------------------------------------------------------------------------

    def evaluate(self, listing: Listing) -> list[RuleHit]:
        """Every rule that matches the listing (shadow rules included, with mode="shadow"), in policy order."""
        state = self._scan(listing)
        candidates = set(self._always)
        for set_id in state.occurrences:
            candidates.update(self._rules_by_set.get(set_id, ()))
        hits: list[RuleHit] = []
        for index in sorted(candidates):
            compiled = self._rules[index]
            mask = state.mask(compiled.fields)
            found = compiled.when.eval(state, mask)
            if found is None or any(exception.eval(state, mask) is not None for exception in compiled.unless):
                continue
            rule = compiled.rule
            hits.append(RuleHit.model_construct(rule_id=rule.id, category=rule.category, family=rule.family,
                                                action=rule.action, mode=rule.mode, evidence=state.evidence(found)))
        return hits

    def _scan(self, listing: Listing) -> _State:
        state = _State(listing, listing.text_fields())
        occurrences = state.occurrences
        for field, value in enumerate(state.originals):
            normalized = normalize(value)
            state.normalized.append(normalized)
            text = normalized.text
            seen: set[tuple[int, int, int]] = set()
            for match in self._matcher.scan(text):
                start, end = match.start, match.end
                if self._term_is_stem[match.term_id] and end < len(text) and text[end].isalnum():
                    # A stem ("poupée*") matched the start of a word: the evidence is the whole word.
                    word_end = _WORD_REST.match(text, end)
                    end = word_end.end() if word_end is not None else end
                for set_id in self._term_sets[match.term_id]:  # none for a category-family word
                    key = (set_id, start, end)
                    if key not in seen:  # two terms can match the same span ("doll" and "doll*")
                        seen.add(key)
                        occurrences.setdefault(set_id, []).append((field, start, end))
        return state

    # compilation -----------------------------------------------------------------------------------------

    def _compile_rule(self, rule: Rule) -> _CompiledRule:
        fields = tuple(rule.fields) if rule.fields is not None else None
        return _CompiledRule(rule, fields, self._compile(rule.when), tuple(self._compile(c) for c in rule.unless))

    def _compile(self, condition: Condition) -> _Node:
        kind = condition.kind
        value = condition.value_of(kind)
        builders: dict[str, Callable[[], _Node]] = {
            "terms": lambda: _Terms(self._sets(value)),
            "terms_in": lambda: _Terms(self._sets(value.sets), tuple(value.fields), restricted=True),
            "near": lambda: _Near(self._sets(value.a), self._sets(value.b), value.within),
            "regex": lambda: self._regex(value),
            "size": lambda: _Size(value),
            "price_below": lambda: _PriceBelow(self.policy.reference_prices[value.reference] * value.ratio),
            "seller": lambda: _Seller(value.max_account_age_days, value.countries),
            "all": lambda: _All([self._compile(child) for child in value]),
            "any": lambda: _Any([self._compile(child) for child in value]),
            "not": lambda: _Not(self._compile(value)),
        }
        return builders[kind]()

    def _sets(self, names: str | Sequence[str]) -> list[int]:
        return [self._set_ids[name] for name in as_list(names)]

    def _regex(self, pattern: str) -> _Node:
        # One node per distinct pattern, so its per-listing cache serves every rule that uses it.
        found = self._regexes.get(pattern)
        if found is None:
            found = self._regexes[pattern] = _Regex(len(self._regexes), pattern)
        return found


def compile_policy(policy: Policy) -> CompiledPolicy:
    return CompiledPolicy(policy)


def _decimal_text(amount: Decimal) -> str:
    return format(amount, "f")
