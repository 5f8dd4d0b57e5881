"""Precompiled policies: the same answers as a fresh compile, and never an answer from a stale or damaged file."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import prescreen.policy.precompiled as precompiled_module
import prescreen.policy.provider as provider_module
from prescreen.evaluation import load_corpus
from prescreen.models import Listing
from prescreen.normalize import normalize
from prescreen.policy.engine import CompiledPolicy, compile_policy
from prescreen.policy.loader import DEFAULT_POLICY_DIR, build_policy, policy_names, read_policy_dir
from prescreen.policy.matcher import TermMatcher, compile_count
from prescreen.policy.precompiled import (
    MAGIC,
    code_fingerprint,
    dump_compiled,
    load_precompiled,
    main,
    precompiled_key,
    precompiled_path,
    write_precompiled,
)
from prescreen.policy.provider import BundledPolicyProvider, preload_policies
from prescreen.settings import get_settings

DATA = Path(__file__).resolve().parents[2] / "data"
LISTINGS = sorted((DATA / "listings").glob("*.json"))
LOGGER = "prescreen.policy.precompiled"


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the bundled policy files: the tests edit it, and nobody else can."""
    directory = tmp_path_factory.mktemp("policies") / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, directory)
    return directory


@pytest.fixture(scope="module")
def fresh(policies: Path) -> dict[str, CompiledPolicy]:
    """Every policy of the copy, compiled as the provider compiles without precompiled files."""
    files = read_policy_dir(policies)
    return {name: compile_policy(build_policy(files, name)) for name in policy_names(files)}


