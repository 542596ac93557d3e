// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Consent registry: customers' signed consents to reuse an identity attestation
/// @notice A customer whose identity a member attested ({IIdentityAttestations}) consents that
/// another member (the grantee) receives named fields of that attestation, for named purposes,
/// within a time window, optionally a limited number of times, and in `PerUse` mode only with a
/// fresh customer signature for every use. The customer revokes a consent at any moment.
///
/// What the customer signs. The customer's SM2 key, the one the attestation binds, signs a
/// 32-byte digest: keccak256 of the ABI-encoded record with its type tag and the signing domain,
/// `keccak256(abi.encode(TYPE, block.chainid, address(this), record))`, with TYPE
/// {GRANT_TYPE}, {REVOCATION_TYPE} or {USE_TYPE} ({grantDigest}, {revocationDigest},
/// {useDigest}). The same 32 bytes can later be checked by an on-chain SM2 verifier, or by
/// FISCO BCOS's `sm2Verify(bytes32, ...)` precompile. The signature is SM2 (GB/T 32918.2) over
/// those 32 bytes as the message, with the default distinguishing ID, in DER (SEQUENCE{r, s},
/// at most 72 bytes): a verifier taking r and s reads them from it.
///
/// What the chain checks, and what it cannot. The EVM cannot verify SM2 signatures, so a
/// signature is stored as given, with the member account that relayed it (any current member
/// may relay). Every service verifies the signature against the attestation's customer key before
/// relying on a grant or a revocation: a grant whose signature does not verify is inert (and
/// services flag it). The chain refuses everything else it can judge: a relayer or grantee that
/// is not a member, an unknown attestation or one not valid now, a window that is empty or over,
/// fields that are empty, repeated or not in the attestation, and replays (the same grant digest
/// twice, or the customer key's nonce used by another grant).
///
/// Front-running. As the chain cannot check the signature, a member that sees a customer's grant
/// before it lands could record the same grant (same digest), or any grant under the same
/// attestation with the same nonce, with a garbage signature first. The real one is then refused
/// as a replay. The consequence is bounded: the recorded grant is inert
/// (its signature does not verify, so no service releases anything under it), the relayer that
/// recorded it is on chain and accountable to the consortium, and the customer signs the grant
/// again with a fresh nonce. Keying grants by digest and signature instead would let one
/// consent be recorded several times (SM2 signatures are randomized), each with its own count of
/// uses; we prefer one grant per signed content.
///
/// Revocations cannot be blocked that way: they are keyed by keccak256(abi.encode(digest,
/// signature)) and kept as a list per grant, so a bogus-signature revocation recorded first does
/// not stop the real one; only the exact same (digest, signature) is refused as a replay. A
/// revocation takes effect from the timestamp of the block it lands in. Services take the
/// earliest recorded revocation whose signature verifies; revocations of a grant whose own
/// signature does not verify change nothing.
///
/// Uses are not counted on chain: the granting member's service writes a receipt for every use
/// and anchors receipts in Merkle batches in the EvidenceLedger; `maxUses` is the limit that
/// service enforces.
///
/// Names. Purposes, the processing method and data categories are IDs: keccak256 of their UTF-8
/// names; fields are the attestation's field name IDs.
interface IConsentRegistry {
    /// @notice `Standing`: uses within the window need no further signature. `PerUse`: every
    /// use needs a fresh customer signature over a {UseAuthorization}.
    enum Mode {
        Standing,
        PerUse
    }

    /// @notice The notice the customer was shown (PIPL Art. 23: a recipient's name and contact,
    /// purpose, processing method, categories of personal information; separate consent).
    /// @param recipientName The grantee's name as shown, 1..{MAX_TEXT_LENGTH} bytes of UTF-8.
    /// @param recipientContact Its contact as shown, 1..{MAX_TEXT_LENGTH} bytes.
    /// @param dataCategories Category IDs, 1..{MAX_LIST_LENGTH}.
    /// @param sensitive Whether the data includes sensitive personal information (PIPL Art. 28).
    /// @param noticeDigest SM3 of the notice text shown (never zero).
    /// @param language BCP 47 tag of the notice's language, 1..{MAX_LANGUAGE_LENGTH} bytes.
    /// @param separateConsent Whether the customer gave the separate consent PIPL Art. 23 and 29
    /// require (shown on its own, not bundled).
    struct Notice {
        string recipientName;
        string recipientContact;
        bytes32[] dataCategories;
        bool sensitive;
        bytes32 noticeDigest;
        string language;
        bool separateConsent;
    }

