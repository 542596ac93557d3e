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


class ContractRefused(TransactionFailed):
    """A contract refused a call with one of its custom errors (``error``, ``error_args``)."""


class NotPermitted(ContractRefused):
    """The caller may not do this: not a member, not the proposer, not the key's owner, not a
    broker, not the attester."""


class StateConflict(ContractRefused):
    """The call conflicts with the contract's state now (already a member, already voted, the
    proposal is not open, the key already revoked ...)."""


class UnknownRecord(StateConflict):
    """The call names a proposal or key the contract does not hold."""


class InvalidArgument(ContractRefused):
    """An argument the contract refuses whatever its state (a name too long, an unknown role,
    an empty key window ...)."""


class InvalidKeyEntry(ChainError):
    """A key registry entry whose fingerprint is not SM3 of its public key (the chain cannot
    check it; nothing may rely on such an entry)."""


class InvalidAttestation(ChainError):
    """An attestation whose customer-key fingerprint is not SM3 of its key, or whose key is not
    an SM2 point (the chain cannot check either; nothing may rely on such an attestation)."""
