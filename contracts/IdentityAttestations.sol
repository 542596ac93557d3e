// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IConsortium} from "./interfaces/IConsortium.sol";
import {IIdentityAttestations} from "./interfaces/IIdentityAttestations.sol";
import {Roles} from "./Roles.sol";

/// @title IdentityAttestations
/// @notice Member brokers' KYC attestations of customers; see {IIdentityAttestations}.
contract IdentityAttestations is IIdentityAttestations {
    /// @notice Most fields one attestation commits to.
    uint256 public constant MAX_FIELDS = 32;
    /// @notice Longest content reference accepted, in bytes (a CIDv1 base32 string is 59).
    uint256 public constant MAX_CONTENT_REF_LENGTH = 128;
    /// @notice Length of an uncompressed SM2 public key (04||x||y).
    uint256 public constant PUBLIC_KEY_LENGTH = 65;

    /// @dev The key in two words (its 04 prefix implied), the times packed in two slots, the
    /// digests in {_fieldDigests} (one read per field for {fieldDigest} and the consent checks).
    struct Stored {
        address attester;
        uint64 verifiedAt;
        uint64 expiresAt;
        uint64 attestedAt;
        uint64 endedAt;
        bytes32 subject;
        bytes32 keyFingerprint;
        bytes32 keyX;
        bytes32 keyY;
        bytes32 level;
        bytes32 method;
        bytes32 nonce;
        bytes32 revocationReason;
        bytes32 supersededBy;
        bytes32 supersedes;
        bytes contentRef;
        bytes32[] fieldNames;
    }

    // Storage, not an immutable: the deployment record compares the code at an address with the
    // artifact's deployed code, which an immutable would change per deployment.
    IConsortium private _consortium;
    mapping(bytes32 attestationId => Stored) private _attestations;
    mapping(bytes32 attestationId => mapping(bytes32 name => bytes32 digest)) private _fieldDigests;
    mapping(address attester => bytes32[]) private _idsOf;

    /// @dev Asked before each write, so a member removed (or a broker role revoked) in a block
    /// cannot attest, revoke or supersede from that block on.
    modifier onlyBroker() {
        if (!_consortium.isAllowed(msg.sender, Roles.BROKER)) {
            revert IdentityAttestations__NotPermitted(msg.sender, Roles.BROKER);
        }
        _;
    }

    /// @param consortium_ The Consortium every write asks.
    constructor(IConsortium consortium_) {
        if (address(consortium_) == address(0)) {
            revert IdentityAttestations__ZeroConsortium();
        }
        _consortium = consortium_;
    }

    /// @inheritdoc IIdentityAttestations
    function attest(AttestationInput calldata input)
        external
        onlyBroker
        returns (bytes32 attestationId)
    {
        _validate(input);
        attestationId = _attest(input, bytes32(0));
    }

    /// @inheritdoc IIdentityAttestations
    function revoke(bytes32 attestationId, bytes32 reason) external onlyBroker {
        Stored storage a = _open(attestationId);
        if (reason == bytes32(0)) {
            revert IdentityAttestations__MissingReason();
        }
        uint64 at = uint64(block.timestamp);
        a.endedAt = at;
        a.revocationReason = reason;
        emit AttestationRevoked(attestationId, msg.sender, reason, at);
    }

    /// @inheritdoc IIdentityAttestations
    function supersede(bytes32 oldId, AttestationInput calldata input)
        external
        onlyBroker
        returns (bytes32 newId)
    {
        Stored storage old = _open(oldId);
        _validate(input);
        (bytes32 x, bytes32 y) = _coordinates(input.customerKey);
        if (
            input.subject != old.subject || x != old.keyX || y != old.keyY
                || input.customerKeyFingerprint != old.keyFingerprint
        ) {
            revert IdentityAttestations__DifferentCustomer(oldId);
        }
        newId = _attest(input, oldId);
        uint64 at = uint64(block.timestamp);
        old.endedAt = at;
        old.supersededBy = newId;
        emit AttestationSuperseded(oldId, newId, at);
    }

    /// @inheritdoc IIdentityAttestations
    function consortium() external view returns (address) {
        return address(_consortium);
    }

    /// @inheritdoc IIdentityAttestations
    function getAttestation(bytes32 attestationId) external view returns (Attestation memory) {
        Stored storage a = _known(attestationId);
        uint256 count = a.fieldNames.length;
        bytes32[] memory digests = new bytes32[](count);
        for (uint256 i = 0; i < count; i++) {
            digests[i] = _fieldDigests[attestationId][a.fieldNames[i]];
        }
        return Attestation({
            attestationId: attestationId,
            attester: a.attester,
            subject: a.subject,
            customerKey: abi.encodePacked(bytes1(0x04), a.keyX, a.keyY),
            customerKeyFingerprint: a.keyFingerprint,
            level: a.level,
            method: a.method,
            verifiedAt: a.verifiedAt,
            expiresAt: a.expiresAt,
            fieldNames: a.fieldNames,
            fieldDigests: digests,
            contentRef: a.contentRef,
            nonce: a.nonce,
            attestedAt: a.attestedAt,
            endedAt: a.endedAt,
            revocationReason: a.revocationReason,
            supersededBy: a.supersededBy,
            supersedes: a.supersedes
        });
    }

    /// @inheritdoc IIdentityAttestations
    function isValidAt(bytes32 attestationId, uint64 at) external view returns (bool) {
        Stored storage a = _attestations[attestationId];
        uint64 endedAt = a.endedAt;
        return a.attester != address(0) && a.verifiedAt <= at && at < a.expiresAt
            && (endedAt == 0 || at < endedAt);
    }

    /// @inheritdoc IIdentityAttestations
    function fieldDigest(bytes32 attestationId, bytes32 name) external view returns (bytes32) {
        return _fieldDigests[attestationId][name];
    }

    /// @inheritdoc IIdentityAttestations
    function customerKeyFingerprintOf(bytes32 attestationId) external view returns (bytes32) {
        return _attestations[attestationId].keyFingerprint;
    }

    /// @inheritdoc IIdentityAttestations
    function attestationsOf(address attester) external view returns (bytes32[] memory) {
        return _idsOf[attester];
    }

    /// @inheritdoc IIdentityAttestations
    function attestationIdOf(address attester, bytes32 subject, bytes32 nonce)
        external
        view
        returns (bytes32)
    {
        return _idOf(attester, subject, nonce);
    }

    /// @dev Stores a validated input (repeated names are found while storing them).
    function _attest(AttestationInput calldata input, bytes32 supersedes)
        private
        returns (bytes32 attestationId)
    {
        attestationId = _idOf(msg.sender, input.subject, input.nonce);
        Stored storage a = _attestations[attestationId];
        if (a.attester != address(0)) {
            revert IdentityAttestations__AlreadyAttested(attestationId);
        }
        a.attester = msg.sender;
        a.verifiedAt = input.verifiedAt;
        a.expiresAt = input.expiresAt;
        a.attestedAt = uint64(block.timestamp);
        a.subject = input.subject;
        a.keyFingerprint = input.customerKeyFingerprint;
        (a.keyX, a.keyY) = _coordinates(input.customerKey);
        a.level = input.level;
        a.method = input.method;
        a.nonce = input.nonce;
        a.supersedes = supersedes;
        a.contentRef = input.contentRef;
        a.fieldNames = input.fieldNames;
        mapping(bytes32 => bytes32) storage digests = _fieldDigests[attestationId];
        for (uint256 i = 0; i < input.fieldNames.length; i++) {
            bytes32 name = input.fieldNames[i];
            if (digests[name] != bytes32(0)) {
                revert IdentityAttestations__DuplicateField(name);
            }
            digests[name] = input.fieldDigests[i];
        }
        _idsOf[msg.sender].push(attestationId);
        emit Attested(
            attestationId,
            msg.sender,
            input.subject,
            input.customerKeyFingerprint,
            input.verifiedAt,
            input.expiresAt
        );
    }

    /// @dev Everything about an input that does not depend on stored state.
    function _validate(AttestationInput calldata input) private view {
        if (input.subject == bytes32(0) || input.level == bytes32(0) || input.method == bytes32(0)) {
            revert IdentityAttestations__MissingValue(input.subject, input.level, input.method);
        }
        if (input.customerKey.length != PUBLIC_KEY_LENGTH || input.customerKey[0] != 0x04) {
            revert IdentityAttestations__InvalidPublicKey(input.customerKey.length);
        }
        if (input.customerKeyFingerprint == bytes32(0)) {
            revert IdentityAttestations__InvalidFingerprint();
        }
        uint64 now_ = uint64(block.timestamp);
        if (input.verifiedAt > now_) {
            revert IdentityAttestations__VerifiedInFuture(input.verifiedAt, now_);
        }
        if (input.expiresAt <= input.verifiedAt || input.expiresAt <= now_) {
            revert IdentityAttestations__InvalidExpiry(input.verifiedAt, input.expiresAt, now_);
        }
        uint256 count = input.fieldNames.length;
        if (count == 0 || count > MAX_FIELDS || input.fieldDigests.length != count) {
            revert IdentityAttestations__InvalidFieldCount(
                count, input.fieldDigests.length, MAX_FIELDS
            );
        }
        for (uint256 i = 0; i < count; i++) {
            if (input.fieldNames[i] == bytes32(0) || input.fieldDigests[i] == bytes32(0)) {
                revert IdentityAttestations__InvalidField(i);
            }
        }
        uint256 refLength = input.contentRef.length;
        if (refLength == 0 || refLength > MAX_CONTENT_REF_LENGTH) {
            revert IdentityAttestations__InvalidContentRef(refLength, MAX_CONTENT_REF_LENGTH);
        }
    }

    function _known(bytes32 attestationId) private view returns (Stored storage a) {
        a = _attestations[attestationId];
        if (a.attester == address(0)) {
            revert IdentityAttestations__UnknownAttestation(attestationId);
        }
    }

    /// @dev The caller's attestation that has not ended (revoked or superseded).
    function _open(bytes32 attestationId) private view returns (Stored storage a) {
        a = _known(attestationId);
        if (a.attester != msg.sender) {
            revert IdentityAttestations__NotAttester(attestationId, msg.sender, a.attester);
        }
        if (a.endedAt != 0) {
            revert IdentityAttestations__AlreadyEnded(attestationId, a.endedAt, a.supersededBy);
        }
    }

    function _idOf(address attester, bytes32 subject, bytes32 nonce)
        private
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(block.chainid, address(this), attester, subject, nonce));
    }

    /// @dev x and y of a 65-byte key 04||x||y; zeros for any other length (checked elsewhere).
    function _coordinates(bytes calldata publicKey) private pure returns (bytes32 x, bytes32 y) {
        if (publicKey.length == PUBLIC_KEY_LENGTH) {
            x = bytes32(publicKey[1:33]);
            y = bytes32(publicKey[33:65]);
        }
    }
}
