"""``ledger consortium ...`` and ``scripts/deploy.py consortium`` against a real anvil node: init
from a consortium.toml, status, propose / vote / execute / cancel / list, keys register / list /
rotate / revoke; refusals are one line and exit status 2."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from eth_account import Account

from ledger.cli import cli
from ledger.crypto.sm2 import SM2PrivateKey
from tests._fixtures.consortium import ANVIL_KEYS

ROOT = Path(__file__).resolve().parents[3]
ACCOUNTS = [Account.from_key(k).address for k in ANVIL_KEYS]
HEX_ID = re.compile(r"^0x[0-9a-f]{64}$")


@pytest.fixture
def setup(tmp_path: Path, governance_url: str) -> dict[str, object]:
    keys = [SM2PrivateKey.generate().public_key() for _ in range(3)]
    (tmp_path / "gamma.pem").write_bytes(keys[2].to_pem())
    config = tmp_path / "consortium.toml"
    config.write_text(
        f"""
[governance]
voting_period_s = 3600
[thresholds]
default = 2
[[members]]
account = "{ACCOUNTS[0]}"
name = "Alpha Securities"
endpoint = "https://alpha.example"
roles = ["broker"]
request_signing_key = "{keys[0].to_raw().hex()}"
[[members]]
account = "{ACCOUNTS[1]}"
name = "Beta Brokerage"
endpoint = "https://beta.example"
roles = ["broker"]
request_signing_key = "{keys[1].to_raw().hex()}"
[[members]]
account = "{ACCOUNTS[2]}"
name = "Gamma Audit"
endpoint = "https://gamma.example"
roles = ["auditor"]
request_signing_key_file = "gamma.pem"
""",
        "utf-8",
    )
    return {"config": config, "keys": keys, "data": tmp_path / "data", "url": governance_url}


def _run(setup: dict[str, object], *args: str, account: int = 0) -> Result:
    env = {
        "LEDGER_DATA_DIR": str(setup["data"]),
        "LEDGER_CHAIN_RPC_URL": str(setup["url"]),
        "LEDGER_CHAIN_PRIVATE_KEY": ANVIL_KEYS[account],
    }
    return CliRunner().invoke(cli, ["consortium", *args], env=env)


def _ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def test_init_status_and_a_vote(setup: dict[str, object]) -> None:
    out = _ok(_run(setup, "init", "--config", str(setup["config"])))
    lines = out.splitlines()
    assert re.fullmatch(r"Consortium 0x[0-9a-fA-F]{40} \(chain 31337\)", lines[0])
    assert re.fullmatch(r"KeyRegistry 0x[0-9a-fA-F]{40} \(chain 31337\)", lines[1])
    record = json.loads((Path(str(setup["data"])) / "deployments" / "31337.json").read_text())
    assert sorted(record["contracts"]) == ["Consortium", "KeyRegistry"]

    again = _run(setup, "init", "--config", str(setup["config"]))
    assert again.exit_code == 2
    assert re.fullmatch(
        r"error: a Consortium is recorded at 0x[0-9a-fA-F]{40} on chain 31337; deploy a new one"
        r" explicitly \(`ledger consortium init --force`\)\n",
        again.output,
    )

    status = _ok(_run(setup, "status"))
    keys = setup["keys"]
    assert isinstance(keys, list)
    assert f"{ACCOUNTS[2]}  Gamma Audit       auditor" in status
    assert f"request-signing sm3:{keys[2].fingerprint().hex()[:12]} " in status
    assert "thresholds: admit-member 2, remove-member 2, change-threshold 2" in status
    assert status.rstrip().endswith("open proposals: 0")

    proposal = _ok(_run(setup, "propose", "grant", ACCOUNTS[2], "regulator")).strip()
    assert HEX_ID.match(proposal)
    assert _ok(_run(setup, "vote", proposal)) == "vote: now active\n"
    twice = _run(setup, "vote", proposal)
    assert twice.exit_code == 2
    assert twice.output == (
        f"error: Consortium reverted with Consortium__AlreadyVoted({proposal[2:]}, {ACCOUNTS[0]})\n"
    )
    assert "open proposals: 1" in _ok(_run(setup, "status"))
    assert _ok(_run(setup, "vote", proposal, account=1)) == "vote: now succeeded\n"
    assert _ok(_run(setup, "execute", proposal, account=2)) == "execute: now executed\n"
    listed = _ok(_run(setup, "list", "--all"))
    assert f"{proposal}  executed  2/2" in listed
    assert f"grant-role {ACCOUNTS[2]} regulator" in listed
    assert _ok(_run(setup, "list")).count("\n") == 2  # headers only
    assert f"{ACCOUNTS[2]}  Gamma Audit       auditor,regulator" in _ok(_run(setup, "status"))

    removal = _ok(_run(setup, "propose", "remove", ACCOUNTS[1])).strip()
    outsider = _run(setup, "cancel", removal, account=1)
    assert outsider.output == (
        f"error: Consortium reverted with Consortium__NotProposer({removal[2:]},"
        f" {ACCOUNTS[1]}, {ACCOUNTS[0]})\n"
    )
    assert _ok(_run(setup, "cancel", removal)) == "cancel: now canceled\n"


def test_propose_admission_and_keys(setup: dict[str, object], tmp_path: Path) -> None:
    _ok(_run(setup, "init", "--config", str(setup["config"])))
    newcomer = SM2PrivateKey.generate().public_key()
    proposal = _ok(
        _run(
            setup,
            "propose",
            "admit",
            "--account",
            ACCOUNTS[5],
            "--name",
            "Zeta",
            "--endpoint",
            "https://zeta.example",
            "--role",
            "broker",
            "--key",
            "0x" + newcomer.to_raw().hex(),
        )
    ).strip()
    assert f'admit-member {ACCOUNTS[5]} "Zeta" https://zeta.example broker' in _ok(
        _run(setup, "list")
    )
    _ok(_run(setup, "vote", proposal))
    _ok(_run(setup, "vote", proposal, account=1))
    _ok(_run(setup, "execute", proposal))

    sealing = SM2PrivateKey.generate().public_key()
    (tmp_path / "sealing.pem").write_bytes(sealing.to_pem())
    key_id = _ok(
        _run(
            setup,
            "keys",
            "register",
            "proof-sealing",
            "--key-file",
            str(tmp_path / "sealing.pem"),
            account=5,
        )
    ).strip()
    assert HEX_ID.match(key_id)
    listed = _ok(_run(setup, "keys", "list", ACCOUNTS[5]))
    assert f"{key_id}  proof-sealing  sm3:{sealing.fingerprint().hex()}" in listed
    rotated = _ok(
        _run(setup, "keys", "rotate", key_id, "--key", newcomer.to_raw().hex(), account=5)
    ).strip()
    assert HEX_ID.match(rotated) and rotated != key_id
    assert _ok(_run(setup, "keys", "revoke", rotated, account=5)).startswith("revoked from 20")
    refused = _run(setup, "keys", "revoke", rotated, account=5)
    assert refused.exit_code == 2
    assert refused.output.startswith(
        f"error: KeyRegistry reverted with KeyRegistry__AlreadyRevoked({rotated[2:]}, "
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("propose", "threshold", "admit-member", "0"), "0 is not in the range x>=1"),
        (("propose", "threshold", "everything", "1"), "'everything' is not one of"),
        (("propose", "remove", "0x1234"), "'0x1234' is not a (checksummed) account"),
        (("vote", "0xabc"), "'0xabc' is not a 32-byte hex ID"),
        (("propose", "grant", ACCOUNTS[0], "admin"), "'admin' is not one of 'broker', 'aud"),
        (("keys", "revoke", "0x" + "00" * 32, "--at", "tomorrow"), "'tomorrow' is neither UNIX"),
        (("keys", "register", "request-signing"), "give the SM2 public key with --key or"),
    ],
)
def test_bad_input_is_one_line_and_sends_nothing(
    setup: dict[str, object], args: tuple[str, ...], message: str
) -> None:
    result = _run(setup, *args)
    assert result.exit_code == 2
    assert message in result.output


def test_commands_need_an_initialised_consortium(setup: dict[str, object]) -> None:
    result = _run(setup, "status")
    assert result.exit_code == 2
    assert result.output == (
        f"error: no Consortium recorded for chain 31337 in {setup['data']}/deployments: run"
        " `ledger consortium init --config consortium.toml`\n"
    )


def test_a_bad_config_deploys_nothing(setup: dict[str, object]) -> None:
    config = Path(str(setup["config"]))
    config.write_text(config.read_text().replace("default = 2", "default = 4"))
    result = _run(setup, "init", "--config", str(config))
    assert result.exit_code == 2
    assert result.output == f"error: {config}: thresholds.default: 4 is not within 1..3\n"
    assert not (Path(str(setup["data"])) / "deployments").exists()


def test_deploy_script_drives_the_same_path(setup: dict[str, object]) -> None:
    env = {
        **os.environ,
        "LEDGER_DATA_DIR": str(setup["data"]),
        "LEDGER_CHAIN_RPC_URL": str(setup["url"]),
        "LEDGER_CHAIN_PRIVATE_KEY": ANVIL_KEYS[0],
    }
    done = subprocess.run(
        [sys.executable, "scripts/deploy.py", "consortium", "--config", str(setup["config"])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert re.match(r"Consortium 0x[0-9a-fA-F]{40} \(chain 31337\)\nKeyRegistry 0x", done.stdout)
    assert "Alpha Securities" in _ok(_run(setup, "status"))


def test_rotate_sealing_needs_a_sealing_key_valid_now_and_leaves_no_key_behind(
    setup: dict[str, object],
) -> None:
    _ok(_run(setup, "init", "--config", str(setup["config"])))
    keys_dir = Path(str(setup["data"])) / "keys"
    before = sorted(p.name for p in keys_dir.glob("*.json")) if keys_dir.is_dir() else []
    result = _run(setup, "keys", "rotate-sealing")
    assert result.exit_code == 2
    assert result.output == (
        "error: none of this service's sealing keys is valid on chain now: register one with"
        " `ledger consortium keys register proof-sealing --key-file ...`\n"
    )
    # the service's own key is made on first use, and no new sealing key was kept
    after = sorted(p.name for p in keys_dir.glob("*.json"))
    assert [n for n in after if n.startswith("proof-sealing-")] == []
    assert set(before) <= set(after) <= {*before, "ledger-service.json"}
