"""template.yaml: lint-clean for CloudFormation, SAM and the serverless rules, transformable as CloudFormation will
transform it, and holding its observability (alarms, dashboard, log retention) and least-privilege IAM promises.
Run here so CI fails on a regression."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prescreen.local.template import load_template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO / "template.yaml"
SAM_PYTHON = REPO / ".tools" / "sam" / "bin" / "python"
FUNCTIONS = ["ScreenFunction", "ReviewFunction", "NotifierFunction", "QueueAgeFunction", "ClassifierFunction"]
ALARM_TOPIC = {"Ref": "AlarmTopic"}

# Rules of cfn-lint-serverless that do not fit this design, each suppressed on its resource in template.yaml
# (Metadata: cfn-lint: config: ignore_checks) with the reason beside it.
SERVERLESS_SUPPRESSIONS = {
    ("ES6000", "CallbackDeadLetterQueue"),  # it is the dead-letter queue
    ("ES1007", "QueueAgeFunction"),  # a failed five-minute measurement is superseded, not replayed
    ("ES4000", "QueueAgeFunction"),  # idem, for the EventBridge target
}

# Allow statements that need a wildcard: (resource, Sid) -> why.
WILDCARD_EXCEPTIONS = {
    ("AlarmTopicKey", "AccountAdministersTheKey"):
        "the default key policy: the account's IAM policies administer the key (kms:*), or it becomes unmanageable",
}
# Managed policies SAM attaches to the roles it creates; nothing in template.yaml can narrow them.
SAM_MANAGED_POLICIES = {
    "service-role/AWSLambdaBasicExecutionRole",  # logs:CreateLogStream/PutLogEvents: the log group names the
    #   function, so naming it in the role would be a circular dependency
    "AWSXrayWriteOnlyAccess",  # Tracing: Active; X-Ray PutTraceSegments has no resource-level permissions
    "service-role/AWSLambdaSQSQueueExecutionRole",  # the SQS event source; narrowed by a Deny in NotifierFunction
}


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
                          env={"PATH": "/usr/bin:/bin", "SAM_CLI_TELEMETRY": "0", "HOME": str(REPO / ".tools"),
                               "AWS_DEFAULT_REGION": "eu-west-1"})


def cfn_lint(*arguments: str) -> subprocess.CompletedProcess[str]:
    return run(str(REPO / ".venv" / "bin" / "cfn-lint"), *arguments)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE_PATH)


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = template["Resources"]
    return found


def of_type(resources: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in resources.items() if resource["Type"] == kind}


def readme_section(title: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def code_spans(markdown: str) -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", markdown))


# --- lint -----------------------------------------------------------------------------------------------------

def test_cfn_lint_is_clean() -> None:
    completed = cfn_lint("template.yaml")
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_sam_validate_lint_is_clean() -> None:
    sam = REPO / ".tools" / "sam" / "bin" / "sam"
    assert sam.exists(), "SAM CLI missing: `make test` installs it into .tools/sam"
    completed = run(str(sam), "validate", "--lint", "--template-file", "template.yaml")
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_serverless_rules_are_clean() -> None:
    # `-a` takes several values: the template goes first, or cfn-lint reads it as a rules module.
    completed = cfn_lint("template.yaml", "-a", "cfn_lint_serverless.rules")
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_only_the_documented_suppressions_keep_the_serverless_rules_quiet(
    template: dict[str, Any], tmp_path: Path
) -> None:
    # Given the template without its cfn-lint metadata (the suppressions)
    declared = set()
    stripped = json.loads(json.dumps(template))
    for name, resource in stripped["Resources"].items():
        metadata = resource.get("Metadata", {})
        checks = metadata.pop("cfn-lint", {}).get("config", {}).get("ignore_checks", [])
        declared |= {(rule, name) for rule in checks}
        if not metadata:
            resource.pop("Metadata", None)
    (tmp_path / "template.json").write_text(json.dumps(stripped))
    # When the serverless rules lint it
    completed = cfn_lint(str(tmp_path / "template.json"), "--format", "json", "-a", "cfn_lint_serverless.rules")
    # Then exactly the suppressed rules fire, on exactly those resources: the rules ran, and nothing else is hidden
    found = {(match["Rule"]["Id"], match["Location"]["Path"][1]) for match in json.loads(completed.stdout or "[]")}
    assert found == declared == SERVERLESS_SUPPRESSIONS, completed.stdout + completed.stderr


# --- what CloudFormation will run -------------------------------------------------------------------------------

_TRANSFORM = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoManagedPolicies:
    def load(self):
        return {}

document = yaml_parse(open(sys.argv[1]).read())
for resource in document["Resources"].values():  # sam package would upload these: any S3 URI will do
    for key in ("CodeUri", "ContentUri"):
        if key in resource.get("Properties", {}):
            resource["Properties"][key] = "s3://bucket/key"
print(json.dumps(transform(document, {}, NoManagedPolicies())))
"""


