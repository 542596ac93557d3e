// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IConsortium} from "./interfaces/IConsortium.sol";
import {IKeyRegistry} from "./interfaces/IKeyRegistry.sol";

/// @title KeyRegistry
/// @notice The members' SM2 public keys with validity windows; see {IKeyRegistry}.
contract KeyRegistry is IKeyRegistry {
    /// @notice Purpose of keys that sign HTTP requests to other members (RFC 9421).
    bytes32 public constant REQUEST_SIGNING = keccak256("request-signing");
    /// @notice Purpose of keys that seal the proof files a member's service issues.
    bytes32 public constant PROOF_SEALING = keccak256("proof-sealing");
    /// @notice Purpose of keys that receive customers' fields other members release to this one
    /// under a consent grant (SM2 encryption).
    bytes32 public constant DISCLOSURE_RECEIVING = keccak256("disclosure-receiving");
    /// @notice Length of an uncompressed SM2 public key (04||x||y).
    uint256 public constant PUBLIC_KEY_LENGTH = 65;

    uint64 private constant _OPEN_ENDED = type(uint64).max;

    // Storage, not an immutable: the deployment record checks that the code at an address is
    // exactly the artifact's deployed code, which an immutable would change per deployment.
    IConsortium private _consortium;
    /// @dev A key in five storage slots (the 04 prefix of the key is implied, the purpose kept as
    /// its index in `_purposeIds`, the key ID recomputed): a registration costs about half the gas
    /// of storing {KeyEntry} as it is.
    struct StoredKey {
        address member;
        uint8 purpose;
        uint64 notBefore;
        uint64 notAfter;
        uint64 revokedAt;
        uint64 registeredAt;
        bytes32 fingerprint;
        bytes32 x;
        bytes32 y;
    }

    mapping(bytes32 keyId => StoredKey) private _keys;
    mapping(address member => mapping(bytes32 purpose => bytes32[])) private _keyIds;
    mapping(bytes32 fingerprint => address member) private _ownerOf;

    modifier onlyMember() {
        if (!_consortium.isMember(msg.sender)) {
            revert KeyRegistry__NotMember(msg.sender);
        }
        _;
    }

    /// @param consortium_ The consortium whose members may register keys.
    /// @param initialKeys Founding members' keys (each member must be a member already).
    constructor(IConsortium consortium_, InitialKey[] memory initialKeys) {
        _consortium = consortium_;
        for (uint256 i = 0; i < initialKeys.length; i++) {
            InitialKey memory key = initialKeys[i];
            if (!consortium_.isMember(key.member)) {
                revert KeyRegistry__NotMember(key.member);
            }
            _register(
                key.member, key.purpose, key.publicKey, key.fingerprint, key.notBefore, key.notAfter
            );
        }
    }

    /// @inheritdoc IKeyRegistry
    function registerKey(
        bytes32 purpose,
        bytes calldata publicKey,
        bytes32 fingerprint,
        uint64 notBefore,
        uint64 notAfter
    ) external onlyMember returns (bytes32) {
        return _register(msg.sender, purpose, publicKey, fingerprint, notBefore, notAfter);
    }

    /// @inheritdoc IKeyRegistry
    function rotateKey(
        bytes32 oldKeyId,
        bytes calldata publicKey,
        bytes32 fingerprint,
        uint64 notBefore,
        uint64 notAfter
    ) external onlyMember returns (bytes32 newKeyId) {
        StoredKey storage old = _owned(oldKeyId);
        uint64 start = notBefore == 0 ? uint64(block.timestamp) : notBefore;
        if (start < old.notBefore || start >= _end(old)) {
            revert KeyRegistry__InvalidRotation(oldKeyId, start);
        }
        newKeyId = _register(
            msg.sender, _purposeId(old.purpose), publicKey, fingerprint, start, notAfter
        );
        old.notAfter = start;
        emit KeyRotated(oldKeyId, newKeyId, start);
    }

    /// @inheritdoc IKeyRegistry
    function revokeKey(bytes32 keyId, uint64 effectiveAt) external onlyMember {
        StoredKey storage key = _owned(keyId);
        if (key.revokedAt != 0) {
            revert KeyRegistry__AlreadyRevoked(keyId, key.revokedAt);
        }
        uint64 at = effectiveAt == 0 ? uint64(block.timestamp) : effectiveAt;
        if (at < key.notBefore) {
            revert KeyRegistry__InvalidRevocationTime(keyId, at, key.notBefore);
        }
        key.revokedAt = at;
        emit KeyRevoked(keyId, msg.sender, at);
    }

    /// @inheritdoc IKeyRegistry
    function consortium() external view returns (address) {
        return address(_consortium);
    }

    /// @inheritdoc IKeyRegistry
    function getKey(bytes32 keyId) external view returns (KeyEntry memory) {
        StoredKey storage key = _keys[keyId];
        if (key.member == address(0)) {
            revert KeyRegistry__UnknownKey(keyId);
        }
        return _entry(keyId, key);
    }

    /// @inheritdoc IKeyRegistry
    function keyIdsOf(address member, bytes32 purpose) external view returns (bytes32[] memory) {
        return _keyIds[member][purpose];
    }

    /// @inheritdoc IKeyRegistry
    function validKeysAt(address member, bytes32 purpose, uint64 at)
        external
        view
        returns (KeyEntry[] memory valid)
    {
        bytes32[] storage ids = _keyIds[member][purpose];
        uint256 count = 0;
        for (uint256 i = 0; i < ids.length; i++) {
            if (_validAt(_keys[ids[i]], at)) count += 1;
        }
        valid = new KeyEntry[](count);
        uint256 next = 0;
        for (uint256 i = 0; i < ids.length; i++) {
            StoredKey storage key = _keys[ids[i]];
            if (_validAt(key, at)) valid[next++] = _entry(ids[i], key);
        }
    }

    /// @inheritdoc IKeyRegistry
    function isValidAt(address member, bytes32 purpose, bytes32 fingerprint, uint64 at)
        external
        view
        returns (bool)
    {
        StoredKey storage key = _keys[_keyIdOf(member, purpose, fingerprint)];
        return key.member != address(0) && _validAt(key, at);
    }

    /// @inheritdoc IKeyRegistry
    function keyIdOf(address member, bytes32 purpose, bytes32 fingerprint)
        external
        view
        returns (bytes32)
    {
        return _keyIdOf(member, purpose, fingerprint);
    }

    function _register(
        address member,
        bytes32 purpose,
        bytes memory publicKey,
        bytes32 fingerprint,
        uint64 notBefore,
        uint64 notAfter
    ) private returns (bytes32 keyId) {
        uint8 purposeIndex = _purposeIndex(purpose);
        if (publicKey.length != PUBLIC_KEY_LENGTH || publicKey[0] != 0x04) {
            revert KeyRegistry__InvalidPublicKey(publicKey.length);
        }
        if (fingerprint == bytes32(0)) {
            revert KeyRegistry__InvalidFingerprint();
        }
        (uint64 start, uint64 end) = _window(notBefore, notAfter);
        address owner = _ownerOf[fingerprint];
        if (owner != address(0) && owner != member) {
            revert KeyRegistry__KeyOfAnotherMember(fingerprint, owner);
        }
        keyId = _keyIdOf(member, purpose, fingerprint);
        StoredKey storage key = _keys[keyId];
        if (key.member != address(0)) {
            revert KeyRegistry__KeyAlreadyRegistered(keyId);
        }
        _ownerOf[fingerprint] = member;
        key.member = member;
        key.purpose = purposeIndex;
        key.notBefore = start;
        key.notAfter = end;
        key.registeredAt = uint64(block.timestamp);
        key.fingerprint = fingerprint;
        (key.x, key.y) = _coordinates(publicKey);
        _keyIds[member][purpose].push(keyId);
        emit KeyRegistered(keyId, member, purpose, fingerprint, publicKey, start, end);
    }

    function _purposeIndex(bytes32 purpose) private pure returns (uint8) {
        if (purpose == REQUEST_SIGNING) return 0;
        if (purpose == PROOF_SEALING) return 1;
        if (purpose == DISCLOSURE_RECEIVING) return 2;
        revert KeyRegistry__UnknownPurpose(purpose);
    }

    /// @dev The window of a new key: 0 for `notBefore` is now, 0 for `notAfter` open-ended.
    function _window(uint64 notBefore, uint64 notAfter)
        private
        view
        returns (uint64 start, uint64 end)
    {
        uint64 now_ = uint64(block.timestamp);
        start = notBefore == 0 ? now_ : notBefore;
        end = notAfter == 0 ? _OPEN_ENDED : notAfter;
        if (start < now_) {
            revert KeyRegistry__StartsInPast(start, now_);
        }
        if (end <= start) {
            revert KeyRegistry__InvalidWindow(start, end);
        }
    }

    function _owned(bytes32 keyId) private view returns (StoredKey storage key) {
        key = _keys[keyId];
        if (key.member == address(0)) {
            revert KeyRegistry__UnknownKey(keyId);
        }
        if (key.member != msg.sender) {
            revert KeyRegistry__NotKeyOwner(keyId, msg.sender, key.member);
        }
    }

    function _keyIdOf(address member, bytes32 purpose, bytes32 fingerprint)
        private
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(block.chainid, address(this), member, purpose, fingerprint));
    }

    /// @dev Where the key stops being valid: its window's end or its revocation, the earlier.
    function _end(StoredKey storage key) private view returns (uint64) {
        uint64 revokedAt = key.revokedAt;
        return revokedAt != 0 && revokedAt < key.notAfter ? revokedAt : key.notAfter;
    }

    function _validAt(StoredKey storage key, uint64 at) private view returns (bool) {
        return key.notBefore <= at && at < _end(key);
    }

    function _entry(bytes32 keyId, StoredKey storage key) private view returns (KeyEntry memory) {
        return KeyEntry({
            keyId: keyId,
            member: key.member,
            purpose: _purposeId(key.purpose),
            fingerprint: key.fingerprint,
            publicKey: abi.encodePacked(bytes1(0x04), key.x, key.y),
            notBefore: key.notBefore,
            notAfter: key.notAfter,
            revokedAt: key.revokedAt,
            registeredAt: key.registeredAt
        });
    }

    function _purposeId(uint8 index) private pure returns (bytes32) {
        if (index == 0) return REQUEST_SIGNING;
        return index == 1 ? PROOF_SEALING : DISCLOSURE_RECEIVING;
    }

    /// @dev x and y of a 65-byte key 04||x||y (its length and prefix checked before).
    function _coordinates(bytes memory publicKey) private pure returns (bytes32 x, bytes32 y) {
        assembly ("memory-safe") {
            x := mload(add(publicKey, 0x21))
            y := mload(add(publicKey, 0x41))
        }
    }
}
