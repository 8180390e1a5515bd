"""Hex dump of a blob with offsets, as ``hexdump -C`` lays it out."""

from __future__ import annotations

BYTES_PER_LINE = 16


def hexdump(data: bytes, start: int = 0) -> str:
    """Offset, sixteen bytes in hex, and their printable ASCII, per line."""
    lines = []
    for offset in range(0, len(data), BYTES_PER_LINE):
        chunk = data[offset : offset + BYTES_PER_LINE]
        hex_part = " ".join(f"{byte:02x}" for byte in chunk)
        text = "".join(chr(byte) if 0x20 <= byte < 0x7F else "." for byte in chunk)
        lines.append(f"{start + offset:08x}  {hex_part:<{BYTES_PER_LINE * 3 - 1}}  |{text}|")
    return "\n".join(lines)
