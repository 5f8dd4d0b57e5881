"""Standard Webhooks signatures (HMAC-SHA256, `v1`): verify inbound requests, sign outbound callbacks."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SECRET_PREFIX = "whsec_"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


class SignatureError(Exception):
    """The request is not authentically from the marketplace. `header` names what was wrong."""

    def __init__(self, detail: str, header: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.header = header


def decode_secret(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a signing secret is written whsec_<base64>")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as error:
        raise ValueError("the part after whsec_ is not valid base64") from error
    if len(key) < 16:
        raise ValueError("a signing secret must hold at least 16 bytes")
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` signature of one message."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, message_id, timestamp, body),
    }


@dataclass(frozen=True, slots=True)
class SignedMessage:
    message_id: str
    timestamp: int
    signatures: tuple[str, ...]


def read_headers(headers: Mapping[str, str], now: float, tolerance_seconds: int) -> SignedMessage:
    """Check the three headers are present and the timestamp is fresh (before any secret is looked up)."""
    message_id = headers.get(ID_HEADER, "").strip()
    if not message_id or len(message_id) > 256:
        raise SignatureError("the webhook-id header is missing or longer than 256 characters", ID_HEADER)
    raw_timestamp = headers.get(TIMESTAMP_HEADER, "").strip()
    if not raw_timestamp.isdigit() or len(raw_timestamp) > 12:
        raise SignatureError("the webhook-timestamp header must be Unix seconds", TIMESTAMP_HEADER)
    timestamp = int(raw_timestamp)
    if abs(now - timestamp) > tolerance_seconds:
        raise SignatureError(
            f"the webhook-timestamp is more than {tolerance_seconds} s away from the server's clock",
            TIMESTAMP_HEADER,
        )
    signatures = tuple(part for part in headers.get(SIGNATURE_HEADER, "").split(" ") if part)
    if not signatures:
        raise SignatureError("the webhook-signature header is missing", SIGNATURE_HEADER)
    return SignedMessage(message_id, timestamp, signatures)


def verify(message: SignedMessage, body: bytes, secrets: Sequence[str]) -> None:
    """Accept when any `v1` signature matches any active secret (rotation), compared in constant time."""
    offered = [sig.removeprefix("v1,").encode() for sig in message.signatures if sig.startswith("v1,")]
    for secret in secrets:
        expected = sign(secret, message.message_id, message.timestamp, body).removeprefix("v1,").encode()
        # Compare against every offered signature without short-circuiting on the first mismatch.
        if any([hmac.compare_digest(expected, candidate) for candidate in offered]):
            return
    raise SignatureError("the request signature could not be verified for this marketplace", SIGNATURE_HEADER)
