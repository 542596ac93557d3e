// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Consortium: who belongs, with which roles, decided by a k-of-n council of the members
/// @notice The members of the ledger's consortium (member brokers, auditors, the regulator), their
/// roles and the thresholds their council decides with. Every other contract asks
/// {isMember} or {isAllowed} before it lets an account change its state.
///
/// Council. Any member proposes one of five kinds of change ({ProposalKind}); every member has one
/// vote (approve only: not voting is voting no); a proposal may be executed, by any member, once
/// the members that approved it reach the current threshold of its kind and before its deadline.
/// Execution is explicit ({execute}), never a side effect of the deciding vote: a change whose
/// preconditions no longer hold (say, the account was admitted meanwhile by another proposal)
/// then reverts its own execution, never somebody's vote.
///
/// Approvals are counted live: a vote counts while its voter is a member. A member removed
/// after voting no longer counts toward any open proposal, and loses every right (propose, vote,
/// execute, cancel, and {isMember}/{isAllowed} for other contracts) from the transaction that
/// removes it, so already in the same block.
///
/// Proposal states, named as OpenZeppelin's Governor names them, for a k-of-n council:
/// - Pending: proposed, voting not yet open (`block.timestamp < voteStart`; only with a voting
///   delay > 0). It may be cancelled; nobody can vote.
/// - Active: voting open (`voteStart <= block.timestamp < voteEnd`), fewer approvals than the
///   threshold of its kind.
/// - Succeeded: voting open and approvals >= threshold: executable until `voteEnd`.
/// - Defeated: the deadline passed with fewer approvals than the threshold.
/// - Expired: the deadline passed with enough approvals, but nobody executed it: it never can.
/// - Canceled: its proposer cancelled it before the deadline (final).
/// - Executed: executed once (final).
/// The threshold and approvals are read when asked, so a proposal may go from Succeeded back to
/// Active if a voter is removed or the threshold is raised meanwhile; after the deadline, for the
/// same reason, a Defeated proposal may read Expired later or the other way round. Neither can
/// ever be executed, and no final state turns back into an open one.
///
/// Invariants (in the spirit of Safe's OwnerManager): 1 <= every threshold <= member count; no
/// zero address and no account twice among the members; a removal that would leave fewer members
/// than any threshold is refused.
interface IConsortium {
    /// @notice What a proposal changes. Each kind has its own threshold.
    enum ProposalKind {
        AdmitMember,
        RemoveMember,
        ChangeThreshold,
        GrantRole,
        RevokeRole
    }

    /// @notice Proposal states as OpenZeppelin's Governor names them (meanings above). `Queued`
    /// (timelocks) has no counterpart here.
    enum ProposalState {
        Pending,
        Active,
        Canceled,
        Defeated,
        Succeeded,
        Expired,
        Executed
    }

    /// @notice A member as admitted (at deployment or by an AdmitMember proposal).
    /// @param account The member's chain account: it proposes, votes, anchors.
    /// @param name Display name, 1..64 bytes of UTF-8.
    /// @param endpoint URL of the member's service (RFC 9421-signed calls go there), 1..256 bytes.
    /// @param keyFingerprint SM3 of the raw SM2 public key (04||x||y) the council admitted the
    /// member with (its request-signing key): the council's record of it. Founders' keys are
    /// registered in the KeyRegistry at deployment; an admitted member registers its key there
    /// itself, and rotates it later on its own. The chain cannot compute SM3: services check
    /// the fingerprint against the key.
    /// @param roles Role IDs ({BROKER_ROLE}, {AUDITOR_ROLE}, {REGULATOR_ROLE}), each at most once.
    struct MemberInput {
        address account;
        string name;
        string endpoint;
        bytes32 keyFingerprint;
        bytes32[] roles;
    }

    /// @notice A member as stored: its admission data, its current roles and when it joined.
    struct Member {
        address account;
        string name;
        string endpoint;
        bytes32 keyFingerprint;
        bytes32[] roles;
        uint64 joinedAt;
    }

