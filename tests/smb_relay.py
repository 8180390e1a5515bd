"""A forwarding relay for the ``relay`` scenario of captures/make_captures.sh (Python sockets).

    python tests/smb_relay.py LISTEN_PORT TARGET_PORT [CONNECTIONS]

Accepts SMB clients on 127.0.0.1:LISTEN_PORT, one at a time, opens its own connection to
127.0.0.1:TARGET_PORT for each, and passes every byte on, both ways, until either side closes.
The client's logon then runs over two TCP connections, the client's to the relay and the
relay's to the server, with the same NTLM NEGOTIATE, the same CHALLENGE (the server's challenge,
handed to the client) and the same AUTHENTICATE: what an NTLM relay (ntlmrelayx) puts on the
wire for the authentication legs.  It stops after CONNECTIONS clients (default 1) or when no
client comes within TIMEOUT seconds.
"""

from __future__ import annotations

import selectors
import socket
import sys

LOOPBACK = "127.0.0.1"
#: Seconds to wait for a client, and for either side of a relayed connection to say something.
TIMEOUT = 30
CHUNK = 65536


def relay(client: socket.socket, upstream: socket.socket) -> None:
    """Pass bytes both ways until one side closes (then close the other) or goes quiet."""
    peers = {client: upstream, upstream: client}
    with selectors.DefaultSelector() as selector:
        for side in peers:
            selector.register(side, selectors.EVENT_READ)
        while True:
            ready = selector.select(TIMEOUT)
            if not ready:
                return
            for key, _ in ready:
                source = key.fileobj
                assert isinstance(source, socket.socket)
                data = source.recv(CHUNK)
                if not data:
                    return
                peers[source].sendall(data)


def main(listen_port: int, target_port: int, connections: int = 1) -> None:
    with socket.create_server((LOOPBACK, listen_port)) as server:
        server.settimeout(TIMEOUT)
        for _ in range(connections):
            try:
                client, _ = server.accept()
            except TimeoutError:
                return
            with client, socket.create_connection((LOOPBACK, target_port), TIMEOUT) as upstream:
                relay(client, upstream)


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:4]))
