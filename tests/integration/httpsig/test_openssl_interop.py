"""``sm2-sm3`` request signatures and the real ``openssl`` command line, both ways: ours verify
with ``openssl pkeyutl -verify -rawin -digest sm3 -pkeyopt distid:1234567812345678`` over the
signature base, and a signature openssl makes over the base is accepted by our verifier."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import httpx
import pytest
from http_message_signatures import HTTPMessageSigner

from ledger.crypto.sm2 import DEFAULT_DISTID, SM2PrivateKey, SM2PublicKey
from ledger.db import Database
from ledger.httpsig import (
    REQUIRED_COMPONENTS,
    SIGNATURE_LABEL,
    SM2_SM3,
    KeyTable,
    RequestSigner,
    RequestVerifier,
    SignatureInvalid,
    default_keyid,
)
from ledger.httpsig._message import Message
from tests.integration.crypto.test_openssl_interop import openssl, openssl_sign, openssl_verify
from tests.integration.httpsig.conftest import NOW, registered

pytestmark = pytest.mark.usefixtures("openssl_cli")

URL = "https://member-a.example/v1/agreements/agr_0123456789abcdef0123456789abcdef?car=false"


def _base_of(request: httpx.Request) -> bytes:
    """The RFC 9421 §2.5 base of a request our signer signed, written out by hand."""
    params = request.headers["Signature-Input"].removeprefix(f"{SIGNATURE_LABEL}=")
    return "\n".join(
        [
            f'"@method": {request.method}',
            f'"@target-uri": {request.url}',
            f'"content-digest": {request.headers["Content-Digest"]}',
            f'"@signature-params": {params}',
        ]
    ).encode()


@pytest.mark.parametrize("digest", ["sha-256", "sm3"])
def test_our_request_signature_verifies_with_openssl(tmp_path: Path, digest: str) -> None:
    key = SM2PrivateKey.generate()
    pub = tmp_path / "pub.pem"
    pub.write_bytes(key.public_key().to_pem())
    request = httpx.Request("POST", URL, content=b'{"kind": "void", "reason": "test"}')
    signer = RequestSigner(key=key, digest=digest, clock=lambda: NOW)  # type: ignore[arg-type]
    signer.sign(method="POST", url=str(request.url), headers=request.headers, body=request.content)
    match = re.fullmatch(rf"{SIGNATURE_LABEL}=:([A-Za-z0-9+/=]+):", request.headers["Signature"])
    assert match
    (tmp_path / "base").write_bytes(_base_of(request))
    (tmp_path / "sig").write_bytes(base64.b64decode(match.group(1)))
    assert openssl_verify(pub, tmp_path / "base", tmp_path / "sig", DEFAULT_DISTID)
    # a base one byte different does not verify, nor the right base under another ID
    (tmp_path / "other").write_bytes(_base_of(request).replace(b"POST", b"PUT", 1))
    assert not openssl_verify(pub, tmp_path / "other", tmp_path / "sig", DEFAULT_DISTID)
    assert not openssl_verify(pub, tmp_path / "base", tmp_path / "sig", b"ALICE123@YAHOO.COM")


def test_a_request_openssl_signed_is_accepted(tmp_path: Path, sqlite_database: Database) -> None:
    key_path, pub_path = tmp_path / "key.pem", tmp_path / "pub.pem"
    openssl("genpkey", "-algorithm", "SM2", "-out", key_path)
    openssl("pkey", "-in", key_path, "-pubout", "-out", pub_path)
    public = SM2PublicKey.from_pem(pub_path.read_bytes())
    keyid = default_keyid(public)

    body = b'{"agreement": "x"}'
    request = httpx.Request("POST", URL, content=body)
    message = Message("POST", str(request.url), request.headers)
    signer = HTTPMessageSigner(signature_algorithm=SM2_SM3)  # no key: openssl signs
    prepared = signer.prepare(
        message,
        key_id=keyid,
        created=NOW,
        nonce="openssl-signed-request-0001",
        label=SIGNATURE_LABEL,
        covered_component_ids=REQUIRED_COMPONENTS,
        body=body,
    )
    (tmp_path / "base").write_bytes(prepared.signature_base)
    signature = openssl_sign(key_path, tmp_path / "base", tmp_path / "sig", DEFAULT_DISTID)
    signer.apply(message, prepared, signature)

    table = KeyTable([registered(public, "member-b", "broker")])
    verifier = RequestVerifier(
        keys=table, nonces=sqlite_database, max_age_s=300, max_skew_s=30, clock=lambda: NOW
    )
    headers = list(request.headers.multi_items())
    caller = verifier.verify(method="POST", url=str(request.url), headers=headers, body=body)
    assert (caller.keyid, caller.member_id, caller.roles) == (keyid, "member-b", {"broker"})

    # the same signature under the wrong ID (openssl's empty default) is refused
    openssl(
        "pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", key_path,
        "-pkeyopt", "distid:ALICE123@YAHOO.COM", "-in", tmp_path / "base", "-out", tmp_path / "bad",
    )  # fmt: skip
    bad = base64.b64encode((tmp_path / "bad").read_bytes()).decode()
    headers = [(n, f"{SIGNATURE_LABEL}=:{bad}:" if n == "signature" else v) for n, v in headers]
    with pytest.raises(
        SignatureInvalid, match=f"^the signature does not verify under key '{keyid}'"
    ):
        verifier.verify(method="POST", url=str(request.url), headers=headers, body=body)
