// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Evidence ledger: on-chain commitments for signed account agreements
/// @notice Holds commitments only (digests, content IDs, key fingerprints), never documents or
/// personal data. An anchor is immutable: a later version or a void is a new anchor, never an edit.
interface IEvidenceLedger {
    /// @notice What the ledger holds for one anchored agreement.
    /// @param documentDigest SM3 digest of the agreement document (plaintext).
    /// @param signatureSetDigest SM3 digest of the canonical set of signatures over the document.
    /// @param signerKeyFingerprints SM3 digest of each signer's raw SM2 public key (04||x||y).
    /// @param cid CIDv1 (base32) of the encrypted document in the content store.
    /// @param writer The account that anchored it.
    /// @param anchoredAt Block timestamp of the anchoring block.
    /// @param blockNumber Number of the anchoring block.
    struct Anchor {
        bytes32 documentDigest;
        bytes32 signatureSetDigest;
        bytes32[] signerKeyFingerprints;
        string cid;
        address writer;
        uint64 anchoredAt;
        uint64 blockNumber;
    }

    /// @notice What the ledger holds for one anchored batch of agreements.
    /// @param root Root of the batch's Merkle tree (RFC 6962 shape, SM3, domain-separated
    /// leaf and node hashing); each agreement's proof file carries its leaf and audit path.
    /// @param size Number of leaves in the tree.
    /// @param writer The account that anchored it.
    /// @param anchoredAt Block timestamp of the anchoring block.
    /// @param blockNumber Number of the anchoring block.
    struct Batch {
        bytes32 root;
        uint32 size;
        address writer;
        uint64 anchoredAt;
        uint64 blockNumber;
    }

    /// @notice Emitted once per batch, right after it is stored.
    /// @param batchId The batch's ID, see {batchIdOf}.
    /// @param root Merkle root of the batch.
    /// @param writer The account that anchored it.
    /// @param size Number of leaves in the batch.
    event BatchAnchored(
        bytes32 indexed batchId, bytes32 indexed root, address indexed writer, uint32 size
    );

    /// @notice Emitted once per anchor, right after it is stored.
    /// @param anchorId The anchor's ID, see {anchorIdOf}.
    /// @param documentDigest SM3 digest of the agreement document.
    /// @param writer The account that anchored it.
    /// @param cid CIDv1 of the encrypted document.
    /// @param signerKeyFingerprints SM3 fingerprints of the signers' SM2 public keys.
    /// @param signatureSetDigest SM3 digest of the canonical signature set.
    event AgreementAnchored(
        bytes32 indexed anchorId,
        bytes32 indexed documentDigest,
        address indexed writer,
        string cid,
        bytes32[] signerKeyFingerprints,
        bytes32 signatureSetDigest
    );

    /// @notice The same anchor (same ID) was recorded before.
    error EvidenceLedger__AlreadyAnchored(bytes32 anchorId);
    /// @notice A digest argument was zero.
    error EvidenceLedger__ZeroDigest();
    /// @notice The content ID was empty or longer than `maxLength` bytes.
    error EvidenceLedger__InvalidCid(uint256 length, uint256 maxLength);
    /// @notice There were no signers, or more than `maxSigners`.
    error EvidenceLedger__InvalidSignerCount(uint256 count, uint256 maxSigners);
    /// @notice A signer fingerprint was zero or appeared twice.
    error EvidenceLedger__InvalidSigner(bytes32 fingerprint);
    /// @notice No anchor has this ID.
    error EvidenceLedger__UnknownAnchor(bytes32 anchorId);
    /// @notice The same batch (same ID) was anchored before.
    error EvidenceLedger__BatchAlreadyAnchored(bytes32 batchId);
    /// @notice `account` may not write here: it is not, now, a consortium member holding `role`
    /// (the broker role).
    error EvidenceLedger__NotPermitted(address account, bytes32 role);
    /// @notice The consortium address given at deployment was zero.
    error EvidenceLedger__ZeroConsortium();
    /// @notice A batch must hold at least one leaf.
    error EvidenceLedger__EmptyBatch();
    /// @notice No batch has this ID.
    error EvidenceLedger__UnknownBatch(bytes32 batchId);

    /// @notice The Consortium every write asks: only its members holding the broker role write,
    /// from the block their membership (or role) starts until the block it ends.
    function consortium() external view returns (address);

    /// @notice Anchors the Merkle root of a batch of signed agreements in one transaction.
    /// Only consortium members with the broker role may call it
    /// ({EvidenceLedger__NotPermitted}).
    /// @dev Reverts with {EvidenceLedger__BatchAlreadyAnchored} if the same batch exists, so a
    /// re-sent transaction after a lost receipt can never anchor a batch twice.
    /// @return batchId The new batch's ID, equal to {batchIdOf} of the same arguments.
    function anchorBatch(bytes32 root, uint32 size) external returns (bytes32 batchId);

    /// @notice The ID a batch gets on this contract:
    /// keccak256(abi.encode(chainid, this contract, root, size)).
    function batchIdOf(bytes32 root, uint32 size) external view returns (bytes32);

    /// @notice The stored batch; reverts with {EvidenceLedger__UnknownBatch} if there is none.
    function getBatch(bytes32 batchId) external view returns (Batch memory);

    /// @notice How many batches exist.
    function batchCount() external view returns (uint256);

    /// @notice Anchors a signed agreement. Only consortium members with the broker role may
    /// call it.
    /// @dev Reverts with {EvidenceLedger__AlreadyAnchored} if the same anchor exists, and with
    /// {EvidenceLedger__NotPermitted} for any other caller.
    /// @return anchorId The new anchor's ID, equal to {anchorIdOf} of the same arguments.
    function anchorAgreement(
        bytes32 documentDigest,
        string calldata cid,
        bytes32[] calldata signerKeyFingerprints,
        bytes32 signatureSetDigest
    ) external returns (bytes32 anchorId);

    /// @notice The ID an anchor with these contents gets on this contract:
    /// keccak256(abi.encode(chainid, this contract, documentDigest, cid, signerKeyFingerprints,
    /// signatureSetDigest)). Domain-separated, so the same agreement anchors to a different ID on
    /// another chain or deployment.
    function anchorIdOf(
        bytes32 documentDigest,
        string calldata cid,
        bytes32[] calldata signerKeyFingerprints,
        bytes32 signatureSetDigest
    ) external view returns (bytes32);

    /// @notice The stored anchor; reverts with {EvidenceLedger__UnknownAnchor} if there is none.
    function getAnchor(bytes32 anchorId) external view returns (Anchor memory);

    /// @notice Whether an anchor with this ID exists.
    function isAnchored(bytes32 anchorId) external view returns (bool);

    /// @notice How many anchors exist.
    function anchorCount() external view returns (uint256);
}
