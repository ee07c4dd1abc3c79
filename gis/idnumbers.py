"""Resident ID numbers (居民身份证号, GB 11643-1999): checks, and protection at rest (PIPL art. 28, 51).

Pure code: no database, no settings. An ID number is stored three ways, none of them the number:

- ``encrypt``: AES-256-GCM under the current ID key, as ``wg1.<key id>.<base64url(nonce || ciphertext)>``;
  the key id (a fingerprint of the key, not the key) says which key decrypts it, so keys can be rotated;
- ``lookup_hash``: HMAC-SHA256 under a lookup key, to find a person by ID number without decrypting;
- ``mask``: the first 6 and last 4 characters (``320102********123X``), which is all the app ever shows.

Keys never reach the database or a backup: they come from settings (``WANGGE_ID_KEY``) at the edge.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gis.errors import InvalidInput, SetupError

CHECK_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
"""GB 11643 (ISO 7064 MOD 11-2): the weight of each of the first 17 digits."""
CHECK_CHARACTERS = "10X98765432"
"""The check character for each remainder of the weighted sum modulo 11."""
_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")
TOKEN_PREFIX = "wg1"
# Bound into every ciphertext, so a token copied into another column does not decrypt there.
_AAD = b"wangge:resident_private.id_number"


# --- GB 11643 -------------------------------------------------------------------------------


def check_digit(first17: str) -> str:
    """The GB 11643 check character (ISO 7064 MOD 11-2) of the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise InvalidInput(f"check_digit: expected 17 digits, got {first17!r}")
    return CHECK_CHARACTERS[sum(int(d) * w for d, w in zip(first17, CHECK_WEIGHTS, strict=True)) % 11]


@dataclass(frozen=True)
class IdNumber:
    """A checked 18-character ID number and what it encodes."""

    value: str
    birth_date: dt.date
    sex: str  # "M" or "F": the 17th digit is odd for men

    @property
    def region(self) -> str:
        return self.value[:6]


def parse_id_number(raw: str) -> IdNumber:
    """Check an ID number (shape, birth date, checksum) and decode it; InvalidInput says what is wrong."""
    value = (raw or "").strip().upper()
    if not _SHAPE.match(value):
        raise InvalidInput(f"an ID number is 17 digits and a digit or X (18 characters), got {raw!r}")
    try:
        birth = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise InvalidInput(f"{mask(value)}: digits 7-14 are not a date ({value[6:14]})") from None
    expected = check_digit(value[:17])
    if value[17] != expected:
        raise InvalidInput(f"{mask(value)} ends in check character {value[17]} where its digits give {expected} "
                           "(a digit was mistyped)")
    return IdNumber(value=value, birth_date=birth, sex="M" if int(value[16]) % 2 else "F")


def mask(value: str | None) -> str | None:
    """The number with only its first 6 and last 4 characters shown."""
    if not value:
        return value
    value = value.strip()
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


# --- keys, encryption, lookup hash ----------------------------------------------------------


def new_key() -> str:
    """A fresh random ID key (32 bytes, base64url), for WANGGE_ID_KEY."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def _key_bytes(text: str, *, name: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode("ascii") + b"==")
    except (ValueError, UnicodeEncodeError):
        raw = b""
    if len(raw) != 32:
        raise SetupError(f"{name}: expected 32 random bytes in base64url (make one with `wangge keys new`), "
                         f"got {len(text.strip())} characters that are not that")
    return raw


def key_id(key: bytes) -> str:
    """A short fingerprint naming a key in each token; it reveals nothing usable about the key."""
    return hashlib.sha256(b"wangge-id-key-id:" + key).hexdigest()[:8]


def seal(key: bytes, *, key_label: str, prefix: str, plaintext: bytes, aad: bytes) -> str:
    """``<prefix>.<key_label>.<nonce+ciphertext>``: how every sensitive field is kept at rest.

    AES-GCM with a fresh random nonce each time; the key is named so that rotation knows which one opens it.
    """
    nonce = secrets.token_bytes(12)
    body = base64.urlsafe_b64encode(nonce + AESGCM(key).encrypt(nonce, plaintext, aad)).decode("ascii").rstrip("=")
    return f"{prefix}.{key_label}.{body}"


def unseal(keys: IdKeys, token: str, *, prefix: str, aad: bytes, what: str,
           derive: Callable[[bytes], bytes] = lambda key: key) -> bytes:
    """What :func:`seal` sealed under the current key or a previous one.

    ``derive`` turns an ID key into the field's own key. SetupError when no key held here sealed it,
    InvalidInput when the token is damaged.
    """
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != prefix:
        raise InvalidInput(f"not {what} (expected {prefix}.<key id>.<data>)")
    key = {key_id(k): k for k in (keys.current, *keys.previous)}.get(parts[1])
    if key is None:
        raise SetupError(f"{what} was sealed with ID key {parts[1]}, which is neither WANGGE_ID_KEY "
                         f"({keys.current_id}) nor in WANGGE_ID_KEYS_PREVIOUS")
    data = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
    try:
        return AESGCM(derive(key)).decrypt(data[:12], data[12:], aad)
    except InvalidTag:
        raise InvalidInput(f"{what} under key {parts[1]} fails its integrity check") from None


def _derive(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


@dataclass(frozen=True)
class IdKeys:
    """The current ID key, the lookup-hash key and older ID keys still accepted for decryption."""

    current: bytes
    lookup: bytes
    previous: tuple[bytes, ...] = ()

    @classmethod
    def from_text(cls, current: str, *, lookup: str | None = None, previous: list[str] | tuple[str, ...] = (),
                  name: str = "WANGGE_ID_KEY") -> IdKeys:
        """Keys from their base64url text; the lookup key is derived from the ID key unless given."""
        key = _key_bytes(current, name=name)
        lookup_key = _key_bytes(lookup, name="WANGGE_ID_LOOKUP_KEY") if lookup else _derive(key, b"wangge id lookup")
        olds = tuple(_key_bytes(k, name="WANGGE_ID_KEYS_PREVIOUS") for k in previous if k.strip())
        return cls(current=key, lookup=lookup_key, previous=olds)

    @property
    def current_id(self) -> str:
        return key_id(self.current)

    def encrypt(self, id_number: str) -> str:
        """``wg1.<key id>.<nonce+ciphertext>``: a fresh random nonce each time, so equal numbers differ."""
        return seal(self.current, key_label=self.current_id, prefix=TOKEN_PREFIX, plaintext=id_number.encode("ascii"),
                    aad=_AAD)

    def decrypt(self, token: str) -> str:
        """The ID number in ``token``; SetupError when no key held here made it, InvalidInput when damaged."""
        return unseal(self, token, prefix=TOKEN_PREFIX, aad=_AAD, what="an encrypted ID number").decode("ascii")

    def lookup_hash(self, id_number: str) -> str:
        """HMAC-SHA256 of the normalised number (hex): equal numbers, equal hashes; useless without the key."""
        return hmac.new(self.lookup, id_number.strip().upper().encode("ascii"), hashlib.sha256).hexdigest()

    def is_current(self, token: str) -> bool:
        """True when ``token`` was made with the current key."""
        return token.split(".")[1:2] == [self.current_id]