    /// @notice A proposal as stored, with its state and live approval count.
    /// @param data The ABI-encoded arguments of its kind: AdmitMember `(MemberInput)`,
    /// RemoveMember `(address)`, ChangeThreshold `(uint8 kind, uint256 threshold)`, GrantRole and
    /// RevokeRole `(address account, bytes32 role)`.
    struct Proposal {
        bytes32 id;
        uint256 number;
        address proposer;
        ProposalKind kind;
        bytes data;
        uint64 voteStart;
        uint64 voteEnd;
        uint256 approvals;
        uint256 threshold;
        ProposalState state;
    }

    /// @notice A member was admitted; `proposalId` is zero for founding members.
    event MemberAdmitted(
        address indexed account,
        bytes32 indexed proposalId,
        string name,
        string endpoint,
        bytes32 keyFingerprint,
        bytes32[] roles
    );
    /// @notice A member was removed (with all its roles), by the proposal `proposalId`.
    event MemberRemoved(address indexed account, bytes32 indexed proposalId);
    /// @notice The threshold of proposals of `kind` changed; zero `proposalId` at deployment.
    event ThresholdChanged(
        ProposalKind indexed kind, uint256 oldThreshold, uint256 newThreshold, bytes32 proposalId
    );
    /// @notice `account` was granted `role` (at admission or by a GrantRole proposal).
    event RoleGranted(address indexed account, bytes32 indexed role, bytes32 indexed proposalId);
    /// @notice `account` lost `role` (by a RevokeRole proposal; removal drops roles silently).
    event RoleRevoked(address indexed account, bytes32 indexed role, bytes32 indexed proposalId);
    /// @notice A proposal was made. `data` as in {Proposal}.
    event ProposalCreated(
        bytes32 indexed proposalId,
        address indexed proposer,
        ProposalKind indexed kind,
        uint256 number,
        bytes data,
        uint64 voteStart,
        uint64 voteEnd
    );
    /// @notice `voter` approved the proposal; `approvals` counts the current members that did.
    event VoteCast(bytes32 indexed proposalId, address indexed voter, uint256 approvals);
    /// @notice The proposal's change was applied, by `executor`.
    event ProposalExecuted(bytes32 indexed proposalId, address indexed executor);
    /// @notice The proposer cancelled the proposal.
    event ProposalCanceled(bytes32 indexed proposalId);

    /// @notice The caller is not a member.
    error Consortium__NotMember(address account);
    /// @notice The account a proposal (or {getMember}) names is not a member.
    error Consortium__UnknownMember(address account);
    /// @notice The zero address cannot be a member.
    error Consortium__InvalidMember(address account);
    /// @notice The account is already a member.
    error Consortium__AlreadyMember(address account);
    /// @notice A threshold outside 1..memberCount.
    error Consortium__InvalidThreshold(ProposalKind kind, uint256 threshold, uint256 memberCount);
    /// @notice Removing `account` would leave `membersAfter` members, fewer than `threshold`.
    error Consortium__RemovalBelowThreshold(
        address account, uint256 membersAfter, uint256 threshold
    );
    /// @notice Not one of broker, auditor, regulator.
    error Consortium__UnknownRole(bytes32 role);
    /// @notice The member already has the role (or it was listed twice).
    error Consortium__RoleAlreadyGranted(address account, bytes32 role);
    /// @notice The member does not have the role.
    error Consortium__RoleNotGranted(address account, bytes32 role);
    /// @notice A display name must be 1..`maxLength` bytes.
    error Consortium__InvalidName(uint256 length, uint256 maxLength);
    /// @notice A service endpoint must be 1..`maxLength` bytes.
    error Consortium__InvalidEndpoint(uint256 length, uint256 maxLength);
    /// @notice A member's key fingerprint must not be zero.
    error Consortium__InvalidKeyFingerprint(address account);
    /// @notice There would be more than `maxMembers` members.
    error Consortium__TooManyMembers(uint256 maxMembers);
    /// @notice The voting period must be 1 s .. `maxPeriod`, the delay at most `maxPeriod`.
    error Consortium__InvalidVotingPeriod(uint256 votingDelay, uint256 votingPeriod, uint256 maxPeriod);
    /// @notice No proposal has this ID.
    error Consortium__UnknownProposal(bytes32 proposalId);
    /// @notice The proposal is not open for voting (its state is given).
    error Consortium__ProposalNotActive(bytes32 proposalId, ProposalState state);
    /// @notice The voter approved this proposal before.
    error Consortium__AlreadyVoted(bytes32 proposalId, address voter);
    /// @notice Only a Succeeded proposal can be executed (its state is given).
    error Consortium__ProposalNotSucceeded(bytes32 proposalId, ProposalState state);
    /// @notice Only the proposer may cancel.
    error Consortium__NotProposer(bytes32 proposalId, address caller, address proposer);
    /// @notice Only a Pending, Active or Succeeded proposal can be cancelled.
    error Consortium__ProposalNotCancelable(bytes32 proposalId, ProposalState state);

