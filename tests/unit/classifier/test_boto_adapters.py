"""SageMaker and Bedrock adapters against botocore's Stubber: real request and response shapes, no network."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from prescreen.classifier.base import ClassifierUnavailable
from prescreen.classifier.bedrock import BedrockGuardrailClassifier
from prescreen.classifier.lambda_invoke import LambdaInvokeClassifier
from prescreen.classifier.sagemaker import SageMakerClassifier


def boto_client(service: str) -> Any:
    return boto3.session.Session(region_name="eu-west-1", aws_access_key_id="test",
                                 aws_secret_access_key="test").client(service)  # type: ignore[call-overload]


def streaming(document: object) -> StreamingBody:
    raw = json.dumps(document).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def test_sagemaker_sends_the_listing_and_maps_category_scores() -> None:
    client = boto_client("sagemaker-runtime")
    with Stubber(client) as stub:
        stub.add_response(
            "invoke_endpoint",
            {"Body": streaming({"model": "prescreen-usem3", "results": [
                {"flagged": True, "categories": {"childlike_sex_doll": True},
                 "category_scores": {"childlike_sex_doll": 0.93, "drugs": 0.01}}]}),
             "ContentType": "application/json"},
            {"EndpointName": "prescreen-classifier", "ContentType": "application/json",
             "Accept": "application/json", "Body": json.dumps({"input": "mini love doll"}).encode()},
        )
        scores = SageMakerClassifier(client, "prescreen-classifier").classify("mini love doll", 0.8)
    assert scores.scores == {"childlike_sex_doll": 0.93, "drugs": 0.01}
    assert scores.model == "prescreen-usem3"


def test_sagemaker_errors_and_malformed_bodies_are_unavailable() -> None:
    client = boto_client("sagemaker-runtime")
    with Stubber(client) as stub:
        stub.add_client_error("invoke_endpoint", service_error_code="ModelError", http_status_code=424)
        stub.add_response("invoke_endpoint", {"Body": streaming({"results": []})})
        classifier = SageMakerClassifier(client, "prescreen-classifier")
        with pytest.raises(ClassifierUnavailable) as model_error:
            classifier.classify("x", 0.8)
        with pytest.raises(ClassifierUnavailable) as malformed:
            classifier.classify("x", 0.8)
    assert (model_error.value.kind, malformed.value.kind) == ("http_error", "malformed")


def guardrail_response(action: str, assessments: list[dict[str, Any]]) -> dict[str, object]:
    return {"usage": {"topicPolicyUnits": 1, "contentPolicyUnits": 1, "wordPolicyUnits": 1,
                      "sensitiveInformationPolicyUnits": 0, "sensitiveInformationPolicyFreeUnits": 0,
                      "contextualGroundingPolicyUnits": 0},
            "action": action, "outputs": [], "assessments": assessments}


def test_bedrock_intervention_maps_denied_topics_and_filters() -> None:
    client = boto_client("bedrock-runtime")
    assessment = {
        "topicPolicy": {"topics": [{"name": "Childlike dolls", "type": "DENY", "action": "BLOCKED"}]},
        "contentPolicy": {"filters": [{"type": "SEXUAL", "confidence": "HIGH", "action": "BLOCKED"},
                                      {"type": "VIOLENCE", "confidence": "LOW", "action": "NONE"}]},
    }
    with Stubber(client) as stub:
        stub.add_response(
            "apply_guardrail", guardrail_response("GUARDRAIL_INTERVENED", [assessment]),
            {"guardrailIdentifier": "gr-123", "guardrailVersion": "1", "source": "INPUT",
             "content": [{"text": {"text": "mini love doll"}}]},
        )
        classifier = BedrockGuardrailClassifier(client, "gr-123", "1",
                                                topic_to_family={"Childlike dolls": "childlike_sex_doll"})
        scores = classifier.classify("mini love doll", 0.8)
    assert scores.scores == {"childlike_sex_doll": 0.95, "adult_products": 0.95}
    assert scores.unmapped == {"VIOLENCE": 0.35}


def test_bedrock_no_intervention_scores_nothing() -> None:
    client = boto_client("bedrock-runtime")
    with Stubber(client) as stub:
        stub.add_response("apply_guardrail", guardrail_response("NONE", []))
        scores = BedrockGuardrailClassifier(client, "gr-123", "1").classify("a teapot", 0.8)
    assert (scores.scores, scores.unmapped) == ({}, {})


def proxy_payload(status: int, body: object) -> StreamingBody:
    return streaming({"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)})


def test_lambda_invoke_sends_a_function_url_event_and_reads_the_proxy_response() -> None:
    client = boto_client("lambda")
    with Stubber(client) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 200, "Payload": proxy_payload(200, {
                "model": "prescreen-listing-classifier-1.0.0",
                "results": [{"flagged": True, "categories": {}, "category_scores": {"drugs": 0.88}}]})},
        )
        stub.add_response("invoke", {"StatusCode": 200, "Payload": proxy_payload(400, {"error": {}})})
        stub.add_response("invoke", {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": streaming({})})
        classifier = LambdaInvokeClassifier(client, "prescreen-classifier:live", "prescreen-listing-classifier")
        scores = classifier.classify("party pills", 0.8)
        with pytest.raises(ClassifierUnavailable) as refused:
            classifier.classify("x", 0.8)
        with pytest.raises(ClassifierUnavailable) as crashed:
            classifier.classify("x", 0.8)
    assert scores.scores == {"drugs": 0.88}
    assert (refused.value.kind, crashed.value.kind) == ("http_error", "http_error")


def test_the_model_function_answers_the_event_the_adapter_sends() -> None:
    # The adapter's event, handed to the model function's real handler (in-process: no AWS here).
    from prescreen_model.lambda_handler import handle

    class Capture:
        def __init__(self) -> None:
            self.payload = b""

        def invoke(self, FunctionName: str, Payload: bytes) -> dict[str, Any]:
            self.payload = Payload
            answer = json.dumps(handle(json.loads(Payload))).encode()
            return {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(answer), len(answer))}

    classifier = LambdaInvokeClassifier(Capture(), "prescreen-classifier", "prescreen-listing-classifier")
    scores = classifier.classify("mini love doll 80cm young girl face, sex doll", 2.0)
    assert set(scores.scores) >= {"childlike_sex_doll", "drugs"}
    assert scores.scores["childlike_sex_doll"] > 0.5
