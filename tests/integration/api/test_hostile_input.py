"""Hostile input at the HTTP edge, against a real ``python -m api`` process (uvicorn, the evidence
service on a real anvil and SQLite): nothing crashes it, no body is read past its limit, and
heavy work does not stall the event loop."""

from __future__ import annotations

import json
import os
import select
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.deps import MAX_PROOF_BYTES
from api.server import MAX_HEAD_BYTES
from ledger.agreement import new_agreement_id
from ledger.chain.devnode import DEV_PRIVATE_KEY
from tests._fixtures.anvil import free_port
from tests._fixtures.proofs import Parties, anchor_offline, sign_version
from tests._fixtures.server import ServiceProcess

PROBLEM = "application/problem+json"
#: Body limits of the server under test (LEDGER_API_MAX_BODY_BYTES / _MAX_BULK_BODY_BYTES).
SINGLE, BULK = 256 * 1024, 1024 * 1024
#: ~140 KB of nested arrays: segfaulted the server when py_ecc had raised the recursion limit.
NESTED_ARRAYS = b"[" * 70_000 + b"]" * 70_000
NESTED_OBJECTS = b'{"a":' * 30_000 + b"1" + b"}" * 30_000
_ID = new_agreement_id()
JSON_ENDPOINTS = [
    "/v1/agreements",
    "/v1/agreements/bulk",
    f"/v1/agreements/{_ID}/versions",
    f"/v1/agreements/{_ID}/versions/1/signatures",
    "/v1/proofs/verify",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, anvil_url: str) -> Iterator[ServiceProcess]:
    service = ServiceProcess(
        data_dir=tmp_path_factory.mktemp("edge"),
        port=free_port(),
        env={
            "LEDGER_CHAIN_RPC_URL": anvil_url,
            "LEDGER_CHAIN_PRIVATE_KEY": DEV_PRIVATE_KEY,
            "LEDGER_API_MAX_BODY_BYTES": str(SINGLE),
            "LEDGER_API_MAX_BULK_BODY_BYTES": str(BULK),
        },
    )
    service.start()
    try:
        yield service
    finally:
        service.close()


def _alive(server: ServiceProcess) -> None:
    assert server.process is not None and server.process.poll() is None, server.tail()
    assert server.http.get("/health").status_code == 200


def _problem(reply: httpx.Response, status: int) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == PROBLEM
    body: dict[str, Any] = reply.json()
    assert body["status"] == status and body["type"].startswith("urn:ledger:problem:")
    return body


# --- nesting ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
@pytest.mark.parametrize("body", [NESTED_ARRAYS, NESTED_OBJECTS], ids=["arrays", "objects"])
def test_deeply_nested_json_is_a_problem_not_a_crash(
    server: ServiceProcess, path: str, body: bytes
) -> None:
    reply = server.http.post(path, content=body, headers={"content-type": "application/json"})
    if path == "/v1/proofs/verify":
        problem = _problem(reply, 422)
        assert problem["type"] == "urn:ledger:problem:proof-invalid"
        assert problem["detail"].startswith("not a proof file: not JSON: maximum recursion depth")
    else:
        problem = _problem(reply, 400)
        assert problem["detail"] == "There was an error parsing the body"
    _alive(server)


# --- body limits --------------------------------------------------------------------------


