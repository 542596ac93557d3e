"""Verifying a signed request (RFC 9421) and saying who signed it, or exactly why not.

``http-message-signatures`` parses the fields, builds the signature base (§2.5) and checks the
SM2 signature and the ``Content-Digest``; the policy is ours and runs first, through the
package's ``validate_created_and_expires`` hook (called before any key is resolved):

1. the signature covers ``@method``, ``@target-uri`` and ``content-digest`` and carries
   ``created``, ``nonce``, ``keyid`` and ``alg="sm2-sm3"`` (nothing else but ``expires``);
2. ``created`` lies within ``[now - max_age - skew, now + skew]``; ``expires``, if present,
   has not passed (``skew`` allowed);
3. ``keyid`` names a key of the :class:`~ledger.httpsig.keys.KeyDirectory` that is valid now.

Then the package verifies the signature over the base and the body against its digest, and only
then is the nonce recorded (a :class:`NonceStore`: the service database, shared by all of a
member's processes) until the signature could no longer pass step 2: a request replayed within
its window is refused, one replayed after it is stale. Forged requests record nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import http_message_signatures as hms
from http_message_signatures import HTTPMessageVerifier, HTTPSignatureKeyResolver
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from ledger._ids import NONCE
from ledger.crypto.errors import InvalidSignature as SM2SignatureInvalid
from ledger.crypto.sm2 import SM2PublicKey
from ledger.errors import one_line
from ledger.httpsig._algorithm import ALGORITHM_ID, SM2_SM3, SHA256ContentDigest
from ledger.httpsig._message import (
    REQUIRED_COMPONENTS,
    REQUIRED_PARAMETERS,
    FieldLines,
    Message,
)
from ledger.httpsig.errors import (
    ComponentMissing,
    DigestMismatch,
    KeyNotValid,
    NonceReplayed,
    RequestSignatureError,
    SignatureExpired,
    SignatureFromFuture,
    SignatureInvalid,
    SignatureMalformed,
    SignatureMissing,
    SignatureStale,
    UnknownKey,
)
from ledger.httpsig.keys import MAX_KEYID_LENGTH, Caller, KeyDirectory, RegisteredKey

__all__ = ["ACCEPT_SIGNATURE", "NonceStore", "RequestVerifier"]

_ALLOWED_PARAMETERS = frozenset(REQUIRED_PARAMETERS) | {"expires"}

#: What a 401 asks for (RFC 9421 §5.1 ``Accept-Signature``): the components and parameters
#: every request signature must have.
ACCEPT_SIGNATURE = (
    "sig=("
    + " ".join(f'"{c}"' for c in REQUIRED_COMPONENTS)
    + f');created;nonce;alg="{ALGORITHM_ID}"'
)


class NonceStore(Protocol):
    """Where nonces are remembered (:meth:`ledger.db.Database.remember_nonce`)."""

    def remember_nonce(
        self, keyid: str, nonce: str, *, created_at: datetime, expires_at: datetime, now: datetime
    ) -> bool:
        """Record (keyid, nonce) until ``expires_at``, atomically, unless a record of it that
        has not expired at ``now`` exists; True if it was recorded (its first use)."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RequestVerifier:
    """Verifies signed requests against a key directory; thread-safe."""

    def __init__(
        self,
        *,
        keys: KeyDirectory,
        nonces: NonceStore,
        max_age_s: float,
        max_skew_s: float,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if max_age_s <= 0 or max_skew_s < 0:
            raise ValueError("max_age_s must be positive and max_skew_s not negative")
        self._keys = keys
        self._nonces = nonces
        self.max_age = timedelta(seconds=max_age_s)
        self.max_skew = timedelta(seconds=max_skew_s)
        self._clock = clock

    def verify(
        self, *, method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> Caller:
        """Who signed this request; raises a :class:`RequestSignatureError` saying why not.

        ``url`` is the request's absolute target URI as this service is addressed (scheme,
        authority, encoded path and query); ``headers`` every field line as received; ``body``
        the content as received (before any content coding is undone).
        """
        fields = FieldLines(headers)
        if not {"signature", "signature-input"} & fields.names():
            raise SignatureMissing(
                "the request is not signed: it has no Signature and Signature-Input fields"
                " (RFC 9421)"
            )
        now = self._clock()
        policy = _Policy(self, now)
        message = Message(method=method, url=url, headers=fields)
        try:
            results = policy.verify(message, max_age=None)
        except RequestSignatureError:
            raise
        except hms.InvalidSignature as error:
            if isinstance(error.__cause__, SM2SignatureInvalid):
                raise SignatureInvalid(
                    f"the signature does not verify under key {policy.entry_keyid()!r}: the"
                    " method, target URI, digest or parameters differ from what was signed,"
                    " or another key signed it"
                ) from None
            raise SignatureMalformed(f"signature refused: {one_line(error, 300)}") from None
        except HTTPMessageSignaturesException as error:
            raise SignatureMalformed(f"signature refused: {one_line(error, 300)}") from None
        try:
            policy.verify_body(message, results, bytes(body))
        except HTTPMessageSignaturesException as error:
            raise DigestMismatch(
                f"the body does not match its Content-Digest: {one_line(error, 200)}"
            ) from None
        entry, created, nonce = policy.accepted()
        expires_at = created + self.max_age + self.max_skew
        if not self._nonces.remember_nonce(
            entry.keyid, nonce, created_at=created, expires_at=expires_at, now=now
        ):
            raise NonceReplayed(
                f"nonce {nonce!r} of key {entry.keyid!r} was already used: a replayed request"
            )
        return Caller(
            keyid=entry.keyid,
            member_id=entry.member_id,
            roles=entry.roles,
            public_key=entry.public_key,
            created=created,
        )

    def _check(self, params: dict[str, Any], covered: list[Any], now: datetime) -> RegisteredKey:
        missing_params = [name for name in REQUIRED_PARAMETERS if name not in params]
        if missing_params:
            raise ComponentMissing(
                f"the signature lacks the parameter(s) {', '.join(missing_params)}:"
                f" {', '.join(REQUIRED_PARAMETERS)} are required"
            )
        bare = {item.value for item in covered if not item.params}
        missing = [name for name in REQUIRED_COMPONENTS if name not in bare]
        if missing:
            raise ComponentMissing(
                f"the signature does not cover {', '.join(missing)}:"
                f" {', '.join(REQUIRED_COMPONENTS)} are required"
            )
        if params["alg"] != ALGORITHM_ID:
            raise SignatureMalformed(f"algorithm {params['alg']!r} is refused: use {ALGORITHM_ID}")
        unexpected = sorted(set(params) - _ALLOWED_PARAMETERS)
        if unexpected:
            raise SignatureMalformed(f"unexpected signature parameter(s) {', '.join(unexpected)}")
        keyid, nonce = params["keyid"], params["nonce"]
        if not 1 <= len(keyid) <= MAX_KEYID_LENGTH:
            raise SignatureMalformed(f"a keyid is 1-{MAX_KEYID_LENGTH} characters")
        if not NONCE.fullmatch(nonce):
            raise SignatureMalformed(
                "the nonce must be 16-128 characters of base64, base64url or hex"
            )
        created = _timestamp(params["created"], "created")
        if created > now + self.max_skew:
            raise SignatureFromFuture(
                f"created {created:%Y-%m-%dT%H:%M:%SZ} is ahead of this server's clock"
                f" ({now:%Y-%m-%dT%H:%M:%SZ}) by more than {_seconds(self.max_skew)}"
            )
        if created < now - self.max_age - self.max_skew:
            raise SignatureStale(
                f"created {created:%Y-%m-%dT%H:%M:%SZ} is older than"
                f" {_seconds(self.max_age)} (+{_seconds(self.max_skew)} skew) at"
                f" {now:%Y-%m-%dT%H:%M:%SZ}"
            )
        if "expires" in params:
            expires = _timestamp(params["expires"], "expires")
            if expires < now - self.max_skew:
                raise SignatureExpired(
                    f"the signature expired at {expires:%Y-%m-%dT%H:%M:%SZ}"
                    f" (now {now:%Y-%m-%dT%H:%M:%SZ})"
                )
        entry = self._keys.lookup(keyid, now)
        if entry is None:
            raise UnknownKey(f"no registered key has keyid {keyid!r}")
        if not entry.valid_at(now):
            until = (
                "open" if entry.valid_until is None else f"{entry.valid_until:%Y-%m-%dT%H:%M:%SZ}"
            )
            raise KeyNotValid(
                f"key {keyid!r} is not valid at {now:%Y-%m-%dT%H:%M:%SZ}: its window is"
                f" {entry.valid_from:%Y-%m-%dT%H:%M:%SZ} to {until}"
            )
        return entry


def _timestamp(value: int, name: str) -> datetime:
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise SignatureMalformed(f"{name} {value} is not a time") from None


def _seconds(delta: timedelta) -> str:
    return f"{delta.total_seconds():g} s"


class _Policy(HTTPMessageVerifier):
    """One verification: the package's verifier with our policy in its time-check hook, which
    it calls before it resolves the key (so our refusals reach the caller as they are)."""

    content_digest_class = SHA256ContentDigest

    def __init__(self, verifier: RequestVerifier, now: datetime) -> None:
        self._resolver = _ResolvedKey()
        super().__init__(signature_algorithm=SM2_SM3, key_resolver=self._resolver)
        self._verifier = verifier
        self._now = now
        self._accepted: tuple[RegisteredKey, datetime, str] | None = None

    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        params = dict(sig_input.params)
        entry = self._verifier._check(params, list(sig_input), self._now)
        self._resolver.key = entry.public_key
        self._accepted = (entry, datetime.fromtimestamp(params["created"], UTC), params["nonce"])

    def accepted(self) -> tuple[RegisteredKey, datetime, str]:
        assert self._accepted is not None  # set by the hook before anything verified
        return self._accepted

    def entry_keyid(self) -> str:
        return "?" if self._accepted is None else self._accepted[0].keyid


class _ResolvedKey(HTTPSignatureKeyResolver):
    """The key our policy resolved for this one signature."""

    def __init__(self) -> None:
        self.key: SM2PublicKey | None = None

    def resolve_public_key(self, key_id: str) -> SM2PublicKey | None:
        return self.key
