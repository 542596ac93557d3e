// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Identity attestations: a member broker verified a customer (KYC), until an expiry
/// @notice A member with the broker role ({IConsortium-isAllowed}) attests that it verified a
/// customer at a level, by a method, at a time, until an expiry. Other members reuse the
/// attestation inside a consent the customer signs ({IConsentRegistry}).
///
/// No personal data on chain. The subject is a salted commitment computed off chain (for
/// example SM3(salt || ID number)): two members' attestations of one customer cannot be linked
/// without the customer. Each KYC field is committed to separately, SD-JWT style: per field a
/// disclosure `[salt, name, value]` and its SM3 digest; a field released later is checked
/// against the digest attested here, fields not released reveal nothing. The fields themselves
/// are encrypted and stored in the content store; `contentRef` is their content ID.
///
/// Field names. A field's name ID is keccak256 of its UTF-8 name (as role and purpose IDs are),
/// not the name left-aligned in 32 bytes: names of any length, one rule for every name ID, and the
/// disclosure, which carries the name itself, is checked by hashing it.
///
/// The customer's key. The attestation binds the customer's SM2 public key (65 bytes, 04||x||y),
/// generated on the customer's side during KYC: consents are signed with it. As in the key
/// registry, its fingerprint (SM3 of the 65 bytes) is stored as stated; the EVM has no SM3, so a
/// reader recomputes it and refuses an attestation whose fingerprint differs (the Python binding
/// `ledger.chain.attestations` does so for every attestation it returns).
///
/// Validity. An attestation is valid at `t` when `verifiedAt <= t < expiresAt` and, if it ended,
/// `t < endedAt`. Its attester ends it early by revoking it (from the revoking block's time) or by
/// superseding it with a re-verification of the same customer (same subject and key; the old one
/// ends at the new one's block time and names it in `supersededBy`). Nothing is deleted: ended
/// attestations stay readable with their end time. An attestation of a member that later leaves
/// the consortium, or loses the broker role, stays readable and, on chain, valid until its end;
/// only a current broker revokes or supersedes, so such an attestation can no longer be ended
/// early: services decide whether to rely on attestations of former members.
interface IIdentityAttestations {
    /// @notice What an attester states; see the contract's notes for each part.
    /// @param subject Salted commitment to the customer's identity (never zero).
    /// @param customerKey The customer's SM2 public key, 04||x||y.
    /// @param customerKeyFingerprint SM3(customerKey), as stated.
    /// @param level ID of the assurance level's name (keccak256, never zero).
    /// @param method ID of the verification method's name, e.g.
    /// keccak256("id-document+liveness") (never zero).
    /// @param verifiedAt When the verification was done; not in the future.
    /// @param expiresAt First second the attestation is no longer valid; after `verifiedAt` and
    /// after the attesting block's time.
    /// @param fieldNames Name IDs of the attested fields, 1..{MAX_FIELDS}, no zero, no repeats.
    /// @param fieldDigests SM3 of each field's disclosure, same order and length, never zero.
    /// @param contentRef Content ID of the encrypted fields in the content store (1..128 bytes).
    /// @param nonce Chosen by the attester: it makes the ID unique per attester and subject.
    struct AttestationInput {
        bytes32 subject;
        bytes customerKey;
        bytes32 customerKeyFingerprint;
        bytes32 level;
        bytes32 method;
        uint64 verifiedAt;
        uint64 expiresAt;
        bytes32[] fieldNames;
        bytes32[] fieldDigests;
        bytes contentRef;
        bytes32 nonce;
    }

    /// @notice An attestation as stored, with its state.
    /// @param attestationId keccak256(abi.encode(chainid, this contract, attester, subject, nonce)).
    /// @param endedAt When a revocation or supersession ended it; 0 while neither did.
    /// @param revocationReason The attester's reason if it was revoked; zero otherwise.
    /// @param supersededBy The attestation that superseded it; zero otherwise.
    /// @param supersedes The attestation it superseded; zero otherwise.
    /// @param attestedAt Block timestamp of the attestation.
    struct Attestation {
        bytes32 attestationId;
        address attester;
        bytes32 subject;
        bytes customerKey;
        bytes32 customerKeyFingerprint;
        bytes32 level;
        bytes32 method;
        uint64 verifiedAt;
        uint64 expiresAt;
        bytes32[] fieldNames;
        bytes32[] fieldDigests;
        bytes contentRef;
        bytes32 nonce;
        uint64 attestedAt;
        uint64 endedAt;
        bytes32 revocationReason;
        bytes32 supersededBy;
        bytes32 supersedes;
    }

