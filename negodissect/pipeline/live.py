"""Live capture (``negodissect -i IFACE``): a ``tcpdump`` child writes pcap to a pipe, which is
read as a capture on standard input is (streamed, never seeked).

Why a ``tcpdump`` child rather than scapy's sniffing: scapy builds a ``Packet`` object per packet
(tens of microseconds each, where the pcap walk reads a record in place), and it needs tcpdump
anyway to compile a BPF filter; a child process also captures on the second core while this one
decodes, keeps the capture privileges (root or CAP_NET_RAW) in tcpdump alone, and feeds the same
streaming pcap reader every capture goes through.  ``-U --immediate-mode`` makes tcpdump hand on
each packet as it comes, so blobs are shown as their last segment arrives.

The default filter is built from the carrier registry: TCP to or from every carrier's ports and
the ports where a carrier is usually found by its first bytes (HTTP: :attr:`Carrier.live_ports`),
UDP to or from the carriers' UDP ports, and IP fragments (a Kerberos datagram may come in
pieces).  DCE/RPC on the dynamic ports the endpoint mapper hands out, and HTTP on other ports, are
outside it: ``--filter tcp`` takes every TCP connection.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from typing import IO

from negodissect.carriers.registry import REGISTRY, Registry

#: The program that captures.
TCPDUMP = "tcpdump"
#: Seconds tcpdump gets to end after it was asked to, before it is killed.
STOP_GRACE = 5
#: IPv4 packets with More Fragments set or a fragment offset, and IPv6 Fragment headers
#: (next header 44 right after the fixed header).
FRAGMENTS = "(ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44)"


class LiveError(Exception):
    """The live capture could not start (no tcpdump)."""


def default_filter(registry: Registry = REGISTRY) -> str:
    """The BPF filter of the carriers' ports (see the module docstring)."""
    tcp = sorted({*registry.ports, *(p for c in registry.carriers for p in c.live_ports)})
    udp = sorted(registry.udp_ports)
    parts = [f"(tcp and ({' or '.join(f'port {port}' for port in tcp)}))"]
    if udp:
        parts.append(f"(udp and ({' or '.join(f'port {port}' for port in udp)}))")
    parts.append(FRAGMENTS)
    return " or ".join(parts)


class LiveCapture:
    """``tcpdump`` capturing on ``interface`` with the BPF ``bpf``, into :attr:`stream`.

    ``count``: stop after that many packets; ``duration``: after that many seconds.
    ``on_line``: each line tcpdump writes on its standard error ("listening on ...",
    "N packets captured").
    """

    def __init__(
        self,
        interface: str,
        bpf: str,
        *,
        count: int | None = None,
        duration: float | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        program = shutil.which(TCPDUMP)
        if program is None:
            raise LiveError(f"live capture needs {TCPDUMP}, which is not installed")
        command = [program, "-i", interface, "-U", "--immediate-mode", "-n", "-s", "0", "-w", "-"]
        if count is not None:
            command += ["-c", str(count)]
        command += ["--", bpf]
        self.lines: list[str] = []
        self.on_line = on_line
        # tcpdump gets the terminal's Ctrl-C too, and ends: nothing to do here for that
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.process.stdout is not None and self.process.stderr is not None
        self.stream: IO[bytes] = self.process.stdout
        self._reader = threading.Thread(target=self._relay, args=(self.process.stderr,))
        self._reader.daemon = True
        self._reader.start()
        self._timer: threading.Timer | None = None
        if duration is not None:
            self._timer = threading.Timer(duration, self.stop)
            self._timer.daemon = True
            self._timer.start()

    def _relay(self, err: IO[bytes]) -> None:
        for raw in err:
            line = raw.decode("utf-8", "replace").rstrip()
            self.lines.append(line)
            if self.on_line is not None and line:
                self.on_line(line)

    def stop(self) -> None:
        """Ask tcpdump to end (it writes what it holds and closes the pipe: the reader sees
        the end of the capture)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def close(self) -> str | None:
        """Wait for tcpdump to end; what went wrong, from its last line, if it failed."""
        if self._timer is not None:
            self._timer.cancel()
        try:
            code = self.process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._reader.join(STOP_GRACE)
        self.stream.close()
        if code in (0, -signal.SIGINT, -signal.SIGTERM):
            return None
        said = [line for line in self.lines if line]
        last = next((line for line in reversed(said) if line.startswith(f"{TCPDUMP}: ")), None)
        if last is not None:
            return last
        return f"{TCPDUMP}: {said[-1] if said else f'exit code {code}'}"
