"""The typed errors of the crypto package; none of them ever carries key or plaintext bytes."""

from __future__ import annotations


class CryptoError(Exception):
    """Base of every error raised by :mod:`negodissect.crypto`."""


class UnsupportedError(CryptoError):
    """An encryption type, checksum type or parameter this package does not implement."""


class MalformedError(CryptoError):
    """Input of the wrong shape: a ciphertext too short, a key of the wrong length, a bad token."""


class IntegrityError(CryptoError):
    """Well-formed input whose checksum does not match: a wrong key, usage, or tampered bytes."""
