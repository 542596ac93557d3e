"""Member A's service attests customers (real anvil, content store, SQLite and PostgreSQL): the
fields are stored encrypted before the attestation is sent, the key only wrapped in the
database; a chain refusal leaves no row; supersede and revoke end it on chain; only the
member that runs the service attests, and only its attestations' readers read them."""

from __future__ import annotations

import dataclasses

import pytest

from ledger.attestation.kyc import check_disclosures
from ledger.chain._binding import name_id
from ledger.chain.errors import InvalidArgument, StateConflict
from ledger.member.access import Forbidden
from ledger.member.attestations import (
    AttestationNotFound,
    NewAttestation,
    Reverification,
)
from tests.integration.member._release_world import (
    FIELDS,
    YEAR,
    ReleaseWorld,
    caller_of,
)


def _new(w: ReleaseWorld, **verification: object) -> NewAttestation:
    options: dict[str, object] = {
        "fields": FIELDS,
        "level": "cn-aml/standard",
        "method": "id-document+liveness",
        "expires_at": w.now() + YEAR,
        **verification,
    }
    return NewAttestation(
        customer_key=w.wallet.public_key,
        id_type="cn-resident-id",
        id_number="110101199003077777",
        verification=Reverification(**options),  # type: ignore[arg-type]
    )


def test_an_attestation_is_stored_encrypted_then_attested(world: ReleaseWorld) -> None:
    w = world
    made = w.attest()
    attestation = w.service.attestations.contract().attestation(made.attestation_id)
    assert attestation.attester == w.account
    assert attestation.customer_key == w.wallet.public_key
    assert attestation.content_ref == made.content_cid.encode()
    assert attestation.field_names == tuple(name_id(n) for n in FIELDS)
    assert made.field_names == tuple(FIELDS)
    row = w.service.database.attestation_row(made.attestation_id)
    assert (row.state, row.content_cid, row.attester) == ("attested", made.content_cid, w.account)
    # the store holds only ciphertext: no field value appears in it
    stored = w.service.store.get(made.content_cid)
    for value in FIELDS.values():
        assert str(value).encode() not in stored
    # decrypted, the disclosures are exactly the attested ones
    prepared = w.service.attestations.disclosures(attestation)
    assert check_disclosures(attestation, [d.encoded for d in prepared.disclosures]) == FIELDS


def test_erasing_the_row_crypto_shreds_the_fields(world: ReleaseWorld) -> None:
    w = world
    made = w.attest()
    attestation = w.service.attestations.contract().attestation(made.attestation_id)
    assert w.service.database.delete_attestation(made.attestation_id)
    assert w.service.store.has(made.content_cid)  # the ciphertext stays, unreadable
    with pytest.raises(AttestationNotFound, match="keeps no disclosures of attestation 0x"):
        w.service.attestations.disclosures(attestation)


def test_a_chain_refusal_leaves_no_row_and_no_ciphertext(world: ReleaseWorld) -> None:
    """An expiry before the verification: the contract refuses it in the simulation; the row
    written before sending is deleted, the ciphertext removed, nothing was sent."""
    w = world
    w.service.attestations.contract()  # found (on the dev chain deployed) first
    sent = w.service.chain.next_nonce()
    rows = _count_rows(w)
    blocks = _blocks(w)
    with pytest.raises(InvalidArgument, match="IdentityAttestations__InvalidExpiry"):
        w.service.attestations.attest(w.operator, _new(w, expires_at=w.now() - 10))
    assert w.service.chain.next_nonce() == sent
    assert _count_rows(w) == rows
    assert _blocks(w) == blocks
    w.attest()  # (an accepted one does add its ciphertext)
    assert len(_blocks(w)) > len(blocks)


def _blocks(w: ReleaseWorld) -> set[str]:
    """Every block file of the (embedded) content store."""
    root = w.service.store.root  # type: ignore[union-attr]
    return {str(p) for p in (root / "blocks").rglob("*") if p.is_file()}


def _count_rows(w: ReleaseWorld) -> int:
    import sqlalchemy as sa

    from ledger.db.schema import attestations

    with w.service.database.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(attestations)).scalar())


def test_malformed_fields_are_refused_before_anything_is_stored(world: ReleaseWorld) -> None:
    from ledger.attestation.disclosure import DisclosureError

    w = world
    rows = _count_rows(w)
    with pytest.raises(DisclosureError, match="a field name is 1-31 characters"):
        w.service.attestations.attest(w.operator, _new(w, fields={"Bad Name": "x"}))
    with pytest.raises(DisclosureError, match="not float"):
        w.service.attestations.attest(w.operator, _new(w, fields={"height": 1.8}))
    assert _count_rows(w) == rows


