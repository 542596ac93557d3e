"""Deterministic test payloads and the CIDs a real node gave them (pinned here so unit tests run
without a node; tests/integration/store re-checks every one of them against a live node)."""

from __future__ import annotations

import hashlib

CHUNK = 262144
MAX_LINKS = 174


def payload(size: int, seed: int = 0) -> bytes:
    """``size`` pseudo-random bytes, the same on every machine and Python version."""
    return hashlib.shake_256(f"ledger-store-test/{seed}".encode()).digest(size) if size else b""


EMPTY_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"

# size -> CID of payload(size) as js-ipfs 0.66.1 reported it for `add` with
# cid-version=1, raw-leaves=true, chunker=size-262144 (Kubo's `ipfs add --cid-version=1`).
SIZES = [
    0,
    1,
    1000,
    CHUNK - 1,
    CHUNK,
    CHUNK + 1,
    2 * CHUNK + 7,
    MAX_LINKS * CHUNK,
    MAX_LINKS * CHUNK + 1,
    (MAX_LINKS + 1) * CHUNK + 5,
]
BIG_SIZE = 46 * 1024 * 1024 + 123  # 185 chunks > 174: a depth-2 DAG

KNOWN_CIDS: dict[int, str] = {
    0: EMPTY_CID,
    1: "bafkreicpw4z35w3u73enmw7n6bllsniytiuj5eulgmbl5q4kfambjxsshi",
    1000: "bafkreidmjzofsdm54wgrybr7ionfbqmi6l3rbkxbucvzqbmypcreujs33i",
    CHUNK - 1: "bafkreihbnkrtlu5k34qjxrfcp7yuzkiauieetrw5burpxmqs6dx3anabru",
    CHUNK: "bafkreibtjrtowdytunbxd2fkkfbktgda3x5fsrb4hany4q4i4rdd2ygnui",
    CHUNK + 1: "bafybeicccrmlfnbbifptnxsd232qwkyazqm2ymocuut2nziirdf3uqzwky",
    2 * CHUNK + 7: "bafybeig4cdm5caqfhq6ci6xso3cvyfh2pcajc7nwm6txhv2yjjcnvj74wq",
    MAX_LINKS * CHUNK: "bafybeicyoi7kckajcppjj44urjvqavi5m5wm4brx3bszfkkj7cdvrpl36q",
    MAX_LINKS * CHUNK + 1: "bafybeic4kmaqacq5quhxf5huoqnpkateoicl7ocwn26bnntp56tmfbefzq",
    (MAX_LINKS + 1) * CHUNK + 5: "bafybeiep5a2uszh44y5ptgl3l66dqa5dimvh72hesoy6bc2krkrt6jq2ji",
    BIG_SIZE: "bafybeiezbnrsp4bni44n5oislkt4ntpzpsaqcr7ox44yiazbrgvukcxw5q",
}

# Other values the node gave (js-ipfs 0.66.1):
HELLO_CIDV1 = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"  # add b"hello"
# `add b"hello"` with js-ipfs defaults (CIDv0: dag-pb leaf, Type=File, Data inline).
HELLO_CIDV0 = "QmWfVY9y3xjsixTgbd9AorQxH7VtMpzfx2HaWtsoUYecaX"
# The same raw block, as js-ipfs prints CIDv1 by default (base58btc, multibase 'z').
HELLO_CIDV1_BASE58 = "zb2rhZfjRh2FHHB2RkHVEvL2vJnCTcu7kwRqgVsf9gpkLgteo"
