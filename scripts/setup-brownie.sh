#!/usr/bin/env bash
# Create (or repair) .venv-brownie: eth-brownie 1.22.2 in its own environment, offline compiler.
#
# brownie pins web3 7.16 and ~80 exact versions, so it never goes into the service's .venv
# (web3 8). Everything comes from the project's own files:
#   scripts/brownie-requirements.txt   exact pins of eth-brownie and its dependency closure
#   scripts/solc                       the pinned npm solcjs 0.8.28 (needs `npm ci` first)
#   node_modules/@foundry-rs/...       the pinned anvil, for brownie's `development` network
# What it sets up inside .venv-brownie:
#   solcx/solc-v0.8.28 -> ../../scripts/solc   where py-solc-x looks (SOLCX_BINARY_PATH)
#   bin/anvil -> the pinned anvil              brownie launches `anvil` from PATH
#   site-packages/ledger_brownie.pth           at start-up of that venv's Python: defaults
#     (imports ledger_brownie_env.py)          SOLCX_BINARY_PATH to .venv-brownie/solcx and puts
#                                              .venv-brownie/bin on PATH, so that
#                                              `.venv-brownie/bin/brownie ...` works unactivated
# Idempotent: a second run with unchanged pins only re-checks and re-links. Quiet on success;
# on failure one line on stderr and a non-zero exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-brownie"
REQUIREMENTS="$ROOT/scripts/brownie-requirements.txt"
SOLC="$ROOT/scripts/solc"
ANVIL="$ROOT/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
SOLC_VERSION="0.8.28"
BROWNIE_VERSION="1.22.2"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.requirements.sha256"
LOG="$(mktemp "${TMPDIR:-/tmp}/setup-brownie.XXXXXX.log")"
trap '[[ -s "$LOG" ]] || rm -f "$LOG"' EXIT

fail() {
    echo "setup-brownie: $1" >&2
    exit 1
}

[[ -f "$REQUIREMENTS" ]] || fail "missing $REQUIREMENTS"
command -v "$PYTHON" >/dev/null || fail "no $PYTHON on PATH (need Python 3.11)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || fail "$PYTHON is $("$PYTHON" -V 2>&1), need Python 3.11"
"$SOLC" --version 2>/dev/null | grep -q "^Version: $SOLC_VERSION+" \
    || fail "$SOLC does not answer solc $SOLC_VERSION: run 'npm ci' first (node, node_modules/solc)"
[[ -x "$ANVIL" ]] || fail "anvil not found at $ANVIL: run 'npm ci' first"

want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"

# A venv whose interpreter no longer runs (moved tree, removed python) is rebuilt from scratch.
if [[ -e "$VENV" ]] && ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
    rm -rf "$VENV"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV" >>"$LOG" 2>&1 || fail "cannot create $VENV (log: $LOG)"
fi

if [[ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]]; then
    rm -f "$STAMP"
    "$VENV/bin/python" -m pip install --quiet --no-input --disable-pip-version-check \
        -r "$REQUIREMENTS" >>"$LOG" 2>&1 \
        || fail "pip install -r scripts/brownie-requirements.txt failed (log: $LOG)"
    "$VENV/bin/python" -m pip check >>"$LOG" 2>&1 \
        || fail "inconsistent packages in $VENV after install (log: $LOG)"
fi

# The local compiler and anvil: relative links, so they follow the tree.
mkdir -p "$VENV/solcx"
ln -sfn "../../scripts/solc" "$VENV/solcx/solc-v$SOLC_VERSION"
ln -sfn "../../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil" "$VENV/bin/anvil"
site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
cat >"$site/ledger_brownie_env.py" <<'PY'
"""Written by scripts/setup-brownie.sh; imported at start-up through ledger_brownie.pth."""

import os
import sys

os.environ.setdefault("SOLCX_BINARY_PATH", os.path.join(sys.prefix, "solcx"))
_bin = os.path.join(sys.prefix, "bin")
_path = os.environ.get("PATH", "")
if _bin not in _path.split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + _path if _path else _bin
PY
echo "import ledger_brownie_env" >"$site/ledger_brownie.pth"

# What matters: the pinned brownie, and py-solc-x finding our solc without any download.
"$VENV/bin/python" - "$BROWNIE_VERSION" "$SOLC_VERSION" >>"$LOG" 2>&1 <<'PY' \
    || fail "$VENV does not work: wrong brownie or no solc $SOLC_VERSION for py-solc-x (log: $LOG)"
import sys
from importlib.metadata import version

import solcx

brownie_version, solc_version = sys.argv[1:]
assert version("eth-brownie") == brownie_version, version("eth-brownie")
solcx.set_solc_version(solc_version, silent=True)
assert str(solcx.get_solc_version()) == solc_version, solcx.get_solc_version()
PY

echo "$want" >"$STAMP"
rm -f "$LOG"
