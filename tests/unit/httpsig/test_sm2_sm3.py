"""The ``sm2-sm3`` algorithm through the package, and the base our signer signs."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import httpx
import pytest
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    InvalidSignature,
    MappingKeyResolver,
)
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from ledger.crypto.errors import InvalidSignature as SM2SignatureInvalid
from ledger.crypto.sm2 import DEFAULT_DISTID, SM2PrivateKey
from ledger.httpsig import SM2_SM3, RequestSigner, default_keyid
from ledger.httpsig._message import FieldLines, Message

KEY = SM2PrivateKey.generate()
OTHER = SM2PrivateKey.generate()
CREATED = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def test_sign_and_verify_round_trip_through_the_package() -> None:
    headers = {"Date": "Sat, 28 Nov 2026 12:00:00 GMT"}
    message = Message("GET", "https://member-a.example/v1/agreements", headers)
    signer = HTTPMessageSigner(
        signature_algorithm=SM2_SM3,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={"k": KEY}),
    )
    signer.sign(message, key_id="k", created=CREATED, covered_component_ids=("@method", "date"))
    assert headers["Signature-Input"] == (
        'pyhms=("@method" "date");created=1795867200;keyid="k";alg="sm2-sm3"'
    )
    received = Message(message.method, message.url, FieldLines(list(headers.items())))
    resolver = MappingKeyResolver(public_keys={"k": KEY.public_key()}, private_keys={})
    verifier = HTTPMessageVerifier(signature_algorithm=SM2_SM3, key_resolver=resolver)
    (result,) = verifier.verify(received, max_age=None)
    assert result.parameters["alg"] == "sm2-sm3"

    wrong = MappingKeyResolver(public_keys={"k": OTHER.public_key()}, private_keys={})
    with pytest.raises(InvalidSignature, match=r"^SM2 signature does not verify$") as caught:
        HTTPMessageVerifier(signature_algorithm=SM2_SM3, key_resolver=wrong).verify(
            received, max_age=None
        )
    assert isinstance(caught.value.__cause__, SM2SignatureInvalid)


def test_the_signature_is_sm2_with_the_default_id_in_der() -> None:
    base = b'"@method": GET\n"@signature-params": ("@method");created=1795867200'
    signature = SM2_SM3(private_key=KEY).sign(base)
    assert signature[0] == 0x30 and len(signature) == signature[1] + 2  # DER SEQUENCE
    KEY.public_key().verify(signature, base, distid=DEFAULT_DISTID)
    SM2_SM3(public_key=KEY.public_key()).verify(signature, base)
    with pytest.raises(SM2SignatureInvalid, match=r"^SM2 signature does not verify$"):
        SM2_SM3(public_key=KEY.public_key()).verify(signature, base + b" ")
    with pytest.raises(SM2SignatureInvalid, match=r"^SM2 signature does not verify$"):
        KEY.public_key().verify(signature, base, distid=b"ALICE123@YAHOO.COM")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"public_key": b"-----BEGIN PUBLIC KEY-----"}, "sm2-sm3 verifies with an SM2PublicKey"),
        ({"private_key": KEY.public_key()}, "sm2-sm3 signs with an SM2PrivateKey"),
    ],
)
def test_other_key_types_are_refused(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(HTTPMessageSignaturesException, match=f"^{message}$"):
        SM2_SM3(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize("digest", ["sha-256", "sm3"])
def test_our_signer_signs_exactly_the_rfc_9421_base(digest: str) -> None:
    """The base written out by hand as RFC 9421 §2.5 says: one line per covered component,
    ``"name": value``, then ``"@signature-params"``, LF between lines, none at the end."""
    request = httpx.Request(
        "POST", "https://member-a.example/v1/agreements?x=1%202", content=b'{"hello": "world"}'
    )
    signer = RequestSigner(key=KEY, digest=digest, clock=lambda: CREATED)  # type: ignore[arg-type]
    signer.sign(
        method=request.method, url=str(request.url), headers=request.headers, body=request.content
    )
    digest_field = request.headers["Content-Digest"]
    assert digest_field.startswith(f"{digest}=:")
    keyid = default_keyid(KEY.public_key())
    assert signer.keyid == keyid
    match = re.fullmatch(
        r'ledger=\("@method" "@target-uri" "content-digest"\);created=1795867200'
        rf';keyid="{keyid}";alg="sm2-sm3";nonce="([A-Za-z0-9_-]{{22}})"',
        request.headers["Signature-Input"],
    )
    assert match, request.headers["Signature-Input"]
    params = request.headers["Signature-Input"].removeprefix("ledger=")
    base = "\n".join(
        [
            '"@method": POST',
            '"@target-uri": https://member-a.example/v1/agreements?x=1%202',
            f'"content-digest": {digest_field}',
            f'"@signature-params": {params}',
        ]
    ).encode()
    signature = re.fullmatch(r"ledger=:([A-Za-z0-9+/=]+):", request.headers["Signature"])
    assert signature
    KEY.public_key().verify(base64.b64decode(signature.group(1)), base)


def test_each_request_gets_a_fresh_nonce() -> None:
    signer = RequestSigner(key=KEY, clock=lambda: CREATED)
    nonces = set()
    for _ in range(50):
        request = httpx.Request("GET", "https://member-a.example/health")
        signer.sign(method="GET", url=str(request.url), headers=request.headers, body=b"")
        nonce = re.search(r'nonce="([^"]+)"', request.headers["Signature-Input"])
        assert nonce
        nonces.add(nonce.group(1))
    assert len(nonces) == 50
