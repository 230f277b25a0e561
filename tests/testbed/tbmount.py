"""Mount points of a testbed: a node's /var/lib/etcd on "its own disk" (a tmpfs mounted on the directory in this
machine's mount namespace: a file system of its own, with its own device number, so rename(2) of it fails with
EBUSY and stat() tells it from its parent, as on a real node whose /var/lib/etcd is a separate disk), found
again and removed by `down`.

Only mounts under DIR are ever touched; every loop is bounded."""
import os
import subprocess
import time


class MountError(Exception):
    pass


def _unescape(field):
    """/proc/self/mountinfo escapes space, tab, newline and backslash as \\ooo."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and len(field[i + 1:i + 4]) == 3 and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts_under(path):
    """Mount points at or below path in this process's mount namespace, deepest first (may repeat when
    stacked)."""
    base = os.path.realpath(path).rstrip("/") + "/"
    out = []
    try:
        with open("/proc/self/mountinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) < 5:
            continue
        mp = _unescape(parts[4])
        if (mp + "/").startswith(base):
            out.append(mp)
    out.sort(key=lambda p: (-p.count("/"), p))
    return out


def is_mount_point(path):
    return os.path.realpath(path) in mounts_under(path)


def node_mounts(layout, node):
    """Node-absolute paths of the mount points inside a node's root (e.g. ["/var/lib/etcd"])."""
    root = os.path.realpath(layout.root(node))
    out = set()
    for mp in mounts_under(root):
        rel = os.path.relpath(mp, root)
        out.add("/" if rel == "." else "/" + rel)
    return sorted(out)


def own_disk(path):
    """Mounts a file system of its own (a tmpfs, mode 0700) on the empty directory path, as a separate disk is
    mounted on a node's /var/lib/etcd before etcd first starts. Raises MountError."""
    path = os.path.realpath(path)
    if os.geteuid() != 0:
        raise MountError("mounting %s needs root (a mount point is what makes rename(2) fail with EBUSY)" % path)
    if is_mount_point(path):
        return False
    if os.listdir(path):
        raise MountError("%s is not empty: a disk of its own is mounted before etcd first starts (up --etcd-disk)"
                         % path)
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0700", "etcd-disk", path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise MountError("mount -t tmpfs on %s: %s" % (path, e))
    if r.returncode != 0:
        raise MountError("mount -t tmpfs on %s failed (exit %d): %s" % (
            path, r.returncode, r.stdout.decode(errors="replace").strip()))
    if not is_mount_point(path):
        raise MountError("mount -t tmpfs on %s succeeded but it is not a mount point" % path)
    return True

def unmount_all(d, attempts=5):
    """Unmounts every mount point under d (deepest first); a busy one is detached lazily at the last
    attempt. Returns the list unmounted; raises MountError if any is left."""
    done = []
    for attempt in range(attempts):
        left = mounts_under(d)
        if not left:
            return done
        for mp in left:
            args = ["umount", mp] if attempt < attempts - 1 else ["umount", "-l", mp]
            try:
                r = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                continue
            if r.returncode == 0:
                done.append(mp)
        time.sleep(0.1 * attempt)
    left = mounts_under(d)
    if left:
        raise MountError("still mounted under %s: %s" % (d, " ".join(left)))
    return done
