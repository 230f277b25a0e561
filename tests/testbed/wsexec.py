"""RFC 6455 server side and the Kubernetes channel protocol for pods/exec.

One thread serves one exec: a select loop over the socket and the process's stdout/stderr pipes,
so the TLS socket is never read and written from two threads at once.
Channels: 0 stdin, 1 stdout, 2 stderr, 3 status (JSON metav1.Status), 4 resize; v5 adds the
two-byte close message [255, channel] (client->server: close that stream, e.g. stdin).
"""
import base64
import hashlib
import json
import os
import select
import socket
import ssl
import struct
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
V5, V4 = "v5.channel.k8s.io", "v4.channel.k8s.io"
STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
MAX_FRAME = 16 << 20


class ProtocolError(Exception):
    pass


def accept_key(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def choose_protocol(offered, allow_v5=True):
    """The first protocol in the client's comma-separated list that we speak, or None."""
    for p in (offered or "").split(","):
        p = p.strip()
        if p == V4 or (p == V5 and allow_v5):
            return p
    return None


def is_upgrade(headers):
    return ("websocket" in (headers.get("Upgrade") or "").lower()
            and "upgrade" in (headers.get("Connection") or "").lower())


def handshake_response(key, protocol):
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Accept: " + accept_key(key)]
    if protocol:
        lines.append("Sec-WebSocket-Protocol: " + protocol)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def encode_frame(opcode, payload):
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


class FrameReader:
    """Incremental parser of client frames (masked). feed() bytes, then messages() whole messages."""

    def __init__(self):
        self.buf = b""
        self.partial = None       # (opcode, [payloads]) of a fragmented message

    def feed(self, data):
        self.buf += data

    def _frame(self):
        b = self.buf
        if len(b) < 2:
            return None
        fin, opcode = b[0] & 0x80, b[0] & 0x0F
        masked, n = b[1] & 0x80, b[1] & 0x7F
        pos = 2
        if n == 126:
            if len(b) < 4:
                return None
            n, pos = struct.unpack("!H", b[2:4])[0], 4
        elif n == 127:
            if len(b) < 10:
                return None
            n, pos = struct.unpack("!Q", b[2:10])[0], 10
        if n > MAX_FRAME:
            raise ProtocolError("frame too large")
        if not masked:
            raise ProtocolError("client frame not masked")
        if len(b) < pos + 4 + n:
            return None
        mask = b[pos:pos + 4]
        data = bytes(x ^ mask[i % 4] for i, x in enumerate(b[pos + 4:pos + 4 + n])) \
            if n < 4096 else _unmask(b[pos + 4:pos + 4 + n], mask)
        self.buf = b[pos + 4 + n:]
        return bool(fin), opcode, data

    def messages(self):
        """Yields (opcode, payload) of complete messages; control frames pass through."""
        while True:
            f = self._frame()
            if f is None:
                return
            fin, opcode, data = f
            if opcode >= 8:
                yield opcode, data
            elif opcode == OP_CONT:
                if self.partial is None:
                    raise ProtocolError("continuation without a start")
                self.partial[1].append(data)
                if fin:
                    op, parts = self.partial
                    self.partial = None
                    yield op, b"".join(parts)
            elif fin:
                yield opcode, data
            else:
                self.partial = (opcode, [data])


def _unmask(data, mask):
    n = len(data)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


def exit_status(returncode, argv):
    """The channel-3 Status for a finished process (plain json.Marshal: no kind/apiVersion)."""
    if returncode == 0:
        return {"metadata": {}, "status": "Success"}
    code = returncode if returncode > 0 else 128 - returncode
    return {"metadata": {}, "status": "Failure",
            "message": "command terminated with non-zero exit code: error executing command "
                       "%s, exit code %d" % (json.dumps(argv), code),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def pump_once(sock, pipes, read_client, read_pipe, watch_pipes=True):
    """Waits (0.2 s at most) for the process's pipes or the client, and hands what is readable to
    read_pipe(fd, pipes) or read_client(); False when read_client() says the client is gone."""
    pending = isinstance(sock, ssl.SSLSocket) and sock.pending()
    fds = (list(pipes) if watch_pipes else []) + [sock]
    for r in [sock] if pending else select.select(fds, [], [], 0.2 if pipes else 0.02)[0]:
        if r is not sock:
            read_pipe(r, pipes)
        elif not read_client():
            return False
    return True


class ExecSession:
    """Pumps one process over an upgraded WebSocket connection until it exits or the client goes."""

    def __init__(self, sock, protocol, proc, argv, stdin, stdout, stderr, tty, max_seconds=3600):
        self.sock, self.protocol, self.proc, self.argv = sock, protocol, proc, argv
        self.want = {STDIN: stdin, STDOUT: stdout, STDERR: stderr}
        self.tty = tty
        self.deadline = time.monotonic() + max_seconds
        self.reader = FrameReader()
        self.client_gone = False

    def send(self, opcode, payload):
        self.sock.sendall(encode_frame(opcode, payload))

    def send_channel(self, channel, data):
        self.send(OP_BIN, bytes([channel]) + data)

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
        proc = self.proc
        if not self.want[STDIN] and proc.stdin:
            proc.stdin.close()
        first = STDOUT if self.want[STDOUT] else STDERR if self.want[STDERR] else STATUS
        self.send_channel(first, b"")
        pipes = {}
        for ch, f in ((STDOUT, proc.stdout), (STDERR, proc.stderr)):
            if f is not None:
                pipes[f.fileno()] = ch
        try:
            self._loop(pipes)
        except (OSError, ssl.SSLError, ProtocolError):
            self.client_gone = True
        if self.client_gone:
            self._kill()
            return
        status = exit_status(proc.wait(), self.argv)
        try:
            self.send_channel(STATUS, json.dumps(status, separators=(",", ":")).encode())
            self.send(OP_CLOSE, struct.pack("!H", 1000))
        except (OSError, ssl.SSLError):
            pass

    def _loop(self, pipes):
        while time.monotonic() < self.deadline:
            if not pipes and self.proc.poll() is not None:
                return
            if not pump_once(self.sock, pipes, self._read_client, self._read_pipe):
                break
        self.client_gone = True

    def _read_pipe(self, fd, pipes):
        data = os.read(fd, 65536)
        if not data:
            del pipes[fd]
            return
        ch = pipes[fd]
        if ch == STDERR and self.tty:
            ch = STDOUT
        if self.want[ch]:
            self.send_channel(ch, data)

    def _read_client(self):
        """Handles what the client sent; False when it closed the connection."""
        try:
            data = self.sock.recv(65536)
        except (ssl.SSLWantReadError, BlockingIOError, socket.timeout):
            return True
        if not data:
            return False
        self.reader.feed(data)
        for opcode, payload in self.reader.messages():
            if opcode == OP_CLOSE:
                try:
                    self.send(OP_CLOSE, payload[:2])
                except OSError:
                    pass
                return False
            if opcode == OP_PING:
                self.send(OP_PONG, payload)
            elif opcode in (OP_TEXT, OP_BIN) and payload:
                self._channel_message(payload[0], payload[1:])
        return True

    def _channel_message(self, channel, data):
        stdin = self.proc.stdin
        if channel == CLOSE and self.protocol == V5:
            if len(data) != 1:
                raise ProtocolError("bad close message")
            if data[0] == STDIN and stdin and not stdin.closed:
                stdin.close()
        elif channel == STDIN and stdin and not stdin.closed and self.want[STDIN]:
            try:
                stdin.write(data)
                stdin.flush()
            except (BrokenPipeError, ValueError):
                pass
        # RESIZE and anything else: accepted and ignored

    def _kill(self):
        try:
            self.proc.kill()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except Exception:
            pass
