"""Shared pytest set-up: real-service fixtures live in tests/_fixtures, one module per service."""

pytest_plugins = [
    "tests._fixtures.paths",
    "tests._fixtures.ipfs",
    "tests._fixtures.anvil",
    "tests._fixtures.consortium",
    "tests._fixtures.database",
    "tests._fixtures.openssl",
    "tests._fixtures.proofs",
    "tests._fixtures.service",
    "tests._fixtures.members",
]
