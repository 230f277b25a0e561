#!/usr/bin/env python3
"""A minimal HTTPS proxy (HTTP CONNECT tunnels only) on 127.0.0.1, for the tests that run behind a proxy.

  connect_proxy.py PORTFILE LOGFILE

Writes the port it listens on to PORTFILE, then one line "CONNECT host:port" per tunnel to LOGFILE. It stops
after 10 minutes at most (a test that forgets it does not leave it running)."""
import os
import select
import socket
import sys
import threading


def pipe(a, b):
    try:
        while True:
            ready, _, _ = select.select([a, b], [], [], 60)
            if not ready:
                return
            for s in ready:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        pass
    finally:
        a.close()
        b.close()


def handle(client, log):
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 8192:
        chunk = client.recv(4096)
        if not chunk:
            client.close()
            return
        head += chunk
    line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
    if len(line) < 2 or line[0] != "CONNECT":
        client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
        client.close()
        return
    host, port = line[1].rsplit(":", 1)
    with open(log, "a") as f:
        f.write("CONNECT %s\n" % line[1])
    try:
        upstream = socket.create_connection((host, int(port)), timeout=10)
    except OSError:
        client.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
        client.close()
        return
    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    pipe(client, upstream)


def main(portfile, log):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    threading.Timer(600, lambda: os._exit(0)).start()
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.rename(portfile + ".tmp", portfile)
    while True:
        client, _ = srv.accept()
        threading.Thread(target=handle, args=(client, log), daemon=True).start()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
