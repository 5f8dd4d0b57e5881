"""Verdict callbacks end to end over loopback: moto's SQS and DynamoDB (one server), the local notifier
worker or the Lambda handler, the real signed sender, and a marketplace receiving on 127.0.0.1."""

from __future__ import annotations

import base64
import datetime as dt
import importlib.util
import io
import json
import os
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response

from prescreen.callbacks.notifier import Notifier
from prescreen.callbacks.notifier import logger as notifier_logger
from prescreen.callbacks.payload import build_callback
from prescreen.callbacks.queue import CallbackMessage, SqsCallbackQueue
from prescreen.callbacks.sender import USER_AGENT, CallbackSender
from prescreen.callbacks.worker import DEAD_LETTER_SUFFIX, LocalNotifierWorker, create_callback_queues, local_sqs_client
from prescreen.local.dynamodb import free_port
from prescreen.marketplaces import FileMarketplaceDirectory
from prescreen.receiver import ReceiverServer
from prescreen.records import AuditEntry, CallbackRecord, DecisionRecord, Verdict
from prescreen.settings import Settings, get_settings
from prescreen.signatures import read_headers, verify
from prescreen.store.dynamodb import DynamoDBDecisionStore
from support.servers import serving

NOW = dt.datetime.now(dt.UTC)
REPO = Path(__file__).resolve().parents[2]
MARKETPLACE = "shop"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def eventually[T](check: Callable[[], T | None], timeout: float = 15.0, what: str = "the condition") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value is not None:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout} s")


@pytest.fixture
def sqs(dynamodb_endpoint: str, local_settings: Settings) -> Any:
    # The DynamoDB fixture's moto server speaks SQS too (local_settings provides the credentials).
    return local_sqs_client(dynamodb_endpoint)


def marketplace_receiver(secret: str) -> ReceiverServer:
    """`prescreen receive` in-process, as the marketplace: it verifies with `secret`."""
    return ReceiverServer([secret], out=io.StringIO(), err=io.StringIO())


def callback_settings(local_settings: Settings, **overrides: object) -> Settings:
    values: dict[str, Any] = {
        **local_settings.model_dump(), "sqs_endpoint": local_settings.dynamodb_endpoint,
        "callback_allow_private_networks": True, "callback_backoff_base_seconds": 0,
        "callback_max_attempts": 3, "callback_timeout_seconds": 2.0,
    }
    return Settings.model_validate({**values, **overrides})


class Harness:
    """One marketplace, one queue (and its dead-letter queue), one reviewed decision per test."""

    def __init__(self, settings: Settings, sqs: Any, tmp_path: Path, callback_url: str, secret: str) -> None:
        self.settings = settings
        self.sqs = sqs
        self.secret = secret
        self.queue_name = f"callbacks-{uuid.uuid4().hex[:10]}"
        self.queue_url = create_callback_queues(sqs, self.queue_name, settings.callback_max_attempts)
        self.dlq_url: str = sqs.get_queue_url(QueueName=self.queue_name + DEAD_LETTER_SUFFIX)["QueueUrl"]
        tenants = tmp_path / "marketplaces.json"
        tenants.write_text(json.dumps({MARKETPLACE: {"secrets": [secret], "callback_url": callback_url}}))
        self.marketplaces_file = tenants
        self.store = DynamoDBDecisionStore.from_settings(settings)
        self.notifier = Notifier(self.store, FileMarketplaceDirectory(tenants), CallbackSender.from_settings(settings),
                                 settings)

    def review(self) -> CallbackRecord:
        """An operator blocks a held listing: the verdict, its audit entry and the callback, then the message."""
        before = DecisionRecord(
            decision_id=f"dec_{uuid.uuid4().hex[:22].upper()}", marketplace=MARKETPLACE, listing_id="l-7",
            webhook_id=f"msg_{uuid.uuid4().hex}", body_sha256="ef" * 32, decision="review", categories=[],
            reasons=[], policy_version="test+000000000000", decided_at=NOW - dt.timedelta(minutes=5),
            latency_ms=2.0, listing={"id": "l-7", "title": "a doll"}, review_status="pending",
            expires_at=int((NOW + dt.timedelta(days=30)).timestamp()),
        )
        self.store.save_decision(before)
        after = before.model_copy(update={
            "revision": 1, "review_status": "decided", "updated_at": NOW,
            "verdict": Verdict(verdict="block", operator="op-1", decided_at=NOW),
        })
        audit = AuditEntry(decision_id=before.decision_id, revision=1, at=NOW, operator="op-1", action="review",
                           before=before.review_state(), after=after.review_state())
        callback = build_callback(after, before.final_decision, NOW)
        self.store.apply_change(before, after, audit, callback)
        SqsCallbackQueue(self.sqs, self.queue_url).enqueue(CallbackMessage(callback.decision_id, callback.revision))
        return callback

    def stored(self, callback: CallbackRecord) -> CallbackRecord:
        found = self.store.get_callback(callback.decision_id, callback.revision)
        assert found is not None
        return found

    def settled(self, callback: CallbackRecord) -> CallbackRecord:
        def check() -> CallbackRecord | None:
            found = self.stored(callback)
            return found if found.status != "pending" else None

        return eventually(check, what="the callback's delivery")

    def queue_is_empty(self) -> bool:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        empty: bool = attributes == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
        return empty

    @contextmanager
    def worker(self) -> Iterator[LocalNotifierWorker]:
        worker = LocalNotifierWorker(self.notifier, self.sqs, self.queue_url, poll_interval=0.05).start()
        try:
            yield worker
        finally:
            started = time.monotonic()
            worker.stop()
            assert time.monotonic() - started < 5