def test_supersede_reverifies_and_ends_the_old_one(world: ReleaseWorld) -> None:
    w = world
    old = w.attest()
    changed = {**FIELDS, "phone": "+86 139 1111 1111"}
    new = w.service.attestations.supersede(
        w.operator,
        old.attestation_id,
        Reverification(
            fields=changed,
            level="cn-aml/enhanced",
            method="id-document+liveness",
            expires_at=w.now() + 2 * YEAR,
        ),
    )
    contract = w.service.attestations.contract()
    was, now = contract.attestation(old.attestation_id), contract.attestation(new.attestation_id)
    assert was.superseded_by == new.attestation_id and was.ended_at is not None
    assert now.supersedes == old.attestation_id
    assert (now.subject, now.customer_key) == (was.subject, was.customer_key)
    assert w.service.database.attestation_row(new.attestation_id).supersedes == old.attestation_id
    prepared = w.service.attestations.disclosures(now)
    assert check_disclosures(now, [d.encoded for d in prepared.disclosures]) == changed
    # an ended attestation is not superseded again: refused, no row left
    rows = _count_rows(w)
    with pytest.raises(StateConflict, match="IdentityAttestations__AlreadyEnded"):
        w.service.attestations.supersede(
            w.operator, old.attestation_id, dataclasses.replace(_new(w).verification)
        )
    assert _count_rows(w) == rows


def test_revoke_ends_it_from_its_block(world: ReleaseWorld) -> None:
    w = world
    made = w.attest()
    mined = w.service.attestations.revoke(w.operator, made.attestation_id, "document-forged")
    attestation = w.service.attestations.contract().attestation(made.attestation_id)
    assert attestation.revoked and attestation.revocation_reason == name_id("document-forged")
    assert mined.block_number > 0
    with pytest.raises(StateConflict, match="IdentityAttestations__AlreadyEnded"):
        w.service.attestations.revoke(w.operator, made.attestation_id, "again")


@pytest.mark.parametrize(
    ("roles", "member", "words"),
    [
        (("customer",), "cust-1", "needs the broker role"),
        (("auditor",), "audit-firm", "needs the broker role"),
        ((), None, "needs the broker role"),
        (("broker",), "0x" + "12" * 20, "is not that member"),
    ],
)
def test_only_the_members_brokers_attest(
    world: ReleaseWorld, roles: tuple[str, ...], member: str | None, words: str
) -> None:
    w = world
    caller = caller_of(member or w.account, *roles)
    rows = _count_rows(w)
    with pytest.raises(Forbidden, match=words):
        w.service.attestations.attest(caller, _new(w))
    made = w.attest()
    with pytest.raises(Forbidden, match=words):
        w.service.attestations.revoke(caller, made.attestation_id, "x")
    with pytest.raises(Forbidden, match=words):
        w.service.attestations.supersede(caller, made.attestation_id, _new(w).verification)
    assert _count_rows(w) == rows + 1


def test_who_reads_an_attestation(world: ReleaseWorld) -> None:
    w = world
    made = w.attest()
    desk = w.service.attestations
    for reader in (
        w.operator,
        caller_of(w.account),  # the attester member, whatever its roles
        caller_of("audit-firm", "auditor"),
        caller_of("csrc", "regulator"),
        caller_of("cust-1", "customer", key=w.wallet.key),
    ):
        view = desk.view(reader, made.attestation_id)
        assert view.attestation.attestation_id == made.attestation_id and view.stored
    hidden = [
        caller_of("0x" + "34" * 20, "broker"),
        caller_of("cust-2", "customer"),  # another customer's key
    ]
    for outsider in hidden:
        with pytest.raises(
            AttestationNotFound, match=f"no attestation 0x{made.attestation_id.hex()}"
        ):
            desk.view(outsider, made.attestation_id)
    with pytest.raises(AttestationNotFound, match="no attestation 0x"):
        desk.view(w.operator, b"\x07" * 32)


def test_a_row_left_pending_is_marked_once_the_chain_has_it(world: ReleaseWorld) -> None:
    """An attestation whose outcome was unknown when sent (node down, not mined in time) keeps
    its pending row; reading it finds it on chain and marks the row attested."""
    import sqlalchemy as sa

    from ledger.db.schema import attestations

    w = world
    made = w.attest()
    with w.service.database.engine.begin() as conn:
        conn.execute(
            sa.update(attestations)
            .where(attestations.c.attestation_id == made.attestation_id)
            .values(state="pending")
        )
    assert w.service.database.attestation_row(made.attestation_id).state == "pending"
    assert w.service.attestations.view(w.operator, made.attestation_id).stored
    assert w.service.database.attestation_row(made.attestation_id).state == "attested"
