"""Policy providers: compile once, serve the old policy while a new one compiles, survive broken uploads."""

from __future__ import annotations

import io
import logging
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

import prescreen.policy.provider as provider_module
from prescreen.policy.engine import CompiledPolicy, compile_policy
from prescreen.policy.loader import (
    DEFAULT_POLICY_DIR,
    Policy,
    PolicyError,
    UnknownPolicyError,
    build_policy,
    read_policy_dir,
)
from prescreen.policy.provider import (
    AppConfigPolicySource,
    BundledPolicyProvider,
    PolicySourceError,
    RemotePolicyProvider,
    S3PolicySource,
    unzip_policy,
)

TERMS = b"sets:\n  toy:\n    en: [toy]\n"
RULES = b"""\
rules:
  - id: t.toy
    description: toys
    category: STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS
    family: toys
    action: review
    legal_ground: a law
    explanation: why
    when: {terms: toy}
"""


def policy_files(version: str = "1") -> dict[str, bytes]:
    return {
        "base.yaml": f'version: "{version}"\n'.encode(),
        "terms/toys.yaml": TERMS,
        "rules/toys.yaml": RULES,
        "overlays/strict.yaml": f'extends: base\nversion: "{version}-strict"\n'
                                f"override: {{t.toy: {{action: block}}}}\n".encode(),
    }


class FakeSource:
    """Serves whatever `files` holds; `gate` can hold a fetch back, `error` make it fail."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.fetches = 0
        self.gate: threading.Event | None = None
        self.error: Exception | None = None

    def fetch(self) -> dict[str, bytes]:
        self.fetches += 1
        if self.gate is not None:
            assert self.gate.wait(10), "the test never opened the gate"
        if self.error is not None:
            raise self.error
        return dict(self.files)

    def describe(self) -> str:
        return "fake://policies"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def compile_count(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts compilations per policy name (the provider's compile_policy, wrapped)."""
    counts: dict[str, int] = {}

    def counting(policy: Policy) -> CompiledPolicy:
        counts[policy.name] = counts.get(policy.name, 0) + 1
        return compile_policy(policy)

    monkeypatch.setattr(provider_module, "compile_policy", counting)
    return counts


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def source() -> FakeSource:
    return FakeSource(policy_files("1"))


@pytest.fixture
def remote(source: FakeSource, clock: FakeClock) -> Iterator[RemotePolicyProvider]:
    provider = RemotePolicyProvider(source, ttl_seconds=60, clock=clock)
    yield provider
    if source.gate is not None:
        source.gate.set()
    assert provider.wait_for_refresh(10)


# --- bundled ----------------------------------------------------------------------------------------------