@pytest.fixture(scope="module")
def transformed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The template after the SAM transform, as CloudFormation runs it at deploy time. Neither cfn-lint 1.x nor
    `sam validate --lint` runs the transform, so errors it raises would otherwise surface only in a deploy."""
    assert SAM_PYTHON.exists(), "SAM CLI missing: `make test` installs it into .tools/sam"
    script = tmp_path_factory.mktemp("transform") / "transform.py"
    script.write_text(_TRANSFORM)
    completed = run(str(SAM_PYTHON), str(script), str(TEMPLATE_PATH))
    assert completed.returncode == 0, completed.stderr[-3000:]
    document: dict[str, Any] = json.loads(completed.stdout)
    return document


def routes(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """'METHOD /path' -> the HttpApi event's properties, over every function."""
    found = {}
    for function in of_type(resources, "AWS::Serverless::Function").values():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                properties = event["Properties"]
                found[f"{properties['Method'].upper()} {properties['Path']}"] = properties
    return found


def test_the_sam_transform_accepts_the_template_and_closes_every_route_but_three(
    transformed: dict[str, Any],
) -> None:
    paths = transformed["Resources"]["HttpApi"]["Properties"]["Body"]["paths"]
    security = {f"{method.upper()} {path}": operation.get("security")
                for path, operations in paths.items() for method, operation in operations.items()}
    public = {"POST /v1/marketplaces/{marketplace}/screen", "GET /console", "GET /console/{proxy+}"}
    assert {route for route, scheme in security.items() if scheme == [{"NONE": []}]} == public
    assert all(scheme == [{"OperatorJwt": []}] for route, scheme in security.items() if route not in public)


def test_operators_routes_have_their_own_throttling_and_name_real_routes(resources: dict[str, Any]) -> None:
    api = resources["HttpApi"]["Properties"]
    assert {"ThrottlingBurstLimit", "ThrottlingRateLimit"} <= set(api["DefaultRouteSettings"])
    operator_routes = {route for route in routes(resources) if "/marketplaces/" not in route}
    # API Gateway refuses a stage whose RouteSettings name a route that does not exist.
    assert set(api["RouteSettings"]) == operator_routes
    for route, settings in api["RouteSettings"].items():
        assert settings["ThrottlingRateLimit"] < api["DefaultRouteSettings"]["ThrottlingRateLimit"], route


