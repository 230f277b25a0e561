"""Unit tests of the WebSocket framing and channel helpers (no network). Exits non-zero on failure."""
import os
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsexec  # noqa: E402
import wsexec_spdy  # noqa: E402


def client_frame(opcode, payload, fin=True):
    mask = b"\x01\x02\x03\x04"
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        head = struct.pack("!BB", first, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class FramingTest(unittest.TestCase):
    def test_accept_key_rfc6455_example(self):
        self.assertEqual(wsexec.accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
                         "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")

    def test_choose_protocol_prefers_client_order_and_honours_allow_v5(self):
        self.assertEqual(wsexec.choose_protocol("v5.channel.k8s.io, v4.channel.k8s.io"),
                         wsexec.V5)
        self.assertEqual(wsexec.choose_protocol("v4.channel.k8s.io,v5.channel.k8s.io"),
                         wsexec.V4)
        self.assertEqual(wsexec.choose_protocol("v5.channel.k8s.io,v4.channel.k8s.io", False),
                         wsexec.V4)
        self.assertIsNone(wsexec.choose_protocol("channel.k8s.io,base64.channel.k8s.io"))

    def test_encode_frame_lengths(self):
        for n, head_len in ((0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)):
            f = wsexec.encode_frame(wsexec.OP_BIN, b"x" * n)
            self.assertEqual(len(f), head_len + n)
            self.assertEqual(f[0], 0x82)

    def test_reader_fragments_control_frames_and_split_input(self):
        r = wsexec.FrameReader()
        data = (client_frame(wsexec.OP_BIN, b"\x00ab", fin=False) +
                client_frame(wsexec.OP_PING, b"p") +
                client_frame(wsexec.OP_CONT, b"c" * 70000) +
                client_frame(wsexec.OP_TEXT, b"\x00z"))
        out = []
        for i in range(0, len(data), 1000):          # arrives in pieces
            r.feed(data[i:i + 1000])
            out.extend(r.messages())
        self.assertEqual([(op, len(p)) for op, p in out],
                         [(wsexec.OP_PING, 1), (wsexec.OP_BIN, 70003), (wsexec.OP_TEXT, 2)])
        self.assertEqual(out[1][1][:3], b"\x00ab")

    def test_reader_rejects_unmasked_frames(self):
        r = wsexec.FrameReader()
        r.feed(wsexec.encode_frame(wsexec.OP_BIN, b"\x00x"))
        with self.assertRaises(wsexec.ProtocolError):
            list(r.messages())

    def test_exit_status_shapes(self):
        self.assertEqual(wsexec.exit_status(0, ["true"]), {"metadata": {}, "status": "Success"})
        s = wsexec.exit_status(3, ["sh", "-c", "exit 3"])
        self.assertEqual((s["reason"], s["details"]), ("NonZeroExitCode", {
            "causes": [{"reason": "ExitCode", "message": "3"}]}))
        self.assertNotIn("kind", s)
        self.assertEqual(wsexec.exit_status(-9, ["x"])["details"]["causes"][0]["message"], "137")

    def test_spdy_dictionary(self):
        # SPDY/3 header dictionary: 1423 bytes; Go's zlib checks the adler32 the client sends
        import zlib
        self.assertEqual(len(wsexec_spdy.DICTIONARY), 1423)
        self.assertEqual(zlib.adler32(wsexec_spdy.DICTIONARY), 0xe3c6a7c2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
