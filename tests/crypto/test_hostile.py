"""Wire bytes reach these functions from captures: whatever they are, only the package's typed
errors may come out (CryptoError: MalformedError, IntegrityError, UnsupportedError)."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from negodissect.crypto import kerberos, negoex, ntlm, rfc4121, rfc4757, smb2
from negodissect.crypto.errors import CryptoError
from negodissect.crypto.kerberos import Key

KEYS = [Key(etype, bytes(range(profile.key_size))) for etype, profile in kerberos.PROFILES.items()]
SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None)


@SETTINGS
@given(st.sampled_from(KEYS), st.integers(-(2**31), 2**32), st.binary(max_size=120))
def test_decrypt_and_checksums(key: Key, usage: int, data: bytes) -> None:
    with contextlib.suppress(CryptoError):
        kerberos.decrypt(key, usage, data)
    with contextlib.suppress(CryptoError):
        kerberos.verify_checksum(key, usage, data, data[:12])
    with contextlib.suppress(CryptoError):
        rfc4121.verify_mic_token(key, b"data", data)
    with contextlib.suppress(CryptoError):
        negoex.verify_checksum(key, data, data[:16], usage, bool(usage & 1), usage & 3)


@SETTINGS
@given(st.binary(max_size=120), st.integers(0, 2**32 - 1), st.integers(0, 3))
def test_ntlm_rc4_and_smb2(data: bytes, flags: int, algorithm: int) -> None:
    with contextlib.suppress(CryptoError):
        rfc4757.verify_mic_token(bytes(16), b"data", data)
    with contextlib.suppress(CryptoError):
        ntlm.verify_ntlmv2_response(bytes(16), bytes(8), data)
    with contextlib.suppress(CryptoError):
        ntlm.SigningState(flags, bytes(16), bool(flags & 1)).verify(b"message", data)
    with contextlib.suppress(CryptoError):
        ntlm.exported_session_key(flags, bytes(16), data)
    with contextlib.suppress(CryptoError):
        smb2.verify(bytes(16), algorithm, b"\xfeSMB" + data + bytes(64))
