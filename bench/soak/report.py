#!/usr/bin/env python3
"""Pass/fail rules and the Markdown report of bench/soak.sh (stdlib only).

    report.py RUN_DIR REV OUT.md

Reads what bench/soak.sh left in RUN_DIR: load.json (bench/soak/loadgen.py), samples.jsonl
(bench/soak/sample.py), events.jsonl (load_start, load_end, drained, end), tasks.json (task
totals per state after the drain), metrics.txt (`/metrics`), mcp_servers.json
(`/api/mcp/servers`), store_kib.txt, script.json and fusion.toml. Prints the report, writes it
to OUT.md and exits 0 when every rule passes, 1 when one fails. The rules:

  errors    no request failed, of any kind (and no task ended failed or cancelled)
  rss       fusion's VmRSS at the end of the load < 110% of its VmRSS at the baseline: one minute
            into the load, or a quarter of it when the load is shorter than four minutes
  fds       no descriptor kept: after the load every client connection is closed (none left on
            fusion's listen port); its non-socket fds (files, pipes, eventfds; not the SQLite
            store's, whose pool opens connections lazily up to its bound) no more at the end of
            the load than at the baseline; after the idle period (SOAK_IDLE_SECS) its fds but the
            upstream keep-alive pool and the store's at most SOAK_FD_SLACK (4) above their count before the load,
            and, when the idle period outlasts the pool's idle timeout and reaper (90 s + 90 s),
            the pool's sockets too
  children  fusion's child processes after the drain: the same count and pids as before the load
  tasks     no task queued or running after the drain
  ledger    no usage-ledger row dropped, lost or failed to write (`/metrics`)
  rate      the generator held the rate: ≥ 99% of it sent, sends late by at most 100 ms at p99
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import sys
import time

ANSI = re.compile(r"\x1b\[[0-9;]*m")
FD_SLACK = int(os.environ.get("SOAK_FD_SLACK", "4"))
POOL_REAPED_AFTER_S = 180  # the provider clients' pool_idle_timeout (90 s) plus its reaper's period


def load_lines(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def metric_sum(metrics: str, name: str) -> float:
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(name) and (len(line) == len(name) or line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def grown_targets(base: dict[str, int], end: dict[str, int]) -> str:
    """The non-socket fd targets fusion holds more of at the end than at the baseline."""
    return ", ".join(f"`{t}` {base.get(t, 0)} → {n}" for t, n in sorted(end.items()) if n > base.get(t, 0))


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def ms(v) -> str:
    return "—" if v is None else f"{v:.1f}"


def main() -> None:
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    run, rev, out = sys.argv[1:4]
    load = json.load(open(f"{run}/load.json"))
    events = {e["event"]: e["t"] for e in load_lines(f"{run}/events.jsonl")}
    samples = [s for s in load_lines(f"{run}/samples.jsonl") if not s["fusion"].get("gone")]
    tasks = json.load(open(f"{run}/tasks.json"))
    metrics = open(f"{run}/metrics.txt").read()
    servers = json.load(open(f"{run}/mcp_servers.json")).get("servers", [])
    store_kib = int(open(f"{run}/store_kib.txt").read().strip() or 0)
    secs = load["secs"]

    t0, t1 = events["load_start"], events["load_end"]
    before = [s for s in samples if s["t"] < t0]
    during = [s for s in samples if t0 <= s["t"] <= t1]
    after = [s for s in samples if s["t"] > events.get("drained", t1)]
    if not before or len(during) < 3 or not after:
        raise SystemExit(f"too few samples: {len(before)} before, {len(during)} during, {len(after)} after the load")
    base_at = t0 + min(60.0, secs / 4)
    base_i = next((i for i, s in enumerate(during) if s["t"] >= base_at), len(during) - 1)
    base = during[base_i]
    end = during[-1]
    fifth = max(1, (len(during) - base_i) // 5)
    f = lambda s: s["fusion"]
    base_fds = statistics.median(f(s)["fds"] for s in during[base_i:base_i + fifth])
    end_fds = statistics.median(f(s)["fds"] for s in during[-fifth:])
    # Non-socket fds but the store's: the SQLite pool opens connections (the db and its WAL each)
    # lazily up to its bound, which is growth with an end, not a leak.
    store = lambda s: sum(n for t, n in f(s)["fd_kinds"].get("targets", {}).items() if t.startswith(f"{run}/fusion.db"))
    nonsock = lambda s: f(s)["fds"] - f(s)["fd_kinds"]["socket"] - store(s)
    base_nonsock = max(nonsock(s) for s in during[base_i:base_i + fifth])
    end_nonsock = min(nonsock(s) for s in during[-fifth:])

    ports = lambda s: f(s).get("sockets_by_port", {})
    clients_after = max(0, ports(after[-1]).get("inbound", 1) - 1)
    up_before, up_after = ports(before[-1]).get("upstream", 0), ports(after[-1]).get("upstream", 0)
    fds_before, fds_after = f(before[-1])["fds"], f(after[-1])["fds"]
    idle_secs = after[-1]["t"] - events.get("drained", t1)
    pool_checked = idle_secs >= POOL_REAPED_AFTER_S
    fds_ok = (clients_after == 0 and end_nonsock <= base_nonsock
              and fds_after - up_after - store(after[-1]) <= fds_before - up_before - store(before[-1]) + FD_SLACK
              and (not pool_checked or up_after <= up_before + FD_SLACK))
    fds_text = (f"{clients_after} client sockets left after the load; non-socket {base_nonsock} → {end_nonsock}; "
                f"idle before the load → {idle_secs:.0f} s after the drain: {fds_before} → {fds_after} fds, of which "
                f"upstream pool {up_before} → {up_after} and SQLite pool {store(before[-1])} → {store(after[-1])}"
                + ("" if pool_checked else f" (not checked: the pool is reaped {POOL_REAPED_AFTER_S} s after its last use)")
                + f"; under load {base_fds:.0f} → {end_fds:.0f}")
    grown = grown_targets(f(during[base_i])["fd_kinds"].get("targets", {}), f(end)["fd_kinds"].get("targets", {}))
    if grown:
        fds_text += f"; more at the end: {grown}"

    kinds = load["kinds"]
    sent = sum(k["sent"] for k in kinds.values())
    errors = sum(sum(k["errors"].values()) for k in kinds.values())
    bad_tasks = tasks.get("failed", 0) + tasks.get("cancelled", 0)
    rss_growth = f(end)["rss_kib"] / max(1, f(base)["rss_kib"]) - 1
    open_tasks = tasks.get("queued", 0) + tasks.get("running", 0)
    ledger_bad = {n: metric_sum(metrics, n) for n in (
        "fusion_ledger_rows_dropped_total", "fusion_ledger_rows_lost_total",
        "fusion_ledger_overflow_total", "fusion_ledger_write_errors_total",
        "fusion_history_dropped_total", "fusion_history_write_errors_total")}
    kids_before, kids_after = f(before[-1])["child_pids"], f(after[-1])["child_pids"]

    rules = [
        ("errors", errors == 0 and bad_tasks == 0 and not load.get("mcp_session_error"),
         f"{errors} failed requests of {sent}; {bad_tasks} tasks failed or cancelled"),
        ("rss", rss_growth < 0.10,
         f"{mib(f(base)['rss_kib'])} MiB at {base['t'] - t0:.0f} s → {mib(f(end)['rss_kib'])} MiB at the end "
         f"({rss_growth:+.1%}; must be < +10%)"),
        ("fds", fds_ok, fds_text),
        ("children", len(kids_after) == len(kids_before) and kids_after == kids_before,
         f"{len(kids_before)} before the load {kids_before}, {len(kids_after)} after the drain {kids_after}"),
        ("tasks", open_tasks == 0, f"{open_tasks} queued or running after the drain "
                                   f"(completed {tasks.get('completed', 0)}, failed {tasks.get('failed', 0)})"),
        ("ledger", not any(ledger_bad.values()),
         ", ".join(f"{n.removeprefix('fusion_')} {v:.0f}" for n, v in ledger_bad.items())),
    ]
    lag99 = load["scheduler_lag_ms"].get("p99", 0.0)
    rules.append(("rate", load["achieved_rate"] >= 0.99 * load["rate"] and lag99 <= 100,
                  f"the generator sent {load['achieved_rate']} req/s of {load['rate']:.0f}, its sends late by "
                  f"p99 {lag99:.1f} ms (must be ≤ 100 ms, else the run did not hold the rate)"))
    passed = all(ok for _, ok, _ in rules)

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    fusion_cpu = f(end)["cpu_s"] - f(before[-1])["cpu_s"]
    mock_cpu = end["mock"]["cpu_s"] - before[-1]["mock"]["cpu_s"] if "mock" in end else None
    load_secs = end["t"] - before[-1]["t"]
    upstream = metric_sum(metrics, "fusion_upstream_requests_total")
    ledger_rows = metric_sum(metrics, "fusion_ledger_rows_written_total")

    L: list[str] = []
    w = L.append
    w(f"# Soak — `bench/soak.sh`\n")
    built = os.environ.get("SOAK_BINARY_BUILT")
    w(f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(t0))} · fusion {rev} (release"
      + (f", binary built {built}" if built else "") + ") · "
      f"{os.cpu_count()} CPUs ({cpu}) · {platform.release()} · load average at the end "
      f"{open('/proc/loadavg').read().split()[0]}\n")
    pressure = json.load(open(f"{run}/machine.json")) if os.path.exists(f"{run}/machine.json") else {}
    if pressure:
        w(f"Machine during the run: load average {pressure.get('load_before')} before, {pressure.get('load_after')} "
          f"after; CPU pressure (share of time some task waited for a CPU, avg60) {pressure.get('cpu_some_before')}% "
          f"before, {pressure.get('cpu_some_after')}% after; other builds running: {pressure.get('builds')}.\n")
    w(f"**{'PASS' if passed else 'FAIL'}** — {load['rate']:.0f} req/s for {secs:.0f} s, "
      f"{sent:,} requests, {errors} errors.\n")
    w("| rule | result | figures |\n|---|---|---|")
    for name, ok, text in rules:
        w(f"| {name} | {'pass' if ok else '**FAIL**'} | {text} |")
    w("\n## Method\n")
    w("`fusion serve` (release, SQLite store in the run dir, usage ledger on) in front of one "
      "mock-provider, with two real MCP children (mcp-server-time and server-everything over stdio, "
      "from scripts/install-peers.sh). bench/soak/loadgen.py (the peers' Python, one process) sends "
      "requests open-loop at a fixed rate — request *i* is due at start + *i*/rate whatever the "
      "answers do — the kinds interleaved by a smooth weighted round robin; latency counts from the "
      "moment a request was due. MCP calls use the official `mcp` Python SDK on one Streamable HTTP "
      "session (`/mcp`), alternating `time__get_current_time` and `everything__echo`. "
      "bench/soak/sample.py reads fusion's /proc every few seconds. After the load the script waits "
      "for every task to end, samples fusion idle for a while (SOAK_IDLE_SECS), then reads `/api/tasks`, "
      "`/metrics` and `/api/mcp/servers`. Before the clock starts, a 3-second preflight at 20 req/s "
      "checks that every kind answers (its few requests and tasks are in the totals from `/metrics` "
      "and `/api/tasks`, not in the per-kind table). "
      "Mock latencies: plain 0 ms; stream 12 chunks 5 ms apart; routed (`router/auto` over `small` "
      "local and `big` paid) 5 ms; council `fusion/soak` members 20/40/60 ms, judge and synthesizer "
      "10 ms; task model 20 ms (`[tasks] remote_slots = 8`).\n")
    mix = ", ".join(f"{k} {v}" for k, v in load["mix"].items())
    w(f"Mix (weights): {mix}. Timeout per request {load['timeout_s']:.0f} s. Generator: "
      f"{load['achieved_rate']} req/s sent, scheduler lag p50 {ms(load['scheduler_lag_ms'].get('p50'))} ms / "
      f"p99 {ms(load['scheduler_lag_ms'].get('p99'))} ms / max {ms(load['scheduler_lag_ms'].get('max'))} ms, "
      f"{load['generator_cpu_s']} s CPU ({load['generator_cpu_s'] / max(load['wall_secs'], 1):.0%} of a core), "
      f"at most {load['max_inflight']} requests in flight, {load['connections_opened']} connections opened "
      f"({load['stale_retries']} requests sent again on a new connection because fusion had closed an idle one).\n")
    w("## Requests per kind\n")
    w("| kind | sent | ok | errors | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |\n|---|---|---|---|---|---|---|---|---|")
    for name, k in kinds.items():
        lat = k["latency_ms"]
        errs = ", ".join(f"{r} {n}" for r, n in k["errors"].items()) or "0"
        w(f"| {name} | {k['sent']:,} | {k['ok']:,} | {errs} | {ms(lat.get('p50'))} | {ms(lat.get('p90'))} | "
          f"{ms(lat.get('p99'))} | {ms(lat.get('p999'))} | {ms(lat.get('max'))} |")
        if "first_event_ms" in k:
            fe = k["first_event_ms"]
            w(f"| {name}: first SSE chunk | | | | {ms(fe.get('p50'))} | {ms(fe.get('p90'))} | {ms(fe.get('p99'))} | "
              f"{ms(fe.get('p999'))} | {ms(fe.get('max'))} |")
    samples_of_errors = [s for k in kinds.values() for s in k["error_samples"]]
    if samples_of_errors or load.get("mcp_session_error"):
        w("\nFirst errors: " + "; ".join(f"`{s[:200]}`" for s in samples_of_errors[:6])
          + (f" MCP session: `{load['mcp_session_error']}`" if load.get("mcp_session_error") else ""))
    w("\n## fusion over time\n")
    w("| t (s) | VmRSS MiB | RssAnon MiB | RssFile MiB | threads | fds | sockets: all / clients / upstream "
      "| children | children RSS MiB | CPU s |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    rows = before[-1:] + during[:: max(1, len(during) // 12)] + [end] + after[-1:]
    seen = set()
    for s in rows:
        if s["t"] in seen:
            continue
        seen.add(s["t"])
        x = f(s)
        by_port = x.get("sockets_by_port", {})
        w(f"| {s['t'] - t0:.0f} | {mib(x['rss_kib'])} | {mib(x['anon_kib'])} | {mib(x['file_kib'])} | {x['threads']} | "
          f"{x['fds']} | {x['fd_kinds']['socket']} / {max(0, by_port.get('inbound', 1) - 1)} / "
          f"{by_port.get('upstream', '?')} | {x['children']} | {mib(x['children_rss_kib'])} | {x['cpu_s']} |")
    rss = [f(s)["rss_kib"] for s in during]
    w("\nThe first row is fusion idle before the load, the last after the drain. Sockets: every TCP socket "
      "fusion holds; clients, those of callers on its listen port; upstream, its connections to mock-provider "
      "(the provider clients' keep-alive pools).")
    w(f"\nUnder load: VmRSS min {mib(min(rss))} / max {mib(max(rss))} MiB, peak (VmHWM) {mib(f(end)['hwm_kib'])} MiB; "
      f"fds min {min(f(s)['fds'] for s in during)} / max {max(f(s)['fds'] for s in during)}; "
      f"threads max {max(f(s)['threads'] for s in during)}. fusion used {fusion_cpu:.1f} s CPU "
      f"({fusion_cpu / max(load_secs, 1):.2f} cores)"
      + (f", mock-provider {mock_cpu:.1f} s" if mock_cpu is not None else "") + ". "
      f"Idle before the load → after the drain: VmRSS {mib(f(before[-1])['rss_kib'])} → {mib(f(after[-1])['rss_kib'])} MiB, "
      f"fds {f(before[-1])['fds']} → {f(after[-1])['fds']}.\n")
    w("## Store, tasks, ledger, MCP children\n")
    w(f"- Tasks after the drain: " + ", ".join(f"{k} {v}" for k, v in tasks.items() if k != "_")
      + " (the preflight's tasks included).")
    w(f"- Usage ledger: {ledger_rows:,.0f} rows written for {upstream:,.0f} upstream calls; "
      + ", ".join(f"{n.removeprefix('fusion_')} {v:.0f}" for n, v in ledger_bad.items()) + ".")
    failed = json.load(open(f"{run}/failed_tasks.json")).get("tasks", []) if os.path.exists(f"{run}/failed_tasks.json") else []
    for t in failed[:3]:
        w(f"- Failed task `{t.get('id')}`: {str(t.get('error'))[:200]}")
    logged = [ANSI.sub("", l).strip() for l in open(f"{run}/fusion.err", errors="replace")
              if " WARN " in ANSI.sub("", l) or " ERROR " in ANSI.sub("", l)] if os.path.exists(f"{run}/fusion.err") else []
    shown = "; ".join(f"`{l[:160]}`" for l in logged[:3])
    w(f"- fusion logged {len(logged)} WARN/ERROR lines" + (f": {shown}" if logged else "") + ".")
    w(f"- Store (SQLite file, WAL and shm) at the end: {mib(store_kib)} MiB.")
    for srv in servers:
        st = srv.get("status", {})
        w(f"- MCP child `{srv.get('name')}`: state {st.get('state')}, {st.get('calls')} calls, {st.get('errors')} errors, "
          f"{st.get('restarts')} restarts, p50 {st.get('p50_ms')} ms.")
    http = [l for l in metrics.splitlines() if l.startswith("fusion_http_requests_total")]
    w("\n`/metrics` HTTP counters at the end: " + "; ".join(
        "`" + re.sub(r"^fusion_http_requests_total", "", l) + "`" for l in http) + "\n")
    text = "\n".join(L) + "\n"
    with open(out, "w") as fh:
        fh.write(text)
    print(text)
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