def test_bundled_provider_compiles_each_policy_once_even_under_concurrency(compile_count: dict[str, int]) -> None:
    # Given eight threads asking for the same new policy at the same moment (a provider of its own, without
    # precompiled files: the shared one may have loaded it already)
    provider = BundledPolicyProvider(DEFAULT_POLICY_DIR)
    start = threading.Barrier(8)
    results: list[CompiledPolicy] = []

    def ask() -> None:
        start.wait()
        results.append(provider.get("base"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then it was compiled once and every thread got the same object
    assert compile_count == {"base": 1}
    assert len({id(policy) for policy in results}) == 1
    assert provider.get("base") is results[0]


def test_bundled_provider_serves_overlays_and_refuses_unknown_names(compile_count: dict[str, int]) -> None:
    provider = BundledPolicyProvider(DEFAULT_POLICY_DIR)
    names = provider.names()
    assert names[0] == "base"
    assert {"adult_free", "de_only"} <= set(names)
    assert provider.get("adult_free").name == "adult_free"
    with pytest.raises(UnknownPolicyError):
        provider.get("no_such_marketplace_policy")
    assert compile_count == {"adult_free": 1}


def test_bundled_provider_preloads_every_policy(compile_count: dict[str, int], tmp_path: Path) -> None:
    directory = write_files(tmp_path / "policies", policy_files())
    provider = BundledPolicyProvider(directory)
    assert provider.preload() == {"base": "compiled", "strict": "compiled"}
    assert set(compile_count) == set(provider.names())
    provider.get("base")
    assert compile_count["base"] == 1


def test_providers_of_the_shipped_policies_share_them(compile_count: dict[str, int], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the process-wide bundle (here over small files, without precompiled ones)
    directory = write_files(tmp_path / "policies", policy_files())
    monkeypatch.setattr(provider_module, "_default_bundle", provider_module._Bundle(directory, None))
    # When one provider loads a policy (at init) and another is built later (on the first request)
    first = BundledPolicyProvider().get("strict")
    # Then the later one serves the same object without compiling again
    assert BundledPolicyProvider().get("strict") is first
    assert compile_count == {"strict": 1}
    # While a provider of its own directory does not share
    assert BundledPolicyProvider(directory).get("strict") is not first


def write_files(directory: Path, files: dict[str, bytes]) -> Path:
    for relative, data in files.items():
        (directory / relative).parent.mkdir(parents=True, exist_ok=True)
        (directory / relative).write_bytes(data)
    return directory


# --- remote: refresh behaviour ----------------------------------------------------------------------------


def test_remote_first_load_fetches_and_compiles_then_serves_from_memory(
        remote: RemotePolicyProvider, source: FakeSource, compile_count: dict[str, int], clock: FakeClock) -> None:
    first = remote.get("base")
    assert first.version.startswith("1+")
    clock.now += 59  # within the TTL
    assert remote.get("base") is first
    assert remote.get("strict").rules["t.toy"].action == "block"
    assert source.fetches == 1
    assert compile_count == {"base": 1, "strict": 1}


def test_remote_serves_the_old_policy_while_the_new_one_is_fetched_and_compiled(
        remote: RemotePolicyProvider, source: FakeSource, clock: FakeClock) -> None:
    # Given a policy in use, a new upload, and a slow fetch after the TTL
    old = remote.get("base")
    source.files = policy_files("2")
    source.gate = threading.Event()
    clock.now += 61
    # When requests arrive while the background fetch is held back
    during = [remote.get("base") for _ in range(3)]
    # Then they are answered at once with the old policy
    assert all(policy is old for policy in during)
    assert source.fetches == 2  # one background fetch, not one per request
    # When the fetch completes
    source.gate.set()
    assert remote.wait_for_refresh(10)
    # Then the new version serves
    assert remote.get("base").version.startswith("2+")


def test_a_broken_new_policy_is_logged_and_the_old_one_keeps_serving(
        remote: RemotePolicyProvider, source: FakeSource, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    old = remote.get("base")
    source.files = {**policy_files("2"), "rules/toys.yaml": RULES.replace(b"terms: toy", b"terms: toi")}
    clock.now += 61
    with caplog.at_level(logging.ERROR, logger="prescreen.policy.provider"):
        assert remote.get("base") is old
        assert remote.wait_for_refresh(10)
    assert remote.get("base") is old
    assert "new policy 'base' from fake://policies is invalid" in caplog.text
    assert "unknown term set 'toi'" in caplog.text
    # And the next attempt waits for another TTL instead of refetching on every request
    fetches = source.fetches
    remote.get("base")
    assert remote.wait_for_refresh(10)
    assert source.fetches == fetches


def test_a_failed_fetch_is_logged_and_retried_after_the_ttl(
        remote: RemotePolicyProvider, source: FakeSource, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    old = remote.get("base")
    source.error = PolicySourceError("s3 is down")
    clock.now += 61
    with caplog.at_level(logging.ERROR, logger="prescreen.policy.provider"):
        remote.get("base")
        assert remote.wait_for_refresh(10)
    assert "policy fetch from fake://policies failed" in caplog.text
    assert remote.get("base") is old
    # When the source recovers and a TTL has passed, Then the new policy arrives
    source.error = None
    source.files = policy_files("3")
    clock.now += 61
    remote.get("base")
    assert remote.wait_for_refresh(10)
    assert remote.get("base").version.startswith("3+")


def test_unchanged_files_are_not_recompiled(remote: RemotePolicyProvider, clock: FakeClock,
                                            compile_count: dict[str, int]) -> None:
    first = remote.get("base")
    clock.now += 61
    remote.get("base")
    assert remote.wait_for_refresh(10)
    assert remote.get("base") is first
    assert compile_count == {"base": 1}


def test_a_broken_first_load_fails_each_request_without_recompiling(
        source: FakeSource, clock: FakeClock, compile_count: dict[str, int]) -> None:
    source.files = {**policy_files(), "rules/toys.yaml": b"rules: [oops]\n"}
    provider = RemotePolicyProvider(source, ttl_seconds=60, clock=clock)
    for _ in range(3):
        with pytest.raises(PolicyError, match=r"rules/toys\.yaml: rules\[0\]"):
            provider.get("base")
    assert source.fetches == 1
    # When a fixed upload arrives, Then the next refresh brings the policy
    source.files = policy_files("2")
    clock.now += 61
    with pytest.raises(PolicyError):
        provider.get("base")  # still broken until the refresh finishes
    assert provider.wait_for_refresh(10)
    assert provider.get("base").version.startswith("2+")
    assert compile_count == {"base": 1}


def test_remote_refuses_unknown_policy_names(remote: RemotePolicyProvider) -> None:
    with pytest.raises(UnknownPolicyError):
        remote.get("lenient")


# --- sources ----------------------------------------------------------------------------------------------


def zipped(files: dict[str, bytes], folder: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(folder + path, data)
        archive.writestr(folder + "README.md", b"not a policy file")
    return buffer.getvalue()


def test_unzip_keeps_yaml_files_and_strips_a_single_top_folder() -> None:
    assert unzip_policy(zipped(policy_files())) == policy_files()
    assert unzip_policy(zipped(policy_files(), folder="policies/")) == policy_files()


def test_unzip_refuses_unsafe_paths_and_non_zips() -> None:
    with pytest.raises(PolicySourceError, match="unsafe path"):
        unzip_policy(zipped({"../base.yaml": b"x"}))
    with pytest.raises(PolicySourceError, match="not a readable zip"):
        unzip_policy(b"PK\x03\x04 truncated")


def test_appconfig_source_reads_a_zip_or_a_mapping_of_files() -> None:
    as_zip = AppConfigPolicySource("prescreen", "prod", "policies", fetch=lambda: zipped(policy_files()))
    assert as_zip.fetch() == policy_files()
    mapping = "base.yaml: 'version: \"1\"'\nterms/toys.yaml: |\n  sets: {toy: {en: [toy]}}\n"
    as_yaml = AppConfigPolicySource("prescreen", "prod", "policies", fetch=lambda: mapping)
    assert as_yaml.fetch() == {"base.yaml": b'version: "1"', "terms/toys.yaml": b"sets: {toy: {en: [toy]}}\n"}
    broken = AppConfigPolicySource("prescreen", "prod", "policies", fetch=lambda: "- just a list")
    with pytest.raises(PolicySourceError, match="appconfig://prescreen/prod/policies"):
        broken.fetch()


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def s3(s3_endpoint: str) -> Any:
    client = boto3.session.Session().client(
        "s3", endpoint_url=s3_endpoint, region_name="eu-west-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket="policies", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return client


def test_s3_source_serves_the_bundled_policies_with_the_same_version(s3: Any,
                                                                     compile_count: dict[str, int]) -> None:
    # Given the bundled policy files uploaded as a zip and as a prefix (moto's S3 server on loopback)
    bundled = read_policy_dir(DEFAULT_POLICY_DIR)
    s3.put_object(Bucket="policies", Key="releases/policies.zip", Body=zipped(bundled, folder="policies/"))
    for path, data in bundled.items():
        s3.put_object(Bucket="policies", Key=f"live/{path}", Body=data)
    s3.put_object(Bucket="policies", Key="live/NOTES.txt", Body=b"ignored")
    # When each is fetched through the remote provider
    from_zip = RemotePolicyProvider(S3PolicySource("policies", key="releases/policies.zip", client=s3))
    from_prefix = RemotePolicyProvider(S3PolicySource("policies", prefix="live/", client=s3))
    # Then both give exactly the bundled policy (same bytes, same version)
    expected = build_policy(bundled).version
    assert from_zip.get("base").version == expected
    assert from_prefix.get("base").version == expected


def test_s3_source_errors_become_policy_source_errors(s3: Any) -> None:
    source = S3PolicySource("policies", key="missing.zip", client=s3)
    with pytest.raises(PolicySourceError, match=r"s3://policies/missing\.zip"):
        source.fetch()
