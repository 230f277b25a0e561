#!/usr/bin/env python3
"""An HTTP/1.1-only reverse proxy on 127.0.0.1 in front of one plain-http etcd endpoint, for the snapshot's
fallback: gRPC needs HTTP/2, which this proxy refuses (505), so etcd-medic must fall back to the JSON gateway,
whose streamed POSTs it forwards. Prints its port on stdout, then serves until killed.
    h1_proxy.py http://127.0.0.1:PORT"""
import http.client
import http.server
import sys
import urllib.parse

UPSTREAM = urllib.parse.urlsplit(sys.argv[1])


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"   # the body ends when the connection closes: no length needed

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        up = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
        up.request("POST", self.path, body, {"Content-Type": self.headers.get("Content-Type", "")})
        r = up.getresponse()
        self.send_response(r.status)
        self.send_header("Content-Type", r.getheader("Content-Type", ""))
        self.end_headers()
        while True:
            chunk = r.read(65536)
            if not chunk:
                break
            self.wfile.write(chunk)
        up.close()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
print(server.server_address[1], flush=True)
server.serve_forever()