@pytest.fixture(scope="module")
def built(policies: Path, fresh: dict[str, CompiledPolicy], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The precompiled files of those very compiles (write_precompiled compiles again; see the tiny tests)."""
    out = tmp_path_factory.mktemp("compiled")
    files = read_policy_dir(policies)
    for name, compiled in fresh.items():
        precompiled_path(out, name).write_bytes(dump_compiled(compiled, precompiled_key(files, name)))
    return out


@pytest.fixture(scope="module")
def listings() -> list[Listing]:
    from_files = [Listing.model_validate_json(path.read_bytes()) for path in LISTINGS]
    return from_files + [item.listing for item in load_corpus(DATA / "dev_corpus.jsonl")]


TINY = {
    "base.yaml": 'version: "1"\ncategory_families: {toys: [toy*]}\n',
    "terms/toys.yaml": "sets:\n  doll:\n    en: [doll*, sex doll]\n    zh: [娃娃]\n  young:\n    en: [child*]\n",
    "rules/toys.yaml": """\
rules:
  - id: t.doll
    description: dolls
    category: STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS
    family: toys
    action: block
    legal_ground: a law
    explanation: why
    when: {near: {a: doll, b: young, within: 3}}
""",
    "overlays/strict.yaml": 'extends: base\nversion: "1-strict"\ndisable: [t.doll]\n',
}
CHILD_DOLL = Listing.model_validate({"id": "l-1", "title": "Sex doll, child look", "category": "Toys > Dolls"})


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    """(policy directory, precompiled directory) of a small policy set, precompiled: tests may edit both."""
    directory, out = tmp_path / "policies", tmp_path / "compiled"
    for relative, text in TINY.items():
        (directory / relative).parent.mkdir(parents=True, exist_ok=True)
        (directory / relative).write_text(text)
    assert [p.name for p in write_precompiled(out, directory)] == ["base.policy", "strict.policy"]
    return directory, out


def _answers(policy: CompiledPolicy, listings: list[Listing]) -> list[object]:
    return [([hit.model_dump() for hit in policy.evaluate(listing)],
             policy.families_for_category(listing.category or "")) for listing in listings]


# --- round trip -------------------------------------------------------------------------------------------


def test_every_policy_loads_from_its_file_and_answers_exactly_like_a_fresh_compile(
        policies: Path, built: Path, fresh: dict[str, CompiledPolicy], listings: list[Listing]) -> None:
    files = read_policy_dir(policies)
    assert set(fresh) >= {"base", "adult_free", "de_only"}
    for name, compiled in fresh.items():
        # Given the precompiled file of each policy name
        before = compile_count()
        loaded = load_precompiled(built, files, name)
        # Then it loads without compiling anything
        assert loaded is not None, name
        assert (loaded.origin, compiled.origin) == ("precompiled", "compiled")
        assert compile_count() == before
        # And it is the same policy, giving the same answers (hits, evidence, families) on every listing
        assert loaded.policy == compiled.policy
        assert (loaded.name, loaded.version) == (compiled.name, compiled.version)
        assert dict(loaded.rules) == dict(compiled.rules)
        assert loaded.matcher.pattern_count == compiled.matcher.pattern_count
        assert _answers(loaded, listings) == _answers(compiled, listings), name


def test_the_childlike_doll_listing_is_blocked_from_the_precompiled_base(policies: Path, built: Path) -> None:
    listing = Listing.model_validate_json((DATA / "listings" / "childlike_doll_fr.json").read_bytes())
    loaded = load_precompiled(built, read_policy_dir(policies), "base")
    assert loaded is not None
    assert "block" in {hit.action for hit in loaded.evaluate(listing) if hit.mode == "enforce"}


def test_a_restored_matcher_finds_what_the_compiled_one_finds() -> None:
    # Stems, multi-word terms, CJK, i/l/1 folding and masks all go through the exported tables.
    terms = ["sex doll*", "loli", "硅胶娃娃", "poupée", "doll", "mini love doll", "m1ni"]
    original = TermMatcher(terms)
    table, database = original.export()
    restored = TermMatcher.restore(json.loads(json.dumps(table)), database)
    for text in ["s*x-dolls, 1oli, 硅胶娃娃出售, poupée, dollar doll", "mini-love doll m1ni", "f**k d*ll l0li"]:
        normalized = normalize(text).text
        assert restored.scan(normalized) == original.scan(normalized), text
    assert restored.term_count == original.term_count == len(terms)


def test_the_command_writes_one_file_per_policy_name_the_same_every_time(
        tiny: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory, first = tiny
    out = tmp_path / "again"
    out.mkdir()
    (out / "old_overlay.policy").write_bytes(b"left from an overlay that was removed")
    assert main([str(out), "--policies", str(directory)]) == 0
    # One file per name, nothing else (no leftover, no half-written file)
    assert sorted(p.name for p in out.iterdir()) == ["base.policy", "strict.policy"]
    assert "2 policies precompiled" in capsys.readouterr().out
    # Byte for byte what the fixture wrote from the same files: builds are reproducible
    for name in ("base", "strict"):
        assert precompiled_path(out, name).read_bytes() == precompiled_path(first, name).read_bytes()


def test_the_command_refuses_an_invalid_policy(tiny: tuple[Path, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    directory, _ = tiny
    (directory / "base.yaml").write_text("version: [not, a, version]\n")
    assert main([str(tmp_path / "out"), "--policies", str(directory)]) == 1
    assert "invalid policy" in capsys.readouterr().err
    assert not list((tmp_path / "out").glob("*.policy"))


# --- stale files ------------------------------------------------------------------------------------------


def test_a_policy_edited_after_the_build_is_compiled_not_served_stale(
        tiny: tuple[Path, Path], caplog: pytest.LogCaptureFixture) -> None:
    directory, out = tiny
    assert load_precompiled(out, read_policy_dir(directory), "base") is not None
    # Given a rule edited after the build: it only sends to review now
    rules = directory / "rules" / "toys.yaml"
    rules.write_text(rules.read_text().replace("action: block", "action: review"))
    # When the policy is loaded
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert load_precompiled(out, read_policy_dir(directory), "base") is None
        policy = BundledPolicyProvider(directory, precompiled_dir=out).get("base")
    # Then the stale file was ignored (and said so), and the answer follows the edited file
    assert "made from other policy files or other code" in caplog.text
    assert policy.origin == "compiled"
    assert [(hit.rule_id, hit.action) for hit in policy.evaluate(CHILD_DOLL)] == [("t.doll", "review")]


def test_an_edit_to_an_overlay_leaves_the_other_policies_precompiled(tiny: tuple[Path, Path]) -> None:
    directory, out = tiny
    overlay = directory / "overlays" / "strict.yaml"
    overlay.write_text(overlay.read_text() + "# a comment is an edit too\n")
    provider = BundledPolicyProvider(directory, precompiled_dir=out)
    assert provider.preload() == {"base": "precompiled", "strict": "compiled"}
    assert [hit.action for hit in provider.get("base").evaluate(CHILD_DOLL)] == ["block"]
    assert provider.get("strict").evaluate(CHILD_DOLL) == []


def test_a_file_made_by_other_code_is_stale(tiny: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    # A file from another build (other normaliser, other matcher, other library versions) has another key.
    directory, out = tiny
    assert len(code_fingerprint()) == 64
    monkeypatch.setattr(precompiled_module, "code_fingerprint", lambda: "another build")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert load_precompiled(out, read_policy_dir(directory), "base") is None
    assert "other code" in caplog.text


def test_the_key_covers_only_the_files_of_the_policy(policies: Path) -> None:
    files = read_policy_dir(policies)
    other_overlay = {**files, "overlays/de_only.yaml": files["overlays/de_only.yaml"] + b"\n"}
    assert precompiled_key(other_overlay, "base") == precompiled_key(files, "base")
    assert precompiled_key(other_overlay, "de_only") != precompiled_key(files, "de_only")
    assert precompiled_key(files, "base") != precompiled_key(files, "adult_free")


# --- damaged files ----------------------------------------------------------------------------------------


def _forge(path: Path, database: bytes) -> None:
    """Replaces a file's Hyperscan database and fixes up the header: only Hyperscan can tell."""
    data = path.read_bytes()
    size = int.from_bytes(data[len(MAGIC):len(MAGIC) + 4], "big")
    header = json.loads(data[len(MAGIC) + 4:len(MAGIC) + 4 + size])
    body = data[len(MAGIC) + 4 + size:]
    lengths = dict(header["sections"])
    keep = body[:lengths["policy"] + lengths["terms"]]
    header["sections"] = [["policy", lengths["policy"]], ["terms", lengths["terms"]], ["database", len(database)]]
    header["sha256"] = hashlib.sha256(keep + database).hexdigest()
    encoded = json.dumps(header).encode()
    path.write_bytes(MAGIC + len(encoded).to_bytes(4, "big") + encoded + keep + database)


def _damage(path: Path, damage: str) -> None:
    data = path.read_bytes()
    if damage == "flipped byte":
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 0x40]) + data[middle + 1:])
    elif damage == "truncated":
        path.write_bytes(data[: len(data) - 1000])
    elif damage == "not a policy file":
        path.write_bytes(b"PK\x03\x04" + data[4:])
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # a database this Hyperscan cannot load (another version, another CPU): only loadb notices
        _forge(path, b"\x00" * 4096)


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "not a policy file", "empty", "bad database"])
def test_a_damaged_file_is_refused_and_logged(tiny: tuple[Path, Path], damage: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    directory, out = tiny
    _damage(precompiled_path(out, "base"), damage)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert load_precompiled(out, read_policy_dir(directory), "base") is None
    assert "unusable, compiling instead" in caplog.text


def test_the_provider_compiles_around_a_damaged_file(tiny: tuple[Path, Path],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    directory, out = tiny
    _damage(precompiled_path(out, "base"), "bad database")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        policy = BundledPolicyProvider(directory, precompiled_dir=out).get("base")
    assert "the Hyperscan database cannot be loaded here" in caplog.text
    assert policy.origin == "compiled"
    assert [hit.rule_id for hit in policy.evaluate(CHILD_DOLL)] == ["t.doll"]


def test_a_missing_file_is_compiled_quietly(tiny: tuple[Path, Path], caplog: pytest.LogCaptureFixture) -> None:
    directory, out = tiny
    precompiled_path(out, "strict").unlink()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert BundledPolicyProvider(directory, precompiled_dir=out).get("strict").origin == "compiled"
    assert caplog.text == ""


def test_a_file_holding_another_policy_is_refused(tiny: tuple[Path, Path], caplog: pytest.LogCaptureFixture) -> None:
    # base's file holding `strict`, even under base's key (a writer never does this; a copy by hand might)
    directory, out = tiny
    files = read_policy_dir(directory)
    strict = compile_policy(build_policy(files, "strict"))
    precompiled_path(out, "base").write_bytes(dump_compiled(strict, precompiled_key(files, "base")))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert load_precompiled(out, files, "base") is None
    assert "holds policy 'strict'" in caplog.text


# --- preloading at init -----------------------------------------------------------------------------------


@pytest.fixture
def shared_bundle(policies: Path, built: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process-wide bundle of BundledPolicyProvider(), replaced by one over the test's copy."""
    monkeypatch.setattr(provider_module, "_default_bundle", provider_module._Bundle(policies, built))
    for name in ("PRESCREEN_POLICY_S3_BUCKET", "PRESCREEN_POLICY_APPCONFIG_APPLICATION", "PRESCREEN_STAGE"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("shared_bundle")
def test_preload_loads_every_bundled_policy_for_the_providers_built_later() -> None:
    before = compile_count()
    assert preload_policies() == {"base": "precompiled", "adult_free": "precompiled", "de_only": "precompiled"}
    # A provider built afterwards (on the first request) finds them loaded
    first, second = BundledPolicyProvider(), BundledPolicyProvider()
    assert first.get("de_only") is second.get("de_only")
    assert compile_count() == before


@pytest.mark.usefixtures("shared_bundle")
def test_preload_skips_bundled_policies_when_remote_ones_are_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRESCREEN_POLICY_S3_BUCKET", "policies")
    monkeypatch.setenv("PRESCREEN_POLICY_S3_KEY", "policies.zip")
    assert preload_policies() == {}


@pytest.mark.usefixtures("shared_bundle")
def test_preload_leaves_a_settings_error_to_the_request(monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("PRESCREEN_POLICY_S3_BUCKET", "policies")  # without a key or prefix: invalid
    with caplog.at_level(logging.ERROR, logger="prescreen.policy.provider"):
        assert preload_policies() == {}
    assert "policies not preloaded" in caplog.text