    /// @notice A consent as the customer signs it.
    /// @param grantee The member account that may receive the fields.
    /// @param attestationId The attestation whose fields it may receive.
    /// @param fields Field name IDs, a non-empty subset of the attestation's, no repeats.
    /// @param purposes Purpose IDs, 1..{MAX_LIST_LENGTH}.
    /// @param processingMethod ID of the processing method (never zero).
    /// @param notBefore First second of the window (may be in the past: from recording on).
    /// @param notAfter First second after it; after `notBefore` and after the recording block.
    /// @param maxUses Most uses the granting service allows; 0 = unlimited.
    /// @param nonce The customer's: one grant per customer key and nonce.
    struct Grant {
        address grantee;
        bytes32 attestationId;
        bytes32[] fields;
        bytes32[] purposes;
        bytes32 processingMethod;
        uint64 notBefore;
        uint64 notAfter;
        uint32 maxUses;
        Mode mode;
        bytes32 nonce;
        Notice notice;
    }

    /// @notice A customer's revocation of a grant, effective from the time of the block it lands
    /// in. It carries no effective time of its own: one chosen by the signer could backdate it
    /// over uses already made under the grant.
    struct Revocation {
        bytes32 grantId;
        bytes32 nonce;
    }

    /// @notice A customer's authorization of one use of a `PerUse` grant: this grantee, these
    /// fields, for this purpose (one of the grant's: the list in the spec names no purpose, we add
    /// it so each use states which consented purpose it serves), at this time, once (nonce).
    /// Never sent to the chain: the granting service checks it and writes it into the use's
    /// receipt.
    struct UseAuthorization {
        bytes32 grantId;
        address grantee;
        bytes32[] fields;
        bytes32 purpose;
        bytes32 nonce;
        uint64 requestedAt;
    }

    /// @notice A recorded grant.
    /// @param grantId {grantDigest} of `grant`: what the customer signed.
    /// @param customerKeyFingerprint Fingerprint of the key the attestation binds (the key whose
    /// signature services verify), as recorded.
    /// @param signature The signature as relayed (unchecked on chain).
    /// @param relayer The member that recorded it.
    /// @param recordedAt Block timestamp of the recording.
    struct GrantRecord {
        bytes32 grantId;
        Grant grant;
        bytes32 customerKeyFingerprint;
        bytes signature;
        address relayer;
        uint64 recordedAt;
    }

    /// @notice A recorded revocation of a grant.
    /// @param revocationId keccak256(abi.encode(digest, signature)).
    /// @param digest {revocationDigest} of the revocation.
    /// @param signature The signature as relayed (unchecked on chain).
    /// @param at Block timestamp of the recording: when it takes effect (if its signature
    /// verifies).
    struct RevocationRecord {
        bytes32 revocationId;
        bytes32 digest;
        bytes32 nonce;
        bytes signature;
        address relayer;
        uint64 at;
    }

    /// @notice `relayer` recorded the customer's grant `grantId` for `grantee`.
    event GrantRecorded(
        bytes32 indexed grantId,
        address indexed grantee,
        bytes32 indexed attestationId,
        address relayer,
        bytes32 customerKeyFingerprint,
        bytes signature,
        Grant grant
    );
    /// @notice `relayer` recorded a revocation of `grantId`, effective `at` if its signature
    /// verifies.
    event RevocationRecorded(
        bytes32 indexed grantId,
        bytes32 indexed revocationId,
        address indexed relayer,
        bytes32 digest,
        bytes32 nonce,
        bytes signature,
        uint64 at
    );

