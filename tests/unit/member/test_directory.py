"""The members file: what it registers, and one readable error per malformed entry."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledger.crypto.sm2 import SM2PrivateKey
from ledger.errors import ConfigurationError
from ledger.httpsig import KeyTable, RegisteredKey, default_keyid
from ledger.member import (
    CustomerKeys,
    Directories,
    customer_keyid,
    directory_for,
    read_members_file,
    write_members_file,
)
from ledger.settings import Settings

KEY = SM2PrivateKey.generate().public_key()
HEX = KEY.to_raw().hex()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "members.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_key_with_its_window(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'[[keys]]\nmember = "member-a"\nroles = ["broker", "auditor"]\npublic_key = "0x{HEX}"\n'
        "valid_from = 2026-01-01T00:00:00Z\nvalid_until = 2027-01-01T08:00:00+08:00\n",
    )
    table = read_members_file(path)
    entry = table.lookup(default_keyid(KEY), datetime.now(UTC))
    assert entry is not None
    assert (entry.member_id, entry.roles, entry.public_key) == (
        "member-a",
        frozenset({"broker", "auditor"}),
        KEY,
    )
    assert entry.valid_from == datetime(2026, 1, 1, tzinfo=UTC)
    assert entry.valid_until == datetime(2027, 1, 1, tzinfo=UTC)
    assert directory_for(Settings(members_file=path)).lookup(entry.keyid, entry.valid_from)


def test_without_a_members_file_or_a_chain_no_member_is_known() -> None:
    directory = directory_for(Settings(members_file=None))
    assert isinstance(directory, Directories)
    members, customers = directory.directories
    assert isinstance(members, KeyTable) and isinstance(customers, CustomerKeys)
    assert directory.lookup(default_keyid(KEY), datetime.now(UTC)) is None


def test_a_customer_key_names_itself_with_the_customer_role_only() -> None:
    keyid = customer_keyid(KEY)
    assert keyid == "sm2:" + HEX
    entry = directory_for(Settings(members_file=None)).lookup(keyid, datetime.now(UTC))
    assert entry is not None
    assert (entry.keyid, entry.member_id, entry.roles) == (
        keyid,
        default_keyid(KEY),
        frozenset({"customer"}),
    )
    assert entry.public_key == KEY and entry.valid_at(datetime(1970, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    "keyid",
    [
        "sm2:" + HEX.upper(),  # one spelling per key
        "sm2:" + HEX[:-2],  # not a point's length
        "sm2:04" + "00" * 64,  # not on the curve
        "sm2:zz",
        "sm2:",
        HEX,  # no prefix
        "sm3:" + HEX[:64],
    ],
)
def test_what_is_not_a_customer_key_names_nobody(keyid: str) -> None:
    assert CustomerKeys().lookup(keyid, datetime.now(UTC)) is None


def test_the_first_directory_that_knows_a_keyid_answers(tmp_path: Path) -> None:
    keyid = customer_keyid(KEY)
    path = write(
        tmp_path,
        f'[[keys]]\nmember = "member-a"\nroles = ["broker"]\npublic_key = "{HEX}"\n'
        f'keyid = "{keyid}"\n',
    )
    entry = directory_for(Settings(members_file=path)).lookup(keyid, datetime.now(UTC))
    assert entry is not None and entry.member_id == "member-a"  # the members file first
    assert Directories().lookup(keyid, datetime.now(UTC)) is None


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("members = 1", r"only \[\[keys\]\] tables are read"),
        ("[[keys]]\nmember = 'a'\nroles = ['broker']\npublic_key = 'zz'", r"keys\[0\]: non-hex"),
        ("[[keys]]\nroles = ['broker']\npublic_key = ''", r"keys\[0\]: member is a non-empty"),
        ("[[keys]]\nmember = 'a'\nroles = 'broker'", r"keys\[0\]: roles is a list of role"),
        (
            f"[[keys]]\nmember = 'a'\nroles = []\npublic_key = '{HEX}'\ncolour = 1",
            "only the fields",
        ),
        (
            f"[[keys]]\nmember = 'a'\nroles = []\npublic_key = '{HEX}'\nvalid_from = 2026-01-01",
            "valid_from is a TOML date-time with an offset",
        ),
        (
            f"[[keys]]\nmember = 'a'\nroles = []\npublic_key = '{HEX}'\n" * 2,
            "is already registered",
        ),
        ("[[keys]\n", "members file .*: "),
    ],
)
def test_a_malformed_members_file_is_one_clear_error(tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(ConfigurationError, match=error):
        read_members_file(write(tmp_path, text))


def test_an_unreadable_members_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="No such file"):
        read_members_file(tmp_path / "absent.toml")


def test_a_written_members_file_reads_back_equal(tmp_path: Path) -> None:
    since, until = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 6, 30, 12, tzinfo=UTC)
    entries = [
        RegisteredKey(
            keyid=default_keyid(KEY),
            member_id='Broker "A" \\ Co',
            roles=frozenset({"broker", "auditor"}),
            public_key=KEY,
            valid_from=since,
            valid_until=until,
        ),
        RegisteredKey(
            keyid=customer_keyid(KEY),
            member_id="客户",
            roles=frozenset({"customer"}),
            public_key=KEY,
            valid_from=since,
        ),
    ]
    table = read_members_file(write_members_file(tmp_path / "members.toml", entries))
    assert [table.lookup(e.keyid, since) for e in entries] == entries
