"""consortium.toml: a valid file parses into founders, keys and thresholds; each mistake is one
ConsortiumConfigError naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.chain.consortium import MemberSpec, Thresholds
from ledger.chain.consortium_config import (
    ConsortiumConfigError,
    load_config,
    parse_config,
    parse_public_key,
)
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.errors import ConfigurationError

ALPHA = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
BETA = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
KEY_A = SM2PrivateKey.generate().public_key()
KEY_B = SM2PrivateKey.generate().public_key()
KEY_S = SM2PrivateKey.generate().public_key()


def _toml(*, extra_top: str = "", alpha: str = "", beta: str = "", thresholds: str = "") -> str:
    return f"""
{extra_top}
[governance]
voting_delay_s = 60
voting_period_s = 86400

[thresholds]
default = 2
{thresholds}

[[members]]
account = "{ALPHA}"
name = "Alpha Securities"
endpoint = "https://alpha.example/ledger"
roles = ["broker"]
request_signing_key = "{KEY_A.to_raw().hex()}"
proof_sealing_key = "0x{KEY_S.to_raw().hex()}"
{alpha}

[[members]]
account = "{BETA}"
name = "Beta 审计"
endpoint = "http://beta.example:8000"
roles = ["auditor", "regulator"]
request_signing_key_file = "beta.pem"
{beta}
"""


def _parse(text: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "beta.pem").write_bytes(KEY_B.to_pem())
    path = tmp_path / "consortium.toml"
    path.write_text(text, "utf-8")
    return load_config(path)


def test_a_valid_file(tmp_path: Path) -> None:
    config = _parse(_toml(thresholds="change_threshold = 1"), tmp_path)
    assert config.founders == [
        MemberSpec(
            account=ALPHA,
            name="Alpha Securities",
            endpoint="https://alpha.example/ledger",
            key_fingerprint=KEY_A.fingerprint(),
            roles=("broker",),
        ),
        MemberSpec(
            account=BETA,
            name="Beta 审计",
            endpoint="http://beta.example:8000",
            key_fingerprint=KEY_B.fingerprint(),
            roles=("auditor", "regulator"),
        ),
    ]
    assert config.thresholds == Thresholds(2, 2, 1, 2, 2)
    assert (config.voting_delay_s, config.voting_period_s) == (60, 86400)
    assert [(k.member, k.purpose, k.public_key) for k in config.initial_keys] == [
        (ALPHA, "request-signing", KEY_A),
        (ALPHA, "proof-sealing", KEY_S),
        (BETA, "request-signing", KEY_B),
    ]


def test_defaults(tmp_path: Path) -> None:
    text = f"""