    /// @notice The caller is not a member.
    error ConsentRegistry__NotMember(address account);
    /// @notice The consortium's or the attestations' address is zero.
    error ConsentRegistry__ZeroAddress();
    /// @notice The grantee is not a member.
    error ConsentRegistry__GranteeNotMember(address grantee);
    /// @notice No attestation has this ID.
    error ConsentRegistry__UnknownAttestation(bytes32 attestationId);
    /// @notice The attestation is not valid now (expired, revoked or superseded).
    error ConsentRegistry__AttestationNotValid(bytes32 attestationId, uint64 now_);
    /// @notice The window [notBefore, notAfter) is empty.
    error ConsentRegistry__InvalidWindow(uint64 notBefore, uint64 notAfter);
    /// @notice The window is over already (`notAfter` <= `now_`).
    error ConsentRegistry__WindowOver(uint64 notAfter, uint64 now_);
    /// @notice 1..`maxFields` fields.
    error ConsentRegistry__InvalidFieldCount(uint256 count, uint256 maxFields);
    /// @notice A field is listed twice.
    error ConsentRegistry__DuplicateField(bytes32 name);
    /// @notice The attestation has no field with this name ID.
    error ConsentRegistry__FieldNotAttested(bytes32 attestationId, bytes32 name);
    /// @notice 1..`maxLength` purposes (or data categories), none zero.
    error ConsentRegistry__InvalidList(uint256 length, uint256 maxLength);
    /// @notice The processing method or the notice digest is zero.
    error ConsentRegistry__MissingValue(bytes32 processingMethod, bytes32 noticeDigest);
    /// @notice The recipient's name or contact, or the language tag, is empty or too long.
    error ConsentRegistry__InvalidNoticeText(
        uint256 nameLength, uint256 contactLength, uint256 languageLength
    );
    /// @notice A signature must be 1..`maxLength` bytes.
    error ConsentRegistry__InvalidSignature(uint256 length, uint256 maxLength);
    /// @notice A grant with this digest was recorded before.
    error ConsentRegistry__GrantAlreadyRecorded(bytes32 grantId);
    /// @notice The customer key's nonce was used by the grant `grantId`.
    error ConsentRegistry__NonceUsed(bytes32 customerKeyFingerprint, bytes32 nonce, bytes32 grantId);
    /// @notice No grant has this ID.
    error ConsentRegistry__UnknownGrant(bytes32 grantId);
    /// @notice The grant has no revocation at this index.
    error ConsentRegistry__UnknownRevocation(bytes32 grantId, uint256 index);
    /// @notice This revocation (same digest, same signature) was recorded before.
    error ConsentRegistry__RevocationAlreadyRecorded(bytes32 revocationId);

    /// @notice Records the customer's grant with its signature as given. Callable by members.
    /// @return grantId {grantDigest} of `grant`.
    function recordGrant(Grant calldata grant, bytes calldata signature)
        external
        returns (bytes32 grantId);

    /// @notice Records the customer's revocation with its signature as given. Callable by
    /// members; any grant, whatever its state.
    /// @return revocationId keccak256(abi.encode({revocationDigest}, signature)).
    function revoke(Revocation calldata revocation, bytes calldata signature)
        external
        returns (bytes32 revocationId);

    /// @notice The Consortium this contract asks.
    function consortium() external view returns (address);

    /// @notice The IdentityAttestations grants refer to.
    function attestations() external view returns (address);

    /// @notice The grant; reverts with {ConsentRegistry__UnknownGrant}.
    function getGrant(bytes32 grantId) external view returns (GrantRecord memory);

    /// @notice Every revocation recorded for the grant, oldest first (whether or not their
    /// signatures verify: services decide).
    function revocationsOf(bytes32 grantId) external view returns (RevocationRecord[] memory);

    /// @notice How many revocations were recorded for the grant.
    function revocationCount(bytes32 grantId) external view returns (uint256);

    /// @notice The `index`-th revocation recorded for the grant (from 0, oldest first): a list
    /// that members could lengthen with bogus revocations stays readable one by one. Reverts
    /// with {ConsentRegistry__UnknownRevocation} past the end.
    function revocationAt(bytes32 grantId, uint256 index)
        external
        view
        returns (RevocationRecord memory);

    /// @notice IDs of every grant recorded for `grantee`, oldest first.
    function grantsOf(address grantee) external view returns (bytes32[] memory);

    /// @notice IDs of every grant recorded under `attestationId`, oldest first.
    function grantsOfAttestation(bytes32 attestationId) external view returns (bytes32[] memory);

    /// @notice What the customer signs to grant: keccak256(abi.encode({GRANT_TYPE},
    /// block.chainid, this contract, grant)); it is the grant's ID.
    function grantDigest(Grant calldata grant) external view returns (bytes32);

    /// @notice What the customer signs to revoke: keccak256(abi.encode({REVOCATION_TYPE},
    /// block.chainid, this contract, revocation)).
    function revocationDigest(Revocation calldata revocation) external view returns (bytes32);

    /// @notice What the customer signs to authorize one use: keccak256(abi.encode({USE_TYPE},
    /// block.chainid, this contract, authorization)).
    function useDigest(UseAuthorization calldata authorization) external view returns (bytes32);
}
