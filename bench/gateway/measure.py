#!/usr/bin/env python3
"""Measurement and report helpers for bench/gateway.sh (stdlib only).

  measure.py target NAME URL MODEL PID OUT.json [TOKEN]
      Measures one target (an OpenAI-compatible base URL ending in /v1) with wrk and a streaming
      loop, sampling the RSS and CPU time of process PID and its descendants, and writes JSON.
  measure.py report RESULTS_DIR OUT.md
      Reads RESULTS_DIR/{direct,fusion,litellm}.json (missing ones show as "—") and
      RESULTS_DIR/meta.json, prints the Markdown report and writes it to OUT.md.

Environment: GW_DURATION (seconds per wrk run, default 10), GW_STREAMS (streamed requests per
target, default 200), GW_RATE (the fixed rate, default 1000), GW_LOW_RATE (the rate every target
sustains, default 50).
"""

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.join(HERE, "post.lua")
DURATION = int(os.environ.get("GW_DURATION", "10"))
STREAMS = int(os.environ.get("GW_STREAMS", "200"))
RATE = int(os.environ.get("GW_RATE", "1000"))
LOW_RATE = int(os.environ.get("GW_LOW_RATE", "50"))
WRK_THREADS = 2  # one per core
PACED_CONNECTIONS = 10
MAX_CONNECTIONS = 10
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


# ---------------------------------------------------------------- process tree sampling


def tree(pid):
    """pid and all its descendants (from /proc; processes that vanished are skipped)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_kib(pids):
    """Resident set size summed over pids, KiB (the same figure as `ps -o rss=`)."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * PAGE_KIB
        except OSError:
            pass
    return total


def cpu_seconds(pids):
    """user + system CPU time summed over pids, seconds."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError):
            pass
    return total


class Sampler(threading.Thread):
    """Samples the RSS of a process tree every 100 ms; keeps the peak per phase."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.phase = None
        self.peaks = {}
        self.stop = threading.Event()
        self.pids = tree(pid)

    def run(self):
        n = 0
        while not self.stop.wait(0.1):
            n += 1
            if n % 10 == 0:  # re-read the tree every second (workers may fork)
                self.pids = tree(self.pid)
            phase = self.phase
            if phase is not None:
                kib = rss_kib(self.pids)
                self.peaks[phase] = max(self.peaks.get(phase, 0), kib)


# ---------------------------------------------------------------- load


