"""Every frame in which tshark finds a SPNEGO / NTLMSSP / Kerberos GSS blob carried by SMB, HTTP,
LDAP or DCE/RPC, in every shared and bundled capture, is a frame where blobs_from_capture finds a
blob, in the same TCP stream and with the carrier tshark names; and no other frame has one.

Kerberos to the KDC (and kpasswd) is compared too: carrier ``kerberos``, its stream tshark's
tcp.stream or udp.stream (UDP conversations are numbered apart, as tshark does).
The exceptions, listed in :data:`PER_MESSAGE`, are per-message tokens (GSS_Wrap / GSS_GetMIC
output), not security context tokens, which tshark shows as SPNEGO / Kerberos / GSS-API too:
DCE/RPC REQUEST / RESPONSE auth verifiers ([MS-RPCE] 2.2.2.11) and LDAP traffic wrapped by the
SASL security layer after a bind (RFC 4422 3.7, 4-byte length + wrap token).  tshark also hands the
credentials of every SASL bind to GSS-API, whatever the mechanism (SCRAM's "n,,..." becomes an
"Unknown header"); only GSS-SPNEGO, GSSAPI and NTLM credentials are GSS tokens (RFC 4422 5: each
mechanism defines its data), so bindRequests of other mechanisms are not counted as blobs.
"""

from __future__ import annotations

import random
import subprocess

import pytest

from negodissect.carriers import ldap
from negodissect.carriers.base import AuthBlob
from negodissect.pipeline.capture import Conductor, blobs_from_capture
from negodissect.sources.frames import Segment
from tests.carriers.test_dcerpc import bind
from tests.carriers.test_http import pipelined_client, pipelined_server
from tests.carriers.test_ldap import bind_response, sasl_bind, spnego_blob
from tests.helpers import ROOT, SHARED_CAPTURES

CAPTURES = sorted(SHARED_CAPTURES.glob("*/*.pcap*")) + sorted((ROOT / "captures").glob("*.pcap"))
IDS = [f"{p.parent.name}/{p.name}" for p in CAPTURES]
GSS_FILTER = "ntlmssp || spnego || gss-api || kerberos || kpasswd"
#: Frames tshark shows with a GSS token that is not a context token: DCE/RPC REQUEST (0) /
#: RESPONSE (2) verifiers of a PKT_PRIVACY association (Kerberos wrap tokens, in SPNEGO framing
#: or raw),
#: and sealed LDAP (SASL buffers) after the GSS-SPNEGO binds (NTLM, then Kerberos).
PER_MESSAGE = {
    "zeek/dce-rpc_cs_window7-join_stream092.pcap": {11, 12, 13, 14, 15, 16},
    # rpcclient's sealed lsarpc and samr calls over pipes after the Kerberos binds
    "captures/smb2-rpc-kerberos.pcap": {57, 63, 65, 67, 69, 71, 89, 90, 91, 93, 95, 96, 97, 98}
    | {99, 100, 101, 102, 103, 104},
    "captures/ldap-sasl.pcap": {12, 13, 14, 15, 44, 49, 50, 51},
    # the sealed LDAP after the Kerberos bind of the ldap-keys scenario
    "captures/ldap-keys.pcap": {44, 45, 46, 47},
    # the same sealed lsarpc and samr calls in the kerberos-keys scenario
    "captures/kerberos-keys.pcap": {122, 124, 126, 127, 128, 129, 148, 150, 152, 153, 154, 155}
    | {156, 157, 158, 159, 160, 161, 162, 163},
}
#: smb2-relay.pcap's relay listens on 4445 (captures/make_captures.sh): SMB that tshark decodes
#: only when told (we recognise SMB by its first bytes on any port).
RELAY_PORT_AS_SMB = "tcp.port==4445,nbss"
#: tshark protocol names -> our carrier names.  The carrier of a blob is the innermost one
#: (DCE/RPC over an SMB named pipe: ``...:smb2:dcerpc``).
CARRIERS = {"smb2": "smb2", "smb": "smb1", "http": "http", "ldap": "ldap", "dcerpc": "dcerpc"}


