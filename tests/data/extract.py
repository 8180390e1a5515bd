"""Extract the security blobs of the captures in ../shared/captures into tests/data/blobs.json.

Run once (needs tshark): ``python tests/data/extract.py``.  tshark, an independent decoder, picks
the blobs, so the token decoders are tested on bytes that real peers sent.  Each record names its
source capture and frame, and keeps the fields tshark decoded from it for cross-checking.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared" / "captures"

#: tshark field holding the blob -> what carries it (mechToken / responseToken: the inner token
#: of a SPNEGO message, whatever carried it, e.g. DCE/RPC auth verifiers).
BLOB_FIELDS = {
    "smb2.security_blob": "smb2",
    "smb.security_blob": "smb",
    "spnego.mechToken": "mechToken",
    "spnego.responseToken": "responseToken",
}
#: Fields tshark decodes from the blob, kept as the expected values of the tests.
CHECK_FIELDS = [
    "spnego.negResult",
    "spnego.supportedMech",
    "spnego.MechType",
    "spnego.hintName",
    "spnego.reqFlags",
    "spnego.mechListMIC",
    "ntlmssp.messagetype",
    "ntlmssp.negotiateflags",
    "ntlmssp.ntlmserverchallenge",
    "ntlmssp.auth.domain",
    "ntlmssp.auth.username",
    "ntlmssp.auth.hostname",
    "ntlmssp.ntlmv2_response.ntproofstr",
    "ntlmssp.version.major",
    "ntlmssp.version.build_number",
    "kerberos.realm",
    "kerberos.SNameString",
    "kerberos.etype",
    "kerberos.kvno",
    "kerberos.msg_type",
    "negoex.message.type",
    "negoex.message.conv_id",
    "negoex.auth_scheme",
]


def tshark_rows(capture: Path) -> list[dict[str, str]]:
    """One dict per frame that carries a blob: field name -> tshark's text (joined by ',')."""
    fields = ["frame.number", *BLOB_FIELDS, *CHECK_FIELDS]
    command = [
        "tshark",
        "-r",
        str(capture),
        "-o",
        "tcp.desegment_tcp_streams:TRUE",
        "-Y",
        " || ".join(BLOB_FIELDS),
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "separator=\t",
        "-E",
        "aggregator=,",
    ]
    for name in fields:
        command += ["-e", name]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return [dict(zip(fields, line.split("\t"), strict=True)) for line in output.splitlines()]


def main() -> int:
    records = []
    for capture in sorted(SHARED.glob("*/*.pcap*")):
        for row in tshark_rows(capture):
            for field, carrier in BLOB_FIELDS.items():
                for blob in row[field].split(","):
                    if not blob or blob.startswith("<"):  # absent or tshark's <MISSING>
                        continue
                    records.append(
                        {
                            "source": str(capture.relative_to(SHARED)),
                            "frame": int(row["frame.number"]),
                            "carrier": carrier,
                            "blob": blob.replace(":", ""),
                            "tshark": {name: row[name] for name in CHECK_FIELDS if row[name]},
                        }
                    )
    (HERE / "blobs.json").write_text(json.dumps(records, indent=1) + "\n")
    print(
        f"{len(records)} blobs from {len({r['source'] for r in records})} captures", file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
