"""``ledger cid FILE``: print the CIDv1 ``ipfs add --cid-version=1`` (Kubo) gives FILE."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import click

from ledger.store.cid import CHUNK_SIZE, cid_of_file, cid_of_stream
from ledger.store.errors import StoreError


def _stdin_chunks() -> Iterator[bytes]:
    stream = sys.stdin.buffer
    while chunk := stream.read(CHUNK_SIZE):
        yield chunk


@click.command("cid")
@click.argument("file", type=click.Path(allow_dash=True, path_type=str))
def cid(file: str) -> None:
    """Print the CIDv1 Kubo's `ipfs add --cid-version=1` gives FILE ('-' reads stdin).

    Raw leaves, 262144-byte chunks, balanced DAG of at most 174 links, sha2-256, base32.
    The file is streamed: memory stays constant whatever its size.
    """
    if file == "-":
        text = cid_of_stream(_stdin_chunks())
    else:
        try:
            text = cid_of_file(file)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise StoreError(f"cannot read {file}: {reason}") from None
    click.echo(text)
