#!/usr/bin/env python3
"""A small HTTPS server on 127.0.0.1 for the HTTP client's unit tests (tests/unit/test_http.c).

Usage: https_server.py DIR. Makes a CA, a server certificate (SAN IP:127.0.0.1, DNS:medic.test) and a client
certificate in DIR with the openssl CLI, serves HTTPS on a free port, writes the port to DIR/port, and exits
when DIR/stop appears or after 120 s. Client certificates are optional; /whoami reports the client's CN."""
import http.server, json, os, socketserver, ssl, subprocess, sys, threading, time

D = sys.argv[1]
DROPS = [0]

def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=D)

def make_certs():
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
       "-subj", "/CN=medic-test-ca", "-keyout", "ca.key", "-out", "ca.crt")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:medic.test"), ("client", "extendedKeyUsage=clientAuth")):
        sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=" + name,
           "-keyout", name + ".key", "-out", name + ".csr")
        with open(os.path.join(D, name + ".ext"), "w") as f:
            f.write(ext + "\n")
        sh("openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
           "-days", "2", "-extfile", name + ".ext", "-out", name + ".crt")

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def reply(self, code, body, ctype="application/json", extra=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        p = self.path
        if p.startswith("/echo"):
            cert = self.connection.getpeercert()
            cn = dict(x[0] for x in cert["subject"])["commonName"] if cert else ""
            self.reply(200, json.dumps({"method": self.command, "path": p, "body": body, "cn": cn,
                                        "auth": self.headers.get("Authorization", ""), "host": self.headers.get("Host"),
                                        "port": self.client_address[1]}))
        elif p == "/retry":
            self.reply(429, "Too many requests, please try again later.", "text/plain", [("Retry-After", "3")])
        elif p == "/big":
            self.reply(200, b"x" * (3 << 20), "application/octet-stream")
        elif p == "/drops":
            self.reply(200, json.dumps({"drops": DROPS[0]}))
        elif p == "/drop":
            DROPS[0] += 1
            self.close_connection = True
            self.connection.shutdown(2)
        elif p == "/slow":
            time.sleep(3)
            self.reply(200, "{}")
        else:
            self.reply(404, '{"kind":"Status","reason":"NotFound","code":404}')
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    def handle_error(self, request, client_address):
        pass  # clients that hang up on purpose (max body, aborted streams) are expected

make_certs()
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(D, "server.crt"), os.path.join(D, "server.key"))
ctx.load_verify_locations(os.path.join(D, "ca.crt"))
ctx.verify_mode = ssl.CERT_OPTIONAL
srv = Server(("127.0.0.1", 0), Handler)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
threading.Thread(target=srv.serve_forever, daemon=True).start()
with open(os.path.join(D, "port.tmp"), "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(os.path.join(D, "port.tmp"), os.path.join(D, "port"))
deadline = time.time() + 120
while time.time() < deadline and not os.path.exists(os.path.join(D, "stop")):
    time.sleep(0.1)
srv.shutdown()
