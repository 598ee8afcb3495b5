#!/usr/bin/env python3
"""Measurement and report helpers for bench/gateway.sh (stdlib only).

  measure.py run OUT_DIR ROUNDS TARGETS.json
      TARGETS.json: [{"name", "url" (base URL ending in /v1), "model", "pid", "token"?}, ...]
      plus "mock_pid" at the top level: {"mock_pid": N, "targets": [...]}.
      Measures the targets together, alternating between them run by run (round 1: direct,
      fusion; round 2: direct, fusion; ...), so slow drifts of the machine hit all alike.
      Writes OUT_DIR/NAME.json for each target.
  measure.py report RESULTS_DIR OUT.md
      Reads RESULTS_DIR/{direct,fusion,litellm}.json (a missing one shows as "—") and
      RESULTS_DIR/meta.json, prints the Markdown report and writes it to OUT.md.

Environment: GW_DURATION (seconds per wrk run, default 10), GW_STREAMS (streamed requests per
target, default 200), GW_RATE (the fixed rate, default 1000), GW_LOW_RATE (a rate every target
sustains, default 50).
"""

import http.client
import json
import os
import re
import resource
import statistics
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
WARMUP_S = 3
STREAM_WARMUP = 20
THREADS = 2  # wrk threads for the 10-connection runs: one per core
CONNECTIONS = 10
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
PROMPT = [{"role": "system", "content": "You are terse."},
          {"role": "user", "content": "Say hello."}]


def log(msg):
    print(f"[gateway-bench] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc sampling


def tree(pid):
    """pid and all its live descendants."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_kib(pids):
    """Resident set size summed over pids, KiB (what `ps -o rss=` shows)."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * PAGE_KIB
        except OSError:
            pass
    return total


def cpu_s(pids):
    """user + system CPU seconds summed over pids."""
    total = 0.0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError):
            pass
    return total


def machine_busy_s():
    """CPU seconds the whole machine spent not idle (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / CLK_TCK


def children_cpu_s():
    """CPU seconds of this process (its sampler) plus its waited-for children (wrk)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


class Sampler(threading.Thread):
    """Every 100 ms, the RSS of each target's process tree; the peak is kept per phase."""

    def __init__(self, targets):
        super().__init__(daemon=True)
        self.targets = targets
        self.phase = None
        self.peaks = {t["name"]: {} for t in targets}
        self.halt = threading.Event()

    def run(self):
        trees = {t["name"]: tree(t["pid"]) for t in self.targets}
        n = 0
        while not self.halt.wait(0.1):
            n += 1
            if n % 10 == 0:  # re-read the trees every second (a gateway may fork workers)
                trees = {t["name"]: tree(t["pid"]) for t in self.targets}
            phase = self.phase
            if phase is None:
                continue
            for name, pids in trees.items():
                peaks = self.peaks[name]
                peaks[phase] = max(peaks.get(phase, 0), rss_kib(pids))


# ---------------------------------------------------------------- load


def body_for(model, stream=False):
    b = {"model": model, "messages": PROMPT}
    if stream:
        b["stream"] = True
    return json.dumps(b, separators=(",", ":"))