[thresholds]
admit_member = 1
remove_member = 1
change_threshold = 1
grant_role = 1
revoke_role = 1
[[members]]
account = "{ALPHA.lower()}"
name = "A"
endpoint = "https://a.example"
request_signing_key = '''{KEY_A.to_pem().decode()}'''
"""
    config = parse_config(text, source="inline", base=tmp_path)
    assert (config.voting_delay_s, config.voting_period_s) == (0, 7 * 24 * 3600)
    assert config.founders[0].account == ALPHA  # checksummed
    assert config.founders[0].roles == ()
    assert config.members[0].proof_sealing_key is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"extra_top": "colour = 1"}, r"the file: unknown field 'colour' \(fields: governance"),
        ({"alpha": "nmae = 'x'"}, r"members\[0\]: unknown field 'nmae'"),
        ({"thresholds": "admit_member = 3"}, r"thresholds\.admit_member: 3 is not within 1\.\.2$"),
        ({"thresholds": "grant_role = 0"}, r"thresholds\.grant_role: 0 is not within 1\.\.2$"),
        ({"thresholds": "grant_role = '2'"}, r"thresholds\.grant_role: must be an integer$"),
        ({"thresholds": "revoke_role = true"}, r"thresholds\.revoke_role: must be an integer$"),
        ({"thresholds": "quorum = 2"}, r"thresholds: unknown field 'quorum'"),
        ({"alpha": "roles = ['admin']"}, r"members\[0\]\.roles: unknown role 'admin' \(roles: b"),
        ({"alpha": "roles = ['broker', 'broker']"}, r"members\[0\]\.roles: a role is listed tw"),
        ({"alpha": "roles = 'broker'"}, r"members\[0\]\.roles: must be a list of role names$"),
        (
            {"beta": f"request_signing_key = '{KEY_B.to_raw().hex()}'"},
            r"members\[1\]\.request_signing_key: give request_signing_key or request_signing_",
        ),
        (
            {"beta": f"proof_sealing_key = '{KEY_A.to_raw().hex()}'"},
            r"members\[1\]: a key of members\[0\] is listed again$",
        ),
    ],
)
def test_each_mistake_is_one_error(tmp_path: Path, changes: dict[str, str], message: str) -> None:
    text = _toml(**changes)
    # a repeated key replaces nothing in TOML: drop the original line where a change redefines it
    for field in ("roles",):
        if changes.get("alpha", "").startswith(field):
            text = text.replace('roles = ["broker"]\n', "", 1)
    with pytest.raises(ConsortiumConfigError, match=rf"^{tmp_path}/consortium\.toml: {message}"):
        _parse(text, tmp_path)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("account", "'0x70997970c51812dc3a010c7d01b50e0d17dc79C8'", r"'0x7099.* is not a \(chec"),
        ("account", "'0x1234'", r"'0x1234' is not a \(checksummed\) account$"),
        ("account", f"'0x{'0' * 40}'", r"the zero address cannot be a member$"),
        ("account", "42", r"must be a non-empty string$"),
        ("name", "''", r"must be a non-empty string$"),
        ("name", f"'{'n' * 65}'", r"65 bytes of UTF-8, at most 64$"),
        ("name", f"'{'名' * 22}'", r"66 bytes of UTF-8, at most 64$"),
        ("endpoint", "'ftp://a.example'", r"'ftp://a.example' is not an http\(s\) URL$"),
        ("endpoint", "'https://'", r"'https://' is not an http\(s\) URL$"),
        ("endpoint", f"'https://{'e' * 250}.example'", r"266 bytes of UTF-8, at most 256$"),
        ("request_signing_key", "'04abcd'", r"not an SM2 public key: a raw SM2 public key is 65"),
        ("request_signing_key", "'xyz'", r"not hex of a 65-byte SM2 public key .* nor a PEM key$"),
    ],
)
def test_member_fields_are_checked(tmp_path: Path, field: str, value: str, message: str) -> None:
    text = _toml()
    start = text.index("[[members]]")
    line_start = text.index(f"\n{field} = ", start) + 1
    line_end = text.index("\n", line_start)
    text = text[:line_start] + f"{field} = {value}" + text[line_end:]
    with pytest.raises(ConsortiumConfigError, match=rf": members\[0\]\.{field}: {message}"):
        _parse(text, tmp_path)


def test_required_parts(tmp_path: Path) -> None:
    with pytest.raises(ConsortiumConfigError, match=r"^x: members: at least one \[\[members\]\]"):
        parse_config("[governance]\n", source="x", base=tmp_path)
    no_default = _toml().replace("default = 2\n", "admit_member = 1\n")
    with pytest.raises(
        ConsortiumConfigError, match=r": thresholds\.remove_member: missing \(or set thresholds\."
    ):
        _parse(no_default, tmp_path)
    no_key = _toml().replace('request_signing_key_file = "beta.pem"\n', "")
    with pytest.raises(
        ConsortiumConfigError,
        match=r": members\[1\]\.request_signing_key: missing \(or request_signing_key_file\)$",
    ):
        _parse(no_key, tmp_path)
    twice = _toml().replace(f'account = "{BETA}"', f'account = "{ALPHA}"')
    with pytest.raises(
        ConsortiumConfigError, match=rf": members\[1\]\.account: {ALPHA} is members\[0\] too$"
    ):
        _parse(twice, tmp_path)
    zero_period = _toml().replace("voting_period_s = 86400", "voting_period_s = 0")
    with pytest.raises(
        ConsortiumConfigError,
        match=r": governance\.voting_period_s: 0 is not within 1\.\.31536000$",
    ):
        _parse(zero_period, tmp_path)


def test_unreadable_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(ConsortiumConfigError, match=r"nowhere\.toml: cannot read: "):
        load_config(tmp_path / "nowhere.toml")
    with pytest.raises(ConsortiumConfigError, match=r"^x: not TOML: "):
        parse_config("[members\n", source="x", base=tmp_path)
    missing_pem = _toml().replace("beta.pem", "gone.pem")
    with pytest.raises(
        ConsortiumConfigError, match=r"members\[1\]\.request_signing_key_file: cannot read .*gone"
    ):
        _parse(missing_pem, tmp_path)
    assert issubclass(ConsortiumConfigError, ConfigurationError)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=80))
def test_public_key_parser_refuses_or_returns_a_point(data: bytes) -> None:
    """Arbitrary bytes as hex: a ValueError saying why, or a key with exactly these bytes."""
    try:
        key = parse_public_key(data.hex())
    except ValueError as exc:
        assert str(exc).startswith("not ")
    else:
        assert key.to_raw() == data


def test_public_key_parser_reads_hex_and_pem() -> None:
    assert parse_public_key("0x" + KEY_A.to_raw().hex()) == KEY_A
    assert parse_public_key(KEY_A.to_pem().decode()) == KEY_A
    with pytest.raises(ValueError, match=r"^not an SM2 public key: "):
        parse_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
