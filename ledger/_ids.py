"""Identifier formats shared by every layer (service, database, proof schema): one definition."""

import re

#: ``agr_`` and 128 random bits in lower-case hex.
AGREEMENT_ID_PATTERN = r"^agr_[0-9a-f]{32}$"
#: A signer role: 1-32 of [a-z0-9_-], starting with a letter.
ROLE_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"
#: An SM2 distinguishing ID as a signature carries it: 1-64 printable ASCII characters.
DISTID_PATTERN = r"^[\x20-\x7e]{1,64}$"
#: The default distinguishing ID of GB/T 35276 / GM/T 0009: the ASCII digits 1-8 twice.
DEFAULT_DISTID = b"1234567812345678"

#: A nonce (of a signed request or a customer-signed erasure request): 16-128 characters of
#: base64, base64url or hex (RFC 9421's example qualifies).
NONCE_PATTERN = r"^[A-Za-z0-9._~+/=-]{16,128}$"

AGREEMENT_ID = re.compile(AGREEMENT_ID_PATTERN)
ROLE = re.compile(ROLE_PATTERN)
NONCE = re.compile(NONCE_PATTERN)
