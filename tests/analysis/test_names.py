"""The node names analysis reads (negodissect.analysis.names) are names the decoders give: each
is found in the trees of the bundled real captures (their blobs through the pipeline, and their
KDC messages on port 88, which tshark finds and the Kerberos decoder reads), of a Windows
NEGOEX negotiation (packetgen-plugin-smb/smb2.pcapng), of an MIT one with VERIFY messages, and
of kerberos-keys.pcap decoded with its keytab (the decrypted tickets and their PACs)."""

from __future__ import annotations

import subprocess

import pytest

from negodissect import gss
from negodissect.analysis import DecodedBlob, names
from negodissect.crypto.keytab import read_keytab
from negodissect.crypto.secrets import Secrets
from negodissect.pipeline.capture import decode_capture
from tests.helpers import ROOT, SHARED_CAPTURES

CAPTURES = sorted((ROOT / "captures").glob("*.pcap"))
NEGOEX = SHARED_CAPTURES / "packetgen-plugin-smb" / "smb2.pcapng"
#: MIT's NEGOEX exchanges: the VERIFY messages (ChecksumValue) Windows' capture does not hold.
MIT_NEGOEX = SHARED_CAPTURES / "mit-negoex" / "01-http-curl-hops1.pcap"


def kdc_messages(tshark: str, path: str) -> list[bytes]:
    """The Kerberos messages sent to or from port 88 (TCP: after the 4-byte record mark)."""
    command = [tshark, "-r", path, "-Y", "kerberos && (udp.port == 88 || tcp.port == 88)"]
    command += ["-T", "fields", "-e", "udp.payload", "-e", "tcp.payload"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = []
    for line in output.splitlines():
        udp, _, tcp = line.partition("\t")
        found.append(bytes.fromhex(udp) if udp else bytes.fromhex(tcp)[4:])
    return found


@pytest.mark.slow
def test_every_name_analysis_reads_is_in_real_trees(tshark: str) -> None:
    seen: set[str] = set()
    for path in [*CAPTURES, NEGOEX, MIT_NEGOEX]:
        for item in decode_capture(str(path)):
            if isinstance(item, DecodedBlob):
                seen.update(node.name for node in item.tree.walk())
        for message in kdc_messages(tshark, str(path)):
            seen.update(node.name for node in gss.decode(message, kind="kerberos").walk())
    keytab = ROOT / "captures" / "kerberos-keys.keytab"  # its tickets and PACs, decrypted
    secrets = Secrets(keytab=tuple(read_keytab(keytab)))
    for item in decode_capture(str(keytab.with_suffix(".pcap")), secrets=secrets):
        if isinstance(item, DecodedBlob):
            seen.update(node.name for node in item.tree.walk())
    read = {value for key, value in vars(names).items() if key.isupper()}
    assert len(read) > 30 and read <= seen, sorted(read - seen)
