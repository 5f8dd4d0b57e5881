"""`prescreen invoke`: run a function of the SAM build (`.aws-sam/build`) on one event, like
`sam local invoke` but without Docker: a fresh python3.13 process that sees only the built function code
and the built layer, never this checkout's virtualenv."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prescreen.local.dynamodb import LOCAL_ACCESS_KEY, LocalDynamoDB, create_decisions_table, dynamodb_client
from prescreen.local.template import load_template

LAMBDA_PYTHON_VERSION = "3.13"
LOCAL_TABLE = "prescreen-decisions"
# Signed events in events/ carry fixed timestamps; the local stage may replay them (never a deployed one).
REPLAY_TOLERANCE_SECONDS = 20 * 365 * 24 * 3600

_RUNNER = r"""
import importlib, json, os, sys, time, uuid
module_name, function_name = sys.argv[1].rsplit(".", 1)
class Context:
    function_name = sys.argv[2]
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = f"arn:aws:lambda:eu-west-1:000000000000:function:{sys.argv[2]}"
    aws_request_id = str(uuid.uuid4())
    log_group_name = f"/aws/lambda/{sys.argv[2]}"
    log_stream_name = "local"
    def get_remaining_time_in_millis(self):
        return 10_000
handler = getattr(importlib.import_module(module_name), function_name)
with open(sys.argv[3], encoding="utf-8") as source:
    event = json.load(source)
result = handler(event, Context())
with open(sys.argv[4] + ".partial", "w", encoding="utf-8") as sink:
    json.dump(result, sink)
os.replace(sys.argv[4] + ".partial", sys.argv[4])  # whoever waits for the answer never reads half of it
"""


class InvokeError(RuntimeError):
    pass


def lambda_python() -> str:
    """The Lambda runtime's Python (pyenv's 3.13 on these machines, selected with PYENV_VERSION)."""
    explicit = os.environ.get("PRESCREEN_LAMBDA_PYTHON")
    found = explicit or shutil.which(f"python{LAMBDA_PYTHON_VERSION}")
    if not found:
        raise InvokeError(
            f"python{LAMBDA_PYTHON_VERSION} not found; set PYENV_VERSION=3.13.0 or PRESCREEN_LAMBDA_PYTHON"
        )
    return found


def _resolve(value: Any, parameters: dict[str, str]) -> str | None:
    """Environment values of the template, with intrinsics resolved to local stand-ins."""
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, dict) and "Ref" in value:
        return parameters.get(str(value["Ref"]))
    return None


def function_environment(template: dict[str, Any], logical_id: str, table_name: str = LOCAL_TABLE) -> dict[str, str]:
    parameters = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
    parameters.update({"DecisionsTable": table_name, "Stage": "local", "AWS::Region": "eu-west-1"})
    variables: dict[str, Any] = {}
    variables.update(template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    function = template["Resources"][logical_id]["Properties"]
    variables.update(function.get("Environment", {}).get("Variables", {}))
    environment = {}
    for name, raw in variables.items():
        resolved = _resolve(raw, parameters)
        if resolved is not None:
            environment[name] = resolved
    return environment


@dataclass(frozen=True, slots=True)
class FunctionProcess:
    """How to run one built function on one event in a fresh process: what `invoke` runs, and what the
    cold-start benchmark times."""

    argv: list[str]
    environment: dict[str, str]
    result_path: Path


def function_process(build_dir: Path, logical_id: str, event_path: Path, dynamodb_endpoint: str,
                     result_path: Path, table_name: str = LOCAL_TABLE) -> FunctionProcess:
    template_path = build_dir / "template.yaml"
    if not template_path.is_file():
        raise InvokeError(f"{template_path} not found: run `make build` (sam build) first")
    template = load_template(template_path)
    resources = template["Resources"]
    if logical_id not in resources or resources[logical_id]["Type"] != "AWS::Serverless::Function":
        functions = [k for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"]
        raise InvokeError(f"{logical_id} is not a function of the build; functions: {', '.join(functions)}")
    function = resources[logical_id]["Properties"]
    code_dir = build_dir / str(function["CodeUri"])
    layer_dirs = []
    for layer in function.get("Layers", []):
        layer_id = layer["Ref"] if isinstance(layer, dict) else str(layer)
        layer_dirs.append(build_dir / str(resources[layer_id]["Properties"]["ContentUri"]) / "python")
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYENV_VERSION": os.environ.get("PYENV_VERSION", "3.13.0"),
        "PYTHONPATH": os.pathsep.join(str(p) for p in [code_dir, *layer_dirs]),
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": LOCAL_ACCESS_KEY,
        "AWS_LAMBDA_FUNCTION_NAME": logical_id,
        "POWERTOOLS_TRACE_DISABLED": "true",
        **function_environment(template, logical_id, table_name),
        "PRESCREEN_STAGE": "local",
        "PRESCREEN_DYNAMODB_ENDPOINT": dynamodb_endpoint,
        "PRESCREEN_SIGNATURE_TOLERANCE_SECONDS": str(REPLAY_TOLERANCE_SECONDS),
        "PRESCREEN_MARKETPLACES_PARAMETER_PREFIX": "",
        # The deployed function calls the model function by Lambda Invoke; none exists locally: rules only.
        "PRESCREEN_CLASSIFIER": "none",
    }
    # -S: no site-packages, so only the built function and layer are importable.
    argv = [lambda_python(), "-S", "-c", _RUNNER, str(function["Handler"]), logical_id,
            str(event_path.resolve()), str(result_path)]
    return FunctionProcess(argv, environment, result_path)


def invoke(build_dir: Path, logical_id: str, event_path: Path, dynamodb_endpoint: str | None = None,
           table_name: str = LOCAL_TABLE) -> dict[str, Any]:
    template_path = build_dir / "template.yaml"
    if not template_path.is_file():
        raise InvokeError(f"{template_path} not found: run `make build` (sam build) first")
    local_db = None
    if dynamodb_endpoint is None:
        local_db = LocalDynamoDB().start()
        dynamodb_endpoint = local_db.endpoint
    try:
        create_decisions_table(dynamodb_client(dynamodb_endpoint), template_path, table_name)
        with tempfile.TemporaryDirectory() as scratch:
            process = function_process(build_dir, logical_id, event_path, dynamodb_endpoint,
                                       Path(scratch) / "response.json", table_name)
            completed = subprocess.run(process.argv, env=process.environment, capture_output=True, text=True,
                                       timeout=120, check=False)
            sys.stderr.write(completed.stdout + completed.stderr)  # the function's own logs
            if completed.returncode != 0:
                raise InvokeError(f"the function process exited with {completed.returncode}")
            response: dict[str, Any] = json.loads(process.result_path.read_text(encoding="utf-8"))
            return response
    finally:
        if local_db is not None:
            local_db.stop()