    /// @notice `attester` attested the customer `subject` (the full input is in the call data and
    /// in {getAttestation}).
    event Attested(
        bytes32 indexed attestationId,
        address indexed attester,
        bytes32 indexed subject,
        bytes32 customerKeyFingerprint,
        uint64 verifiedAt,
        uint64 expiresAt
    );
    /// @notice The attester revoked the attestation, effective `at` (the block's time).
    event AttestationRevoked(
        bytes32 indexed attestationId, address indexed attester, bytes32 reason, uint64 at
    );
    /// @notice `newId` superseded `oldId`, which ended `at` (the block's time).
    event AttestationSuperseded(bytes32 indexed oldId, bytes32 indexed newId, uint64 at);

    /// @notice The caller is not a member holding `role`.
    error IdentityAttestations__NotPermitted(address account, bytes32 role);
    /// @notice The consortium's address must not be zero.
    error IdentityAttestations__ZeroConsortium();
    /// @notice The subject, level or method is zero.
    error IdentityAttestations__MissingValue(bytes32 subject, bytes32 level, bytes32 method);
    /// @notice A customer key must be 65 bytes starting with 0x04.
    error IdentityAttestations__InvalidPublicKey(uint256 length);
    /// @notice A key fingerprint must not be zero.
    error IdentityAttestations__InvalidFingerprint();
    /// @notice The verification lies in the future (`verifiedAt` > `now_`).
    error IdentityAttestations__VerifiedInFuture(uint64 verifiedAt, uint64 now_);
    /// @notice `expiresAt` must be after `verifiedAt` and after `now_`.
    error IdentityAttestations__InvalidExpiry(uint64 verifiedAt, uint64 expiresAt, uint64 now_);
    /// @notice 1..`maxFields` names, and as many digests as names.
    error IdentityAttestations__InvalidFieldCount(uint256 names, uint256 digests, uint256 maxFields);
    /// @notice The field at `index` has a zero name or a zero digest.
    error IdentityAttestations__InvalidField(uint256 index);
    /// @notice A field name is listed twice.
    error IdentityAttestations__DuplicateField(bytes32 name);
    /// @notice A content reference must be 1..`maxLength` bytes.
    error IdentityAttestations__InvalidContentRef(uint256 length, uint256 maxLength);
    /// @notice The attester attested this subject with this nonce before.
    error IdentityAttestations__AlreadyAttested(bytes32 attestationId);
    /// @notice No attestation has this ID.
    error IdentityAttestations__UnknownAttestation(bytes32 attestationId);
    /// @notice Only the attester revokes or supersedes its attestation.
    error IdentityAttestations__NotAttester(bytes32 attestationId, address caller, address attester);
    /// @notice The attestation ended already (revoked, or superseded by `supersededBy`).
    error IdentityAttestations__AlreadyEnded(
        bytes32 attestationId, uint64 endedAt, bytes32 supersededBy
    );
    /// @notice A re-verification must be of the same customer: same subject and same key.
    error IdentityAttestations__DifferentCustomer(bytes32 oldId);
    /// @notice A revocation needs a reason (non-zero).
    error IdentityAttestations__MissingReason();

    /// @notice Attests a customer. Callable by brokers.
    /// @return attestationId See {Attestation}.
    function attest(AttestationInput calldata input) external returns (bytes32 attestationId);

    /// @notice Revokes the caller's attestation from this block's time on, with a reason ID.
    /// Callable by the attester while it is a broker; not after the attestation ended. Revoking
    /// one that expired already is allowed (its reason is recorded; its validity is unchanged).
    function revoke(bytes32 attestationId, bytes32 reason) external;

    /// @notice Attests a re-verification of the customer of `oldId` (same subject and key) and
    /// ends `oldId` at this block's time. Callable by the attester of `oldId` while it is a broker;
    /// also after `oldId` expired (the new attestation then names its predecessor).
    function supersede(bytes32 oldId, AttestationInput calldata input)
        external
        returns (bytes32 newId);

    /// @notice The Consortium this contract asks.
    function consortium() external view returns (address);

    /// @notice The attestation; reverts with {IdentityAttestations__UnknownAttestation}.
    function getAttestation(bytes32 attestationId) external view returns (Attestation memory);

    /// @notice Whether the attestation exists and was valid at `at` (see the contract's notes).
    function isValidAt(bytes32 attestationId, uint64 at) external view returns (bool);

    /// @notice The SM3 digest attested for the field with name ID `name`; zero when the
    /// attestation does not exist or has no such field.
    function fieldDigest(bytes32 attestationId, bytes32 name) external view returns (bytes32);

    /// @notice The fingerprint of the customer key the attestation binds; zero when it does not
    /// exist (one storage read, for other contracts).
    function customerKeyFingerprintOf(bytes32 attestationId) external view returns (bytes32);

    /// @notice IDs of every attestation `attester` made, oldest first.
    function attestationsOf(address attester) external view returns (bytes32[] memory);

    /// @notice The ID of these values: keccak256(abi.encode(chainid, this contract, attester,
    /// subject, nonce)).
    function attestationIdOf(address attester, bytes32 subject, bytes32 nonce)
        external
        view
        returns (bytes32);
}
