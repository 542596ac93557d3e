"""Content-Digest (RFC 9530) as requests carry it: the RFC's examples, and the private ``sm3``."""

from __future__ import annotations

import base64

import pytest
from http_message_signatures import InvalidSignature

from ledger.httpsig import SHA256ContentDigest, SM3ContentDigest
from tests.unit.httpsig import rfc9421_vectors as rfc9421

# RFC 9530 §2: the content {"hello": "world"} followed by a newline (SHA-512); Appendix B.1 (the
# same content without it, SHA-256) and B.3 (the partial content "hello", SHA-256).
RFC9530_EXAMPLES = [
    (
        b'{"hello": "world"}\n',
        "sha-512=:YMAam51Jz/jOATT6/zvHrLVgOYTGFy1d6GJiOHTohq4yP+pgk4vf2aCsyRZOtw8MjkM7iw7yZ/WkppmM44T3qg==:",
    ),
    (b'{"hello": "world"}', "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"),
    (b'"hello"', "sha-256=:Wqdirjg/u3J688ejbUlApbjECpiUUtIwT8lY/z81Tno=:"),
    # RFC 9421 B.2: the test request's and the test response's digests (SHA-512)
    (rfc9421.REQUEST_BODY, dict(rfc9421.REQUEST_HEADERS)["Content-Digest"]),
    (rfc9421.RESPONSE_BODY, dict(rfc9421.RESPONSE_HEADERS)["Content-Digest"]),
]
# GB/T 32905 (SM3) Appendix A example 1: SM3("abc")
SM3_ABC = bytes.fromhex("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")


@pytest.mark.parametrize(("body", "field"), RFC9530_EXAMPLES)
def test_the_rfc_examples_verify(body: bytes, field: str) -> None:
    SHA256ContentDigest.verify(field, body)
    with pytest.raises(InvalidSignature, match=r"^Content-Digest does not match the message body$"):
        SHA256ContentDigest.verify(field, body + b" ")


def test_sha256_is_written_as_rfc_9530_spells_it() -> None:
    assert SHA256ContentDigest.create(b'{"hello": "world"}') == RFC9530_EXAMPLES[1][1]
    assert (
        SHA256ContentDigest.create(b"") == "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
    )


def test_sm3_is_the_gbt_32905_digest_of_the_content() -> None:
    field = SM3ContentDigest.create(b"abc")
    assert field == f"sm3=:{base64.b64encode(SM3_ABC).decode()}:"
    SM3ContentDigest.verify(field, b"abc")
    SHA256ContentDigest.verify(field, b"abc")  # any reader accepts the sm3 member
    with pytest.raises(InvalidSignature, match=r"^Content-Digest does not match the message body$"):
        SHA256ContentDigest.verify(field, b"abd")


def test_every_member_must_match() -> None:
    both = f"{SHA256ContentDigest.create(b'abc')}, {SM3ContentDigest.create(b'abc')}"
    SHA256ContentDigest.verify(both, b"abc")
    wrong_sm3 = f"{SHA256ContentDigest.create(b'abc')}, {SM3ContentDigest.create(b'abd')}"
    with pytest.raises(InvalidSignature, match=r"^Content-Digest does not match the message body$"):
        SHA256ContentDigest.verify(wrong_sm3, b"abc")


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("md5=:kAFQmDzST7DWlj99KOF/cg==:", "Unsupported content digest algorithm 'md5'"),
        ("sm3=:AAAA:", "Invalid sm3 digest length"),
        ("sha-256=abc", "Content digest values must be Structured Field byte sequences"),
        ("sha-256=:not base64!:", "Malformed Content-Digest field"),
        ("", "Content-Digest must contain at least one digest"),
    ],
)
def test_malformed_digests_are_refused(field: str, message: str) -> None:
    with pytest.raises(InvalidSignature, match=f"^{message}$"):
        SHA256ContentDigest.verify(field, b"abc")