def wrk(url, body, token, threads, connections, seconds, rate=None):
    env = dict(os.environ, BODY=body, TOKEN=token or "")
    env.pop("RATE", None)
    if rate:
        env["RATE"] = str(rate / threads)
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
           "-s", LUA, url + "/chat/completions"]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    m = re.search(r"^WRK_RESULT (.*)$", out, re.M)
    if not m:
        raise SystemExit(f"wrk printed no result:\n{out}")
    r = {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors"] = sum(r[k] for k in r if k.startswith("errors_"))
    r["cmd"] = " ".join(cmd[:-3] + [cmd[-1]]) + (f"  (RATE={env['RATE']}/thread)" if rate else "")
    return r


def streaming_ttfb(url, model, token, n, warmup=20):
    """Time from sending a streamed request to its first `data:` line, on one keep-alive
    connection (http.client); the rest of each stream is read before the next request."""
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    body = json.dumps({"model": model, "stream": True,
                       "messages": [{"role": "user", "content": "Say hello."}]})
    headers = {"content-type": "application/json", "accept": "text/event-stream"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    ttfb, total, errors = [], [], 0
    for i in range(warmup + n):
        t0 = time.perf_counter()
        conn.request("POST", u.path + "/chat/completions", body, headers)
        resp = conn.getresponse()
        first = None
        while True:
            line = resp.readline()
            if not line:
                break
            if first is None and line.startswith(b"data:"):
                first = time.perf_counter()
        t1 = time.perf_counter()
        if resp.status != 200 or first is None:
            errors += 1
            continue
        if i >= warmup:
            ttfb.append((first - t0) * 1e6)
            total.append((t1 - t0) * 1e6)
    conn.close()
    return {"ttfb_p50_us": pct(ttfb, 50), "ttfb_p99_us": pct(ttfb, 99),
            "stream_p50_us": pct(total, 50), "stream_p99_us": pct(total, 99),
            "n": len(ttfb), "errors": errors}


def pct(xs, p):
    """Nearest-rank percentile."""
    if not xs:
        return None
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, -(-p * len(xs) // 100) - 1))
    return xs[int(k)]


def measure_target(name, url, model, pid, out_path, token=None):
    body = json.dumps({"model": model, "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say hello."}]}, separators=(",", ":"))
    res = {"name": name, "model": model, "body": body}
    sampler = Sampler(pid)
    res["rss_idle_kib"] = rss_kib(tree(pid))
    sampler.start()

    def log(msg):
        print(f"[gateway-bench] {name}: {msg}", file=sys.stderr, flush=True)

    sampler.phase = "warmup"
    wrk(url, body, token, WRK_THREADS, MAX_CONNECTIONS, 3)
    time.sleep(1)

    sampler.phase = "c1"
    res["c1"] = wrk(url, body, token, 1, 1, DURATION)
    log(f"c1 p50 {res['c1']['p50_us']:.0f} us p99 {res['c1']['p99_us']:.0f} us")
    time.sleep(1)

    sampler.phase = "max"
    pids = tree(pid)
    cpu0 = cpu_seconds(pids)
    res["max"] = wrk(url, body, token, WRK_THREADS, MAX_CONNECTIONS, DURATION)
    cpu1 = cpu_seconds(pids)
    res["cpu_us_per_req"] = (cpu1 - cpu0) * 1e6 / max(1, res["max"]["requests"])
    res["cpu_cores_at_max"] = (cpu1 - cpu0) / (res["max"]["duration_us"] / 1e6)
    log(f"max {res['max']['rps']:.0f} req/s, {res['cpu_us_per_req']:.0f} us CPU/req")
    time.sleep(1)

    # The fixed rate only where the target's own maximum clears it with room to spare;
    # otherwise it would just queue and the figure would measure the queue.
    if res["max"]["rps"] >= 1.5 * RATE:
        sampler.phase = "rate"
        res["rate"] = wrk(url, body, token, WRK_THREADS, PACED_CONNECTIONS, DURATION, RATE)
        log(f"{RATE}/s p50 {res['rate']['p50_us']:.0f} us p99 {res['rate']['p99_us']:.0f} us "
            f"(achieved {res['rate']['rps']:.0f}/s)")
        time.sleep(1)
    else:
        log(f"skipping {RATE} req/s: max is {res['max']['rps']:.0f} req/s")

    sampler.phase = "low_rate"
    res["low_rate"] = wrk(url, body, token, WRK_THREADS, PACED_CONNECTIONS, DURATION, LOW_RATE)
    log(f"{LOW_RATE}/s p50 {res['low_rate']['p50_us']:.0f} us p99 {res['low_rate']['p99_us']:.0f} us")
    time.sleep(1)

    sampler.phase = "stream"
    res["stream"] = streaming_ttfb(url, model, token, STREAMS)
    log(f"stream TTFB p50 {res['stream']['ttfb_p50_us']:.0f} us p99 {res['stream']['ttfb_p99_us']:.0f} us")

    sampler.phase = None
    sampler.stop.set()
    sampler.join()
    res["rss_peak_kib"] = sampler.peaks
    res["rss_after_kib"] = rss_kib(tree(pid))
    with open(out_path, "w") as f:
        json.dump(res, f, indent=1)


# ---------------------------------------------------------------- report

TARGETS = ("direct", "fusion", "litellm")
DASH = "—"


def ms(us, signed=False):
    if us is None:
        return DASH
    return f"{us / 1000:+.3f} ms" if signed else f"{us / 1000:.3f} ms"


def mib(kib):
    return DASH if kib is None else f"{kib / 1024:.1f} MiB"


def report(results_dir, out_md):
    res = {}
    for t in TARGETS:
        p = os.path.join(results_dir, f"{t}.json")
        if os.path.exists(p):
            with open(p) as f:
                res[t] = json.load(f)
    with open(os.path.join(results_dir, "meta.json")) as f:
        meta = json.load(f)

    def get(t, *path):
        x = res.get(t)
        for k in path:
            if not isinstance(x, dict) or k not in x:
                return None
            x = x[k]
        return x

    def added(t, *path):
        a, d = get(t, *path), get("direct", *path)
        return None if a is None or d is None or t == "direct" else a - d

    def mark(ok):
        return "" if ok is None else (" ✓" if ok else " ✗")

    rows = []

    def row(label, cells, goal=""):
        rows.append(f"| {label} | " + " | ".join(cells) + f" | {goal} |")

    def latency_rows(key, label):
        for p in ("p50", "p99"):
            row(f"{label}: latency {p}", [ms(get(t, key, f"{p}_us")) for t in TARGETS])

    def added_rows(key, label, goals=None):
        for p in ("p50", "p99"):
            goal = ""
            if goals:
                lim = goals[p]
                a = added("fusion", key, f"{p}_us")
                goal = f"fusion ≤ {lim:.2f} ms" + mark(None if a is None else a <= lim * 1000)
            row(f"{label}: added {p} (target − direct)",
                [DASH] + [ms(added(t, key, f"{p}_us"), signed=True) for t in TARGETS[1:]], goal)

    latency_rows("c1", "1 connection, back to back")
    added_rows("c1", "1 connection, back to back")
    rate_label = f"fixed {RATE:,} req/s"
    latency_rows("rate", rate_label)
    added_rows("rate", rate_label, {"p50": 0.15, "p99": 0.5})
    low_label = f"fixed {LOW_RATE:,} req/s"
    latency_rows("low_rate", low_label)
    added_rows("low_rate", low_label)
    row(f"achieved rate in the fixed-rate runs",
        [" / ".join(f"{get(t, k, 'rps'):,.0f}" if get(t, k, "rps") is not None else DASH
                    for k in ("rate", "low_rate")) for t in TARGETS])
    f_max, l_max, d_max = get("fusion", "max", "rps"), get("litellm", "max", "rps"), get("direct", "max", "rps")
    row("max throughput, 10 connections",
        [DASH if get(t, "max", "rps") is None else f"{get(t, 'max', 'rps'):,.0f} req/s" for t in TARGETS])
    ratio = f_max / l_max if f_max and l_max else None
    row("fusion max ÷ litellm max", [DASH, DASH if ratio is None else f"{ratio:,.1f}×", DASH],
        "≥ 20×" + mark(None if ratio is None else ratio >= 20))
    row("max throughput as share of direct",
        [DASH] + [DASH if not (get(t, "max", "rps") and d_max) else f"{100 * get(t, 'max', 'rps') / d_max:.0f} %"
                  for t in TARGETS[1:]])
    row("latency p50 / p99 during max throughput",
        [DASH if get(t, "max") is None else f"{ms(get(t, 'max', 'p50_us'))} / {ms(get(t, 'max', 'p99_us'))}"
         for t in TARGETS])
    for p in ("p50", "p99"):
        row(f"streamed: time to first `data:` {p}", [ms(get(t, "stream", f"ttfb_{p}_us")) for t in TARGETS])
    for p in ("p50", "p99"):
        row(f"streamed: added time to first `data:` {p}",
            [DASH] + [ms(added(t, "stream", f"ttfb_{p}_us"), signed=True) for t in TARGETS[1:]])
    row("CPU time per request at max throughput (process tree)",
        [DASH if get(t, "cpu_us_per_req") is None else f"{get(t, 'cpu_us_per_req'):.0f} µs" for t in TARGETS])
    idle = get("fusion", "rss_idle_kib")
    row("RSS idle, before load (process tree)", [mib(get(t, "rss_idle_kib")) for t in TARGETS],
        "fusion ≤ 25 MiB" + mark(None if idle is None else idle / 1024 <= 25))
    peak = get("fusion", "rss_peak_kib", "max")
    row("RSS peak during the max-throughput run", [mib(get(t, "rss_peak_kib", "max")) for t in TARGETS],
        "fusion ≤ 60 MiB" + mark(None if peak is None else peak / 1024 <= 60))
    errs = []
    for t in TARGETS:
        if t not in res:
            errs.append(DASH)
            continue
        n = sum(get(t, k, "errors") or 0 for k in ("c1", "max", "rate", "low_rate", "stream"))
        errs.append(f"{n:.0f}")
    row("failed requests (socket errors, non-2xx, bad streams)", errs, "0")

    skipped = [t for t in TARGETS if t in res and get(t, "rate") is None]
    notes = []
    for t in skipped:
        notes.append(f"- {t}: no {RATE:,} req/s run — its maximum ({get(t, 'max', 'rps'):,.0f} req/s at "
                     f"10 connections) is below 1.5 × {RATE:,}; compare it at {LOW_RATE} req/s instead.")
    missing = [t for t in TARGETS if t not in res]
    for t in missing:
        notes.append(f"- {t}: not measured in this run.")

    d = DURATION
    lines = [
        "# Gateway overhead — `bench/gateway.sh`",
        "",
        f"Run: {meta['date']} · fusion {meta['fusion_rev']} · LiteLLM {meta['litellm_version']} · "
        f"{meta['wrk_version']} · Python {meta['python_version']}",
        f"Machine: {meta['cpus']} × {meta['cpu_model']}, {meta['mem_gib']} GiB, {meta['os']}, "
        f"kernel {meta['kernel']}",
        "",
        "| metric | direct | fusion | litellm | goal |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "Method: one mock-provider (fixed reply, TCP_NODELAY) on 127.0.0.1; `direct` calls it, "
        "`fusion` is `fusion serve` in front of it, `litellm` is the LiteLLM proxy in front of it. "
        "Same non-streamed body for all (model id as each target lists it). "
        f"wrk 4 with bench/gateway/post.lua, keep-alive, {d} s per run after a 3 s warm-up at "
        f"10 connections: `-t1 -c1` back to back; `-t2 -c10` unpaced for max throughput; "
        f"`-t2 -c10` paced on a monotonic-clock schedule for the fixed rates ({RATE:,} and "
        f"{LOW_RATE} req/s; latency from request write to response end, pauses excluded). "
        "Percentiles are wrk's, at 1 µs resolution; \"added\" is the difference of the percentiles, "
        f"not a percentile of differences. Streaming: {STREAMS} streamed requests per target on "
        "one keep-alive connection (Python http.client) after 20 warm-up requests, time from "
        "sending to the first `data:` line. RSS and CPU: /proc of the target's process tree "
        "(the mock itself in the direct column), RSS sampled every 100 ms. Load generator, "
        "mock and gateway share the machine's cores; nothing is pinned.",
    ]
    if notes:
        lines += ["", "Notes:", *notes]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    os.makedirs(os.path.dirname(os.path.abspath(out_md)), exist_ok=True)
    with open(out_md, "w") as f:
        f.write(text)


def main():
    if len(sys.argv) >= 7 and sys.argv[1] == "target":
        _, _, name, url, model, pid, out = sys.argv[:7]
        token = sys.argv[7] if len(sys.argv) > 7 else None
        measure_target(name, url, model, int(pid), out, token)
    elif len(sys.argv) == 4 and sys.argv[1] == "report":
        report(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
