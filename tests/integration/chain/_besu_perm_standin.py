"""A STAND-IN for a Besu node's local-permissioning JSON-RPC API, for tests only.

Besu cannot be installed here, so ``sync-permissions`` is tested against this small real HTTP
JSON-RPC server that keeps an accounts and a nodes allowlist and answers the ``perm_*`` methods
the way Besu's API reference and source (``PermAddAccountsToAllowlist`` etc.,
``AccountLocalConfigPermissioningController``, ``RpcErrorType``) document: accounts lowercased
on the way in; ``"Success"`` on a change; error code -32000 with Besu's messages for an empty
list, an invalid or duplicate entry, adding an entry already present or removing one absent;
-32601 "Method not found" for anything else. It is not Besu: it checks the shapes our client
sends and answers what Besu documents, nothing more. Every call is recorded in ``calls``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ACCOUNT = re.compile(r"^0x[0-9a-f]{40}$")
_ENODE = re.compile(r"^enode://[0-9a-f]{128}@[^:@/]+:\d+$")


class _Refused(Exception):
    def __init__(self, message: str, code: int = -32000) -> None:
        super().__init__(message)
        self.code = code


class BesuPermStandIn:
    def __init__(self, *, accounts: list[str], nodes: list[str] | None = None) -> None:
        self.accounts = [a.lower() for a in accounts]
        self.nodes = list(nodes or [])
        self.calls: list[tuple[str, list[Any]]] = []
        self.url = ""

    def handle(self, method: str, params: list[Any]) -> Any:
        self.calls.append((method, params))
        if method == "perm_getAccountsAllowlist":
            return list(self.accounts)
        if method == "perm_getNodesAllowlist":
            return list(self.nodes)
        if method in ("perm_addAccountsToAllowlist", "perm_removeAccountsFromAllowlist"):
            entries = [str(a).lower() for a in self._list(params, "accounts")]
            if not all(_ACCOUNT.match(a) for a in entries):
                raise _Refused("Request contains an invalid account")
            return self._change(self.accounts, entries, method.startswith("perm_add"), "account")
        if method in ("perm_addNodesToAllowlist", "perm_removeNodesFromAllowlist"):
            entries = [str(n) for n in self._list(params, "nodes")]
            if not all(_ENODE.match(n) for n in entries):
                raise _Refused("Request contains an invalid node")
            return self._change(self.nodes, entries, method.startswith("perm_add"), "node")
        raise _Refused("Method not found", -32601)

    @staticmethod
    def _list(params: list[Any], what: str) -> list[Any]:
        if len(params) != 1 or not isinstance(params[0], list):
            raise _Refused(f"Invalid {what[:-1]} params", -32602)
        if not params[0]:
            raise _Refused(f"Request contains an empty list of {what}")
        if len(set(params[0])) != len(params[0]):
            raise _Refused(f"Request contains duplicate {what}")
        return params[0]

    @staticmethod
    def _change(store: list[str], entries: list[str], add: bool, what: str) -> str:
        if add:
            if any(e in store for e in entries):
                raise _Refused(f"Cannot add an existing {what} to allowlist")
            store.extend(entries)
        else:
            if not all(e in store for e in entries):
                raise _Refused(f"Cannot remove an absent {what} from allowlist")
            for e in entries:
                store.remove(e)
        return "Success"


@contextmanager
def running(standin: BesuPermStandIn) -> Iterator[BesuPermStandIn]:
    """Serve ``standin`` on a free loopback port (``standin.url``) until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            answer: dict[str, Any] = {"jsonrpc": "2.0", "id": request.get("id")}
            try:
                answer["result"] = standin.handle(request["method"], request.get("params", []))
            except _Refused as exc:
                answer["error"] = {"code": exc.code, "message": str(exc)}
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    standin.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