def test_given_a_reviewed_decision_when_the_worker_runs_then_the_marketplace_receives_it_signed(
    local_settings: Settings, sqs: Any, tmp_path: Path
) -> None:
    secret = new_secret()
    with marketplace_receiver(secret) as receiver:
        harness = Harness(callback_settings(local_settings), sqs, tmp_path, receiver.url, secret)
        callback = harness.review()

        with harness.worker():
            stored = harness.settled(callback)

        # Then the receiver verified our signature with the marketplace's secret and got the payload
        [line] = receiver.received
        assert line == {"webhook_id": callback.message_id, "verified": True, "payload": callback.payload}
        assert line["payload"]["data"]["decision"] == "block"
        assert receiver.rejected == []
    # And the outbox records the delivery, and the message is gone from the queue
    assert (stored.status, stored.attempts, stored.last_error) == ("delivered", 1, None)
    assert stored.delivered_at is not None
    assert harness.queue_is_empty()


def flaky_marketplace(secret: str, failures: int) -> tuple[FastAPI, list[tuple[float, int, str]]]:
    """Answers 500 to the first `failures` callbacks, then 204; records (time, status, webhook-id)."""
    app = FastAPI()
    attempts: list[tuple[float, int, str]] = []

    @app.post("/callbacks")
    async def receive(request: Request) -> Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        verify(read_headers(headers, time.time(), 300), await request.body(), [secret])  # raises when forged
        status = 500 if len(attempts) < failures else 204
        attempts.append((time.monotonic(), status, headers["webhook-id"]))
        return Response(status_code=status)

    return app, attempts


def test_given_a_marketplace_failing_twice_when_the_worker_runs_then_the_third_attempt_delivers_after_backoff(
    local_settings: Settings, sqs: Any, tmp_path: Path
) -> None:
    secret = new_secret()
    app, attempts = flaky_marketplace(secret, failures=2)
    with serving(app) as base:
        settings = callback_settings(local_settings, callback_backoff_base_seconds=1, callback_max_attempts=5)
        harness = Harness(settings, sqs, tmp_path, f"{base}/callbacks", secret)
        callback = harness.review()

        with harness.worker():
            stored = harness.settled(callback)

    assert [status for _, status, _ in attempts] == [500, 500, 204]
    assert {webhook_id for _, _, webhook_id in attempts} == {callback.message_id}  # the same id on every retry
    # The visibility timeout carried the backoff: 1 s after the first failure, 2 s after the second.
    (first, _, _), (second, _, _), (third, _, _) = attempts
    assert second - first >= 0.9
    assert third - second >= 1.9
    assert (stored.status, stored.attempts, stored.last_error) == ("delivered", 3, None)
    assert harness.queue_is_empty()


def test_given_a_marketplace_always_refusing_when_attempts_run_out_then_the_message_lands_in_the_dead_letter_queue(
    local_settings: Settings, sqs: Any, tmp_path: Path
) -> None:
    # The marketplace verifies with a secret other than ours: every callback is answered 401.
    secret = new_secret()
    with marketplace_receiver(new_secret()) as receiver:
        harness = Harness(callback_settings(local_settings, callback_max_attempts=3), sqs, tmp_path,
                          receiver.url, secret)
        callback = harness.review()

        with harness.worker():
            def dead_lettered() -> dict[str, Any] | None:
                messages: list[dict[str, Any]] = harness.sqs.receive_message(
                    QueueUrl=harness.dlq_url, AttributeNames=["All"], WaitTimeSeconds=0).get("Messages", [])
                return messages[0] if messages else None

            dead = eventually(dead_lettered, what="the move to the dead-letter queue")

        assert len(receiver.rejected) == 3
        assert receiver.received == []
    assert json.loads(dead["Body"]) == {"decision_id": callback.decision_id, "revision": callback.revision}
    # The record stays pending with the last error: operators see why, and can redrive the message.
    stored = harness.stored(callback)
    assert (stored.status, stored.attempts, stored.last_error) == ("pending", 3, "HTTP 401")
    assert harness.queue_is_empty()


