"""The signature base is built exactly as RFC 9421 §2.5 says: the RFC's own examples
(Appendix B.2.1-B.2.6, ``rfc9421_vectors``) through ``http-message-signatures``, the package
our ``sm2-sm3`` signatures go through, and the RFC's signatures verify with the RFC's keys."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)
from http_message_signatures.structures import CaseInsensitiveDict

from ledger.httpsig._message import FieldLines, Message
from tests.unit.httpsig import rfc9421_vectors as rfc

CREATED = datetime.fromtimestamp(rfc.CREATED, UTC)


@dataclass
class _Response:
    status_code: int
    headers: Any
    request: Message


def request(extra: list[tuple[str, str]] = ()) -> Message:  # type: ignore[assignment]
    return Message(rfc.REQUEST_METHOD, rfc.REQUEST_URL, FieldLines([*rfc.REQUEST_HEADERS, *extra]))


def response(extra: list[tuple[str, str]] = ()) -> _Response:  # type: ignore[assignment]
    return _Response(rfc.RESPONSE_STATUS, FieldLines([*rfc.RESPONSE_HEADERS, *extra]), request())


class _Keys(HTTPSignatureKeyResolver):
    """The RFC's keys (B.1) by their key IDs."""

    public: ClassVar[dict[str, Any]] = {
        "test-key-rsa-pss": load_pem_public_key(rfc.RSA_PSS_PUBLIC_PEM),
        "test-key-ecc-p256": load_pem_public_key(rfc.ECC_P256_PUBLIC_PEM),
        "test-key-ed25519": load_pem_public_key(rfc.ED25519_PUBLIC_PEM),
        "test-shared-secret": rfc.SHARED_SECRET,
    }
    private: ClassVar[dict[str, Any]] = {
        "test-key-ed25519": load_pem_private_key(rfc.ED25519_PRIVATE_PEM, password=None),
        "test-shared-secret": rfc.SHARED_SECRET,
    }

    def resolve_public_key(self, key_id: str) -> Any:
        return self.public[key_id]

    def resolve_private_key(self, key_id: str) -> Any:
        return self.private[key_id]


@dataclass(frozen=True)
class Case:
    """One example of Appendix B.2: how it signs, and what the RFC says comes out."""

    name: str
    algorithm: Any
    make: Any
    covered: tuple[str, ...]
    keyid: str
    params: dict[str, str]
    base: str
    sig_input: str
    signature: str

    @property
    def label(self) -> str:
        """The RFC's label of the example: B.2.1 -> sig-b21."""
        return "sig-b" + self.name.removeprefix("B.").replace(".", "")


