// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Roles of consortium members, one home for every contract that asks about them
/// @notice A role's ID is keccak256 of its name, as {IConsortium-isAllowed} takes it.
library Roles {
    /// @notice Member brokers: they anchor and serve their own agreements.
    bytes32 internal constant BROKER = keccak256("broker");
    /// @notice Auditors: they read everything and write nothing.
    bytes32 internal constant AUDITOR = keccak256("auditor");
    /// @notice The regulator: it reads.
    bytes32 internal constant REGULATOR = keccak256("regulator");
}
