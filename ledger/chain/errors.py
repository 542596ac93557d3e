"""Errors of the chain layer (compiler, node, deployments, transactions)."""

from ledger.errors import LedgerError


class ChainError(LedgerError):
    """Something about the chain, its node or its contracts went wrong."""


class CompileError(ChainError):
    """The Solidity compiler reported errors, or could not be run."""


class NodeError(ChainError):
    """The dev chain node could not be started, reached or stopped."""


class NotMined(ChainError):
    """No transaction of those waited for was mined in time (it may still be in the pool)."""


class DeploymentError(ChainError):
    """A contract is not deployed where the deployments file says, or deploying failed."""


class TransactionFailed(ChainError):
    """A transaction reverted; ``error`` names the decoded custom error, if any."""

    def __init__(self, message: str, *, error: str | None = None, args: tuple[object, ...] = ()):
        super().__init__(message)
        self.error = error
        self.error_args = args
