// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IConsortium} from "./interfaces/IConsortium.sol";
import {IEvidenceLedger} from "./interfaces/IEvidenceLedger.sol";
import {Roles} from "./Roles.sol";

/// @title EvidenceLedger
/// @notice Anchors signed account agreements, one by one or as Merkle roots of batches. Who may
/// write is the consortium's to say: each write asks {IConsortium-isAllowed} for the broker role.
contract EvidenceLedger is IEvidenceLedger {
    /// @notice Most signers one agreement may list.
    uint256 public constant MAX_SIGNERS = 16;
    /// @notice Longest content ID accepted, in bytes (a CIDv1 base32 sha2-256 string is 59).
    uint256 public constant MAX_CID_LENGTH = 128;

    mapping(bytes32 anchorId => Anchor) private _anchors;
    uint256 private _anchorCount;
    mapping(bytes32 batchId => Batch) private _batches;
    uint256 private _batchCount;
    /// @dev In storage, not immutable: the deployments record compares the deployed code with
    /// the artifact byte for byte, and an immutable would make the code differ per deployment.
    IConsortium private _consortium;

    /// @param consortium_ The Consortium every write asks.
    constructor(IConsortium consortium_) {
        if (address(consortium_) == address(0)) {
            revert EvidenceLedger__ZeroConsortium();
        }
        _consortium = consortium_;
    }

    /// @dev Each state-changing function asks the consortium first, so a member removed (or a
    /// broker role revoked) in a block cannot write from that block on.
    modifier onlyBroker() {
        if (!_consortium.isAllowed(msg.sender, Roles.BROKER)) {
            revert EvidenceLedger__NotPermitted(msg.sender, Roles.BROKER);
        }
        _;
    }

    /// @inheritdoc IEvidenceLedger
    function consortium() external view returns (address) {
        return address(_consortium);
    }

    /// @inheritdoc IEvidenceLedger
    function anchorAgreement(
        bytes32 documentDigest,
        string calldata cid,
        bytes32[] calldata signerKeyFingerprints,
        bytes32 signatureSetDigest
    ) external onlyBroker returns (bytes32 anchorId) {
        _validate(documentDigest, cid, signerKeyFingerprints, signatureSetDigest);
        anchorId = _anchorIdOf(documentDigest, cid, signerKeyFingerprints, signatureSetDigest);
        if (_anchors[anchorId].writer != address(0)) {
            revert EvidenceLedger__AlreadyAnchored(anchorId);
        }
        _anchors[anchorId] = Anchor({
            documentDigest: documentDigest,
            signatureSetDigest: signatureSetDigest,
            signerKeyFingerprints: signerKeyFingerprints,
            cid: cid,
            writer: msg.sender,
            anchoredAt: uint64(block.timestamp),
            blockNumber: uint64(block.number)
        });
        _anchorCount += 1;
        emit AgreementAnchored(
            anchorId, documentDigest, msg.sender, cid, signerKeyFingerprints, signatureSetDigest
        );
    }

    /// @inheritdoc IEvidenceLedger
    function anchorBatch(bytes32 root, uint32 size)
        external
        onlyBroker
        returns (bytes32 batchId)
    {
        if (root == bytes32(0)) {
            revert EvidenceLedger__ZeroDigest();
        }
        if (size == 0) {
            revert EvidenceLedger__EmptyBatch();
        }
        batchId = _batchIdOf(root, size);
        if (_batches[batchId].writer != address(0)) {
            revert EvidenceLedger__BatchAlreadyAnchored(batchId);
        }
        _batches[batchId] = Batch({
            root: root,
            size: size,
            writer: msg.sender,
            anchoredAt: uint64(block.timestamp),
            blockNumber: uint64(block.number)
        });
        _batchCount += 1;
        emit BatchAnchored(batchId, root, msg.sender, size);
    }

    /// @inheritdoc IEvidenceLedger
    function batchIdOf(bytes32 root, uint32 size) external view returns (bytes32) {
        return _batchIdOf(root, size);
    }

    /// @inheritdoc IEvidenceLedger
    function getBatch(bytes32 batchId) external view returns (Batch memory) {
        Batch storage stored = _batches[batchId];
        if (stored.writer == address(0)) {
            revert EvidenceLedger__UnknownBatch(batchId);
        }
        return stored;
    }

    /// @inheritdoc IEvidenceLedger
    function batchCount() external view returns (uint256) {
        return _batchCount;
    }

    /// @inheritdoc IEvidenceLedger
    function anchorIdOf(
        bytes32 documentDigest,
        string calldata cid,
        bytes32[] calldata signerKeyFingerprints,
        bytes32 signatureSetDigest
    ) external view returns (bytes32) {
        return _anchorIdOf(documentDigest, cid, signerKeyFingerprints, signatureSetDigest);
    }

    /// @inheritdoc IEvidenceLedger
    function getAnchor(bytes32 anchorId) external view returns (Anchor memory) {
        Anchor storage stored = _anchors[anchorId];
        if (stored.writer == address(0)) {
            revert EvidenceLedger__UnknownAnchor(anchorId);
        }
        return stored;
    }

    /// @inheritdoc IEvidenceLedger
    function isAnchored(bytes32 anchorId) external view returns (bool) {
        return _anchors[anchorId].writer != address(0);
    }

    /// @inheritdoc IEvidenceLedger
    function anchorCount() external view returns (uint256) {
        return _anchorCount;
    }

    function _anchorIdOf(
        bytes32 documentDigest,
        string calldata cid,
        bytes32[] calldata signerKeyFingerprints,
        bytes32 signatureSetDigest
    ) private view returns (bytes32) {
        return keccak256(
            abi.encode(
                block.chainid,
                address(this),
                documentDigest,
                cid,
                signerKeyFingerprints,
                signatureSetDigest
            )
        );
    }

    function _batchIdOf(bytes32 root, uint32 size) private view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), root, size));
    }

    function _validate(
        bytes32 documentDigest,
        string calldata cid,
        bytes32[] calldata signerKeyFingerprints,
        bytes32 signatureSetDigest
    ) private pure {
        if (documentDigest == bytes32(0) || signatureSetDigest == bytes32(0)) {
            revert EvidenceLedger__ZeroDigest();
        }
        uint256 cidLength = bytes(cid).length;
        if (cidLength == 0 || cidLength > MAX_CID_LENGTH) {
            revert EvidenceLedger__InvalidCid(cidLength, MAX_CID_LENGTH);
        }
        uint256 count = signerKeyFingerprints.length;
        if (count == 0 || count > MAX_SIGNERS) {
            revert EvidenceLedger__InvalidSignerCount(count, MAX_SIGNERS);
        }
        for (uint256 i = 0; i < count; i++) {
            bytes32 fingerprint = signerKeyFingerprints[i];
            if (fingerprint == bytes32(0)) {
                revert EvidenceLedger__InvalidSigner(fingerprint);
            }
            for (uint256 j = 0; j < i; j++) {
                if (signerKeyFingerprints[j] == fingerprint) {
                    revert EvidenceLedger__InvalidSigner(fingerprint);
                }
            }
        }
    }
}
