"""negodissect: a dissector for SPNEGO, NEGOEX, NTLMSSP and Kerberos authentication on the wire.

The command is :mod:`negodissect.cli`; the library interface is :mod:`negodissect.api`.
"""

#: The one version: packaging reads it (pyproject.toml), ``negodissect --version`` shows it.
__version__ = "0.1.0"
