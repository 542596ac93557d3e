"""Compile the contracts offline with the pinned solcjs (scripts/solc, driven through py-solc-x by
ledger.chain._build) and write the committed artifacts.

Usage: .venv/bin/python scripts/compile.py
"""

from ledger.chain._build import compile_contracts, write_artifacts

if __name__ == "__main__":
    for path in write_artifacts(compile_contracts()):
        print(path)
