"""LZ77+Huffman decompression ([MS-XCA] 2.1, 2.2: COMPRESSION_FORMAT_XPRESS_HUFF, 4), the format
Active Directory compresses a PAC's claims set with ([MS-ADTS] 2.2.18.4).

Each block of up to 65,536 output bytes starts with 256 bytes holding the 4-bit code lengths of
512 symbols (the even symbol in the low nibble); the canonical Huffman codes they give are read
most significant bit first from a stream of 16-bit little-endian words.  Symbols below 256 are
literals; the others are matches: the low 4 bits the length - 3 (15: more length in the next
byte, 255 there: in the next 16-bit word), the high 4 bits the number of bits of the distance
below its top bit.  Symbol 256 once all the input is read ends the data.

Hostile input is bounded: at most :data:`MAX_OUTPUT` bytes are made (and never more than the
size asked for), a match may reach back only into what was made; what does not decode raises
:class:`XcaError` with the reason.
"""

from __future__ import annotations

#: The most bytes one decompression makes (a claims set is a few KB; the size comes from the
#: wire; four blocks).
MAX_OUTPUT = 1 << 18
#: [MS-XCA] 2.1: symbols, their code-length table's size, the longest code, a block's output.
SYMBOLS = 512
TABLE_SIZE = SYMBOLS // 2
MAX_CODE_LENGTH = 15
BLOCK_SIZE = 65536
END_OF_DATA = 256
MIN_MATCH = 3


class XcaError(ValueError):
    """Compressed data that does not decode ([MS-XCA] 2.2.4's error cases)."""


def _decoding_table(lengths: list[int]) -> list[int]:
    """Every 15-bit prefix -> symbol << 4 | its code length (0: no code starts so): the
    canonical code of [MS-XCA] 2.1.4.2, symbols ordered by length, then by value."""
    table = [0] * (1 << MAX_CODE_LENGTH)
    code = 0
    for length in range(1, MAX_CODE_LENGTH + 1):
        for symbol in (s for s in range(SYMBOLS) if lengths[s] == length):
            span = 1 << (MAX_CODE_LENGTH - length)
            start = code * span
            if start + span > len(table):
                raise XcaError("the code lengths over-subscribe the Huffman code")
            table[start : start + span] = [symbol << 4 | length] * span
            code += 1
        code <<= 1
    return table


class _Bits:
    """The block's bit stream: 16-bit little-endian words, most significant bit first."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos
        self.value = self._word() << 16 | self._word()  # 32 bits ahead
        self.count = 16  # bits of the second word not yet shifted into the top half

    def _word(self) -> int:
        word = int.from_bytes(self.data[self.pos : self.pos + 2].ljust(2, b"\0"), "little")
        self.pos += 2
        return word

    def peek(self, size: int) -> int:
        return self.value >> (32 - size) if size else 0

    def skip(self, size: int) -> None:
        self.value = (self.value << size) & 0xFFFFFFFF
        self.count -= size
        if self.count < 0:
            self.value |= self._word() << -self.count
            self.count += 16

    def byte(self) -> int:
        """A raw byte of the input (a match's extra length), outside the bit stream."""
        if self.pos >= len(self.data):
            raise XcaError("the input ends inside a match length")
        self.pos += 1
        return self.data[self.pos - 1]

    def word(self) -> int:
        if self.pos + 2 > len(self.data):
            raise XcaError("the input ends inside a match length")
        return self._word()


def decompress(data: bytes, size: int) -> bytes:
    """The ``size`` bytes (at most :data:`MAX_OUTPUT`) that ``data`` decompresses to."""
    if size > MAX_OUTPUT:
        raise XcaError(f"uncompressed size {size} is over the {MAX_OUTPUT}-byte limit")
    out = bytearray()
    pos = 0
    while len(out) < size:
        if pos + TABLE_SIZE > len(data):
            raise XcaError(f"the input ends in a block's code lengths, at byte {pos}")
        lengths = [data[pos + i // 2] >> (4 * (i % 2)) & 0xF for i in range(SYMBOLS)]
        table = _decoding_table(lengths)
        bits = _Bits(data, pos + TABLE_SIZE)
        end = min(len(out) + BLOCK_SIZE, size)
        while len(out) < end:
            if bits.pos > len(data) + 4:
                raise XcaError("the input ends before the data does")
            entry = table[bits.peek(MAX_CODE_LENGTH)]
            if not entry:
                raise XcaError(f"no Huffman code for the bits at output byte {len(out)}")
            symbol, length = entry >> 4, entry & 0xF
            bits.skip(length)
            if symbol < END_OF_DATA:
                out.append(symbol)
                continue
            if symbol == END_OF_DATA and bits.pos >= len(data):
                return bytes(out)
            symbol -= END_OF_DATA
            match, distance_bits = symbol & 0xF, symbol >> 4
            if match == 15:
                match = bits.byte()
                if match == 255:
                    match = bits.word()
                    if match < 15:
                        raise XcaError(f"match length {match} in a 16-bit escape")
                    match -= 15
                match += 15
            match += MIN_MATCH
            distance = bits.peek(distance_bits) + (1 << distance_bits)
            bits.skip(distance_bits)
            if distance > len(out):
                raise XcaError(f"a match reaches {distance} bytes back, {len(out)} made")
            match = min(match, size - len(out))
            start = len(out) - distance
            if distance >= match:
                out += out[start : start + match]
            else:  # the match overlaps what it makes: its last ``distance`` bytes repeat
                out += (out[start:] * (match // distance + 1))[:match]
        pos = bits.pos
    return bytes(out)
