from __future__ import annotations

import pytest

from prescreen.signatures import SignatureError, SignedMessage, decode_secret, read_headers, sign, verify

# The reference vector published with the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
OTHER_SECRET = "whsec_" + "b3RoZXItc2VjcmV0LW9mLTMyLWJ5dGVzLWxvbmchIQ=="


def spec_headers(signature: str = SPEC_SIGNATURE) -> dict[str, str]:
    return {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TIMESTAMP), "webhook-signature": signature}


def test_sign_reproduces_the_spec_vector() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_verify_accepts_the_spec_vector_within_tolerance() -> None:
    message = read_headers(spec_headers(), now=SPEC_TIMESTAMP + 299, tolerance_seconds=300)
    verify(message, SPEC_BODY, [SPEC_SECRET])  # raises on failure


def test_a_changed_body_is_refused() -> None:
    message = read_headers(spec_headers(), now=SPEC_TIMESTAMP, tolerance_seconds=300)
    with pytest.raises(SignatureError) as refused:
        verify(message, b'{"test": 2432232315}', [SPEC_SECRET])
    assert refused.value.header == "webhook-signature"


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_stale_or_future_timestamp_is_refused(skew: int) -> None:
    with pytest.raises(SignatureError) as refused:
        read_headers(spec_headers(), now=SPEC_TIMESTAMP + skew, tolerance_seconds=300)
    assert refused.value.header == "webhook-timestamp"


@pytest.mark.parametrize(
    ("missing", "header"),
    [("webhook-id", "webhook-id"), ("webhook-timestamp", "webhook-timestamp"),
     ("webhook-signature", "webhook-signature")],
)
def test_each_missing_header_is_named(missing: str, header: str) -> None:
    headers = spec_headers()
    del headers[missing]
    with pytest.raises(SignatureError) as refused:
        read_headers(headers, now=SPEC_TIMESTAMP, tolerance_seconds=300)
    assert refused.value.header == header


def test_several_signatures_any_one_matching_is_enough() -> None:
    # Given a sender that signs with an old and a new secret during rotation
    offered = f"v1,Zm9yZ2VkLXNpZ25hdHVyZQ== v1a,ignored-ed25519 {SPEC_SIGNATURE}"
    message = read_headers(spec_headers(offered), now=SPEC_TIMESTAMP, tolerance_seconds=300)
    # When the receiver knows only the second secret, Then verification passes
    verify(message, SPEC_BODY, [SPEC_SECRET])


def test_several_active_secrets_any_one_matching_is_enough() -> None:
    message = read_headers(spec_headers(), now=SPEC_TIMESTAMP, tolerance_seconds=300)
    verify(message, SPEC_BODY, [OTHER_SECRET, SPEC_SECRET])
    with pytest.raises(SignatureError):
        verify(message, SPEC_BODY, [OTHER_SECRET])


def test_signature_without_v1_prefix_is_refused() -> None:
    message = SignedMessage(SPEC_ID, SPEC_TIMESTAMP, (SPEC_SIGNATURE.removeprefix("v1,"),))
    with pytest.raises(SignatureError):
        verify(message, SPEC_BODY, [SPEC_SECRET])


@pytest.mark.parametrize("secret", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_c2hvcnQ="])
def test_malformed_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValueError, match=r"secret|base64"):
        decode_secret(secret)
