"""Every refusal of a signed request, each with its exact error, against a real database;
replays on SQLite and PostgreSQL, also across two processes' connections."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import pytest
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.crypto.sm2 import SM2PrivateKey
from ledger.db import Database, open_database
from ledger.httpsig import (
    SIGNATURE_LABEL,
    SM2_SM3,
    ComponentMissing,
    DigestMismatch,
    KeyNotValid,
    KeyTable,
    NonceReplayed,
    RequestSignatureError,
    RequestSigner,
    RequestVerifier,
    SignatureExpired,
    SignatureFromFuture,
    SignatureInvalid,
    SignatureMalformed,
    SignatureMissing,
    SignatureStale,
    UnknownKey,
    default_keyid,
)
from ledger.httpsig._message import Message
from tests.integration.httpsig.conftest import NOW, registered

URL = "https://member-a.example/v1/agreements/agr_0123456789abcdef0123456789abcdef"
BODY = b'{"kind": "void", "reason": "signed in error"}'
MAX_AGE, SKEW = 300, 30

Headers = list[tuple[str, str]]


def verifier_of(keys: KeyTable, db: Database, now: datetime = NOW) -> RequestVerifier:
    return RequestVerifier(
        keys=keys, nonces=db, max_age_s=MAX_AGE, max_skew_s=SKEW, clock=lambda: now
    )


def signed(
    key: SM2PrivateKey,
    *,
    method: str = "POST",
    url: str = URL,
    body: bytes = BODY,
    at: datetime = NOW,
    keyid: str | None = None,
    expires_after_s: float | None = None,
) -> Headers:
    request = httpx.Request(method, url, content=body)
    signer = RequestSigner(key=key, keyid=keyid, clock=lambda: at, expires_after_s=expires_after_s)
    signer.sign(method=method, url=str(request.url), headers=request.headers, body=body)
    return list(request.headers.multi_items())


def signed_by_hand(key: SM2PrivateKey, covered: tuple[str, ...], **options: object) -> Headers:
    """A signature made with the package directly: other coverage or parameters."""
    request = httpx.Request("POST", URL, content=BODY)
    keyid = default_keyid(key.public_key())
    resolver = MappingKeyResolver(public_keys={}, private_keys={keyid: key})
    HTTPMessageSigner(signature_algorithm=SM2_SM3, key_resolver=resolver).sign(
        Message("POST", URL, request.headers),
        key_id=keyid,
        created=NOW,
        label=SIGNATURE_LABEL,
        covered_component_ids=covered,
        body=BODY,
        **options,  # type: ignore[arg-type]
    )
    return list(request.headers.multi_items())


def edit(headers: Headers, name: str, change: Callable[[str], str]) -> Headers:
    return [(n, change(v) if n.lower() == name else v) for n, v in headers]


def verify(verifier: RequestVerifier, headers: Headers, *, method: str = "POST", url: str = URL,
           body: bytes = BODY) -> object:  # fmt: skip
    return verifier.verify(method=method, url=url, headers=headers, body=body)


def test_a_signed_request_says_who_signed_it(
    broker_key: SM2PrivateKey, keys: KeyTable, sqlite_database: Database
) -> None:
    caller = verify(
        verifier_of(keys, sqlite_database), signed(broker_key, at=NOW - timedelta(seconds=5))
    )
    assert caller.keyid == default_keyid(broker_key.public_key())  # type: ignore[attr-defined]
    assert caller.member_id == "member-a"  # type: ignore[attr-defined]
    assert caller.roles == {"broker"}  # type: ignore[attr-defined]
    assert caller.created == NOW - timedelta(seconds=5)  # type: ignore[attr-defined]


def test_an_unsigned_request_is_refused(keys: KeyTable, sqlite_database: Database) -> None:
    with pytest.raises(SignatureMissing, match=r"^the request is not signed: it has no Signature"):
        verify(verifier_of(keys, sqlite_database), [("Host", "member-a.example")])


def test_an_unknown_keyid_is_refused(keys: KeyTable, sqlite_database: Database) -> None:
    stranger = SM2PrivateKey.generate()
    with pytest.raises(
        UnknownKey, match=f"^no registered key has keyid '{default_keyid(stranger.public_key())}'$"
    ):
        verify(verifier_of(keys, sqlite_database), signed(stranger))


def test_a_revoked_key_is_refused_after_its_revocation_only(
    broker_key: SM2PrivateKey, keys: KeyTable, sqlite_database: Database
) -> None:
    keyid = default_keyid(broker_key.public_key())
    keys.end(keyid, NOW)
    before = verifier_of(keys, sqlite_database, NOW - timedelta(seconds=1))
    verify(before, signed(broker_key, at=NOW - timedelta(seconds=1)))
    with pytest.raises(
        KeyNotValid,
        match=f"^key '{keyid}' is not valid at 2026-11-28T12:00:00Z: its window is"
        " 2026-01-01T00:00:00Z to 2026-11-28T12:00:00Z$",
    ):
        verify(verifier_of(keys, sqlite_database), signed(broker_key))


def test_a_key_not_valid_yet_is_refused(sqlite_database: Database) -> None:
    key = SM2PrivateKey.generate()
    keys = KeyTable([registered(key, "member-a", "broker", valid_from=NOW + timedelta(hours=1))])
    with pytest.raises(KeyNotValid, match=r"its window is 2026-11-28T13:00:00Z to open$"):
        verify(verifier_of(keys, sqlite_database), signed(key))


def test_another_key_claiming_a_registered_keyid_is_refused(
    broker_key: SM2PrivateKey, keys: KeyTable, sqlite_database: Database
) -> None:
    keyid = default_keyid(broker_key.public_key())
    forged = signed(SM2PrivateKey.generate(), keyid=keyid)
    with pytest.raises(
        SignatureInvalid, match=f"^the signature does not verify under key '{keyid}'"
    ):
        verify(verifier_of(keys, sqlite_database), forged)


@pytest.mark.parametrize(
    ("what", "request_as_received"),
    [
        ("method", {"method": "DELETE"}),
        ("path", {"url": URL.replace("agr_0123", "agr_9123")}),
        ("query", {"url": URL + "?car=false"}),
        ("authority (another member's service)", {"url": URL.replace("member-a", "member-b")}),
        ("scheme", {"url": URL.replace("https:", "http:")}),
    ],
)
def test_a_changed_method_or_target_is_refused(
    broker_key: SM2PrivateKey,
    keys: KeyTable,
    sqlite_database: Database,
    what: str,
    request_as_received: dict[str, str],
) -> None:
    with pytest.raises(SignatureInvalid, match=r"^the signature does not verify under key 'sm3:"):
        verify(verifier_of(keys, sqlite_database), signed(broker_key), **request_as_received)  # type: ignore[arg-type]


def test_a_changed_body_is_refused(
    broker_key: SM2PrivateKey, keys: KeyTable, sqlite_database: Database
) -> None:
    with pytest.raises(
        DigestMismatch,
        match=r"^the body does not match its Content-Digest: Content-Digest does not match the"
        r" message body$",
    ):
        verify(verifier_of(keys, sqlite_database), signed(broker_key), body=BODY + b" ")


def test_a_changed_body_with_its_own_digest_is_refused(
    broker_key: SM2PrivateKey, keys: KeyTable, sqlite_database: Database
) -> None:
    other = b'{"kind": "void", "reason": "attacker"}'
    digest = base64.b64encode(__import__("hashlib").sha256(other).digest()).decode()
    headers = edit(signed(broker_key), "content-digest", lambda _: f"sha-256=:{digest}:")
    with pytest.raises(SignatureInvalid, match=r"^the signature does not verify under key 'sm3:"):
        verify(verifier_of(keys, sqlite_database), headers, body=other)


@pytest.mark.parametrize(
    ("covered", "missing"),
    [
        (("@target-uri", "content-digest"), "@method"),
        (("@method", "content-digest"), "@target-uri"),
        (("@method", "@target-uri"), "content-digest"),
        (("@method", "@path", "@authority", "content-digest"), "@target-uri"),
    ],
)
def test_a_signature_missing_a_component_is_refused(
    broker_key: SM2PrivateKey,
    keys: KeyTable,
    sqlite_database: Database,
    covered: tuple[str, ...],
    missing: str,
) -> None:
    headers = signed_by_hand(broker_key, covered, nonce="0123456789abcdef0123")
    if "content-digest" not in covered:  # the package adds coverage of the digest with a body
        headers = edit(headers, "signature-input", lambda v: v.replace(' "content-digest"', ""))
    with pytest.raises(
        ComponentMissing,
        match=f"^the signature does not cover {missing}: @method, @target-uri, content-digest"
        " are required$",
    ):
        verify(verifier_of(keys, sqlite_database), headers)


@pytest.mark.parametrize("parameter", ["created", "nonce", "keyid", "alg"])
def test_a_signature_missing_a_parameter_is_refused(
    broker_key: SM2PrivateKey, keys: KeyTable, sqlite_database: Database, parameter: str
) -> None:
    headers = edit(
        signed(broker_key),
        "signature-input",
        lambda v: re.sub(rf';{parameter}=("[^"]*"|\d+)', "", v),
    )
    with pytest.raises(
        ComponentMissing,
        match=f"^the signature lacks the parameter\\(s\\) {parameter}: created, nonce, keyid, alg"
        " are required$",
    ):
        verify(verifier_of(keys, sqlite_database), headers)


def test_a_signature_too_old_is_refused(
    broker_key: SM2PrivateKey, keys: KeyTable, sqlite_database: Database
) -> None:
    oldest = NOW - timedelta(seconds=MAX_AGE + SKEW)
    verify(verifier_of(keys, sqlite_database), signed(broker_key, at=oldest))
    with pytest.raises(
        SignatureStale,
        match=r"^created 2026-11-28T11:54:29Z is older than 300 s \(\+30 s skew\) at"
        r" 2026-11-28T12:00:00Z$",
    ):
        verify(
            verifier_of(keys, sqlite_database), signed(broker_key, at=oldest - timedelta(seconds=1))
        )


def test_a_signature_from_the_future_is_refused(
    broker_key: SM2PrivateKey, keys: KeyTable, sqlite_database: Database
) -> None:
    verify(verifier_of(keys, sqlite_database), signed(broker_key, at=NOW + timedelta(seconds=SKEW)))
    with pytest.raises(
        SignatureFromFuture,
        match=r"^created 2026-11-28T12:00:31Z is ahead of this server's clock"
        r" \(2026-11-28T12:00:00Z\) by more than 30 s$",
    ):
        verify(
            verifier_of(keys, sqlite_database),
            signed(broker_key, at=NOW + timedelta(seconds=SKEW + 1)),
        )


def test_an_expired_signature_is_refused(
    broker_key: SM2PrivateKey, keys: KeyTable, sqlite_database: Database
) -> None:
    at = NOW - timedelta(seconds=100)
    verify(verifier_of(keys, sqlite_database), signed(broker_key, at=at, expires_after_s=70))
    with pytest.raises(
        SignatureExpired,
        match=r"^the signature expired at 2026-11-28T11:59:29Z \(now 2026-11-28T12:00:00Z\)$",
    ):
        verify(verifier_of(keys, sqlite_database), signed(broker_key, at=at, expires_after_s=69))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda v: v.replace('alg="sm2-sm3"', 'alg="ed25519"'),
            "^algorithm 'ed25519' is refused: use sm2-sm3$",
        ),
        (lambda v: v + ';tag="x"', "^unexpected signature parameter\\(s\\) tag$"),
        (lambda v: re.sub(r'nonce="[^"]*"', 'nonce="short"', v), "^the nonce must be 16-128"),
        (lambda v: v.replace("ledger=(", "ledger=(("), "^signature refused: Malformed structured"),
    ],
)
def test_a_malformed_signature_is_refused(
    broker_key: SM2PrivateKey,
    keys: KeyTable,
    sqlite_database: Database,
    change: Callable[[str], str],
    message: str,
) -> None:
    headers = edit(signed(broker_key), "signature-input", change)
    with pytest.raises(SignatureMalformed, match=message):
        verify(verifier_of(keys, sqlite_database), headers)


def test_two_signatures_are_refused(
    broker_key: SM2PrivateKey, keys: KeyTable, sqlite_database: Database
) -> None:
    headers = signed(broker_key)
    doubled = edit(edit(headers, "signature-input", lambda v: f"{v}, b={v.partition('=')[2]}"),
                   "signature", lambda v: f"{v}, b={v.partition('=')[2]}")  # fmt: skip
    with pytest.raises(
        SignatureMalformed,
        match=r"^signature refused: Multiple signatures found and no tag or label specified$",
    ):
        verify(verifier_of(keys, sqlite_database), doubled)


def test_a_replayed_request_is_refused_by_every_process_on_the_database(
    broker_key: SM2PrivateKey, keys: KeyTable, database: Database, database_url: str
) -> None:
    """SQLite and PostgreSQL: the nonce is in the database, so another process's verifier (its
    own connection pool) refuses the replay too; once the window has passed it is stale."""
    headers = signed(broker_key)
    verify(verifier_of(keys, database), headers)
    keyid = default_keyid(broker_key.public_key())
    with pytest.raises(NonceReplayed, match=f"^nonce '[A-Za-z0-9_-]{{22}}' of key '{keyid}' was"):
        verify(verifier_of(keys, database), headers)
    other_process = open_database(database_url)
    try:
        later = NOW + timedelta(seconds=MAX_AGE)
        with pytest.raises(NonceReplayed, match=r"a replayed request$"):
            verify(verifier_of(keys, other_process, later), headers)
        after = NOW + timedelta(seconds=MAX_AGE + SKEW + 1)
        with pytest.raises(SignatureStale, match=r"^created 2026-11-28T12:00:00Z is older than"):
            verify(verifier_of(keys, other_process, after), headers)
        verify(verifier_of(keys, other_process), signed(broker_key))  # a fresh nonce passes
    finally:
        other_process.close()


def test_a_refused_request_does_not_use_up_its_nonce(
    broker_key: SM2PrivateKey, keys: KeyTable, sqlite_database: Database
) -> None:
    headers = signed(broker_key)
    with pytest.raises(DigestMismatch, match=r"^the body does not match"):
        verify(verifier_of(keys, sqlite_database), headers, body=b"tampered")
    verify(verifier_of(keys, sqlite_database), headers)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    part=st.sampled_from(
        ["method", "url", "body", "signature-input", "signature", "content-digest"]
    ),
    position=st.integers(min_value=0),
    replacement=st.characters(min_codepoint=0x21, max_codepoint=0x7E),
)
def test_any_one_changed_character_is_refused(
    broker_key: SM2PrivateKey,
    keys: KeyTable,
    sqlite_database: Database,
    part: str,
    position: int,
    replacement: str,
) -> None:
    headers = signed(broker_key)
    received: dict[str, object] = {"method": "POST", "url": URL, "body": BODY, "headers": headers}

    def changed(text: str) -> str:
        index = position % len(text)
        swap = (
            replacement
            if text[index] != replacement
            else chr(0x21 + (ord(replacement) - 0x20) % 94)
        )
        return text[:index] + swap + text[index + 1 :]

    if part in ("method", "url"):
        received[part] = changed(str(received[part]))
    elif part == "body":
        received["body"] = changed(BODY.decode()).encode()
    else:
        received["headers"] = edit(headers, part, changed)
    with pytest.raises(RequestSignatureError, match=r"\S"):
        verifier_of(keys, sqlite_database).verify(**received)  # type: ignore[arg-type]