def test_given_private_networks_not_allowed_when_the_callback_url_is_loopback_then_nothing_is_sent(
    local_settings: Settings, sqs: Any, tmp_path: Path
) -> None:
    secret = new_secret()
    with marketplace_receiver(secret) as receiver:
        settings = callback_settings(local_settings, callback_allow_private_networks=False)
        harness = Harness(settings, sqs, tmp_path, receiver.url, secret)
        callback = harness.review()

        with harness.worker():
            stored = harness.settled(callback)

        assert receiver.received == []
        assert receiver.rejected == []
    assert stored.status == "undeliverable"
    assert stored.attempts == 1
    assert stored.last_error is not None
    assert "https" in stored.last_error
    assert harness.queue_is_empty()


# --- the Lambda handler, wired from the environment like NotifierFunction ------------------------------


class FakeLambdaContext:
    function_name = "NotifierFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:NotifierFunction"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


def lambda_event(harness: Harness, queue_arn: str) -> dict[str, Any]:
    """Receive from moto as Lambda's poller does, and shape the batch as Lambda delivers it."""
    messages = eventually(lambda: harness.sqs.receive_message(
        QueueUrl=harness.queue_url, AttributeNames=["All"], MaxNumberOfMessages=10).get("Messages") or None,
        what="a message on the queue")
    return {"Records": [{
        "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
        "attributes": message["Attributes"], "messageAttributes": {}, "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": "eu-west-1",
    } for message in messages]}


@pytest.fixture
def notifier_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Harness], None]]:
    def configure(harness: Harness) -> None:
        settings = harness.settings
        for name, value in {
            "PRESCREEN_STAGE": "local", "PRESCREEN_TABLE_NAME": settings.table_name,
            "PRESCREEN_DYNAMODB_ENDPOINT": str(settings.dynamodb_endpoint),
            "PRESCREEN_SQS_ENDPOINT": str(settings.sqs_endpoint),
            "PRESCREEN_CALLBACK_QUEUE_URL": harness.queue_url,
            "PRESCREEN_MARKETPLACES_FILE": str(harness.marketplaces_file),
            "PRESCREEN_CALLBACK_ALLOW_PRIVATE_NETWORKS": "true",
            "PRESCREEN_CALLBACK_BACKOFF_BASE_SECONDS": "0",
            "POWERTOOLS_TRACE_DISABLED": "true", "AWS_REGION": "eu-west-1",
        }.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield configure
    get_settings.cache_clear()
    # The handler appended the fake invocation's context to the shared logger, as Lambda would keep it.
    notifier_logger.clear_state()


