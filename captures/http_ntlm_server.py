#!/usr/bin/env python3
"""A tiny HTTP/1.1 server on 127.0.0.1 that authenticates clients with NTLM ([MS-NTHT]).

The HTTP part is ours (Python's http.server); every NTLM message the server sends and every
verdict comes from Samba's ntlm_auth (``--helper-protocol=squid-2.5-ntlmssp``, one helper per
connection), which checks the client's AUTHENTICATE message against the one local account given
on the command line.  Pages under ``/open/`` are served to anyone: a request for one is answered
``200 OK`` whatever its Authorization header holds (an NTLM NEGOTIATE too), as a server that does
not enforce authentication does.  Used by make_captures.sh (scenarios ``http-ntlm`` and
``http-not-enforced``); see README.md.

usage: http_ntlm_server.py PORT SMB_CONF DOMAIN USER PASSWORD
"""

from __future__ import annotations

import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: Pages served without authentication.
OPEN = "/open/"


class Handler(BaseHTTPRequestHandler):
    """One keep-alive connection: NEGOTIATE -> 401 + CHALLENGE, AUTHENTICATE -> 200 or 401;
    any request under /open/ -> 200."""

    protocol_version = "HTTP/1.1"
    helper: subprocess.Popen | None = None
    user: str | None = None
    challenged = False  # the helper has sent its CHALLENGE

    def do_GET(self) -> None:  # http.server's naming
        if self.path.startswith(OPEN):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            return self.send_chunked(f"open page {self.path}, no authentication\n")
        if self.user is None:
            self.authenticate()
        if self.user is not None:
            self.send_chunked(f"hello {self.user}, you asked for {self.path}\n")

    do_POST = do_GET

    def authenticate(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        value = self.headers.get("Authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme != "NTLM" or not token:
            return self.challenge(None)
        if self.helper is None:
            self.helper = subprocess.Popen(
                [
                    "ntlm_auth",
                    f"--configfile={CONFIG}",
                    "--helper-protocol=squid-2.5-ntlmssp",
                    f"--domain={DOMAIN}",
                    f"--username={USER}",
                    f"--password={PASSWORD}",
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        verb = "KK" if self.challenged else "YR"
        self.helper.stdin.write(f"{verb} {token}\n")
        self.helper.stdin.flush()
        answer = self.helper.stdout.readline().split()
        if answer[:1] == ["TT"]:
            self.challenged = True
            return self.challenge(answer[1])
        if answer[:1] == ["AF"]:
            self.user = " ".join(answer[1:])
            return None
        self.close_connection = True
        return self.challenge(None)

    def challenge(self, token: str | None) -> None:
        body = b"401 Unauthorized\n"
        self.send_response(401)
        if token is None:
            self.send_header("WWW-Authenticate", "Negotiate")
            self.send_header("WWW-Authenticate", "NTLM")
        else:
            self.send_header("WWW-Authenticate", f"NTLM {token}")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_chunked(self, text: str) -> None:
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in (data[:8], data[8:]):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def finish(self) -> None:
        super().finish()
        if self.helper is not None:
            self.helper.stdin.close()
            self.helper.wait(5)


if __name__ == "__main__":
    PORT, CONFIG, DOMAIN, USER, PASSWORD = sys.argv[1:6]
    ThreadingHTTPServer(("127.0.0.1", int(PORT)), Handler).serve_forever()
