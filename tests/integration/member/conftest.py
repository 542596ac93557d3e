"""Fixtures of the member tests: a running attester service on an anvil node of its own, on
SQLite and PostgreSQL (:mod:`tests.integration.member._release_world`)."""

from tests.integration.member._release_world import world

__all__ = ["world"]
