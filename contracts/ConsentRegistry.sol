// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IConsentRegistry} from "./interfaces/IConsentRegistry.sol";
import {IConsortium} from "./interfaces/IConsortium.sol";
import {IIdentityAttestations} from "./interfaces/IIdentityAttestations.sol";

/// @title ConsentRegistry
/// @notice Customers' signed consents to reuse their identity attestations, and their
/// revocations, relayed by members; see {IConsentRegistry}.
contract ConsentRegistry is IConsentRegistry {
    /// @notice Type tag of a grant's digest.
    bytes32 public constant GRANT_TYPE = keccak256("ledger/consent-grant/1");
    /// @notice Type tag of a revocation's digest.
    bytes32 public constant REVOCATION_TYPE = keccak256("ledger/consent-revocation/1");
    /// @notice Type tag of a per-use authorization's digest.
    bytes32 public constant USE_TYPE = keccak256("ledger/consent-use/1");
    /// @notice Most fields one grant names (the attestations' own limit).
    uint256 public constant MAX_FIELDS = 32;
    /// @notice Most purposes, and most data categories, one grant names.
    uint256 public constant MAX_LIST_LENGTH = 16;
    /// @notice Longest recipient name or contact, in bytes.
    uint256 public constant MAX_TEXT_LENGTH = 256;
    /// @notice Longest language tag, in bytes (RFC 5646's recommended minimum buffer).
    uint256 public constant MAX_LANGUAGE_LENGTH = 35;
    /// @notice Longest signature accepted, in bytes (a DER SM2 signature is at most 72).
    uint256 public constant MAX_SIGNATURE_LENGTH = 128;

    struct StoredGrant {
        Grant grant;
        bytes32 customerKeyFingerprint;
        bytes signature;
        address relayer;
        uint64 recordedAt;
    }

    // Storage, not immutables: the deployment record compares the code at an address with the
    // artifact's deployed code, which an immutable would change per deployment.
    IConsortium private _consortium;
    IIdentityAttestations private _attestations;
    mapping(bytes32 grantId => StoredGrant) private _grants;
    /// @dev keccak256(abi.encode(customer key fingerprint, nonce)) => the grant that used it.
    mapping(bytes32 keyNonce => bytes32 grantId) private _nonceUsedBy;
    /// @dev A revocation as stored: its digest and ID are recomputed when read (two fewer
    /// slots per revocation).
    struct StoredRevocation {
        bytes32 nonce;
        bytes signature;
        address relayer;
        uint64 at;
    }

    mapping(bytes32 grantId => StoredRevocation[]) private _revocations;
    mapping(bytes32 revocationId => bool) private _revocationRecorded;
    mapping(address grantee => bytes32[]) private _grantsOf;
    mapping(bytes32 attestationId => bytes32[]) private _grantsOfAttestation;

    /// @dev Asked before each write, so a member removed in a block relays nothing from then on.
    modifier onlyMember() {
        if (!_consortium.isMember(msg.sender)) {
            revert ConsentRegistry__NotMember(msg.sender);
        }
        _;
    }

    /// @param consortium_ The Consortium every write asks.
    /// @param attestations_ The IdentityAttestations grants refer to.
    constructor(IConsortium consortium_, IIdentityAttestations attestations_) {
        if (address(consortium_) == address(0) || address(attestations_) == address(0)) {
            revert ConsentRegistry__ZeroAddress();
        }
        _consortium = consortium_;
        _attestations = attestations_;
    }

    /// @inheritdoc IConsentRegistry
    function recordGrant(Grant calldata grant, bytes calldata signature)
        external
        onlyMember
        returns (bytes32 grantId)
    {
        _checkSignature(signature);
        if (!_consortium.isMember(grant.grantee)) {
            revert ConsentRegistry__GranteeNotMember(grant.grantee);
        }
        bytes32 fingerprint = _checkAttestation(grant);
        _checkTerms(grant);
        grantId = _grantDigest(grant);
        StoredGrant storage stored = _grants[grantId];
        if (stored.relayer != address(0)) {
            revert ConsentRegistry__GrantAlreadyRecorded(grantId);
        }
        bytes32 keyNonce = keccak256(abi.encode(fingerprint, grant.nonce));
        bytes32 usedBy = _nonceUsedBy[keyNonce];
        if (usedBy != bytes32(0)) {
            revert ConsentRegistry__NonceUsed(fingerprint, grant.nonce, usedBy);
        }
        _nonceUsedBy[keyNonce] = grantId;
        stored.grant = grant;
        stored.customerKeyFingerprint = fingerprint;
        stored.signature = signature;
        stored.relayer = msg.sender;
        stored.recordedAt = uint64(block.timestamp);
        _grantsOf[grant.grantee].push(grantId);
        _grantsOfAttestation[grant.attestationId].push(grantId);
        emit GrantRecorded(
            grantId, grant.grantee, grant.attestationId, msg.sender, fingerprint, signature, grant
        );
    }

    /// @inheritdoc IConsentRegistry
    function revoke(Revocation calldata revocation, bytes calldata signature)
        external
        onlyMember
        returns (bytes32 revocationId)
    {
        _checkSignature(signature);
        if (_grants[revocation.grantId].relayer == address(0)) {
            revert ConsentRegistry__UnknownGrant(revocation.grantId);
        }
        bytes32 digest = _revocationDigest(revocation);
        revocationId = keccak256(abi.encode(digest, signature));
        if (_revocationRecorded[revocationId]) {
            revert ConsentRegistry__RevocationAlreadyRecorded(revocationId);
        }
        _revocationRecorded[revocationId] = true;
        uint64 at = uint64(block.timestamp);
        _revocations[revocation.grantId].push(
            StoredRevocation({
                nonce: revocation.nonce,
                signature: signature,
                relayer: msg.sender,
                at: at
            })
        );
        emit RevocationRecorded(
            revocation.grantId, revocationId, msg.sender, digest, revocation.nonce, signature, at
        );
    }

    /// @inheritdoc IConsentRegistry
    function consortium() external view returns (address) {
        return address(_consortium);
    }

    /// @inheritdoc IConsentRegistry
    function attestations() external view returns (address) {
        return address(_attestations);
    }

    /// @inheritdoc IConsentRegistry
    function getGrant(bytes32 grantId) external view returns (GrantRecord memory) {
        StoredGrant storage stored = _grants[grantId];
        if (stored.relayer == address(0)) {
            revert ConsentRegistry__UnknownGrant(grantId);
        }
        return GrantRecord({
            grantId: grantId,
            grant: stored.grant,
            customerKeyFingerprint: stored.customerKeyFingerprint,
            signature: stored.signature,
            relayer: stored.relayer,
            recordedAt: stored.recordedAt
        });
    }

    /// @inheritdoc IConsentRegistry
    function revocationsOf(bytes32 grantId)
        external
        view
        returns (RevocationRecord[] memory records)
    {
        StoredRevocation[] storage stored = _revocations[grantId];
        records = new RevocationRecord[](stored.length);
        for (uint256 i = 0; i < stored.length; i++) {
            records[i] = _revocationRecord(grantId, stored[i]);
        }
    }

    /// @inheritdoc IConsentRegistry
    function revocationCount(bytes32 grantId) external view returns (uint256) {
        return _revocations[grantId].length;
    }

    /// @inheritdoc IConsentRegistry
    function revocationAt(bytes32 grantId, uint256 index)
        external
        view
        returns (RevocationRecord memory)
    {
        StoredRevocation[] storage stored = _revocations[grantId];
        if (index >= stored.length) {
            revert ConsentRegistry__UnknownRevocation(grantId, index);
        }
        return _revocationRecord(grantId, stored[index]);
    }

    /// @inheritdoc IConsentRegistry
    function grantsOf(address grantee) external view returns (bytes32[] memory) {
        return _grantsOf[grantee];
    }

    /// @inheritdoc IConsentRegistry
    function grantsOfAttestation(bytes32 attestationId) external view returns (bytes32[] memory) {
        return _grantsOfAttestation[attestationId];
    }

    /// @inheritdoc IConsentRegistry
    function grantDigest(Grant calldata grant) external view returns (bytes32) {
        return _grantDigest(grant);
    }

    /// @inheritdoc IConsentRegistry
    function revocationDigest(Revocation calldata revocation) external view returns (bytes32) {
        return _revocationDigest(revocation);
    }

    /// @inheritdoc IConsentRegistry
    function useDigest(UseAuthorization calldata authorization) external view returns (bytes32) {
        return keccak256(abi.encode(USE_TYPE, block.chainid, address(this), authorization));
    }

    /// @dev The attestation exists and is valid now, and has every field the grant names (each
    /// once); returns the fingerprint of the customer key it binds.
    function _checkAttestation(Grant calldata grant) private view returns (bytes32 fingerprint) {
        bytes32 attestationId = grant.attestationId;
        fingerprint = _attestations.customerKeyFingerprintOf(attestationId);
        if (fingerprint == bytes32(0)) {
            revert ConsentRegistry__UnknownAttestation(attestationId);
        }
        uint64 now_ = uint64(block.timestamp);
        if (!_attestations.isValidAt(attestationId, now_)) {
            revert ConsentRegistry__AttestationNotValid(attestationId, now_);
        }
        uint256 count = grant.fields.length;
        if (count == 0 || count > MAX_FIELDS) {
            revert ConsentRegistry__InvalidFieldCount(count, MAX_FIELDS);
        }
        for (uint256 i = 0; i < count; i++) {
            bytes32 name = grant.fields[i];
            for (uint256 j = 0; j < i; j++) {
                if (grant.fields[j] == name) {
                    revert ConsentRegistry__DuplicateField(name);
                }
            }
            if (_attestations.fieldDigest(attestationId, name) == bytes32(0)) {
                revert ConsentRegistry__FieldNotAttested(attestationId, name);
            }
        }
    }

    /// @dev The window, purposes and the notice.
    function _checkTerms(Grant calldata grant) private view {
        uint64 now_ = uint64(block.timestamp);
        if (grant.notAfter <= grant.notBefore) {
            revert ConsentRegistry__InvalidWindow(grant.notBefore, grant.notAfter);
        }
        if (grant.notAfter <= now_) {
            revert ConsentRegistry__WindowOver(grant.notAfter, now_);
        }
        _checkList(grant.purposes);
        _checkList(grant.notice.dataCategories);
        if (grant.processingMethod == bytes32(0) || grant.notice.noticeDigest == bytes32(0)) {
            revert ConsentRegistry__MissingValue(grant.processingMethod, grant.notice.noticeDigest);
        }
        uint256 name = bytes(grant.notice.recipientName).length;
        uint256 contact = bytes(grant.notice.recipientContact).length;
        uint256 language = bytes(grant.notice.language).length;
        if (
            name == 0 || name > MAX_TEXT_LENGTH || contact == 0 || contact > MAX_TEXT_LENGTH
                || language == 0 || language > MAX_LANGUAGE_LENGTH
        ) {
            revert ConsentRegistry__InvalidNoticeText(name, contact, language);
        }
    }

    function _checkList(bytes32[] calldata ids) private pure {
        uint256 length = ids.length;
        if (length == 0 || length > MAX_LIST_LENGTH) {
            revert ConsentRegistry__InvalidList(length, MAX_LIST_LENGTH);
        }
        for (uint256 i = 0; i < length; i++) {
            if (ids[i] == bytes32(0)) {
                revert ConsentRegistry__InvalidList(length, MAX_LIST_LENGTH);
            }
        }
    }

    function _checkSignature(bytes calldata signature) private pure {
        if (signature.length == 0 || signature.length > MAX_SIGNATURE_LENGTH) {
            revert ConsentRegistry__InvalidSignature(signature.length, MAX_SIGNATURE_LENGTH);
        }
    }

    function _grantDigest(Grant calldata grant) private view returns (bytes32) {
        return keccak256(abi.encode(GRANT_TYPE, block.chainid, address(this), grant));
    }

    function _revocationDigest(Revocation memory revocation) private view returns (bytes32) {
        return keccak256(abi.encode(REVOCATION_TYPE, block.chainid, address(this), revocation));
    }

    function _revocationRecord(bytes32 grantId, StoredRevocation storage stored)
        private
        view
        returns (RevocationRecord memory)
    {
        bytes32 digest = _revocationDigest(Revocation({grantId: grantId, nonce: stored.nonce}));
        bytes memory signature = stored.signature;
        return RevocationRecord({
            revocationId: keccak256(abi.encode(digest, signature)),
            digest: digest,
            nonce: stored.nonce,
            signature: signature,
            relayer: stored.relayer,
            at: stored.at
        });
    }
}
