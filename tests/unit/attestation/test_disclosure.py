"""Disclosures against RFC 9901's own examples (SHA-256), and the SM3 digests the ledger uses."""

from __future__ import annotations

import base64

import pytest

from ledger.attestation import Disclosure, DisclosureError, digest_of
from ledger.crypto.sm3 import sm3


def _b64url_digest(encoded: str) -> str:
    return base64.urlsafe_b64encode(digest_of(encoded, "sha-256")).rstrip(b"=").decode()


# RFC 9901 §4.2.1/§4.2.3 and §5.1 (given_name of the issuance example)
RFC_FIELDS = [
    (
        "2GLC42sKQveCfGfryNRN9w",
        "given_name",
        "John",
        "WyIyR0xDNDJzS1F2ZUNmR2ZyeU5STjl3IiwgImdpdmVuX25hbWUiLCAiSm9obiJd",
        "jsu9yVulwQQlhFlM_3JlzMaSFzglhQG0DpfayQwLUK4",
    ),
    (
        "_26bc4LT-ac6q2KI6cBW5es",
        "family_name",
        "Möbius",
        "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0",
        None,
    ),
]


@pytest.mark.parametrize(("salt", "name", "value", "encoded", "digest"), RFC_FIELDS)
def test_the_rfcs_disclosures_are_made_and_read_back(
    salt: str, name: str, value: str, encoded: str, digest: str | None
) -> None:
    made = Disclosure.new(name, value, salt=salt)
    assert made.encoded == encoded
    assert Disclosure.parse(encoded) == made
    if digest is not None:
        assert _b64url_digest(encoded) == digest


def test_the_rfcs_digests_are_over_the_encoding_as_sent() -> None:
    # RFC 9901 §4.2.3: a Disclosure of family_name with another salt and JSON spelling
    assert (
        _b64url_digest("WyI2cU1RdlJMNWhhaiIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0")
        == "uutlBuYeMDyjLLTpf6Jxi7yNkEF35jdyWMn9U7b_RYY"
    )
    # an array element's Disclosure ([salt, value]) has a digest, but is no field
    element = "WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIkZSIl0"
    assert _b64url_digest(element) == "w0I8EKcdCtUPkGCNUrfwVp2xEgNjtoIDlOxc9-PlOhs"
    with pytest.raises(DisclosureError, match=r"the JSON array \[salt, name, value\]"):
        Disclosure.parse(element)


def test_a_field_is_committed_to_by_the_sm3_of_its_encoding() -> None:
    field = Disclosure.new("id_number", "110101199003074514")
    assert field.digest() == sm3(field.encoded.encode("ascii"))
    assert field.label == "sm3:" + field.digest().hex()
    assert field.matches(field.digest())
    assert not Disclosure.new("id_number", "110101199003074514").matches(field.digest())  # salt
    assert len(base64.urlsafe_b64decode(field.salt + "==")) == 16


@pytest.mark.parametrize(
    ("encoded", "error"),
    [
        ("", "1-16384 characters"),
        ("WyJh=", "base64url without padding"),
        ("W", "base64url without padding"),
        ("bm90IGpzb24", "base64url of UTF-8 JSON"),  # "not json"
        ("__8", "base64url of UTF-8 JSON"),  # invalid UTF-8
        ("eyJhIjogMX0", r"\[salt, name, value\]"),  # {"a": 1}
        ("WyJzIiwgIl9zZCIsICJ4Il0", "other than _sd"),  # ["s", "_sd", "x"]
        ("WyIiLCAibmFtZSIsICJ4Il0", "salt is a non-empty string"),  # ["", "name", "x"]
        ("WyJzIiwgIk5hbWUiLCAieCJd", "a field name is"),  # ["s", "Name", "x"]
        ("WyJzIiwgImEiLCAxLjVd", "no floats"),  # ["s", "a", 1.5]
        ("WyJzIiwgImEiLCBOYU5d", "no floats"),  # ["s", "a", NaN]
        ("WyJzIiwgImEiLCB7fV0", "not dict"),  # ["s", "a", {}]
        ("A" * 16_388, "1-16384 characters"),
    ],
)
def test_what_is_not_a_field_disclosure_is_refused_saying_why(encoded: str, error: str) -> None:
    with pytest.raises(DisclosureError, match=error):
        Disclosure.parse(encoded)


def test_a_new_disclosure_refuses_bad_names_and_values() -> None:
    with pytest.raises(DisclosureError, match="a field name is"):
        Disclosure.new("x" * 32, "v")
    with pytest.raises(DisclosureError, match="not float"):
        Disclosure.new("amount", 1.5)
    with pytest.raises(DisclosureError, match="not list"):
        Disclosure.new("names", ["a"])
    with pytest.raises(DisclosureError, match="salt is a non-empty string"):
        Disclosure.new("name", "v", salt="")
