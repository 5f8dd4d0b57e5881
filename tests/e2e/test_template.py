"""template.yaml is lint-clean for CloudFormation and for SAM (run here so CI fails on a regression)."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
                          env={"PATH": "/usr/bin:/bin", "SAM_CLI_TELEMETRY": "0", "HOME": str(REPO / ".tools")})


def test_cfn_lint_is_clean() -> None:
    completed = run(str(REPO / ".venv" / "bin" / "cfn-lint"), "template.yaml")
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_sam_validate_lint_is_clean() -> None:
    sam = REPO / ".tools" / "sam" / "bin" / "sam"
    assert sam.exists(), "SAM CLI missing: `make test` installs it into .tools/sam"
    completed = run(str(sam), "validate", "--lint", "--template-file", "template.yaml")
    assert completed.returncode == 0, completed.stdout + completed.stderr