def tshark_frames(tshark: str, path) -> dict[int, tuple[int, str, str]]:
    """frame -> (tcp.stream, carrier, per-message) for every frame with a GSS blob."""
    command = [tshark, "-r", str(path), "-o", "tcp.desegment_tcp_streams:TRUE"]
    command += ["-d", RELAY_PORT_AS_SMB]
    # HTTP: without body desegmentation tshark reports a message in the frame that completes
    # its head, as we do (with it, in the frame that completes the body).
    command += ["-o", "http.desegment_body:FALSE", "-Y", GSS_FILTER, "-T", "fields"]
    fields = ("frame.number", "tcp.stream", "udp.stream", "frame.protocols", "dcerpc.pkt_type")
    for field in (*fields, "ldap.sasl_buffer_length", "ldap.mechanism"):
        command += ["-e", field]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    frames = {}
    for line in output.splitlines():
        frame, stream, udp_stream, protocols, ptype, sasl_buffer, mechanism = line.split("\t")
        if mechanism and mechanism.upper() not in ldap.GSS_MECHANISMS:
            continue  # not a GSS token, whatever tshark makes of it
        names = protocols.split(":")
        carriers = [CARRIERS[name] for name in names if name in CARRIERS]
        carrier = carriers[-1] if carriers else "kerberos"  # the KDC or kpasswd
        stream = stream or udp_stream
        per_message = ptype in ("0", "2") or bool(sasl_buffer)
        frames[int(frame)] = (int(stream), carrier, per_message)
    return frames


@pytest.mark.parametrize("path", CAPTURES, ids=IDS)
@pytest.mark.slow
def test_every_gss_frame_tshark_finds_is_found(tshark, path):
    expected = tshark_frames(tshark, path)
    exceptions = PER_MESSAGE.get(f"{path.parent.name}/{path.name}", set())
    assert {f for f, (_, _, per_message) in expected.items() if per_message} == exceptions
    found = {
        item.frame: (item.stream, item.carrier)
        for item in blobs_from_capture(str(path))
        if isinstance(item, AuthBlob) and item.data
    }
    wanted = {f: (s, c) for f, (s, c, _) in expected.items() if f not in exceptions}
    assert found == wanted


@pytest.mark.slow
def test_the_comparison_covers_every_carrier(tshark):
    carriers = {
        carrier for path in CAPTURES for _, carrier, _ in tshark_frames(tshark, path).values()
    }
    assert carriers == {"smb2", "smb1", "http", "ldap", "dcerpc", "kerberos"}


def test_damaged_reordered_and_lossy_flows_never_raise():
    """Every new carrier through the whole pipeline: bytes flipped, segments shuffled or lost."""
    samples = [
        (pipelined_client(), pipelined_server(), 8080),
        (sasl_bind(3, b"u", b"GSS-SPNEGO", spnego_blob("init")), bind_response(3, 14), 1389),
        (bind(9, spnego_blob("init")), bind(9, spnego_blob("resp"), ptype=12), 49000),
    ]
    rng = random.Random(11)
    for _ in range(300):
        client, server, port = rng.choice(samples)
        ends = ((b"\x0a\x00\x00\x01", 50000), (b"\x0a\x00\x00\x02", port))
        pieces = []
        for direction, data in enumerate((bytearray(client), bytearray(server))):
            for _ in range(rng.randrange(4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            step = rng.randrange(1, 60)
            for start in range(0, len(data), step):
                pieces.append((direction, 1000 + start, bytes(data[start : start + step])))
        if rng.random() < 0.3:
            rng.shuffle(pieces)
        if rng.random() < 0.3:
            pieces.pop(rng.randrange(len(pieces)))
        segments = [
            Segment(
                frame, frame, ends[direction][0], ends[1 - direction][0], ends[direction][1],
                ends[1 - direction][1], seq, 0, 0x18, payload, 0, len(payload), 0,
            )
            for frame, (direction, seq, payload) in enumerate(pieces, 1)
        ]  # fmt: skip
        list(Conductor(None, None).run(iter(segments)))
