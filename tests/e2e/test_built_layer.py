"""The built PrescreenLayer (.aws-sam/build): precompiled policies, .pyc files, no development tools.

Each check that runs code does so in a fresh `python3.13 -S` process that sees only the built layer, as the
Lambda runtime does.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from prescreen.local.invoke import lambda_python
from prescreen.policy.loader import build_policy, policy_names, read_policy_dir
from prescreen.policy.precompiled import MAGIC

REPO = Path(__file__).resolve().parents[2]
LAYER = REPO / ".aws-sam" / "build" / "PrescreenLayer" / "python"
LISTING = REPO / "tests" / "data" / "listings" / "childlike_doll_fr.json"

pytestmark = pytest.mark.e2e

# Runs inside the layer: loads `base` the way a request would after preload_policies() at init.
_LOAD_AND_SCREEN = r"""
import json, sys, time
started = time.perf_counter()
from prescreen.decide import decide
from prescreen.models import Listing
from prescreen.policy.matcher import compile_count
from prescreen.policy.provider import BundledPolicyProvider, preload_policies
preloaded = preload_policies()
policy = BundledPolicyProvider().get("base")
with open(sys.argv[1], encoding="utf-8") as source:
    listing = Listing.model_validate(json.load(source))
decision = decide(policy.evaluate(listing)).decision
print(json.dumps({"preloaded": preloaded, "origin": policy.origin, "compiles": compile_count(),
                  "decision": decision, "version": policy.version, "seconds": time.perf_counter() - started}))
"""


@pytest.fixture(scope="module", autouse=True)
def built() -> None:
    assert (LAYER / "prescreen" / "webhook.py").is_file(), "no SAM build: run `make build` (make test does it)"


def run_in_layer(code: str, *args: str) -> dict[str, Any]:
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYENV_VERSION": os.environ.get("PYENV_VERSION", "3.13.0"),
        "PYTHONPATH": str(LAYER),
        "PYTHONDONTWRITEBYTECODE": "1",  # the layer is read-only on Lambda: prove it needs no writes
        "PRESCREEN_STAGE": "local",
    }
    completed = subprocess.run([lambda_python(), "-S", "-c", code, *args], env=environment, capture_output=True,
                               text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def test_the_layer_holds_a_precompiled_file_for_every_bundled_policy() -> None:
    names = policy_names(read_policy_dir(LAYER / "prescreen" / "policy" / "policies"))
    assert {"base", "adult_free", "de_only"} <= set(names)
    compiled = LAYER / "prescreen" / "policy" / "compiled"
    assert sorted(path.name for path in compiled.iterdir()) == sorted(f"{name}.policy" for name in names)
    for name in names:
        with (compiled / f"{name}.policy").open("rb") as handle:
            assert handle.read(len(MAGIC)) == MAGIC, name


def test_a_fresh_process_loads_the_policies_from_the_build_and_blocks_the_childlike_doll() -> None:
    result = run_in_layer(_LOAD_AND_SCREEN, str(LISTING))
    # Every bundled policy came from its precompiled file, and nothing was compiled
    assert set(result["preloaded"].values()) == {"precompiled"}, result["preloaded"]
    assert result["origin"] == "precompiled"
    assert result["compiles"] == 0
    # And the base policy blocks the child-like doll listing
    assert result["decision"] == "block"
    # The version of the files in the layer, as a compile of them would give it
    assert result["version"] == build_policy(read_policy_dir(LAYER / "prescreen" / "policy" / "policies")).version


def test_the_layer_ships_unchecked_hash_pycs_for_every_module() -> None:
    sources = sorted((LAYER / "prescreen").rglob("*.py"))
    assert sources
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        assert pyc.is_file(), f"no .pyc for {source.relative_to(LAYER)}"
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        assert flags == 0b01, f"{pyc.name}: not an unchecked hash-based pyc (flags {flags:#b})"
    for package in ("pydantic", "fastapi", "botocore", "yaml"):
        assert list((LAYER / package / "__pycache__").glob("*.cpython-313.pyc")), package


def test_the_layer_has_no_development_tools_or_build_leftovers() -> None:
    top_level = {path.name.split("-")[0].lower() for path in LAYER.iterdir()}
    leaked = top_level & {"moto", "pytest", "_pytest", "ruff", "mypy", "cfn_lint", "uv", "uvicorn", "werkzeug",
                          "flask", "ahocorasick", "pyahocorasick", "boto3_stubs", "bin", "requirements.txt"}
    assert not leaked, f"not part of the runtime: {sorted(leaked)}"
    assert not list(LAYER.rglob("*.egg-info")), "build metadata copied into the layer"
    assert not list((LAYER / "prescreen").rglob("*.partial")), "a precompiled file was left half-written"
