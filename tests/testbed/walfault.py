"""Damage to a stopped etcd member's data directory that makes etcd refuse to start (shared by `testbed
crashloop` and the kubelet's --at-new-revision hook)."""
import glob
import os


def corrupt_wal(data_dir):
    """Flips bytes at the start of every WAL segment's records: etcd then refuses to start. Returns the
    files; raises FileNotFoundError when there is no WAL."""
    files = sorted(glob.glob(os.path.join(data_dir, "member", "wal", "*.wal")))
    if not files:
        raise FileNotFoundError("no WAL under %s (is the data directory there?)" % data_dir)
    for p in files:
        with open(p, "r+b") as f:
            head = bytearray(f.read(65536))
            used = len(head.rstrip(b"\0"))
            lo, hi = 16, max(17, min(used, 4096))
            for i in range(lo, hi):
                head[i] ^= 0x5a
            f.seek(0)
            f.write(head[:hi])
            f.flush()
            os.fsync(f.fileno())
    return files