def test_the_api_writes_json_access_logs_without_query_strings_or_headers(
    resources: dict[str, Any], transformed: dict[str, Any]
) -> None:
    settings = transformed["Resources"]["HttpApiApiGatewayDefaultStage"]["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogGroup", "Arn"]}
    fields = json.loads(settings["Format"])
    variables = set(fields.values())
    assert "$context.requestId" in variables
    assert all(re.fullmatch(r"\$context\.[A-Za-z.]+", variable) for variable in variables)
    # No request headers (Authorization, webhook-signature), no query strings, no token claims (e-mail addresses).
    assert not [v for v in variables if re.search(r"header|query|claims|clientCert", v, re.IGNORECASE)]
    assert resources["HttpApiAccessLogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


# --- logs -------------------------------------------------------------------------------------------------------

def test_every_function_has_a_log_group_with_the_retention_parameter(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    assert sorted(of_type(resources, "AWS::Serverless::Function")) == sorted(FUNCTIONS)
    assert template["Parameters"]["LogRetentionDays"]["Default"] == 90
    groups = {json.dumps(group["Properties"]["LogGroupName"]): group["Properties"]
              for group in of_type(resources, "AWS::Logs::LogGroup").values()}
    for function in FUNCTIONS:
        # Lambda writes to /aws/lambda/<name>: a group of that name created first is the one it uses.
        group = groups.get(json.dumps({"Fn::Sub": f"/aws/lambda/${{{function}}}"}))
        assert group is not None, f"{function} has no log group"
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}, function


# --- alarms -----------------------------------------------------------------------------------------------------

def alarm_metrics(properties: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], str]]:
    """(namespace, metric, dimensions, statistic) of a plain or a metric-math alarm."""
    if "MetricName" in properties:
        dimensions = {d["Name"]: d["Value"] for d in properties.get("Dimensions", [])}
        statistic = properties.get("Statistic") or properties.get("ExtendedStatistic", "")
        return [(properties["Namespace"], properties["MetricName"], dimensions, statistic)]
    found = []
    for query in properties["Metrics"]:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            dimensions = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            found.append((metric["Namespace"], metric["MetricName"], dimensions, query["MetricStat"]["Stat"]))
    return found


def expression_of(query: dict[str, Any]) -> str:
    expression = query["Expression"]
    return str(expression["Fn::Sub"] if isinstance(expression, dict) else expression)


def watches(alarm: dict[str, Any], namespace: str, metric: str, dimensions: dict[str, Any], stat: str = "") -> bool:
    return any(ns == namespace and name == metric and dims == dimensions and (not stat or found_stat == stat)
               for ns, name, dims, found_stat in alarm_metrics(alarm["Properties"]))


def test_every_alarm_notifies_the_alarm_topic_and_computes_what_it_means(resources: dict[str, Any]) -> None:
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    for name, alarm in alarms.items():
        properties = alarm["Properties"]
        assert properties["AlarmActions"] == [ALARM_TOPIC], name
        assert properties.get("TreatMissingData") in {"notBreaching", "breaching"}, name
        if "Metrics" in properties:
            ids = {query["Id"] for query in properties["Metrics"]}
            returned = [query for query in properties["Metrics"] if query.get("ReturnData", True)]
            assert len(returned) == 1, f"{name}: an alarm evaluates exactly one series"
            for query in properties["Metrics"]:
                if "Expression" in query:
                    # Lower-case words in an expression are query ids (functions are upper case): no typos.
                    used = set(re.findall(r"\b[a-z][A-Za-z0-9_]*\b", re.sub(r"\$\{[^}]+}", "", expression_of(query))))
                    assert used <= ids - {query["Id"]}, f"{name}: {used - ids}"


