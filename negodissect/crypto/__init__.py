"""Cryptography for the decoders: Kerberos profiles, NTLM keys, NEGOEX and SMB2 integrity.

The primitives (AES, HMAC, PBKDF2, DES, RC4, CMAC, SHA-2) come from ``cryptography``; the
profiles built on them are ours, one file per specification: MD4 (RFC 1320), the RFC 3961
simplified profile, AES-SHA1 (RFC 3962), AES-SHA2 (RFC 8009), RC4-HMAC (RFC 4757), the
etype-dispatching API (:mod:`.kerberos`), GSS MIC tokens (RFC 4121), NEGOEX VERIFY checksums
(MS-NEGOEX), NTLM keys and signatures (MS-NLMP), MIT keytabs and SMB2 signing (MS-SMB2).
What the user knows reaches the decoders as one :class:`~.secrets.Secrets` value.
Keys never appear in reprs, exceptions or logs.
"""