def _raw(server: ServiceProcess, head: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(head.encode("ascii"))
    return sock


def _reply(sock: socket.socket) -> httpx.Response:
    """Read one HTTP/1.1 reply (the server closes the connection after a 413)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(line.split(": ", 1)) for line in header_lines]
    return httpx.Response(int(status_line.split()[1]), headers=headers, content=body)


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/v1/agreements", SINGLE),
        (f"/v1/agreements/{_ID}/versions", SINGLE),
        ("/v1/agreements/bulk", BULK),
        ("/v1/proofs/verify", MAX_PROOF_BYTES),
        ("/no/such/path", SINGLE),
    ],
)
def test_a_declared_oversize_is_refused_before_any_byte_is_sent(
    server: ServiceProcess, path: str, limit: int
) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
        f"Content-Length: {limit + 1}\r\n\r\n"
    )
    with _raw(server, head) as sock:  # not one byte of the body follows
        reply = _reply(sock)
    problem = _problem(reply, 413)
    assert problem["detail"] == f"request bodies here are limited to {limit} bytes"
    assert reply.headers["connection"] == "close"
    _alive(server)


def test_a_body_within_the_bulk_limit_is_read_on_the_bulk_path_only(
    server: ServiceProcess,
) -> None:
    body = json.dumps({"agreements": [{"padding": "x" * (SINGLE + 1)}]}).encode()
    assert SINGLE < len(body) < BULK
    headers = {"content-type": "application/json"}
    _problem(server.http.post("/v1/agreements/bulk", content=body, headers=headers), 422)
    _problem(server.http.post("/v1/agreements", content=body, headers=headers), 413)


def _send_chunked(server: ServiceProcess, path: str, total: int) -> tuple[httpx.Response, int]:
    """Stream ``total`` bytes of a JSON array as chunks until the server answers; the reply
    and how many bytes had been sent by then.

    Each chunk waits briefly for an answer, as a careful client does: uvicorn closes at once
    after its reply (no lingering close), and bytes it never read make the kernel reset the
    connection, which can drop the reply before the client reads it."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"[" + b'"' + b"x" * (64 * 1024 - 2) + b'"'
    sent = 0
    with _raw(server, head) as sock:
        try:
            while sent < total and not select.select([sock], [], [], 0.05)[0]:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                chunk = b"," + chunk[1:]
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while we were sending
        return _reply(sock), sent


@pytest.mark.parametrize(
    ("path", "limit"), [("/v1/agreements", SINGLE), ("/v1/agreements/bulk", BULK)]
)
def test_a_chunked_body_is_refused_as_it_passes_the_limit(
    server: ServiceProcess, path: str, limit: int
) -> None:
    reply, sent = _send_chunked(server, path, total=64 * limit)
    problem = _problem(reply, 413)
    assert problem["detail"] == f"request bodies here are limited to {limit} bytes"
    assert sent < 64 * limit  # refused long before the end (socket buffers hold the rest)
    _alive(server)


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_refused_bodies_do_not_grow_the_server(server: ServiceProcess) -> None:
    # A sanity bound, not a measurement: a gigabyte declared or streamed is never held.
    assert server.process is not None
    before = _rss_bytes(server.process.pid)
    for _ in range(3):
        head = (
            "POST /v1/agreements/bulk HTTP/1.1\r\nHost: edge\r\n"
            f"Content-Type: application/json\r\nContent-Length: {2**30}\r\n\r\n"
        )
        with _raw(server, head) as sock:
            _problem(_reply(sock), 413)
        _problem(_send_chunked(server, "/v1/agreements/bulk", total=2**30)[0], 413)
    assert _rss_bytes(server.process.pid) < before + 64 * 1024 * 1024
    _alive(server)


# --- the event loop -----------------------------------------------------------------------


def test_health_answers_while_a_large_proof_verifies(server: ServiceProcess) -> None:
    parties = Parties.generate()
    version = sign_version(parties, content=os.urandom(8 * 1024 * 1024))
    proof = anchor_offline([version]).proof(0, parties.issuer)
    uploaded = threading.Event()
    events: list[str] = []

    def body() -> Iterator[bytes]:
        for start in range(0, len(proof), 1024 * 1024):
            yield proof[start : start + 1024 * 1024]
        uploaded.set()

    def upload() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            reply = client.post("/v1/proofs/verify", content=body())
        events.append(f"verify {reply.status_code}")

    uploader = threading.Thread(target=upload)
    uploader.start()
    assert uploaded.wait(60)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        while uploader.is_alive():
            events.append(f"health {client.get('/health').status_code}")
    uploader.join()
    # The proof is anchored offline, so the server (configured with a chain) refuses it after
    # checking everything else; meanwhile /health answered, many times (on a blocked loop, at
    # most the one or two that came before verification started).
    verdict = events.index("verify 422")
    assert events[:verdict].count("health 200") >= 5, events


# --- the request head ----------------------------------------------------------------------


def test_a_head_streamed_in_small_pieces_is_cut_off_past_16_kib(server: ServiceProcess) -> None:
    # httptools gathers a header in memory until it ends: the bound is on bytes received while
    # the head is incomplete, however they arrive.
    sent = 0
    with _raw(server, "GET /health HTTP/1.1\r\nHost: edge\r\nX-Endless: ") as sock:
        try:
            while sent < 1024 * 1024 and not select.select([sock], [], [], 0.02)[0]:
                sock.sendall(b"b" * 1024)
                sent += 1024
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed while we were sending
        reply = _reply(sock)
    assert _problem(reply, 400)["detail"] == "Invalid HTTP request received."
    assert reply.headers["connection"] == "close"
    assert MAX_HEAD_BYTES <= sent < 1024 * 1024
    _alive(server)


def test_heads_under_the_bound_are_served_one_after_another_on_one_connection(
    server: ServiceProcess,
) -> None:
    # The count starts again with each request: two 12 KiB heads on one kept-alive connection
    # are 24 KiB in all, and both are served.
    request = f"GET /health HTTP/1.1\r\nHost: edge\r\nX-Pad: {'p' * 12 * 1024}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        for _ in range(2):
            sock.sendall(request.encode("ascii"))
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(1)
            length = int(
                next(
                    line.split(b":", 1)[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
            )
            body = b""
            while len(body) < length:
                body += sock.recv(length - len(body))
            assert head.startswith(b"HTTP/1.1 200 "), head
            assert json.loads(body)["status"] in {"ok", "degraded"}


# --- what uvicorn answers itself ----------------------------------------------------------


@pytest.mark.parametrize(
    "head",
    [  # the first 32 KiB of each: the server gives up past 16 KiB without a complete head
        f"GET /v1/agreements/{'a' * 32 * 1024}",
        f"GET /health HTTP/1.1\r\nHost: edge\r\nX-Long: {'b' * 32 * 1024}",
        "GET /health HTTP/1.1\r\nHost: edge\r\nNot a header\r\n\r\n",
    ],
    ids=["long-path", "long-header", "malformed"],
)
def test_requests_uvicorn_refuses_get_a_problem_too(server: ServiceProcess, head: str) -> None:
    with _raw(server, head) as sock:
        reply = _reply(sock)
    problem = _problem(reply, 400)
    assert problem == {
        "type": "urn:ledger:problem:bad-request",
        "title": "Bad Request",
        "status": 400,
        "detail": "Invalid HTTP request received.",
    }
    _alive(server)


# --- the access log -------------------------------------------------------------------------


def test_every_request_is_in_the_access_log_in_order(server: ServiceProcess) -> None:
    # uvicorn's access lines are written by a background thread (api._logging), not dropped.
    paths = [f"/health?probe={n}" for n in range(5)]
    for path in paths:
        assert server.http.get(path).status_code == 200
    deadline = time.monotonic() + 10
    while True:
        log = server.tail(lines=400)
        found = [log.find(f'"GET {path} HTTP/1.1" 200') for path in paths]
        if all(at >= 0 for at in found) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert all(at >= 0 for at in found), log[-2000:]
    assert found == sorted(found)