def test_the_required_alarms_watch_their_metrics(template: dict[str, Any], resources: dict[str, Any]) -> None:
    api, table, service = {"ApiId": {"Ref": "HttpApi"}}, {"Ref": "DecisionsTable"}, {"service": "prescreen"}
    five_xx = resources["ApiServerErrorRateAlarm"]
    assert watches(five_xx, "AWS/ApiGateway", "5xx", api)
    assert watches(five_xx, "AWS/ApiGateway", "Count", api)
    assert five_xx["Properties"]["Threshold"] == 1  # percent
    expressions = [expression_of(q) for q in five_xx["Properties"]["Metrics"] if "Expression" in q]
    assert any("AlarmMinimumRequests" in expression for expression in expressions)

    latency = resources["ApiLatencyP99Alarm"]
    assert watches(latency, "AWS/ApiGateway", "Latency", api, "p99")
    assert latency["Properties"]["Threshold"] == {"Ref": "ApiLatencyP99AlarmMs"}
    assert template["Parameters"]["ApiLatencyP99AlarmMs"]["Default"] == 1000

    fallback = resources["ClassifierFallbackRateAlarm"]
    assert watches(fallback, "Prescreen", "Classifier_unavailable", service)
    assert watches(fallback, "Prescreen", "Classifier_ok", service)
    assert fallback["Properties"]["Threshold"] == 5  # percent

    throttles = resources["DecisionsTableThrottleAlarm"]
    for operation in ("GetItem", "PutItem", "Query", "TransactWriteItems"):
        assert watches(throttles, "AWS/DynamoDB", "ThrottledRequests", {"TableName": table, "Operation": operation})
    for metric in ("ReadThrottleEvents", "WriteThrottleEvents"):
        assert watches(throttles, "AWS/DynamoDB", metric, {"TableName": table})

    not_stored = resources["DecisionNotStoredAlarm"]
    assert watches(not_stored, "Prescreen", "DecisionNotStored", service, "Sum")
    assert (not_stored["Properties"]["Threshold"], not_stored["Properties"]["ComparisonOperator"]) == (
        0, "GreaterThanThreshold")

    for function in FUNCTIONS:
        alarm = resources[f"{function}ErrorsAlarm"]
        for metric in ("Errors", "Throttles"):
            assert watches(alarm, "AWS/Lambda", metric, {"FunctionName": {"Ref": function}}), (function, metric)

    assert watches(resources["ReviewQueueAgeAlarm"], "Prescreen", "OldestUndecidedReviewAgeSeconds", service)
    assert watches(resources["CallbackDeadLetterAlarm"], "AWS/SQS", "ApproximateNumberOfMessagesVisible",
                   {"QueueName": {"Fn::GetAtt": ["CallbackDeadLetterQueue", "QueueName"]}})