    /// @notice Proposes admitting `member` with its roles. Callable by members.
    /// @return proposalId See {proposalIdOf}.
    function proposeAdmission(MemberInput calldata member) external returns (bytes32 proposalId);

    /// @notice Proposes removing `account` (it loses every role and right when executed).
    function proposeRemoval(address account) external returns (bytes32 proposalId);

    /// @notice Proposes setting the threshold of proposals of `kind` to `threshold`.
    function proposeThreshold(ProposalKind kind, uint256 threshold)
        external
        returns (bytes32 proposalId);

    /// @notice Proposes granting `role` to the member `account`.
    function proposeGrantRole(address account, bytes32 role) external returns (bytes32 proposalId);

    /// @notice Proposes revoking `role` from the member `account`.
    function proposeRevokeRole(address account, bytes32 role)
        external
        returns (bytes32 proposalId);

    /// @notice Approves an Active proposal, once per member.
    function vote(bytes32 proposalId) external;

    /// @notice Applies a Succeeded proposal (any member may call it); it then is Executed. The
    /// change's preconditions are checked again here, against the state as it is now.
    function execute(bytes32 proposalId) external;

    /// @notice The proposer withdraws a Pending, Active or Succeeded proposal.
    function cancel(bytes32 proposalId) external;

    /// @notice Whether `account` is a member now. One storage read.
    function isMember(address account) external view returns (bool);

    /// @notice Whether `account` is a member now and holds `role`: what other contracts ask
    /// before letting an account act in that role. One storage read; false for unknown roles.
    function isAllowed(address account, bytes32 role) external view returns (bool);

    /// @notice The member's record; reverts with {Consortium__UnknownMember} for a non-member.
    function getMember(address account) external view returns (Member memory);

    /// @notice The accounts of all members, in admission order (a removal moves the last one
    /// into the gap).
    function members() external view returns (address[] memory);

    /// @notice How many members there are.
    function memberCount() external view returns (uint256);

    /// @notice The current threshold of proposals of `kind`.
    function threshold(ProposalKind kind) external view returns (uint256);

    /// @notice Seconds between proposing and the opening of the vote.
    function votingDelay() external view returns (uint64);

    /// @notice Seconds the vote stays open.
    function votingPeriod() external view returns (uint64);

    /// @notice The proposal with its live state; reverts with {Consortium__UnknownProposal}.
    function getProposal(bytes32 proposalId) external view returns (Proposal memory);

    /// @notice The state of a proposal; reverts with {Consortium__UnknownProposal}.
    function state(bytes32 proposalId) external view returns (ProposalState);

    /// @notice Whether `voter` approved the proposal (whether or not it still counts).
    function hasVoted(bytes32 proposalId, address voter) external view returns (bool);

    /// @notice IDs of all proposals ever made, oldest first.
    function proposalIds() external view returns (bytes32[] memory);

    /// @notice The ID the `number`-th proposal (from 1) gets with these contents:
    /// keccak256(abi.encode(chainid, this contract, number, kind, data)).
    function proposalIdOf(uint256 number, ProposalKind kind, bytes calldata data)
        external
        view
        returns (bytes32);
}
