"""The carriers, in the order connections are offered to them.

A carrier joins with one line in :data:`CARRIERS`.  :class:`Registry` answers what the pipeline
and analysis ask of the carriers as a whole: which carrier a new connection belongs to (by
port, else by its first payload bytes: every carrier listing the first byte is asked in
turn), and the conversation rules of a blob's carrier label.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from negodissect.carriers import dcerpc, http, kerberos, ldap, smb
from negodissect.carriers.base import DEFAULT_RULES, Carrier, ConversationRules

CARRIERS: tuple[Carrier, ...] = (
    smb.CARRIER,
    http.CARRIER,
    ldap.CARRIER,
    dcerpc.CARRIER,
    kerberos.CARRIER,
)

#: ``may_start(data, start, end, sport, dport)`` of a carrier.
StartPredicate = Callable[[bytes, int, int, int, int], bool]


class Registry:
    """What the pipeline and analysis ask of a tuple of carriers."""

    __slots__ = ("_by_first_byte", "_rules", "carriers", "ports", "starts", "udp_ports")

    def __init__(self, carriers: tuple[Carrier, ...]) -> None:
        self.carriers = carriers
        ports: dict[int, Carrier] = {}
        udp_ports: dict[int, Carrier] = {}
        by_byte: dict[int, tuple[Carrier, ...]] = {}
        for carrier in carriers:
            for port in carrier.ports:
                ports.setdefault(port, carrier)
            for port in carrier.udp_ports:
                udp_ports.setdefault(port, carrier)
            for byte in carrier.first_bytes:
                by_byte[byte] = (*by_byte.get(byte, ()), carrier)
        #: Port -> the carrier whose connections those are (the first carrier to list it).
        self.ports: Mapping[int, Carrier] = ports
        #: UDP port -> the carrier whose datagrams those are.
        self.udp_ports: Mapping[int, Carrier] = udp_ports
        #: Carrier -> whether a data segment of a connection on one of its ports may hold the
        #: start of one of its messages (:attr:`Carrier.may_start`; None: any may).
        self.starts: Mapping[Carrier, StartPredicate | None] = {
            carrier: carrier.may_start for carrier in carriers
        }
        self._by_first_byte = by_byte
        self._rules: dict[str, ConversationRules[Any]] = {}

    def classify(self, data: bytes, start: int, end: int, sport: int, dport: int) -> Carrier | None:
        """The carrier of a connection whose first payload is ``data[start:end]``; None: not
        one of ours."""
        if end <= start:
            return None
        for carrier in self._by_first_byte.get(data[start], ()):
            if carrier.looks_like(data, start, end, sport, dport):
                return carrier
        return None

    def rules(self, label: str) -> ConversationRules[Any]:
        """The conversation rules of the carrier whose messages are labelled ``label``
        (``AuthBlob.carrier``); :data:`~negodissect.carriers.base.DEFAULT_RULES` for a label no
        carrier claims."""
        found = self._rules.get(label)
        if found is None:
            carrier = next((c for c in self.carriers if c.claims(label)), None)
            found = self._rules[label] = DEFAULT_RULES if carrier is None else carrier.rules
        return found


#: The registry of :data:`CARRIERS`.
REGISTRY = Registry(CARRIERS)
