// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IConsortium} from "./interfaces/IConsortium.sol";
import {Roles} from "./Roles.sol";

/// @title Consortium
/// @notice Members, roles and a k-of-n council; see {IConsortium}. Written here rather than with
/// OpenZeppelin's Governor, which counts token-weighted votes. The member list is a plain array
/// with an index map, not OpenZeppelin's EnumerableSet: in 5.7 it imports Arrays.sol, whose
/// `mcopy` needs a Cancun EVM, and the artifacts target `paris` (consortium chains).
contract Consortium is IConsortium {
    /// @notice Role of member brokers: they anchor and serve their own agreements.
    bytes32 public constant BROKER_ROLE = Roles.BROKER;
    /// @notice Role of auditors: they read everything and write nothing.
    bytes32 public constant AUDITOR_ROLE = Roles.AUDITOR;
    /// @notice Role of the regulator: it reads.
    bytes32 public constant REGULATOR_ROLE = Roles.REGULATOR;

    /// @notice Most members (bounds every loop over members and voters).
    uint256 public constant MAX_MEMBERS = 64;
    /// @notice Longest display name, in bytes.
    uint256 public constant MAX_NAME_LENGTH = 64;
    /// @notice Longest service endpoint URL, in bytes.
    uint256 public constant MAX_ENDPOINT_LENGTH = 256;
    /// @notice Longest voting delay and voting period (one year).
    uint256 public constant MAX_PERIOD = 365 days;

    uint256 private constant _KIND_COUNT = 5;
    uint8 private constant _BROKER_BIT = 1;
    uint8 private constant _AUDITOR_BIT = 2;
    uint8 private constant _REGULATOR_BIT = 4;

    /// @dev What {isAllowed} reads, in one storage slot.
    struct Standing {
        bool active;
        uint8 roles;
        uint64 joinedAt;
    }

    struct Profile {
        string name;
        string endpoint;
        bytes32 keyFingerprint;
    }

    /// @dev Two slots of fixed fields, then the change and its voters.
    struct StoredProposal {
        address proposer;
        ProposalKind kind;
        uint64 voteStart;
        uint64 voteEnd;
        uint64 number;
        bool executed;
        bool canceled;
        bytes data;
        address[] voters;
    }

    address[] private _members;
    /// @dev Position of each member in `_members`, plus one (0: not a member).
    mapping(address account => uint256) private _positions;
    mapping(address account => Standing) private _standing;
    mapping(address account => Profile) private _profiles;
    uint256[_KIND_COUNT] private _thresholds;
    // Plain storage, not immutables: the deployment record checks that the code at an address
    // is exactly the artifact's deployed code, which immutables would change per deployment.
    uint64 private _votingDelay;
    uint64 private _votingPeriod;
    mapping(bytes32 proposalId => StoredProposal) private _proposals;
    mapping(bytes32 proposalId => mapping(address voter => bool)) private _voted;
    bytes32[] private _proposalIds;

    modifier onlyMember() {
        if (!_standing[msg.sender].active) {
            revert Consortium__NotMember(msg.sender);
        }
        _;
    }

    /// @param founders The founding members with their roles (at least one).
    /// @param thresholds The threshold of each {ProposalKind}, in its order.
    /// @param votingDelay_ Seconds from proposing until the vote opens (may be 0).
    /// @param votingPeriod_ Seconds the vote stays open (at least 1).
    constructor(
        MemberInput[] memory founders,
        uint256[_KIND_COUNT] memory thresholds,
        uint64 votingDelay_,
        uint64 votingPeriod_
    ) {
        if (votingPeriod_ == 0 || votingPeriod_ > MAX_PERIOD || votingDelay_ > MAX_PERIOD) {
            revert Consortium__InvalidVotingPeriod(votingDelay_, votingPeriod_, MAX_PERIOD);
        }
        _votingDelay = votingDelay_;
        _votingPeriod = votingPeriod_;
        for (uint256 i = 0; i < founders.length; i++) {
            _checkAdmission(founders[i]);
            _admit(founders[i], bytes32(0));
        }
        for (uint256 k = 0; k < _KIND_COUNT; k++) {
            _checkThreshold(ProposalKind(k), thresholds[k]);
            _thresholds[k] = thresholds[k];
            emit ThresholdChanged(ProposalKind(k), 0, thresholds[k], bytes32(0));
        }
    }

    // -- proposals ------------------------------------------------------------------------

    /// @inheritdoc IConsortium
    function proposeAdmission(MemberInput calldata member)
        external
        onlyMember
        returns (bytes32)
    {
        _checkAdmission(member);
        return _propose(ProposalKind.AdmitMember, abi.encode(member));
    }

    /// @inheritdoc IConsortium
    function proposeRemoval(address account) external onlyMember returns (bytes32) {
        _checkRemoval(account);
        return _propose(ProposalKind.RemoveMember, abi.encode(account));
    }

    /// @inheritdoc IConsortium
    function proposeThreshold(ProposalKind kind, uint256 newThreshold)
        external
        onlyMember
        returns (bytes32)
    {
        _checkThreshold(kind, newThreshold);
        return _propose(ProposalKind.ChangeThreshold, abi.encode(kind, newThreshold));
    }

    /// @inheritdoc IConsortium
    function proposeGrantRole(address account, bytes32 role)
        external
        onlyMember
        returns (bytes32)
    {
        _checkGrant(account, role);
        return _propose(ProposalKind.GrantRole, abi.encode(account, role));
    }

    /// @inheritdoc IConsortium
    function proposeRevokeRole(address account, bytes32 role)
        external
        onlyMember
        returns (bytes32)
    {
        _checkRevoke(account, role);
        return _propose(ProposalKind.RevokeRole, abi.encode(account, role));
    }

    /// @inheritdoc IConsortium
    function vote(bytes32 proposalId) external onlyMember {
        ProposalState current = _state(proposalId);
        if (current != ProposalState.Active) {
            revert Consortium__ProposalNotActive(proposalId, current);
        }
        if (_voted[proposalId][msg.sender]) {
            revert Consortium__AlreadyVoted(proposalId, msg.sender);
        }
        _voted[proposalId][msg.sender] = true;
        _proposals[proposalId].voters.push(msg.sender);
        emit VoteCast(proposalId, msg.sender, _approvals(proposalId));
    }

    /// @inheritdoc IConsortium
    function execute(bytes32 proposalId) external onlyMember {
        ProposalState current = _state(proposalId);
        if (current != ProposalState.Succeeded) {
            revert Consortium__ProposalNotSucceeded(proposalId, current);
        }
        StoredProposal storage proposal = _proposals[proposalId];
        proposal.executed = true;
        bytes memory data = proposal.data;
        ProposalKind kind = proposal.kind;
        if (kind == ProposalKind.AdmitMember) {
            MemberInput memory member = abi.decode(data, (MemberInput));
            _checkAdmission(member);
            _admit(member, proposalId);
        } else if (kind == ProposalKind.RemoveMember) {
            address account = abi.decode(data, (address));
            _checkRemoval(account);
            _remove(account, proposalId);
        } else if (kind == ProposalKind.ChangeThreshold) {
            (ProposalKind target, uint256 newThreshold) = abi.decode(data, (ProposalKind, uint256));
            _checkThreshold(target, newThreshold);
            uint256 old = _thresholds[uint256(target)];
            _thresholds[uint256(target)] = newThreshold;
            emit ThresholdChanged(target, old, newThreshold, proposalId);
        } else if (kind == ProposalKind.GrantRole) {
            (address account, bytes32 role) = abi.decode(data, (address, bytes32));
            _checkGrant(account, role);
            _standing[account].roles |= _roleBit(role);
            emit RoleGranted(account, role, proposalId);
        } else {
            (address account, bytes32 role) = abi.decode(data, (address, bytes32));
            _checkRevoke(account, role);
            _standing[account].roles &= ~_roleBit(role);
            emit RoleRevoked(account, role, proposalId);
        }
        emit ProposalExecuted(proposalId, msg.sender);
    }

    /// @inheritdoc IConsortium
    function cancel(bytes32 proposalId) external onlyMember {
        ProposalState current = _state(proposalId);
        StoredProposal storage proposal = _proposals[proposalId];
        if (proposal.proposer != msg.sender) {
            revert Consortium__NotProposer(proposalId, msg.sender, proposal.proposer);
        }
        if (
            current != ProposalState.Pending && current != ProposalState.Active
                && current != ProposalState.Succeeded
        ) {
            revert Consortium__ProposalNotCancelable(proposalId, current);
        }
        proposal.canceled = true;
        emit ProposalCanceled(proposalId);
    }

    // -- views ----------------------------------------------------------------------------

    /// @inheritdoc IConsortium
    function isMember(address account) external view returns (bool) {
        return _standing[account].active;
    }

    /// @inheritdoc IConsortium
    function isAllowed(address account, bytes32 role) external view returns (bool) {
        Standing storage standing = _standing[account];
        return standing.active && (standing.roles & _roleBit(role)) != 0;
    }

    /// @inheritdoc IConsortium
    function getMember(address account) external view returns (Member memory) {
        Standing storage standing = _standing[account];
        if (!standing.active) {
            revert Consortium__UnknownMember(account);
        }
        Profile storage profile = _profiles[account];
        return Member({
            account: account,
            name: profile.name,
            endpoint: profile.endpoint,
            keyFingerprint: profile.keyFingerprint,
            roles: _roleList(standing.roles),
            joinedAt: standing.joinedAt
        });
    }

    /// @inheritdoc IConsortium
    function members() external view returns (address[] memory) {
        return _members;
    }

    /// @inheritdoc IConsortium
    function memberCount() external view returns (uint256) {
        return _members.length;
    }

    /// @inheritdoc IConsortium
    function threshold(ProposalKind kind) external view returns (uint256) {
        return _thresholds[uint256(kind)];
    }

    /// @inheritdoc IConsortium
    function votingDelay() external view returns (uint64) {
        return _votingDelay;
    }

    /// @inheritdoc IConsortium
    function votingPeriod() external view returns (uint64) {
        return _votingPeriod;
    }

    /// @inheritdoc IConsortium
    function getProposal(bytes32 proposalId) external view returns (Proposal memory) {
        ProposalState current = _state(proposalId);
        StoredProposal storage stored = _proposals[proposalId];
        return Proposal({
            id: proposalId,
            number: stored.number,
            proposer: stored.proposer,
            kind: stored.kind,
            data: stored.data,
            voteStart: stored.voteStart,
            voteEnd: stored.voteEnd,
            approvals: _approvals(proposalId),
            threshold: _thresholds[uint256(stored.kind)],
            state: current
        });
    }

    /// @inheritdoc IConsortium
    function state(bytes32 proposalId) external view returns (ProposalState) {
        return _state(proposalId);
    }

    /// @inheritdoc IConsortium
    function hasVoted(bytes32 proposalId, address voter) external view returns (bool) {
        return _voted[proposalId][voter];
    }

    /// @inheritdoc IConsortium
    function proposalIds() external view returns (bytes32[] memory) {
        return _proposalIds;
    }

    /// @inheritdoc IConsortium
    function proposalIdOf(uint256 number, ProposalKind kind, bytes calldata data)
        external
        view
        returns (bytes32)
    {
        return _proposalIdOf(number, kind, data);
    }

    // -- internals ------------------------------------------------------------------------

    function _propose(ProposalKind kind, bytes memory data) private returns (bytes32 proposalId) {
        uint64 number = uint64(_proposalIds.length + 1);
        proposalId = _proposalIdOf(number, kind, data);
        uint64 voteStart = uint64(block.timestamp) + _votingDelay;
        uint64 voteEnd = voteStart + _votingPeriod;
        StoredProposal storage proposal = _proposals[proposalId];
        proposal.proposer = msg.sender;
        proposal.kind = kind;
        proposal.voteStart = voteStart;
        proposal.voteEnd = voteEnd;
        proposal.number = number;
        proposal.data = data;
        _proposalIds.push(proposalId);
        emit ProposalCreated(proposalId, msg.sender, kind, number, data, voteStart, voteEnd);
    }

    function _state(bytes32 proposalId) private view returns (ProposalState) {
        StoredProposal storage proposal = _proposals[proposalId];
        if (proposal.number == 0) {
            revert Consortium__UnknownProposal(proposalId);
        }
        if (proposal.executed) {
            return ProposalState.Executed;
        }
        if (proposal.canceled) {
            return ProposalState.Canceled;
        }
        if (block.timestamp < proposal.voteStart) {
            return ProposalState.Pending;
        }
        bool reached = _approvals(proposalId) >= _thresholds[uint256(proposal.kind)];
        if (block.timestamp >= proposal.voteEnd) {
            return reached ? ProposalState.Expired : ProposalState.Defeated;
        }
        return reached ? ProposalState.Succeeded : ProposalState.Active;
    }

    /// @dev Approvals of voters that are members now (at most MAX_MEMBERS reads per voter list
    /// of current members; removed voters' entries stay and are skipped).
    function _approvals(bytes32 proposalId) private view returns (uint256 count) {
        address[] storage voters = _proposals[proposalId].voters;
        for (uint256 i = 0; i < voters.length; i++) {
            if (_standing[voters[i]].active) {
                count += 1;
            }
        }
    }

    function _proposalIdOf(uint256 number, ProposalKind kind, bytes memory data)
        private
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(block.chainid, address(this), number, kind, data));
    }

    function _admit(MemberInput memory member, bytes32 proposalId) private {
        _members.push(member.account);
        _positions[member.account] = _members.length;
        uint8 bits = 0;
        for (uint256 i = 0; i < member.roles.length; i++) {
            bits |= _roleBit(member.roles[i]);
        }
        _standing[member.account] =
            Standing({active: true, roles: bits, joinedAt: uint64(block.timestamp)});
        _profiles[member.account] = Profile({
            name: member.name,
            endpoint: member.endpoint,
            keyFingerprint: member.keyFingerprint
        });
        emit MemberAdmitted(
            member.account,
            proposalId,
            member.name,
            member.endpoint,
            member.keyFingerprint,
            member.roles
        );
        for (uint256 i = 0; i < member.roles.length; i++) {
            emit RoleGranted(member.account, member.roles[i], proposalId);
        }
    }

    function _remove(address account, bytes32 proposalId) private {
        uint256 position = _positions[account];
        address last = _members[_members.length - 1];
        _members[position - 1] = last;
        _positions[last] = position;
        _members.pop();
        delete _positions[account];
        delete _standing[account];
        delete _profiles[account];
        emit MemberRemoved(account, proposalId);
    }

    function _checkAdmission(MemberInput memory member) private view {
        address account = member.account;
        if (account == address(0)) {
            revert Consortium__InvalidMember(account);
        }
        if (_standing[account].active) {
            revert Consortium__AlreadyMember(account);
        }
        if (_members.length >= MAX_MEMBERS) {
            revert Consortium__TooManyMembers(MAX_MEMBERS);
        }
        uint256 nameLength = bytes(member.name).length;
        if (nameLength == 0 || nameLength > MAX_NAME_LENGTH) {
            revert Consortium__InvalidName(nameLength, MAX_NAME_LENGTH);
        }
        uint256 endpointLength = bytes(member.endpoint).length;
        if (endpointLength == 0 || endpointLength > MAX_ENDPOINT_LENGTH) {
            revert Consortium__InvalidEndpoint(endpointLength, MAX_ENDPOINT_LENGTH);
        }
        if (member.keyFingerprint == bytes32(0)) {
            revert Consortium__InvalidKeyFingerprint(account);
        }
        uint8 seen = 0;
        for (uint256 i = 0; i < member.roles.length; i++) {
            bytes32 role = member.roles[i];
            uint8 bit = _roleBit(role);
            if (bit == 0) {
                revert Consortium__UnknownRole(role);
            }
            if (seen & bit != 0) {
                revert Consortium__RoleAlreadyGranted(account, role);
            }
            seen |= bit;
        }
    }

    function _checkRemoval(address account) private view {
        if (!_standing[account].active) {
            revert Consortium__UnknownMember(account);
        }
        uint256 membersAfter = _members.length - 1;
        uint256 highest = 0;
        for (uint256 k = 0; k < _KIND_COUNT; k++) {
            if (_thresholds[k] > highest) {
                highest = _thresholds[k];
            }
        }
        if (membersAfter < highest) {
            revert Consortium__RemovalBelowThreshold(account, membersAfter, highest);
        }
    }

    function _checkThreshold(ProposalKind kind, uint256 newThreshold) private view {
        uint256 count = _members.length;
        if (newThreshold == 0 || newThreshold > count) {
            revert Consortium__InvalidThreshold(kind, newThreshold, count);
        }
    }

    function _checkGrant(address account, bytes32 role) private view {
        uint8 bit = _checkedRole(account, role);
        if (_standing[account].roles & bit != 0) {
            revert Consortium__RoleAlreadyGranted(account, role);
        }
    }

    function _checkRevoke(address account, bytes32 role) private view {
        uint8 bit = _checkedRole(account, role);
        if (_standing[account].roles & bit == 0) {
            revert Consortium__RoleNotGranted(account, role);
        }
    }

    function _checkedRole(address account, bytes32 role) private view returns (uint8 bit) {
        bit = _roleBit(role);
        if (bit == 0) {
            revert Consortium__UnknownRole(role);
        }
        if (!_standing[account].active) {
            revert Consortium__UnknownMember(account);
        }
    }

    function _roleBit(bytes32 role) private pure returns (uint8) {
        if (role == BROKER_ROLE) return _BROKER_BIT;
        if (role == AUDITOR_ROLE) return _AUDITOR_BIT;
        if (role == REGULATOR_ROLE) return _REGULATOR_BIT;
        return 0;
    }

    function _roleList(uint8 bits) private pure returns (bytes32[] memory roles) {
        bytes32[3] memory all = [BROKER_ROLE, AUDITOR_ROLE, REGULATOR_ROLE];
        uint256 count = 0;
        for (uint256 i = 0; i < 3; i++) {
            if (bits & (uint8(1) << uint8(i)) != 0) count += 1;
        }
        roles = new bytes32[](count);
        uint256 at = 0;
        for (uint256 i = 0; i < 3; i++) {
            if (bits & (uint8(1) << uint8(i)) != 0) roles[at++] = all[i];
        }
    }
}
