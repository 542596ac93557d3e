// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Key registry: the members' SM2 public keys, per purpose, with validity windows
/// @notice A member registers SM2 public keys (65 bytes, uncompressed: 04||x||y) for a purpose
/// ({REQUEST_SIGNING}: RFC 9421 requests to other members' services; {PROOF_SEALING}: the seal of
/// the proof files its service issues; {DISCLOSURE_RECEIVING}: the key other members encrypt a
/// customer's released fields to). A key is valid for its member and purpose at time `t`
/// when `notBefore <= t < notAfter` and, if revoked, `t < revokedAt`: a revocation takes effect at
/// its effective time, and signatures made before it stay valid.
///
/// Fingerprints. A key's fingerprint is SM3 of its 65 bytes. The EVM has no SM3, so the registry
/// stores the fingerprint the member gives beside the key without checking it; a service that
/// reads an entry recomputes SM3(publicKey) and refuses the entry if it differs (the Python
/// binding `ledger.chain.keys` does so for every entry it returns). A fingerprint belongs to one
/// member: nobody can register another member's key as its own.
///
/// Permissions: only current members of the consortium register, rotate and revoke, and only
/// their own keys. Keys of a member that was removed stay readable (old signatures keep
/// verifying); whether the member belonged at a time is the consortium's record.
interface IKeyRegistry {
    /// @notice A registered key.
    /// @param keyId keccak256(abi.encode(chainid, this registry, member, purpose, fingerprint)).
    /// @param member The member's chain account.
    /// @param purpose {REQUEST_SIGNING}, {PROOF_SEALING} or {DISCLOSURE_RECEIVING}.
    /// @param fingerprint SM3(publicKey) as the member stated it (see above).
    /// @param publicKey The SM2 public key, 04||x||y.
    /// @param notBefore First second the key is valid.
    /// @param notAfter First second it is no longer valid (type(uint64).max: open-ended).
    /// @param revokedAt Revocation's effective time; 0 while not revoked.
    /// @param registeredAt Block timestamp of the registration.
    struct KeyEntry {
        bytes32 keyId;
        address member;
        bytes32 purpose;
        bytes32 fingerprint;
        bytes publicKey;
        uint64 notBefore;
        uint64 notAfter;
        uint64 revokedAt;
        uint64 registeredAt;
    }

    /// @notice A founding member's key, registered at deployment.
    struct InitialKey {
        address member;
        bytes32 purpose;
        bytes publicKey;
        bytes32 fingerprint;
        uint64 notBefore;
        uint64 notAfter;
    }

    /// @notice A key was registered (also for the new key of a rotation).
    event KeyRegistered(
        bytes32 indexed keyId,
        address indexed member,
        bytes32 indexed purpose,
        bytes32 fingerprint,
        bytes publicKey,
        uint64 notBefore,
        uint64 notAfter
    );
    /// @notice A rotation ended `oldKeyId` at `at`, where `newKeyId` starts.
    event KeyRotated(bytes32 indexed oldKeyId, bytes32 indexed newKeyId, uint64 at);
    /// @notice The key is revoked from `effectiveAt` on.
    event KeyRevoked(bytes32 indexed keyId, address indexed member, uint64 effectiveAt);

    /// @notice The caller is not a member of the consortium.
    error KeyRegistry__NotMember(address account);
    /// @notice The key belongs to `owner`, not to the caller.
    error KeyRegistry__NotKeyOwner(bytes32 keyId, address caller, address owner);
    /// @notice Not one of request-signing, proof-sealing.
    error KeyRegistry__UnknownPurpose(bytes32 purpose);
    /// @notice A public key must be 65 bytes starting with 0x04.
    error KeyRegistry__InvalidPublicKey(uint256 length);
    /// @notice A fingerprint must not be zero.
    error KeyRegistry__InvalidFingerprint();
    /// @notice The window [notBefore, notAfter) is empty.
    error KeyRegistry__InvalidWindow(uint64 notBefore, uint64 notAfter);
    /// @notice A new key's window may not start before `now` (no backdated keys).
    error KeyRegistry__StartsInPast(uint64 notBefore, uint64 now_);
    /// @notice The member registered this key for this purpose before.
    error KeyRegistry__KeyAlreadyRegistered(bytes32 keyId);
    /// @notice The fingerprint is another member's key.
    error KeyRegistry__KeyOfAnotherMember(bytes32 fingerprint, address owner);
    /// @notice No key has this ID.
    error KeyRegistry__UnknownKey(bytes32 keyId);
    /// @notice The key was revoked already, effective `revokedAt`.
    error KeyRegistry__AlreadyRevoked(bytes32 keyId, uint64 revokedAt);
    /// @notice A revocation may take effect from the key's start on (`notBefore`), not before.
    error KeyRegistry__InvalidRevocationTime(bytes32 keyId, uint64 effectiveAt, uint64 notBefore);
    /// @notice A rotation's new key must have the old one's purpose, and start while the old
    /// key's window is open: no earlier than its `notBefore`, before its end.
    error KeyRegistry__InvalidRotation(bytes32 oldKeyId, uint64 newNotBefore);

    /// @notice Registers the caller's key for `purpose`, valid in [notBefore, notAfter).
    /// `notBefore` 0 means the block's timestamp; `notAfter` 0 means open-ended.
    /// @return keyId See {KeyEntry}.
    function registerKey(
        bytes32 purpose,
        bytes calldata publicKey,
        bytes32 fingerprint,
        uint64 notBefore,
        uint64 notAfter
    ) external returns (bytes32 keyId);

    /// @notice Registers a new key for the purpose of the caller's `oldKeyId` and ends the old
    /// key's window where the new one's starts, in one transaction (if it ended earlier, it
    /// stays as it was). `notBefore` 0 means now; `notAfter` 0 open-ended.
    function rotateKey(
        bytes32 oldKeyId,
        bytes calldata publicKey,
        bytes32 fingerprint,
        uint64 notBefore,
        uint64 notAfter
    ) external returns (bytes32 newKeyId);

    /// @notice Revokes the caller's key from `effectiveAt` on (0 means now); it may lie in the
    /// past (a compromise found late) but not before the key's `notBefore`.
    function revokeKey(bytes32 keyId, uint64 effectiveAt) external;

    /// @notice The consortium this registry asks.
    function consortium() external view returns (address);

    /// @notice The entry; reverts with {KeyRegistry__UnknownKey}.
    function getKey(bytes32 keyId) external view returns (KeyEntry memory);

    /// @notice IDs of every key the member registered for `purpose`, oldest first.
    function keyIdsOf(address member, bytes32 purpose) external view returns (bytes32[] memory);

    /// @notice The member's keys for `purpose` that were valid at `at` (one call: "which key was
    /// valid for member M at time t").
    function validKeysAt(address member, bytes32 purpose, uint64 at)
        external
        view
        returns (KeyEntry[] memory);

    /// @notice Whether the key with `fingerprint` was valid for `member` and `purpose` at `at`.
    function isValidAt(address member, bytes32 purpose, bytes32 fingerprint, uint64 at)
        external
        view
        returns (bool);

    /// @notice The key ID of these values: keccak256(abi.encode(chainid, this registry, member,
    /// purpose, fingerprint)).
    function keyIdOf(address member, bytes32 purpose, bytes32 fingerprint)
        external
        view
        returns (bytes32);
}