def wrk(target, threads, connections, seconds, rate=None):
    env = dict(os.environ, BODY=body_for(target["model"]), TOKEN=target.get("token") or "")
    env.pop("RATE", None)
    if rate:
        env["RATE"] = repr(rate / threads)
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
           "-s", LUA, target["url"] + "/chat/completions"]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    m = re.search(r"^WRK_RESULT (.*)$", out, re.M)
    if not m:
        raise SystemExit(f"wrk printed no result:\n{out}")
    r = {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors"] = sum(v for k, v in r.items() if k.startswith("errors_"))
    return r


def measured_wrk(target, all_targets, mock_pid, *args, **kwargs):
    """wrk plus what the CPUs did meanwhile: the target's tree, and every other process
    (the machine's busy time less the targets, the mock, wrk and this script)."""
    ours = set()
    for t in all_targets:
        ours.update(tree(t["pid"]))
    ours.update(tree(mock_pid))
    ours = sorted(ours)
    own = tree(target["pid"])
    t_cpu0, o_cpu0, m0, c0 = cpu_s(own), cpu_s(ours), machine_busy_s(), children_cpu_s()
    r = wrk(target, *args, **kwargs)
    t_cpu1, o_cpu1, m1, c1 = cpu_s(own), cpu_s(ours), machine_busy_s(), children_cpu_s()
    secs = r["duration_us"] / 1e6
    r["target_cpu_s"] = t_cpu1 - t_cpu0
    r["wrk_cpu_s"] = c1 - c0
    r["other_cpu_pct"] = max(0.0, 100 * ((m1 - m0) - (o_cpu1 - o_cpu0) - (c1 - c0)) / secs)
    return r


class Stream:
    """Streamed chat completions on one keep-alive connection (http.client)."""

    def __init__(self, target):
        u = urllib.parse.urlparse(target["url"])
        self.path = u.path + "/chat/completions"
        self.conn = http.client.HTTPConnection(u.hostname, u.port)
        self.body = body_for(target["model"], stream=True)
        self.headers = {"content-type": "application/json", "accept": "text/event-stream"}
        if target.get("token"):
            self.headers["authorization"] = f"Bearer {target['token']}"

    def once(self):
        """(µs to the first `data:` line, µs to the end of the stream), or None on failure."""
        first = None
        done = False
        t0 = time.perf_counter()
        try:
            self.conn.request("POST", self.path, self.body, self.headers)
            resp = self.conn.getresponse()
            while True:
                line = resp.readline()
                if not line:
                    break
                if line.startswith(b"data:"):
                    if first is None:
                        first = time.perf_counter()
                    if line.strip() == b"data: [DONE]":
                        done = True
        except (http.client.HTTPException, OSError):
            self.conn.close()  # reconnects on the next request
            return None
        t1 = time.perf_counter()
        if resp.status != 200 or first is None or not done:
            return None
        return (first - t0) * 1e6, (t1 - t0) * 1e6


def pct(xs, p):
    """Nearest-rank percentile."""
    if not xs:
        return None
    xs = sorted(xs)
    k = -(-p * len(xs) // 100) - 1
    return xs[int(max(0, min(len(xs) - 1, k)))]


def run(out_dir, rounds, spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    targets, mock_pid = spec["targets"], spec["mock_pid"]
    names = [t["name"] for t in targets]
    res = {t["name"]: {"name": t["name"], "model": t["model"], "rounds": {}} for t in targets}
    for t in targets:
        res[t["name"]]["rss_idle_kib"] = rss_kib(tree(t["pid"]))
    sampler = Sampler(targets)
    sampler.start()

    def phase(key, threads, connections, rate=None, only=None):
        for r in range(rounds):
            for t in targets:
                if only is not None and t["name"] not in only:
                    continue
                sampler.phase = key
                w = measured_wrk(t, targets, mock_pid, threads, connections, DURATION, rate)
                sampler.phase = None
                res[t["name"]]["rounds"].setdefault(key, []).append(w)
                log(f"{t['name']:8} {key:8} round {r + 1}/{rounds}: {w['rps']:9,.0f} req/s  "
                    f"p50 {w['p50_us']:6.0f} µs  p99 {w['p99_us']:6.0f} µs  "
                    f"errors {w['errors']:.0f}  other CPU {w['other_cpu_pct']:.0f} %")
                time.sleep(1)

    for t in targets:  # warm-up: connection pools, lazy imports, caches
        wrk(t, THREADS, CONNECTIONS, WARMUP_S)
    time.sleep(1)
    phase("c1", 1, 1)
    phase("max", THREADS, CONNECTIONS)
    fast = [n for n in names
            if statistics.median(w["rps"] for w in res[n]["rounds"]["max"]) >= 1.5 * RATE]
    for n in names:
        if n not in fast:
            log(f"{n}: no {RATE} req/s run, its maximum is below 1.5 × {RATE}")
    phase("rate", THREADS, CONNECTIONS, RATE, only=fast)
    phase("low_rate", THREADS, CONNECTIONS, LOW_RATE)

    # Streaming: the targets take turns request by request.
    sampler.phase = "stream"
    streams = {t["name"]: Stream(t) for t in targets}
    samples = {n: [] for n in names}
    failures = {n: 0 for n in names}
    for i in range(STREAM_WARMUP + STREAMS):
        for n in names:
            s = streams[n].once()
            if s is None:
                failures[n] += 1
            elif i >= STREAM_WARMUP:
                samples[n].append(s)
    sampler.phase = None
    sampler.halt.set()
    sampler.join()
    time.sleep(1)

    for n in names:
        r = res[n]
        ttfb = [s[0] for s in samples[n]]
        total = [s[1] for s in samples[n]]
        r["stream"] = {"n": len(ttfb), "errors": failures[n],
                       "ttfb_p50_us": pct(ttfb, 50), "ttfb_p99_us": pct(ttfb, 99),
                       "total_p50_us": pct(total, 50), "total_p99_us": pct(total, 99)}
        if samples[n]:
            log(f"{n:8} stream TTFB p50 {r['stream']['ttfb_p50_us']:.0f} µs "
                f"p99 {r['stream']['ttfb_p99_us']:.0f} µs, failures {failures[n]}")
        maxes = r["rounds"]["max"]
        r["cpu_us_per_req"] = 1e6 * sum(w["target_cpu_s"] for w in maxes) / max(
            1, sum(w["requests"] for w in maxes))
        r["rss_peak_kib"] = sampler.peaks[n]
        r["rss_end_kib"] = rss_kib(tree(targets[names.index(n)]["pid"]))
        r["requests_total"] = sum(w["requests"] for ws in r["rounds"].values() for w in ws) + (
            STREAM_WARMUP + STREAMS)
        with open(os.path.join(out_dir, f"{n}.json"), "w") as f:
            json.dump(r, f, indent=1)


# ---------------------------------------------------------------- report

TARGETS = ("direct", "fusion", "litellm")
DASH = "—"


def report(results_dir, out_md):
    res = {}
    for t in TARGETS:
        p = os.path.join(results_dir, f"{t}.json")
        if os.path.exists(p):
            with open(p) as f:
                res[t] = json.load(f)
    with open(os.path.join(results_dir, "meta.json")) as f:
        meta = json.load(f)

    def runs(t, key):
        return res.get(t, {}).get("rounds", {}).get(key, [])

    def med(t, key, field):
        xs = [w[field] for w in runs(t, key)]
        return statistics.median(xs) if xs else None

    def added(t, key, field):
        """Median over rounds of (target − direct) within the same round."""
        a, d = runs(t, key), runs("direct", key)
        if t == "direct" or not a or not d:
            return None
        return statistics.median(x[field] - y[field] for x, y in zip(a, d))

    def ms(us, signed=False):
        if us is None:
            return DASH
        return f"{us / 1000:+.3f} ms" if signed else f"{us / 1000:.3f} ms"

    def mib(kib):
        return DASH if kib is None else f"{kib / 1024:.1f} MiB"

    def mark(ok):
        return "" if ok is None else (" ✓" if ok else " ✗")

    rows = []

    def row(label, cells, goal=""):
        rows.append(f"| {label} | " + " | ".join(cells) + f" | {goal} |")

    def latency_block(key, label, goals=None):
        for p in ("p50", "p99"):
            row(f"{label}: latency {p}", [ms(med(t, key, f"{p}_us")) for t in TARGETS])
        for p in ("p50", "p99"):
            goal = ""
            if goals:
                a = added("fusion", key, f"{p}_us")
                goal = f"fusion ≤ {goals[p]} ms" + mark(None if a is None else a <= goals[p] * 1000)
            row(f"{label}: added {p}",
                [DASH] + [ms(added(t, key, f"{p}_us"), signed=True) for t in TARGETS[1:]], goal)

    latency_block("c1", "1 connection, back to back")
    latency_block("rate", f"fixed {RATE:,} req/s", {"p50": 0.15, "p99": 0.5})
    latency_block("low_rate", f"fixed {LOW_RATE} req/s")
    row("max throughput, 10 connections",
        [DASH if med(t, "max", "rps") is None else f"{med(t, 'max', 'rps'):,.0f} req/s" for t in TARGETS])
    f_max, l_max, d_max = med("fusion", "max", "rps"), med("litellm", "max", "rps"), med("direct", "max", "rps")
    ratio = f_max / l_max if f_max and l_max else None
    row("fusion max ÷ litellm max", [DASH, DASH if ratio is None else f"{ratio:,.0f}×", DASH],
        "≥ 20×" + mark(None if ratio is None else ratio >= 20))
    row("max throughput as a share of direct",
        [DASH] + [DASH if not (med(t, "max", "rps") and d_max) else
                  f"{100 * med(t, 'max', 'rps') / d_max:.1f} %" for t in TARGETS[1:]])
    row("latency p50 / p99 at max throughput",
        [DASH if not runs(t, "max") else f"{ms(med(t, 'max', 'p50_us'))} / {ms(med(t, 'max', 'p99_us'))}"
         for t in TARGETS])

    def st(t, field):
        return res.get(t, {}).get("stream", {}).get(field)

    for p in ("p50", "p99"):
        row(f"streamed: time to first `data:` {p}", [ms(st(t, f"ttfb_{p}_us")) for t in TARGETS])
    for p in ("p50", "p99"):
        row(f"streamed: added time to first `data:` {p}",
            [DASH] + [ms(None if st(t, f"ttfb_{p}_us") is None or st("direct", f"ttfb_{p}_us") is None
                         else st(t, f"ttfb_{p}_us") - st("direct", f"ttfb_{p}_us"), signed=True)
                      for t in TARGETS[1:]])
    row("CPU time per request at max throughput",
        [DASH if t not in res else f"{res[t]['cpu_us_per_req']:.0f} µs" for t in TARGETS])
    idle = res.get("fusion", {}).get("rss_idle_kib")
    row("RSS idle, before any load", [mib(res.get(t, {}).get("rss_idle_kib")) for t in TARGETS],
        "fusion ≤ 25 MiB" + mark(None if idle is None else idle / 1024 <= 25))
    peak = res.get("fusion", {}).get("rss_peak_kib", {}).get("max")
    row("RSS peak during the max-throughput runs",
        [mib(res.get(t, {}).get("rss_peak_kib", {}).get("max")) for t in TARGETS],
        "fusion ≤ 60 MiB" + mark(None if peak is None else peak / 1024 <= 60))
    row("RSS after all runs, idle again", [mib(res.get(t, {}).get("rss_end_kib")) for t in TARGETS])
    row("requests served in all runs",
        [DASH if t not in res else f"{res[t]['requests_total']:,.0f}" for t in TARGETS])
    errs = []
    for t in TARGETS:
        if t not in res:
            errs.append(DASH)
            continue
        n = sum(w["errors"] for ws in res[t]["rounds"].values() for w in ws) + res[t]["stream"]["errors"]
        errs.append(f"{n:.0f}")
    row("failed requests (socket errors, non-2xx, broken streams)", errs, "0")

    # Per-round detail, so the medians can be checked.
    detail = ["| target | run | round | achieved req/s | p50 | p99 | p99.9 | max | other CPU |",
              "|---|---|---|---|---|---|---|---|---|"]
    for t in TARGETS:
        for key in ("c1", "rate", "low_rate", "max"):
            for i, w in enumerate(runs(t, key)):
                detail.append(f"| {t} | {key} | {i + 1} | {w['rps']:,.0f} | {ms(w['p50_us'])} | "
                              f"{ms(w['p99_us'])} | {ms(w['p999_us'])} | {ms(w['max_us'])} | "
                              f"{w['other_cpu_pct']:.0f} % |")

    notes = []
    for t in TARGETS:
        if t in res and not runs(t, "rate"):
            notes.append(f"- {t}: no {RATE:,} req/s run: its maximum ({med(t, 'max', 'rps'):,.0f} req/s "
                         f"at 10 connections) is below 1.5 × {RATE:,}. Compare it at {LOW_RATE} req/s.")
        if t not in res:
            notes.append(f"- {t}: not measured in this run.")
    for t in TARGETS:
        if t in res and t != "direct":
            grown = (res[t]["rss_end_kib"] - res[t]["rss_idle_kib"]) / 1024
            if grown > 16:
                notes.append(f"- {t}: RSS grew by {grown:.0f} MiB over {res[t]['requests_total']:,.0f} "
                             "requests and stayed there when idle: memory that load leaves behind, "
                             "or a leak. A longer run tells which.")
    busiest = max((w["other_cpu_pct"] for t in res for ws in res[t]["rounds"].values() for w in ws),
                  default=0)
    if busiest > 20:
        notes.append(f"- Something else used the CPUs during some runs (up to {busiest:.0f} % of one core, "
                     "column \"other CPU\"): those rounds are noisy; rerun on an idle machine.")

    rounds = meta["rounds"]
    lines = [
        "# Gateway overhead — `bench/gateway.sh`",
        "",
        f"Run {meta['date']} · fusion {meta['fusion_rev']} · LiteLLM {meta['litellm_version']} · "
        f"{meta['wrk_version']} · Python {meta['python_version']}  ",
        f"Machine: {meta['cpus']} × {meta['cpu_model']}, {meta['mem_gib']} GiB, {meta['os']}, "
        f"kernel {meta['kernel']}",
        "",
        "| metric | direct | fusion | litellm | goal |",
        "|---|---|---|---|---|",
        *rows,
        "",
        ("Method: the independent aiohttp upstream (bench/gateway/aiohttp_upstream.py, the same "
         "fixed reply) on 127.0.0.1. " if meta.get("upstream") == "aiohttp" else
         "Method: mock-provider (fixed reply \"Hello from the mock.\", TCP_NODELAY) on 127.0.0.1. ")
        +
        "`direct` calls it; `fusion` is `fusion serve` in front of it (one openai provider, "
        "retries 0); `litellm` is the LiteLLM proxy in front of it (`--model openai/fixed "
        "--api_base`, master key as bearer). The same small non-streamed chat body for all (each "
        f"target's own model id). Load: wrk with bench/gateway/post.lua, keep-alive, {DURATION} s "
        f"per run, after a {WARMUP_S} s warm-up: `-t1 -c1` back to back; `-t2 -c10` unpaced "
        f"(max throughput); `-t2 -c10` paced on a monotonic-clock schedule for {RATE:,} and "
        f"{LOW_RATE} req/s (latency from the request's write to the response's end). Direct and "
        f"fusion: {rounds['direct_fusion']} rounds, alternating direct/fusion run by run; "
        f"LiteLLM: {rounds['litellm']} round{'' if rounds['litellm'] == 1 else 's'}, measured after the others, started only then. "
        "Cells are medians over rounds of wrk's percentiles (1 µs resolution); \"added\" is the "
        "median over rounds of (target − direct) within a round — a difference of percentiles, "
        f"not a percentile of differences. Streaming: {STREAMS} streamed requests per target "
        f"after {STREAM_WARMUP} warm-up ones, targets taking turns, each on its own keep-alive "
        "connection (Python http.client), time from sending to the first `data:` line. CPU and "
        "RSS from /proc for the target's process tree (the mock itself in the direct column); "
        "RSS sampled every 100 ms. \"Other CPU\": the machine's busy time during a run less the "
        "targets, the mock, wrk and the script (so it includes interrupt time not charged to "
        "any process; a few % is normal). wrk, the mock and the gateway share the machine's cores and "
        "nothing is pinned, so the max-throughput figures are for the three together.",
    ]
    if notes:
        lines += ["", "Notes:", "", *notes]
    lines += ["", "<details><summary>Per-run figures</summary>", "", *detail, "", "</details>"]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    os.makedirs(os.path.dirname(os.path.abspath(out_md)), exist_ok=True)
    with open(out_md, "w") as f:
        f.write(text)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "run":
        run(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 4 and sys.argv[1] == "report":
        report(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