def load_handler() -> Any:
    spec = importlib.util.spec_from_file_location("notifier_handler_integration", REPO / "functions" / "notifier"
                                                  / "handler.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_given_the_lambda_handler_wired_from_the_environment_when_a_batch_arrives_then_it_delivers(
    local_settings: Settings, sqs: Any, tmp_path: Path, notifier_environment: Callable[[Harness], None]
) -> None:
    secret = new_secret()
    with marketplace_receiver(secret) as receiver:
        harness = Harness(callback_settings(local_settings), sqs, tmp_path, receiver.url, secret)
        notifier_environment(harness)
        queue_arn = sqs.get_queue_attributes(QueueUrl=harness.queue_url,
                                             AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        callback = harness.review()
        handler = load_handler()

        result = handler.lambda_handler(lambda_event(harness, queue_arn), FakeLambdaContext())

        assert result == {"batchItemFailures": []}
        [line] = receiver.received
        assert line["webhook_id"] == callback.message_id
    assert harness.stored(callback).status == "delivered"


def test_given_the_lambda_handler_when_delivery_fails_then_the_message_visibility_is_changed_in_sqs(
    local_settings: Settings, sqs: Any, tmp_path: Path, notifier_environment: Callable[[Harness], None]
) -> None:
    # Nothing listens at the marketplace's URL. Backoff base 0 makes the message visible again at once,
    # where the queue's own visibility timeout (30 s) would hide it: seeing it again proves the change.
    unused = f"http://127.0.0.1:{free_port()}/callbacks"
    harness = Harness(callback_settings(local_settings), sqs, tmp_path, unused, new_secret())
    notifier_environment(harness)
    queue_arn = sqs.get_queue_attributes(QueueUrl=harness.queue_url,
                                         AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    callback = harness.review()
    handler = load_handler()
    event = lambda_event(harness, queue_arn)

    result = handler.lambda_handler(event, FakeLambdaContext())

    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    again = lambda_event(harness, queue_arn)
    assert again["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    stored = harness.stored(callback)
    assert (stored.status, stored.attempts, stored.last_error) == ("pending", 1, "connection failed")


# --- the sender on its own: TLS to the checked address, redirects, timeouts ----------------------------


def issue_certificates(directory: Path, host: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for `host`: (ca.pem, server.pem, server.key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "prescreen test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    server = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
              .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=1))
              .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
              .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@contextmanager
def tls_marketplace(cert: Path, key: Path) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """An HTTPS server on 127.0.0.1 recording the SNI name, headers and body of each request."""
    seen: list[dict[str, Any]] = []
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def remember_sni(_socket: ssl.SSLObject | ssl.SSLSocket, name: str | None, _context: ssl.SSLContext) -> None:
        names.append(name)

    context.sni_callback = remember_sni

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({"sni": names[-1] if names else None, "body": body,
                         "headers": {k.lower(): v for k, v in self.headers.items()}})
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_port, seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def sample_callback() -> CallbackRecord:
    return CallbackRecord(decision_id="dec_TLS", revision=2, marketplace=MARKETPLACE, message_id="cb_dec_TLS_2",
                          payload={"type": "decision.reviewed", "data": {"decision": "allow"}}, created_at=NOW)


def test_given_an_https_callback_when_sent_then_it_goes_to_the_checked_address_with_sni_and_host(
    tmp_path: Path,
) -> None:
    host = "callbacks.shop.test"  # not in any DNS: only the checked answer below can reach the server
    ca, cert, key = issue_certificates(tmp_path, host)
    lookups: list[str] = []

    def resolve(name: str, port: int) -> list[tuple[Any, ...]]:
        lookups.append(name)
        return [(2, 1, 6, "", ("127.0.0.1", port))]

    secret = new_secret()
    with tls_marketplace(cert, key) as (port, seen):
        sender = CallbackSender(2.0, allow_private=True, resolve=resolve, ca_certs=str(ca))
        result = sender.send(sample_callback(), f"https://{host}:{port}/prescreen", secret)

    assert (result.status, result.http_status) == ("delivered", 202)
    assert lookups == [host]  # resolved once, then the socket went to that answer (no rebinding window)
    [request] = seen
    assert request["sni"] == host
    assert request["headers"]["host"] == f"{host}:{port}"
    assert request["headers"]["user-agent"] == USER_AGENT
    assert request["headers"]["content-type"] == "application/json"
    verify(read_headers(request["headers"], time.time(), 300), request["body"], [secret])
    assert json.loads(request["body"]) == sample_callback().payload


def test_given_a_certificate_for_another_name_when_sent_then_tls_fails_and_it_is_retried(tmp_path: Path) -> None:
    ca, cert, key = issue_certificates(tmp_path, "other.shop.test")
    with tls_marketplace(cert, key) as (port, seen):
        sender = CallbackSender(2.0, allow_private=True, ca_certs=str(ca),
                                resolve=lambda name, p: [(2, 1, 6, "", ("127.0.0.1", p))])
        result = sender.send(sample_callback(), f"https://callbacks.shop.test:{port}/", new_secret())

    assert (result.status, result.reason) == ("retry", "TLS error")
    assert seen == []


def test_given_a_redirecting_marketplace_when_sent_then_the_redirect_is_not_followed() -> None:
    app = FastAPI()
    hits: list[str] = []

    @app.post("/old")
    async def old() -> Response:
        hits.append("old")
        return Response(status_code=307, headers={"location": "/new"})

    @app.post("/new")
    async def new() -> Response:
        hits.append("new")
        return Response(status_code=204)

    with serving(app) as base:
        result = CallbackSender(2.0, allow_private=True).send(sample_callback(), f"{base}/old", new_secret())

    assert (result.status, result.http_status) == ("retry", 307)
    assert hits == ["old"]


def test_given_a_marketplace_slower_than_the_timeout_when_sent_then_it_gives_up_in_time() -> None:
    import asyncio

    app = FastAPI()

    @app.post("/slow")
    async def slow() -> Response:
        await asyncio.sleep(1.0)
        return Response(status_code=204)

    with serving(app) as base:
        started = time.monotonic()
        result = CallbackSender(0.3, allow_private=True).send(sample_callback(), f"{base}/slow", new_secret())
        elapsed = time.monotonic() - started

    assert (result.status, result.reason) == ("retry", "timeout")
    assert elapsed < 0.9
