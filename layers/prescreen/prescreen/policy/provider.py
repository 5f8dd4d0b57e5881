"""Where compiled policies come from: the bundled files, or a remote copy refreshed in the background.

Compiling a policy takes about a second (most of it Hyperscan's compile), screening a listing well under a
millisecond, so no request should ever wait for a compile:

* bundled policies are precompiled when the layer is built (precompiled.py) and load in well under 0.1 s;
  `preload_policies()`, called at Lambda init, loads them all before the first request. A policy file
  edited after the build makes its precompiled file stale, and it is compiled instead (never served stale);
* remote policies (S3, AppConfig) are re-fetched and compiled in a background thread while the old ones
  keep serving; only the very first fetch of a process happens inside a request.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml

from prescreen.policy.engine import CompiledPolicy, Origin, compile_policy
from prescreen.policy.loader import (
    DEFAULT_POLICY_DIR,
    PolicyError,
    PolicyFiles,
    UnknownPolicyError,
    build_policy,
    policy_names,
    policy_version,
    read_policy_dir,
)
from prescreen.policy.precompiled import DEFAULT_PRECOMPILED_DIR, load_precompiled
from prescreen.policy.schema import PolicyIssue

logger = logging.getLogger(__name__)

MAX_ARCHIVE_BYTES = 20 * 1024 * 1024  # policies are a few hundred KB; anything near this is not a policy


class PolicyProvider(Protocol):
    def get(self, name: str) -> CompiledPolicy: ...


class PolicySourceError(Exception):
    """The remote policy files could not be fetched (network, permissions, a malformed archive)."""


class PolicySource(Protocol):
    """Fetches every policy file: relative path (base.yaml, terms/x.yaml, ...) -> bytes."""

    def fetch(self) -> dict[str, bytes]: ...

    def describe(self) -> str: ...


def _check_name(files: PolicyFiles, name: str) -> None:
    if name not in policy_names(files):
        raise UnknownPolicyError([PolicyIssue(f"overlays/{name}.yaml", "", f"no policy named '{name}'")])


# --- bundled ----------------------------------------------------------------------------------------------


class _Bundle:
    """Compiled policies of one policy directory, each loaded or compiled once."""

    def __init__(self, directory: Path, precompiled_dir: Path | None) -> None:
        self.directory = directory
        self.precompiled_dir = precompiled_dir
        self._lock = threading.Lock()
        self._files: dict[str, bytes] | None = None
        self._forms: dict[str, str] = {}  # normalised terms, shared by the policies compiled from these files
        self._compiled: dict[str, CompiledPolicy] = {}
        self._name_locks: dict[str, threading.Lock] = {}

    def files(self) -> dict[str, bytes]:
        with self._lock:
            if self._files is None:
                self._files = read_policy_dir(self.directory)
            return self._files

    def get(self, name: str) -> CompiledPolicy:
        compiled = self._compiled.get(name)
        if compiled is not None:
            return compiled
        files = self.files()
        _check_name(files, name)
        with self._lock:
            name_lock = self._name_locks.setdefault(name, threading.Lock())
        # One lock per name: two threads asking for the same new policy load it once, and a slow compile of
        # one overlay does not hold up the others.
        with name_lock:
            compiled = self._compiled.get(name)
            if compiled is None:
                compiled = self._compiled[name] = self._load(files, name)
        return compiled

    def _load(self, files: PolicyFiles, name: str) -> CompiledPolicy:
        started = time.perf_counter()
        compiled = None
        if self.precompiled_dir is not None:
            compiled = load_precompiled(self.precompiled_dir, files, name)
        if compiled is None:
            # Two names compiling at once may both normalise a term and store the same value: harmless.
            compiled = compile_policy(build_policy(files, name, term_forms=self._forms))
        logger.info("policy %s (%s) %s in %.0f ms", name, compiled.version, compiled.origin,
                    (time.perf_counter() - started) * 1000)
        return compiled


_default_bundle: _Bundle | None = None
_default_bundle_lock = threading.Lock()


def _shared_default_bundle() -> _Bundle:
    global _default_bundle
    with _default_bundle_lock:
        if _default_bundle is None:
            _default_bundle = _Bundle(DEFAULT_POLICY_DIR, DEFAULT_PRECOMPILED_DIR)
        return _default_bundle


class BundledPolicyProvider:
    """The policies shipped in the package (or a directory laid out the same way), loaded once each.

    The shipped policies come precompiled with the build (precompiled.py) and are shared by every provider
    of the process: the files cannot change while it runs, so `preload_policies()` at Lambda init serves
    the provider the first request builds. A provider of another `directory`, or with its own
    `precompiled_dir` (tests), has policies of its own; it uses precompiled files only from `precompiled_dir`.
    """

    def __init__(self, directory: Path | None = None, *, precompiled_dir: Path | None = None) -> None:
        if directory is None and precompiled_dir is None:
            self._bundle = _shared_default_bundle()
        else:
            self._bundle = _Bundle(directory or DEFAULT_POLICY_DIR, precompiled_dir)

    def get(self, name: str) -> CompiledPolicy:
        return self._bundle.get(name)

    def names(self) -> list[str]:
        return policy_names(self._bundle.files())

    def preload(self, names: Sequence[str] | None = None) -> dict[str, Origin]:
        """Loads (or compiles) policies ahead of the first request; name -> how each was obtained."""
        return {name: self.get(name).origin for name in (names if names is not None else self.names())}


def preload_policies(which: Literal["default", "all"] = "all") -> dict[str, Origin]:
    """Loads bundled policies into the process, so that no request waits for them: call it once at Lambda
    init (module level of the handler). With the layer's precompiled files this takes about 80-150 ms per
    policy; without them (a policy edited after the build), over a second each, still outside any request.
    `which="default"` loads only the default policy (the one most marketplaces use): each overlay then loads
    on its first request, once per process, which keeps every cold start shorter.

    Does nothing when the settings select remote policies (S3, AppConfig): those are not bundled. A policy
    that fails to compile is logged and left for the request that needs it to report; so is a settings error.
    """
    from prescreen.settings import SettingsError, get_settings

    try:
        settings = get_settings()
    except SettingsError as exc:
        logger.error("settings are invalid, policies not preloaded: %s", exc)
        return {}
    if settings.policy_s3_bucket or settings.policy_appconfig_application:
        logger.info("remote policies configured: bundled policies not preloaded")
        return {}
    provider = BundledPolicyProvider()
    loaded: dict[str, Origin] = {}
    names = provider.names() if which == "all" else [settings.default_policy]
    for name in names:
        try:
            loaded[name] = provider.get(name).origin
        except PolicyError as exc:
            logger.error("bundled policy '%s' is invalid and was not preloaded:\n%s", name, exc)
    return loaded


# --- remote -----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Snapshot:
    files: dict[str, bytes]
    digest: str
    checked_at: float
    compiled: dict[str, CompiledPolicy] = field(default_factory=dict)
    errors: dict[str, PolicyError] = field(default_factory=dict)
    forms: dict[str, str] = field(default_factory=dict)  # normalised terms, shared by the snapshot's policies


class RemotePolicyProvider:
    """Policies fetched from a PolicySource and re-fetched after `ttl_seconds`.

    The re-fetch and compile run in a background thread while the old compiled policies keep serving; a new
    version replaces the old only once every policy in use compiled, so a broken upload is logged and the
    old policies stay. On Lambda the thread is frozen between invocations and simply finishes during the
    next one.
    """

    def __init__(self, source: PolicySource, ttl_seconds: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._source = source
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._refresher: threading.Thread | None = None

    def get(self, name: str) -> CompiledPolicy:
        snapshot = self._snapshot or self._first_fetch()
        # Checked first, so that even a policy that fails to compile gets a fixed version after the TTL.
        self._refresh_if_stale(snapshot)
        compiled = snapshot.compiled.get(name)
        if compiled is None:
            compiled = self._first_compile(snapshot, name)
        return compiled

    def _first_fetch(self) -> _Snapshot:
        with self._lock:
            if self._snapshot is None:
                files = self._source.fetch()
                self._snapshot = _Snapshot(files, _digest(files), self._clock())
            return self._snapshot

    def _first_compile(self, snapshot: _Snapshot, name: str) -> CompiledPolicy:
        with self._lock:
            compiled = snapshot.compiled.get(name)
            if compiled is not None:
                return compiled
            # A broken policy fails every request until a fixed upload arrives, without recompiling each time.
            failed = snapshot.errors.get(name)
            if failed is not None:
                raise failed
            try:
                _check_name(snapshot.files, name)
                compiled = compile_policy(build_policy(snapshot.files, name, term_forms=snapshot.forms))
            except PolicyError as exc:
                snapshot.errors[name] = exc
                raise
            snapshot.compiled[name] = compiled
            return compiled

    def _refresh_if_stale(self, snapshot: _Snapshot) -> None:
        if self._clock() - snapshot.checked_at < self._ttl:
            return
        with self._lock:
            if self._refresher is not None and self._refresher.is_alive():
                return
            self._refresher = threading.Thread(target=self.refresh, name="policy-refresh", daemon=True)
            self._refresher.start()

    def wait_for_refresh(self, timeout: float) -> bool:
        """True once no background refresh is running (tests and shutdown hooks)."""
        refresher = self._refresher
        if refresher is not None:
            refresher.join(timeout)
            return not refresher.is_alive()
        return True

    def refresh(self) -> bool:
        """Fetches and compiles now; True if a new version replaced the old one. Safe to call any time."""
        old = self._snapshot
        if old is None:
            self._first_fetch()
            return True
        now = self._clock()
        try:
            try:
                files = self._source.fetch()
            except PolicySourceError as exc:
                logger.error("policy fetch from %s failed; keeping %s: %s",
                             self._source.describe(), _versions(old), exc)
                return False
            digest = _digest(files)
            if digest == old.digest:
                return False
            compiled: dict[str, CompiledPolicy] = {}
            forms: dict[str, str] = {}
            for name in [*old.compiled, *old.errors]:
                try:
                    if name in policy_names(files):
                        compiled[name] = compile_policy(build_policy(files, name, term_forms=forms))
                except PolicyError as exc:
                    if name in old.errors:
                        continue  # was already broken: nothing to keep serving instead
                    logger.error("new policy '%s' from %s is invalid; keeping %s:\n%s",
                                 name, self._source.describe(), _versions(old), exc)
                    return False
            with self._lock:
                self._snapshot = _Snapshot(files, digest, now, compiled, forms=forms)
            logger.info("policies updated from %s: %s", self._source.describe(), _versions(self._snapshot))
            return True
        finally:
            # Whatever happened, wait a full TTL before the next attempt instead of retrying on every request.
            current = self._snapshot
            if current is not None and current.checked_at < now:
                current.checked_at = now


def _digest(files: PolicyFiles) -> str:
    return policy_version("files", files)


def _versions(snapshot: _Snapshot) -> str:
    return ", ".join(f"{name}={policy.version}" for name, policy in snapshot.compiled.items()) or "nothing"


# --- sources ----------------------------------------------------------------------------------------------


class _S3Client(Protocol):
    def get_object(self, **kwargs: Any) -> Any: ...

    def get_paginator(self, operation_name: str) -> Any: ...


class S3PolicySource:
    """The policy files in S3: one zip object (`key`) or every *.yaml object under a `prefix`."""

    def __init__(self, bucket: str, *, key: str | None = None, prefix: str | None = None,
                 client: _S3Client | None = None) -> None:
        if (key is None) == (prefix is None):
            raise ValueError("give exactly one of key (a zip) or prefix")
        self._bucket, self._key, self._prefix = bucket, key, prefix
        if client is None:
            import boto3  # lazily: boto3 costs ~190 ms of cold start, and bundled policies never need it

            client = boto3.client("s3")
        self._client = client

    def describe(self) -> str:
        return f"s3://{self._bucket}/{self._key if self._key is not None else self._prefix}"

    def fetch(self) -> dict[str, bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if self._key is not None:
                body = self._client.get_object(Bucket=self._bucket, Key=self._key)["Body"]
                return unzip_policy(body.read(MAX_ARCHIVE_BYTES + 1))
            return self._fetch_prefix(self._prefix or "")
        except (BotoCoreError, ClientError) as exc:
            raise PolicySourceError(f"{self.describe()}: {exc}") from exc

    def _fetch_prefix(self, prefix: str) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        total = 0
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key: str = item["Key"]
                if not key.endswith(".yaml"):
                    continue
                total += int(item.get("Size", 0))
                if total > MAX_ARCHIVE_BYTES:
                    raise PolicySourceError(f"{self.describe()}: more than {MAX_ARCHIVE_BYTES} bytes of YAML")
                relative = key[len(prefix):].lstrip("/")
                files[relative] = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        return files


class AppConfigPolicySource:
    """The policy files as one AWS AppConfig configuration: a zip archive, or a YAML/JSON mapping of
    relative path -> file text (handy for small freeform configurations)."""

    def __init__(self, application: str, environment: str, profile: str,
                 fetch: Callable[[], str | bytes] | None = None) -> None:
        self._application, self._environment, self._profile = application, environment, profile
        self._fetch = fetch or self._powertools_fetch

    def describe(self) -> str:
        return f"appconfig://{self._application}/{self._environment}/{self._profile}"

    def _powertools_fetch(self) -> str | bytes:
        from aws_lambda_powertools.utilities.parameters import get_app_config
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            # force_fetch: our own TTL decides when to fetch; Powertools' cache would add a second one.
            value = get_app_config(self._profile, environment=self._environment, application=self._application,
                                   force_fetch=True)
        except GetParameterError as exc:
            raise PolicySourceError(f"{self.describe()}: {exc}") from exc
        if not isinstance(value, str | bytes):
            raise PolicySourceError(f"{self.describe()}: expected bytes, got {type(value).__name__}")
        return value

    def fetch(self) -> dict[str, bytes]:
        value = self._fetch()
        data = value.encode("utf-8") if isinstance(value, str) else value
        if data.startswith(b"PK\x03\x04"):
            return unzip_policy(data)
        try:
            document = yaml.safe_load(data.decode("utf-8"))
        except (UnicodeDecodeError, yaml.YAMLError) as exc:
            raise PolicySourceError(f"{self.describe()}: neither a zip nor a YAML mapping: {exc}") from exc
        if not isinstance(document, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in document.items()):
            raise PolicySourceError(f"{self.describe()}: expected a mapping of relative path -> file text")
        return {_safe_relative(path, self.describe()): text.encode("utf-8") for path, text in document.items()}


def unzip_policy(data: bytes) -> dict[str, bytes]:
    """The *.yaml files of a zip. A single top-level folder (zip of `policies/`) is stripped."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise PolicySourceError(f"policy archive larger than {MAX_ARCHIVE_BYTES} bytes")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [info for info in archive.infolist() if not info.is_dir() and info.filename.endswith(".yaml")]
        if sum(info.file_size for info in members) > MAX_ARCHIVE_BYTES:
            raise PolicySourceError(f"policy archive unpacks to more than {MAX_ARCHIVE_BYTES} bytes")
        files = {_safe_relative(info.filename, "zip"): archive.read(info) for info in members}
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise PolicySourceError(f"not a readable zip archive: {exc}") from exc
    if "base.yaml" not in files:
        tops = {path.split("/", 1)[0] for path in files}
        if len(tops) == 1 and "/" in next(iter(files), ""):
            top = tops.pop() + "/"
            files = {path.removeprefix(top): data for path, data in files.items()}
    return files


def _safe_relative(path: str, where: str) -> str:
    parts = path.replace("\\", "/").split("/")
    if path.startswith(("/", "\\")) or any(part in ("", ".", "..") for part in parts):
        raise PolicySourceError(f"{where}: unsafe path '{path}' in policy files")
    return "/".join(parts)