CASES = [
    Case(
        "B.2.1",
        algorithms.RSA_PSS_SHA512,
        request,
        (),
        "test-key-rsa-pss",
        {"nonce": "b3k2pp5k7z-50gnwp.yemd"},
        rfc.B21_BASE,
        rfc.B21_INPUT,
        rfc.B21_SIGNATURE,
    ),
    Case(
        "B.2.2",
        algorithms.RSA_PSS_SHA512,
        request,
        ("@authority", "content-digest", '"@query-param";name="Pet"'),
        "test-key-rsa-pss",
        {"tag": "header-example"},
        rfc.B22_BASE,
        rfc.B22_INPUT,
        rfc.B22_SIGNATURE,
    ),
    Case(
        "B.2.3",
        algorithms.RSA_PSS_SHA512,
        request,
        (
            "date",
            "@method",
            "@path",
            "@query",
            "@authority",
            "content-type",
            "content-digest",
            "content-length",
        ),
        "test-key-rsa-pss",
        {},
        rfc.B23_BASE,
        rfc.B23_INPUT,
        rfc.B23_SIGNATURE,
    ),
    Case(
        "B.2.4",
        algorithms.ECDSA_P256_SHA256,
        response,
        ("@status", "content-type", "content-digest", "content-length"),
        "test-key-ecc-p256",
        {},
        rfc.B24_BASE,
        rfc.B24_INPUT,
        rfc.B24_SIGNATURE,
    ),
    Case(
        "B.2.5",
        algorithms.HMAC_SHA256,
        request,
        ("date", "@authority", "content-type"),
        "test-shared-secret",
        {},
        rfc.B25_BASE,
        rfc.B25_INPUT,
        rfc.B25_SIGNATURE,
    ),
    Case(
        "B.2.6",
        algorithms.ED25519,
        request,
        ("date", "@method", "@path", "@authority", "content-type", "content-length"),
        "test-key-ed25519",
        {},
        rfc.B26_BASE,
        rfc.B26_INPUT,
        rfc.B26_SIGNATURE,
    ),
]
IDS = [case.name for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_signature_base_is_the_rfcs(case: Case) -> None:
    signer = HTTPMessageSigner(signature_algorithm=case.algorithm, key_resolver=_Keys())
    prepared = signer.prepare(
        case.make(),
        key_id=case.keyid,
        created=CREATED,
        include_alg=False,
        covered_component_ids=case.covered,
        label=case.label,
        use_existing_digest=True,
        **case.params,
    )
    assert prepared.signature_base == case.base.encode("ascii")
    assert prepared.signature_params == case.sig_input


def _signed(make: Any, label: str, sig_input: str, signature: str) -> Any:
    return make(
        [("Signature-Input", f"{label}={sig_input}"), ("Signature", f"{label}=:{signature}:")]
    )


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_rfcs_signatures_verify_with_the_rfcs_keys(case: Case) -> None:
    label, sig_input, params = case.label, case.sig_input, case.params
    verifier = HTTPMessageVerifier(signature_algorithm=case.algorithm, key_resolver=_Keys())
    (result,) = verifier.verify(
        _signed(case.make, label, sig_input, case.signature), max_age=None, **_selection(params)
    )
    assert result.label == label
    assert result.parameters["keyid"] == case.keyid
    # the same signature over a base one byte different (created + 1 s) does not verify
    changed = sig_input.replace(f"created={rfc.CREATED}", f"created={rfc.CREATED + 1}")
    assert changed != sig_input
    # cryptography's errors: empty for the signatures, this sentence for HMAC
    with pytest.raises(InvalidSignature, match=r"^(Signature did not match digest\.)?$"):
        verifier.verify(
            _signed(case.make, label, changed, case.signature), max_age=None, **_selection(params)
        )


def _selection(params: dict[str, str]) -> dict[str, str]:
    return {"expect_tag": params["tag"]} if "tag" in params else {}


@pytest.mark.parametrize(
    ("algorithm", "keyid", "covered", "label", "signature"),
    [
        (
            algorithms.ED25519,
            "test-key-ed25519",
            ("date", "@method", "@path", "@authority", "content-type", "content-length"),
            "sig-b26",
            rfc.B26_SIGNATURE,
        ),
        (
            algorithms.HMAC_SHA256,
            "test-shared-secret",
            ("date", "@authority", "content-type"),
            "sig-b25",
            rfc.B25_SIGNATURE,
        ),
    ],
    ids=["B.2.6 ed25519", "B.2.5 hmac-sha256"],
)
def test_deterministic_algorithms_reproduce_the_rfcs_signature_byte_for_byte(
    algorithm: Any, keyid: str, covered: tuple[str, ...], label: str, signature: str
) -> None:
    headers = CaseInsensitiveDict(rfc.REQUEST_HEADERS)
    message = Message(rfc.REQUEST_METHOD, rfc.REQUEST_URL, headers)
    signer = HTTPMessageSigner(signature_algorithm=algorithm, key_resolver=_Keys())
    signer.sign(
        message,
        key_id=keyid,
        created=CREATED,
        include_alg=False,
        covered_component_ids=covered,
        label=label,
        use_existing_digest=True,
    )
    assert headers["Signature"] == f"{label}=:{signature}:"
    assert base64.b64decode(signature)  # the RFC's value, decoded
