"""Keep running Besu nodes' local allowlists equal to the consortium (``perm_*`` JSON-RPC).

Besu removed on-chain permissioning, so the Consortium contract is the source of truth and each
node's local allowlist follows it: read with ``perm_getAccountsAllowlist`` (a list of accounts,
lowercase), changed with ``perm_addAccountsToAllowlist`` / ``perm_removeAccountsFromAllowlist``
(one parameter, the list of accounts; the result is the string ``"Success"``; an empty list, an
account already present or one absent is an error, so only differences are sent, and only when
there are some). Nodes likewise with ``perm_getNodesAllowlist`` / ``perm_addNodesToAllowlist`` /
``perm_removeNodesFromAllowlist`` and enode URLs, when the wanted enodes are known. Method names,
parameters, results and error messages as in Besu's API reference and its
``PermAddAccountsToAllowlist`` etc. (``ethereum/api/.../methods/permissioning``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from ledger.chain import _jsonrpc
from ledger.chain.besu import BesuConfigError, Enode, allowlisted_account
from ledger.chain.errors import NodeError
from ledger.errors import one_line

SUCCESS = "Success"
#: "Method not found" (any node without the method), "Method not enabled" (Besu without PERM).
_NOT_SERVED = (-32601, -32604)
_ids = count(1)

_HINT = (
    "is it Besu with PERM in --rpc-http-api and"
    " --permissions-accounts-config-file-enabled (and -nodes- for nodes)?"
)


class PermissionSyncError(NodeError):
    """A node refused or failed a ``perm_*`` call, answered something Besu does not, or could
    not be reached."""


@dataclass
class NodeSync:
    """What one node's allowlists became, or why they could not be brought in line."""

    url: str
    accounts_added: list[str] = field(default_factory=list)
    accounts_removed: list[str] = field(default_factory=list)
    nodes_added: list[str] = field(default_factory=list)
    nodes_removed: list[str] = field(default_factory=list)
    nodes_synced: bool = False
    error: str | None = None

    def describe(self) -> str:
        """One line: ``URL: accounts +a, -b; nodes unchanged``."""
        parts = [_change("accounts", self.accounts_added, self.accounts_removed)]
        if self.nodes_synced:
            parts.append(_change("nodes", self.nodes_added, self.nodes_removed))
        return f"{self.url}: " + "; ".join(parts)


def _change(what: str, added: Sequence[str], removed: Sequence[str]) -> str:
    if not added and not removed:
        return f"{what} unchanged"
    shown = [f"+{a}" for a in added] + [f"-{r}" for r in removed]
    return f"{what} " + ", ".join(shown)


def sync_node(
    url: str,
    *,
    accounts: Sequence[str],
    enodes: Sequence[Enode] | None = None,
    timeout_s: float = 10.0,
) -> NodeSync:
    """Bring the node at ``url`` in line: its accounts allowlist to ``accounts`` and, if
    ``enodes`` is given, its nodes allowlist to them. A failure is recorded in ``error`` (what
    was done before it stays in the record), never raised."""
    report = NodeSync(url=url)
    try:
        _sync_accounts(url, accounts, report, timeout_s)
        if enodes is not None:
            _sync_nodes(url, enodes, report, timeout_s)
    except PermissionSyncError as exc:
        report.error = str(exc)
    return report


def _sync_accounts(url: str, accounts: Sequence[str], report: NodeSync, timeout_s: float) -> None:
    wanted = {allowlisted_account(a): allowlisted_account(a) for a in accounts}
    current = _string_list(url, _call(url, "perm_getAccountsAllowlist", [], timeout_s))
    have = {a.lower(): a for a in current}
    report.accounts_added, report.accounts_removed = _reconcile(
        url, wanted, have, "Accounts", timeout_s
    )


def _sync_nodes(url: str, enodes: Sequence[Enode], report: NodeSync, timeout_s: float) -> None:
    wanted = {e.url(): e.url() for e in enodes}
    current = _string_list(url, _call(url, "perm_getNodesAllowlist", [], timeout_s))
    have: dict[str, str] = {}
    for text in current:  # Besu's own spelling may differ (discport, host form): compare parsed
        try:
            have[Enode.parse(text).url()] = text
        except BesuConfigError:
            have[text] = text
    report.nodes_added, report.nodes_removed = _reconcile(url, wanted, have, "Nodes", timeout_s)
    report.nodes_synced = True


def _reconcile(
    url: str, wanted: dict[str, str], have: dict[str, str], what: str, timeout_s: float
) -> tuple[list[str], list[str]]:
    """Add what is wanted and missing, remove what is there and not wanted (each map: the
    compared form -> the spelling to send); the entries added and removed."""
    add = sorted(wanted[k] for k in set(wanted) - set(have))
    remove = sorted(have[k] for k in set(have) - set(wanted))
    if add:
        _change_list(url, f"perm_add{what}ToAllowlist", add, timeout_s)
    if remove:
        _change_list(url, f"perm_remove{what}FromAllowlist", remove, timeout_s)
    return add, remove


def _change_list(url: str, method: str, entries: list[str], timeout_s: float) -> None:
    result = _call(url, method, [entries], timeout_s)
    if result != SUCCESS:
        raise PermissionSyncError(
            f"{url}: {method} answered {one_line(repr(result), 120)}, not {SUCCESS!r}"
        )


def _call(url: str, method: str, params: list[Any], timeout_s: float) -> Any:
    try:
        answer = _jsonrpc.post(url, _jsonrpc.request(next(_ids), method, params), timeout_s)
        result = _jsonrpc.result_of(url, method, answer)
    except NodeError as exc:
        raise PermissionSyncError(f"{url}: {method}: {one_line(exc, 200)}") from exc
    if isinstance(result, _jsonrpc.RpcError):
        reason = one_line(result.rpc_message, 200)
        hint = f"; {_HINT}" if result.code in _NOT_SERVED else ""
        raise PermissionSyncError(f"{url}: {method} refused: {reason} (code {result.code}){hint}")
    return result


def _string_list(url: str, result: Any) -> list[str]:
    if not isinstance(result, list) or not all(isinstance(x, str) for x in result):
        raise PermissionSyncError(
            f"{url}: expected a list of strings, got {one_line(repr(result), 120)}"
        )
    return list(result)
