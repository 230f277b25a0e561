"""pods/exec over SPDY/3.1 with the v4.channel.k8s.io stream protocol: what older kubectl (and
kubectl's fallback when a WebSocket upgrade is refused) speaks to a real kubelet.

The client opens one stream per channel (header "streamtype": error, stdin, stdout, stderr,
resize); we reply to each, pump the process, write the v4 Status JSON on the error stream and
close every stream with FIN. Header blocks are zlib streams with the SPDY/3 dictionary.
Flow control (WINDOW_UPDATE) is ignored, as the Go implementation the client uses does.
"""
import json
import os
import select
import socket
import ssl
import struct
import time
import zlib

import wsexec

V4 = "v4.channel.k8s.io"
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = \
    1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
MAX_FRAME = 16 << 20

_WORDS = ("options head post put delete trace accept accept-charset accept-encoding "
          "accept-language accept-ranges age allow authorization cache-control connection "
          "content-base content-encoding content-language content-length content-location "
          "content-md5 content-range content-type date etag expect expires from host if-match "
          "if-modified-since if-none-match if-range if-unmodified-since last-modified location "
          "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after "
          "server te trailer transfer-encoding upgrade user-agent vary via warning "
          "www-authenticate method get status").split() + ["200 OK"] + \
    "version HTTP/1.1 url public set-cookie keep-alive origin".split()
_TAIL = ("100101201202205206300302303304305306307402405406407408409410411412413414415416417"
         "502504505203 Non-Authoritative Information204 No Content301 Moved Permanently"
         "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error"
         "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct "
         "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,"
         "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
         "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8"
         "charset=iso-8859-1,utf-,*,enq=0.")
