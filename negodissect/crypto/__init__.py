"""Cryptography for checking what the wire carries (RFC 3961 profiles, NTLM keys, checksums).

Only the :class:`~negodissect.crypto.secrets.Secrets` value exists yet: what the user knows
(keytab keys, passwords, NT hashes, raw keys), handed down to the decoders, never shown.
"""
