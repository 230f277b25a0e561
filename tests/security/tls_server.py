#!/usr/bin/env python3
"""A tiny HTTPS server for tls_test.sh: 127.0.0.1, an ephemeral port written to PORTFILE, any GET/POST
answered with {"major":"1","minor":"27"}. Exits after 120 s or on SIGTERM. Usage: tls_server.py CERT KEY PORTFILE"""
import http.server
import ssl
import sys
import threading


class H(http.server.BaseHTTPRequestHandler):
    def _answer(self):
        body = b'{"major":"1","minor":"27","gitVersion":"v1.27.0"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *a):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(sys.argv[3], "w") as f:
    f.write(str(srv.server_address[1]))
threading.Timer(120, srv.shutdown).start()
srv.serve_forever()