# The SPDY/3 header compression dictionary (draft-mbelshe-httpbis-spdy-00 §2.6.10.1): 1423 bytes.
DICTIONARY = b"".join(struct.pack("!I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()


def is_spdy_upgrade(headers):
    return "spdy/3.1" in (headers.get("Upgrade") or "").lower()


def offered_protocols(headers):
    return [v.strip() for h in headers.get_all("X-Stream-Protocol-Version") or []
            for v in h.split(",")]


def handshake_response(protocol):
    return ("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
            "X-Stream-Protocol-Version: %s\r\n\r\n" % protocol).encode()


def control_frame(ftype, flags, payload):
    return struct.pack("!HHI", 0x8003, ftype, (flags << 24) | len(payload)) + payload


def data_frame(stream_id, flags, payload):
    return struct.pack("!II", stream_id & 0x7FFFFFFF, (flags << 24) | len(payload)) + payload


class SpdyExecSession:
    """Pumps one process over an upgraded SPDY connection (v4 stream protocol)."""

    def __init__(self, sock, proc, argv, stdin, stdout, stderr, tty, max_seconds=3600):
        self.sock, self.proc, self.argv = sock, proc, argv
        self.want = {"stdin": stdin, "stdout": stdout, "stderr": stderr and not tty,
                     "error": True}
        if tty:
            self.want["resize"] = True
        self.tty = tty
        self.deadline = time.monotonic() + max_seconds
        self.buf = b""
        self.streams = {}          # streamtype -> stream id
        self.inflate = zlib.decompressobj(zdict=DICTIONARY)
        self.deflate = zlib.compressobj(zdict=DICTIONARY)
        self.client_gone = False

    # -- frames
    def _headers(self, block):
        raw = self.inflate.decompress(block)
        n, pos, out = struct.unpack("!I", raw[:4])[0], 4, {}
        for _ in range(min(n, 1000)):
            ln = struct.unpack("!I", raw[pos:pos + 4])[0]
            name = raw[pos + 4:pos + 4 + ln].decode("latin-1").lower()
            pos += 4 + ln
            lv = struct.unpack("!I", raw[pos:pos + 4])[0]
            out[name] = raw[pos + 4:pos + 4 + lv].decode("latin-1")
            pos += 4 + lv
        return out

    def _reply(self, stream_id):
        block = self.deflate.compress(struct.pack("!I", 0)) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(control_frame(SYN_REPLY, 0, struct.pack("!I", stream_id) + block))

    def _frames(self):
        while len(self.buf) >= 8:
            w1, w2 = struct.unpack("!II", self.buf[:8])
            length = w2 & 0xFFFFFF
            if length > MAX_FRAME:
                raise wsexec.ProtocolError("SPDY frame too large")
            if len(self.buf) < 8 + length:
                return
            payload, flags = self.buf[8:8 + length], w2 >> 24
            self.buf = self.buf[8 + length:]
            if w1 & 0x80000000:
                self._control((w1 & 0xFFFF), flags, payload)
            else:
                self._data(w1 & 0x7FFFFFFF, flags, payload)

    def _control(self, ftype, flags, payload):
        if ftype == SYN_STREAM:
            sid = struct.unpack("!I", payload[:4])[0] & 0x7FFFFFFF
            hdrs = self._headers(payload[10:])
            self.streams[hdrs.get("streamtype", "")] = sid
            self._reply(sid)
        elif ftype in (SYN_REPLY, HEADERS):
            self._headers(payload[4:])         # keeps the zlib state in step
        elif ftype == PING:
            self.sock.sendall(control_frame(PING, 0, payload[:4]))
        elif ftype == GOAWAY:
            self.client_gone = True
        elif ftype == RST_STREAM:
            sid = struct.unpack("!I", payload[:4])[0] & 0x7FFFFFFF
            if sid == self.streams.get("stdin"):
                self._close_stdin()
        # SETTINGS, WINDOW_UPDATE: nothing to do

    def _data(self, sid, flags, payload):
        if sid != self.streams.get("stdin"):
            return                                # resize and anything else: ignored
        stdin = self.proc.stdin
        if payload and stdin and not stdin.closed:
            try:
                stdin.write(payload)
                stdin.flush()
            except (BrokenPipeError, ValueError):
                pass
        if flags & FLAG_FIN:
            self._close_stdin()

    def _close_stdin(self):
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    # -- the session
    def _read_client(self):
        try:
            data = self.sock.recv(65536)
        except (ssl.SSLWantReadError, BlockingIOError, socket.timeout):
            return True
        if not data:
            return False
        self.buf += data
        self._frames()
        return not self.client_gone

    def _ready(self):
        return all(k in self.streams for k, v in self.want.items() if v)

    def run(self):
        try:
            self._run()
        finally:
            for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if f is not None:
                    try:
                        f.close()
                    except OSError:
                        pass

    def _run(self):
        if not self.want["stdin"]:
            self._close_stdin()
        pipes = {f.fileno(): name for f, name in ((self.proc.stdout, "stdout"),
                                                  (self.proc.stderr, "stderr")) if f is not None}
        try:
            self._loop(pipes)
        except (OSError, ssl.SSLError, wsexec.ProtocolError, zlib.error, struct.error):
            self.client_gone = True
        if self.client_gone:
            try:
                self.proc.kill()
                self.proc.wait(5)
            except Exception:
                pass
            return
        status = wsexec.exit_status(self.proc.wait(), self.argv)
        try:
            err = self.streams["error"]
            self.sock.sendall(data_frame(err, 0, json.dumps(status).encode()))
            for sid in self.streams.values():
                self.sock.sendall(data_frame(sid, FLAG_FIN, b""))
            self._drain_until_closed()
        except (OSError, ssl.SSLError, KeyError):
            pass

    def _loop(self, pipes):
        setup_deadline = time.monotonic() + 30
        while time.monotonic() < self.deadline:
            ready = self._ready()
            if not ready and time.monotonic() > setup_deadline:
                raise wsexec.ProtocolError("the client did not open its streams")
            if ready and not pipes and self.proc.poll() is not None:
                return
            if not wsexec.pump_once(self.sock, pipes, self._read_client, self._pipe, watch_pipes=ready):
                break
        self.client_gone = True

    def _pipe(self, fd, pipes):
        data = os.read(fd, 65536)
        if not data:
            del pipes[fd]
            return
        name = pipes[fd]
        if name == "stderr" and self.tty:
            name = "stdout"
        sid = self.streams.get(name)
        if sid is not None:
            self.sock.sendall(data_frame(sid, 0, data))

    def _drain_until_closed(self):
        """Lets the client half-close its streams and hang up (bounded)."""
        end = time.monotonic() + 5
        while time.monotonic() < end:
            if not select.select([self.sock], [], [], 0.1)[0]:
                continue
            if not self._read_client():
                return