def test_alarms_can_reach_the_topic(resources: dict[str, Any]) -> None:
    # CloudWatch cannot use the AWS managed key alias/aws/sns: an alarm on a topic encrypted with it never notifies.
    assert resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    statements = resources["AlarmTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    cloudwatch = [s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert cloudwatch
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= set(cloudwatch[0]["Action"])


def test_the_readme_names_every_alarm_and_every_metric_they_watch(resources: dict[str, Any]) -> None:
    documented = code_spans(readme_section("Observability"))
    for name, alarm in of_type(resources, "AWS::CloudWatch::Alarm").items():
        assert name in documented, f"README's Observability section does not name {name}"
        for namespace, metric, _, _ in alarm_metrics(alarm["Properties"]):
            assert {namespace, metric} <= documented, (name, namespace, metric)


# --- dashboard --------------------------------------------------------------------------------------------------

def substituted(body: str, template: dict[str, Any]) -> str:
    """The !Sub body with every ${...} replaced: a Number parameter by its default (it sits unquoted in the JSON),
    anything else by a placeholder. Fails on a variable CloudFormation could not resolve."""
    parameters, resources = template["Parameters"], template["Resources"]

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in parameters:
            spec = parameters[name]
            return str(spec["Default"]) if spec["Type"] == "Number" else f"placeholder-{name}"
        assert name.startswith("AWS::") or name.split(".")[0] in resources, f"unknown !Sub variable {name}"
        return f"placeholder-{name}"

    return re.sub(r"\$\{([^}!]+)}", value, body)


def dashboard_metrics(widgets: list[dict[str, Any]]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric, options) of every metric line; expression lines are checked against their ids."""
    for widget in widgets:
        if widget["type"] != "metric":
            continue
        lines = widget["properties"]["metrics"]
        ids = {line[-1]["id"] for line in lines if isinstance(line[-1], dict) and "id" in line[-1]}
        for line in lines:
            if isinstance(line[0], dict):
                used = set(re.findall(r"\b[a-z][A-Za-z0-9_]*\b", line[0]["expression"]))
                assert used <= ids, (widget["properties"]["title"], used - ids)
                continue
            options = line[-1] if isinstance(line[-1], dict) else {}
            yield line[0], line[1], {"stat": widget["properties"].get("stat"), **options}


def test_the_dashboard_is_json_and_shows_only_documented_metrics(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    body = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(substituted(body, template))["widgets"]

    shown = list(dashboard_metrics(widgets))
    names = {metric for _, metric, _ in shown}
    documented = code_spans(readme_section("Observability"))
    assert {namespace for namespace, _, _ in shown} <= documented
    assert names <= documented, f"not in README's Observability section: {names - documented}"
    assert {"Count", "4xx", "5xx", "Latency", "Decision_allow", "Decision_review", "Decision_block",
            "Classifier_ok", "Classifier_unavailable", "Classifier_skipped", "Classifier_disabled",
            "DecisionNotStored", "OldestUndecidedReviewAgeSeconds", "ApproximateNumberOfMessagesVisible",
            "ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits", "ThrottledRequests", "ReadThrottleEvents",
            "WriteThrottleEvents", "Errors", "Throttles", "Duration", "ConcurrentExecutions"} <= names
    assert {options["stat"] for _, metric, options in shown if metric == "Latency"} == {"p50", "p99"}
    for function in FUNCTIONS:
        assert f"${{{function}}}" in body, f"the dashboard does not show {function}"
    [alarm_widget] = [widget for widget in widgets if widget["type"] == "alarm"]
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(
        f"placeholder-{name}.Arn" for name in of_type(resources, "AWS::CloudWatch::Alarm"))


# --- IAM --------------------------------------------------------------------------------------------------------

def policy_statements(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(resource, statement, is_key_policy) for every policy document in the template."""
    for name, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            for policy in properties.get("Policies", []):
                # Inline statements only: a managed policy or a SAM policy template would hide what is granted.
                assert isinstance(policy, dict), f"{name}: {policy}"
                assert "Statement" in policy, f"{name}: {policy}"
                for statement in policy["Statement"]:
                    yield name, statement, False
        elif resource["Type"] in {"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
            documents += [properties["PolicyDocument"]] if "PolicyDocument" in properties else []
            for document in documents:
                for statement in document["Statement"]:
                    yield name, statement, False
        elif resource["Type"] == "AWS::KMS::Key":
            for statement in properties["KeyPolicy"]["Statement"]:
                yield name, statement, True
        elif resource["Type"] in {"AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy"}:
            for statement in properties["PolicyDocument"]["Statement"]:
                yield name, statement, False


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_policy_allows_a_wildcard_action_or_an_unscoped_resource(resources: dict[str, Any]) -> None:
    checked = 0
    for name, statement, key_policy in policy_statements(resources):
        if statement["Effect"] != "Allow":
            continue
        checked += 1
        if (name, statement.get("Sid")) in WILDCARD_EXCEPTIONS:
            continue
        assert "NotAction" not in statement, (name, statement)
        assert "NotResource" not in statement, (name, statement)
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{name}: wildcard action {action}"
        for resource in as_list(statement["Resource"]):
            # In a key policy "*" means the key itself; anywhere else it means everything.
            assert key_policy or resource != "*", f"{name}: unscoped resource in {statement.get('Sid')}"
            assert resource != {"Fn::Sub": "*"}, name
    assert checked >= 12


def test_the_roles_sam_creates_hold_only_the_documented_managed_policies(transformed: dict[str, Any]) -> None:
    roles = of_type(transformed["Resources"], "AWS::IAM::Role")
    assert sorted(roles) == sorted(f"{function}Role" for function in FUNCTIONS)
    for name, role in roles.items():
        managed = {arn.split(":policy/", 1)[1] for arn in role["Properties"].get("ManagedPolicyArns", [])}
        assert managed <= SAM_MANAGED_POLICIES, (name, managed - SAM_MANAGED_POLICIES)
    # The SQS managed policy allows every queue; the notifier's own Deny narrows it to the callback queue.
    statements = [s for p in roles["NotifierFunctionRole"]["Properties"]["Policies"]
                  for s in p["PolicyDocument"]["Statement"]]
    [deny] = [s for s in statements if s["Effect"] == "Deny"]
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage"} <= set(deny["Action"])
    assert deny["NotResource"] == {"Fn::GetAtt": ["CallbackQueue", "Arn"]}
