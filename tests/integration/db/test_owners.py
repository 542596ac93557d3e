"""Who owns an agreement: the owner is stored with every version, and the database refuses a
version by anyone else, step by step and in group commit, without saying whose it is."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ledger.db import Conflict, Database
from tests.integration.db._support import create_draft, new_agreement_id, new_version


def test_the_owner_is_stored_with_each_version(database: Database) -> None:
    draft = create_draft(database, owner="broker-a")
    assert draft.owner == "broker-a"
    assert database.get_version(draft.agreement_id, 1).owner == "broker-a"
    [accepted] = database.submit_many([replace(new_version(), owner="broker-b")])
    assert not isinstance(accepted, Exception)
    assert accepted.owner == "broker-b"
    assert database.get_version(accepted.agreement_id, 1) == accepted
    assert database.latest_versions([accepted.agreement_id])[accepted.agreement_id].owner == (
        "broker-b"
    )
    assert create_draft(database).owner is None  # not attributed


def test_another_member_cannot_add_a_version_or_squat_the_id(database: Database) -> None:
    agreement_id = new_agreement_id()
    create_draft(database, agreement_id, owner="broker-a")
    taken = f"^{agreement_id}: this agreement ID is taken$"
    with pytest.raises(Conflict, match=taken):
        create_draft(database, agreement_id, 1, owner="broker-b")
    with pytest.raises(Conflict, match=taken):
        create_draft(database, agreement_id, 2, owner="broker-b")
    with pytest.raises(Conflict, match=taken):
        create_draft(database, agreement_id, 2)  # nor an unattributed writer
    [refused] = database.submit_many([replace(new_version(agreement_id, 2), owner="broker-b")])
    assert isinstance(refused, Conflict) and str(refused) == taken[1:-1]
    # the owner goes on: its own ID gets the next-version rule's words
    with pytest.raises(Conflict, match=f"^{agreement_id}: the next version is 2, not 1$"):
        create_draft(database, agreement_id, 1, owner="broker-a")
    assert create_draft(database, agreement_id, 2, owner="broker-a").owner == "broker-a"


def test_with_owner_malformed_is_refused(database: Database) -> None:
    with pytest.raises(ValueError, match=r"^owner must be a non-empty string"):
        create_draft(database, owner="")
    with pytest.raises(ValueError, match=r"^items\[0\]: owner must be a non-empty string"):
        database.submit_many([replace(new_version(), owner="")])
