"""Identifier formats shared by every layer (service, database, proof schema): one definition."""

import re

#: ``agr_`` and 128 random bits in lower-case hex.
AGREEMENT_ID_PATTERN = r"^agr_[0-9a-f]{32}$"
#: A signer role: 1-32 of [a-z0-9_-], starting with a letter.
ROLE_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"

AGREEMENT_ID = re.compile(AGREEMENT_ID_PATTERN)
ROLE = re.compile(ROLE_PATTERN)
