"""One Settings object, read from the environment (``LEDGER_*``) with embedded defaults.

With no environment at all the ledger runs on its embedded defaults: a project-managed anvil dev
chain, a local content store and a local keystore, all under ``.data/`` in the working directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger._ids import DEFAULT_DISTID


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    data_dir: Path = Field(default=Path(".data"), description="Where all local state lives.")
    chain_rpc_url: str | None = Field(
        default=None,
        description="JSON-RPC URL of an EVM chain; unset means the managed anvil dev chain.",
    )
    dev_chain_port: int = Field(default=8545, ge=1, le=65535)
    chain_private_key: SecretStr | None = Field(
        default=None,
        description="Hex key of the account that anchors; required unless on the dev chain.",
    )
    chain_id: int | None = Field(
        default=None,
        ge=1,
        description="The chain's ID. Needed only to start while the chain node is unreachable:"
        " with contract_address it is the signing domain; alone it picks the recorded"
        " deployment. If the node answers, it must serve this chain.",
    )
    contract_address: str | None = Field(
        default=None,
        pattern=r"^0x[0-9a-fA-F]{40}$",
        description="Address of the EvidenceLedger contract, for a start while the chain node is"
        " unreachable and no deployment is recorded (with chain_id).",
    )
    keystore_password: SecretStr = Field(
        default=SecretStr("ledger-dev-password"),
        description="Password of the local keystore (set it outside development).",
    )
    sm2_distid: str = Field(default=DEFAULT_DISTID.decode("ascii"), min_length=1)
    api_host: str = Field(default="127.0.0.1", description="Address the HTTP API binds to.")
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_max_body_bytes: int = Field(
        default=24 * 1024 * 1024,
        ge=1024,
        description="Largest request body the HTTP API reads (413 above it, before reading):"
        " room for one agreement with a 16 MiB document in base64 and 16 signatures.",
    )
    api_max_bulk_body_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="Largest body of POST /v1/agreements/bulk: its 1,000 agreements at ~64 KiB"
        " each (documents of ~45 KiB); bigger documents go one per request.",
    )
    store_backend: Literal["embedded", "kubo"] = Field(
        default="embedded",
        description="Content store: 'embedded' (blocks under data_dir/store) or 'kubo' (an IPFS "
        "node's Kubo RPC API at ipfs_api_url).",
    )
    ipfs_api_url: str = Field(
        default="http://127.0.0.1:5001",
        description="Kubo RPC API base URL of the IPFS node (store_backend='kubo').",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL of the service database (sqlite:///... or postgresql://...);"
        " empty means SQLite at <data_dir>/ledger.db.",
    )
    batch_max_size: int = Field(
        default=1000,
        ge=1,
        le=65535,
        description="A batch is anchored once this many accepted versions wait (size bound).",
    )
    batch_max_wait_s: float = Field(
        default=0.5,
        gt=0,
        le=3600,
        description="...or once the oldest accepted version has waited this long (time bound).",
    )
    receipt_timeout_s: float = Field(
        default=30.0, gt=0, description="How long the batcher waits for an anchoring receipt."
    )
    commit_max_items: int = Field(
        default=1024,
        ge=1,
        description="Most acknowledgments written in one group-committed transaction.",
    )
    signing_max_age_s: float = Field(
        default=86400.0,
        gt=0,
        description="A signature is accepted only if made at most this long before (seconds).",
    )
    signing_max_skew_s: float = Field(
        default=300.0,
        ge=0,
        le=3600,
        description="...and at most this far in the future: the signer's clock skew (seconds).",
    )
    request_signature_max_age_s: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="A signed HTTP request (RFC 9421) is accepted only if its `created` is at most"
        " this old (seconds); its nonce is remembered that long (plus the skew).",
    )
    request_signature_max_skew_s: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="...give or take this much clock skew between signer and service (seconds);"
        " an `expires` more than this far in the past is refused.",
    )
    members_file: Path | None = Field(
        default=None,
        description="TOML file of the registered keys (member, roles, SM2 public key, window)"
        " that signed requests are verified against instead of the on-chain key registry"
        " (a fixed consortium, tools, tests); unset: the consortium recorded for the chain"
        " (see ledger.member.directory).",
    )
    key_directory_refresh_s: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="How old the index of members' request-signing keys read from the chain may"
        " grow before a request reads it again: a key revoked or a member voted out on chain is"
        " refused at most this long after the change.",
    )
    api_public_origin: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#@\s]+$",
        description="The origin clients address this service by (`https://broker-a.example`):"
        " the scheme and authority of every signed request's `@target-uri`. Unset: taken from"
        " the request (its scheme and Host), right only without a proxy in front.",
    )
    client_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#@\s]+$",
        description="The service `ledger client` calls (`https://broker-a.example`). Unset:"
        " api_public_origin, else http://api_host:api_port.",
    )
    lifecycle_poll_s: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="How often the service reads the chain's lifecycle feed (attestations"
        " revoked, superseded or expired, grants revoked) and marks the accounts it opened on"
        " them for re-verification (seconds).",
    )
    request_key_name: str = Field(
        default="request-signing",
        min_length=1,
        description="The service keystore's key this member's service signs its requests to"
        " other members' services with (RFC 9421; created on first use: register it on chain"
        " for request-signing).",
    )
    disclosure_key_name: str = Field(
        default="disclosure-receiving",
        min_length=1,
        description="The service keystore's key released disclosures are encrypted to (created"
        " on first use: register it on chain for disclosure-receiving).",
    )

    @property
    def resolved_client_url(self) -> str:
        """Where ``ledger client`` sends requests (``client_url``, ``api_public_origin``, or
        this host's API)."""
        return (
            self.client_url or self.api_public_origin or f"http://{self.api_host}:{self.api_port}"
        )

    @property
    def chain_dir(self) -> Path:
        return self.data_dir / "chain"

    @property
    def deployments_dir(self) -> Path:
        return self.data_dir / "deployments"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"

    @property
    def resolved_database_url(self) -> str:
        """``database_url``, or SQLite at ``<data_dir>/ledger.db`` when it is empty."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ledger.db').resolve()}"
