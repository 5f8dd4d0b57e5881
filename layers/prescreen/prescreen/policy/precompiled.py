"""Policies compiled when the layer is built, so that a cold start loads them instead of compiling.

    python -m prescreen.policy.precompiled OUT_DIR [--policies DIR]

writes OUT_DIR/<name>.policy for the bundled policy `base` and every overlay (the layer's Makefile writes
them to prescreen/policy/compiled/, where BundledPolicyProvider looks first). Each file holds everything a
CompiledPolicy needs that is slow to work out: the validated policy (no YAML to parse, no term to
normalise), the matcher's term table and pattern table, and Hyperscan's serialised database (no compile).

A file is used only if its key matches: a sha256 over the policy's own files (base.yaml, terms/, rules/ and
its overlay), the source of the prescreen package, and the versions of Python, Unicode data, pydantic,
PyYAML and Hyperscan. A policy file edited after the build, or a build of other code, is therefore never
answered from a stale file: the provider compiles as if there were no file. A damaged file (checksum) or one
Hyperscan cannot load on this CPU is logged and compiled around the same way.

Layout: MAGIC, the header's length (4 bytes, big-endian), the header (JSON: format, name, version, key, the
sections' names and lengths, the body's sha256), then the body: the sections one after the other
(policy: JSON, terms: JSON, database: Hyperscan's bytes). No pickle: loading a file runs no code from it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import sys
import time
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import pydantic
import pydantic_core
import yaml
from pydantic import TypeAdapter

from prescreen.policy.engine import CompiledPolicy, TermTable, compile_policy
from prescreen.policy.loader import (
    DEFAULT_POLICY_DIR,
    Policy,
    PolicyError,
    PolicyFiles,
    build_policy,
    files_digest,
    policy_names,
    read_policy_dir,
    used_files,
)
from prescreen.policy.matcher import TermMatcher

logger = logging.getLogger(__name__)

FORMAT: Final = 1
MAGIC: Final = b"prescreen precompiled policy\n"
SUFFIX: Final = ".policy"
DEFAULT_PRECOMPILED_DIR: Final = Path(__file__).resolve().parent / "compiled"
_PACKAGE_DIR: Final = Path(__file__).resolve().parents[1]  # prescreen/
_SECTIONS: Final = ("policy", "terms", "database")


class PrecompiledError(ValueError):
    """A precompiled policy file that cannot be used (damaged, another format, made for other terms)."""


def precompiled_path(directory: Path, name: str) -> Path:
    return directory / f"{name}{SUFFIX}"


# --- the key ----------------------------------------------------------------------------------------------


@functools.cache
def code_fingerprint() -> str:
    """sha256 over every module of the prescreen package and the versions of what else shapes a compiled
    policy. The whole package rather than a list of modules: a module that starts to matter later (a new
    check in the loader's imports) cannot be forgotten. Computed once per process (~1 ms)."""
    digest = hashlib.sha256()
    runtime = (f"python {sys.version_info.major}.{sys.version_info.minor}; unicode {unicodedata.unidata_version}; "
               f"pydantic {pydantic.VERSION}; pydantic-core {pydantic_core.__version__}; "
               f"pyyaml {getattr(yaml, '__version__', '?')}; "
               f"hyperscan {_hyperscan_version()}")
    digest.update(runtime.encode())
    for path in sorted(_PACKAGE_DIR.rglob("*.py")):
        name = path.relative_to(_PACKAGE_DIR).as_posix().encode()
        data = path.read_bytes()
        digest.update(len(name).to_bytes(8, "big") + name + len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def _hyperscan_version() -> str:
    try:
        import hyperscan
    except ImportError:  # pragma: no cover - the layer ships hyperscan
        return "none"
    return str(getattr(hyperscan, "__version__", "?"))


def precompiled_key(files: PolicyFiles, name: str) -> str:
    """What a precompiled file of policy `name` must carry to be used with these files and this code."""
    text = f"format {FORMAT}\0name {name}\0files {files_digest(used_files(files, name))}\0code {code_fingerprint()}"
    return hashlib.sha256(text.encode()).hexdigest()


# --- writing ----------------------------------------------------------------------------------------------


@functools.cache
def _policy_adapter() -> TypeAdapter[Policy]:
    # Generic over Policy's fields, so a field added to Policy is carried without touching this module (and
    # write_precompiled's round-trip check fails the build if one is not).
    return TypeAdapter(Policy)


def dump_compiled(compiled: CompiledPolicy, key: str) -> bytes:
    """The bytes of a precompiled file for `compiled`, under `key` (see precompiled_key)."""
    table, database = compiled.matcher.export()
    term_table = compiled.term_table
    sections = {
        "policy": _policy_adapter().dump_json(compiled.policy, by_alias=True, exclude={"term_forms"}),
        "terms": _json({"terms": list(term_table.terms), "sets": [list(ids) for ids in term_table.sets],
                        "families": [list(ids) for ids in term_table.families], "matcher": table}),
        "database": database,
    }
    body = b"".join(sections[section] for section in _SECTIONS)
    header = _json({
        "format": FORMAT,
        "name": compiled.name,
        "version": compiled.version,
        "key": key,
        "sections": [[section, len(sections[section])] for section in _SECTIONS],
        "sha256": hashlib.sha256(body).hexdigest(),
    })
    return MAGIC + len(header).to_bytes(4, "big") + header + body


def _json(value: Any) -> bytes:
    # ASCII escapes: no term (a lone surrogate, say) can make the file unreadable as UTF-8.
    return json.dumps(value, separators=(",", ":")).encode("ascii")


def write_precompiled(out_dir: Path, directory: Path | None = None) -> list[Path]:
    """Compiles every policy in `directory` (default: the bundled ones) into OUT_DIR/<name>.policy, removes
    the other *.policy files there (overlays that no longer exist) and returns the paths written. Raises
    PolicyError if a policy is invalid (a build must not ship one), PrecompiledError if a file does not
    read back as the policy it was written from."""
    files = read_policy_dir(directory or DEFAULT_POLICY_DIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    forms: dict[str, str] = {}
    written: list[Path] = []
    names = policy_names(files)
    for name in names:
        compiled = compile_policy(build_policy(files, name, term_forms=forms))
        data = dump_compiled(compiled, precompiled_key(files, name))
        _check_round_trip(compiled, data)
        path = precompiled_path(out_dir, name)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(data)
        partial.replace(path)  # readers see the old file or the new one, never half of one
        written.append(path)
    for leftover in out_dir.glob(f"*{SUFFIX}"):
        if leftover.name.removesuffix(SUFFIX) not in names:
            leftover.unlink()  # an overlay that no longer exists
    return written


def _check_round_trip(compiled: CompiledPolicy, data: bytes) -> None:
    header, body_start = _header(data)
    restored = _restore(header, _sections(data, header, body_start))
    if (restored.policy != compiled.policy or restored.term_table != _plain(compiled.term_table)
            or restored.matcher.export()[0] != json.loads(_json(compiled.matcher.export()[0]))):
        raise PrecompiledError(f"policy '{compiled.name}' does not survive its precompiled form: "
                               "a field of Policy or TermTable is not carried (see precompiled.py)")


def _plain(table: TermTable) -> TermTable:
    """`table` as it reads back from JSON (lists for tuples), for comparison."""
    return TermTable(list(table.terms), [list(ids) for ids in table.sets], [list(ids) for ids in table.families])


# --- reading ----------------------------------------------------------------------------------------------


def load_precompiled(directory: Path, files: PolicyFiles, name: str) -> CompiledPolicy | None:
    """Policy `name` from DIRECTORY/<name>.policy if that file was made from these files by this code; None
    (and a log line) if it is missing, stale or unusable: the caller compiles instead."""
    path = precompiled_path(directory, name)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        logger.debug("no precompiled policy at %s", path)
        return None
    except OSError as exc:
        logger.warning("precompiled policy %s cannot be read, compiling instead: %s", path, exc)
        return None
    try:
        header, body_start = _header(data)
        # The key first: a stale file costs a header read, not a checksum over megabytes.
        if header.get("key") != precompiled_key(files, name):
            logger.warning("precompiled policy %s was made from other policy files or other code; "
                           "compiling instead", path)
            return None
        if header.get("name") != name:
            raise PrecompiledError(f"the file holds policy {header.get('name')!r}")
        return _restore(header, _sections(data, header, body_start))
    except (ValueError, KeyError, TypeError, IndexError) as exc:  # ValueError covers JSON and pydantic errors
        logger.warning("precompiled policy %s is unusable, compiling instead: %s", path, exc)
        return None


def _header(data: bytes) -> tuple[dict[str, Any], int]:
    """The header of a file, and where its body starts."""
    if not data.startswith(MAGIC):
        raise PrecompiledError("not a precompiled policy file")
    start = len(MAGIC) + 4
    end = start + int.from_bytes(data[len(MAGIC):start], "big")
    header = json.loads(data[start:end])
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else None
        raise PrecompiledError(f"format {found!r}, expected {FORMAT}")
    return header, end


def _sections(data: bytes, header: Mapping[str, Any], body_start: int) -> dict[str, bytes]:
    """The body's sections by name, once its checksum holds."""
    body = memoryview(data)[body_start:]
    if hashlib.sha256(body).hexdigest() != header["sha256"]:
        raise PrecompiledError("checksum mismatch: the file is damaged")
    sections: dict[str, bytes] = {}
    offset = 0
    for section, size in header["sections"]:
        sections[section] = bytes(body[offset:offset + size])
        offset += size
    if offset != len(body) or set(sections) != set(_SECTIONS):
        raise PrecompiledError("the sections do not add up to the body")
    return sections


def _restore(header: Mapping[str, Any], sections: Mapping[str, bytes]) -> CompiledPolicy:
    policy = _policy_adapter().validate_json(sections["policy"])
    if (policy.name, policy.version) != (header["name"], header["version"]):
        raise PrecompiledError("the header and the policy disagree")
    terms = json.loads(sections["terms"])
    table = TermTable(terms["terms"], terms["sets"], terms["families"])
    matcher = TermMatcher.restore(terms["matcher"], sections["database"])
    return CompiledPolicy(policy, prebuilt=(table, matcher))


# --- command line -----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    import argparse  # here, not at the top: a cold start imports this module and never needs it

    parser = argparse.ArgumentParser(prog="python -m prescreen.policy.precompiled",
                                     description="Precompile the bundled policies (one file per name).")
    parser.add_argument("out_dir", type=Path, help="where to write <name>.policy")
    parser.add_argument("--policies", type=Path, default=None, help="policy directory (default: the bundled one)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        written = write_precompiled(args.out_dir, args.policies)
    except PolicyError as exc:
        print(f"invalid policy, precompiling stopped:\n{exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"{path}  {path.stat().st_size / 1e6:.1f} MB")
    print(f"{len(written)} policies precompiled in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
