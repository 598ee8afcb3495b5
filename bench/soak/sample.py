#!/usr/bin/env python3
"""Process sampler for bench/soak.sh (stdlib only, Linux /proc).

    sample.py OUT.jsonl INTERVAL_S NAME=PID [NAME=PID ...] [--port LABEL=PORT ...]
    sample.py --children PID        (prints the pids of PID's children, one a line)

Every INTERVAL_S seconds appends one JSON line to OUT.jsonl: `t` (Unix seconds) and, for each
NAME, the process's VmRSS, RssAnon, RssFile (KiB), threads, open file descriptors (entries of
/proc/PID/fd, also by kind: socket, pipe, anon, file; non-socket ones counted by target), CPU
seconds so far (utime + stime) and its direct children (processes whose parent is PID: count,
pids, their summed VmRSS). A process that is gone is recorded as
`{"gone": true}`. With `--port LABEL=PORT`, the first NAME's TCP sockets are also counted by
the port they are on (local or remote, from /proc/net/tcp{,6}): e.g. `inbound=` fusion's listen
port, `upstream=` the mock's, so a pool that keeps connections shows apart from the clients'. Stops on SIGTERM/SIGINT, or when the first NAME's process is gone.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def status_fields(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "Threads", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def fd_kinds(pid: int) -> dict[str, int]:
    """Open fds by what they point at: socket, pipe, anon (eventfd, epoll, timerfd...), file."""
    kinds: dict = {"total": 0, "socket": 0, "pipe": 0, "anon": 0, "file": 0, "targets": {}}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        kinds["total"] += 1
        kind = target.split(":", 1)[0] if ":" in target and not target.startswith("/") else "file"
        kinds[kind if kind in kinds else "anon"] += 1
        if kind != "socket":  # what a non-socket fd is: a leaked file or pipe shows by name
            name = target if kind == "file" else target.split(":[", 1)[0]
            kinds["targets"][name] = kinds["targets"].get(name, 0) + 1
    return kinds


def tcp_ports() -> dict[int, tuple[int, int]]:
    """Socket inode -> (local port, remote port), for every TCP socket of the machine."""
    out: dict[int, tuple[int, int]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    local, remote, inode = cols[1], cols[2], int(cols[9])
                    out[inode] = (int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return out


def sockets_by_port(pid: int, ports: dict[str, int]) -> dict[str, int]:
    table = tcp_ports()
    counts = {label: 0 for label in ports}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if not target.startswith("socket:["):
            continue
        pair = table.get(int(target[8:-1]))
        if pair is None:
            continue
        for label, port in ports.items():
            if port in pair:
                counts[label] += 1
    return counts


def children_of(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            kids.append(int(entry))
    return sorted(kids)


def sample(pid: int) -> dict:
    try:
        s = status_fields(pid)
        fds = fd_kinds(pid)
        cpu = cpu_seconds(pid)
    except (FileNotFoundError, ProcessLookupError):
        return {"gone": True}
    kids = children_of(pid)
    kids_rss = 0
    for k in kids:
        try:
            kids_rss += status_fields(k).get("VmRSS", 0)
        except OSError:
            pass
    return {"rss_kib": s.get("VmRSS", 0), "anon_kib": s.get("RssAnon", 0), "file_kib": s.get("RssFile", 0),
            "hwm_kib": s.get("VmHWM", 0), "threads": s.get("Threads", 0), "fds": fds["total"], "fd_kinds": fds, "cpu_s": round(cpu, 2),
            "children": len(kids), "child_pids": kids, "children_rss_kib": kids_rss}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--children" and sys.argv[2].isdigit():
        print("\n".join(str(k) for k in children_of(int(sys.argv[2]))))
        return
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    out, interval = sys.argv[1], float(sys.argv[2])
    if not (0.1 <= interval <= 3600):
        raise SystemExit(f"INTERVAL_S must be in [0.1, 3600], got {interval}")
    targets, ports = [], {}
    args = sys.argv[3:]
    while args:
        arg = args.pop(0)
        if arg == "--port":
            label, sep, port = (args.pop(0) if args else "").partition("=")
            if not sep or not port.isdigit():
                raise SystemExit(f"--port wants LABEL=PORT, got {label!r}")
            ports[label] = int(port)
            continue
        name, sep, pid = arg.partition("=")
        if not sep or not pid.isdigit():
            raise SystemExit(f"want NAME=PID, got {arg!r}")
        targets.append((name, int(pid)))
    if not targets:
        raise SystemExit("no NAME=PID given")
    stop = False

    def on_signal(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with open(out, "a") as f:
        while not stop:
            line = {"t": round(time.time(), 3)}
            for name, pid in targets:
                line[name] = sample(pid)
            first = line[targets[0][0]]
            if ports and not first.get("gone"):
                try:
                    first["sockets_by_port"] = sockets_by_port(targets[0][1], ports)
                except OSError:
                    pass
            f.write(json.dumps(line) + "\n")
            f.flush()
            if line[targets[0][0]].get("gone"):
                break
            deadline = time.monotonic() + interval
            while not stop and time.monotonic() < deadline:
                time.sleep(min(0.2, interval))


if __name__ == "__main__":
    main()
