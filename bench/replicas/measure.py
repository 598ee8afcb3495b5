#!/usr/bin/env python3
"""Measurements of bench/replicas.sh: two `fusion serve` replicas (a, b) on one PostgreSQL
database behind fusion-balancer, with mock-provider upstream. Standard library only; wrk
(bench/gateway/post.lua) drives the completions, psql reads the task table.

  1. one replica alone: wrk on a directly (req/s);
  2. both through the balancer: wrk on the balancer (req/s), and the ledger's http rows added
     meanwhile (read through /api/usage of either replica) beside the answers wrk counted;
  3. kill -9: wrk through the balancer in the background and a burst of task submissions
     through the balancer; as soon as a runs tasks of it, a is killed (SIGKILL); then every
     task must end. Reports tasks submitted / completed / failed / re-run after the kill /
     whose call answered twice, the recovery time of the tasks a was running (kill to the last
     of them finished on b), and the completions that failed with a.

Usage: measure.py BALANCER_URL A_URL A_PID B_URL DB_URL OUT_JSON
Environment: RB_DURATION (seconds per wrk run, 10), RB_CONNECTIONS (10), RB_TASKS (400),
RB_SUBMITTERS (8), RB_KILL_AFTER (seconds of wrk alone before the burst, 3; a is killed as
soon as it runs tasks of the burst).
"""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LUA = os.path.join(ROOT, "bench", "gateway", "post.lua")
DURATION = int(os.environ.get("RB_DURATION", "10"))
CONNECTIONS = int(os.environ.get("RB_CONNECTIONS", "10"))
TASKS = int(os.environ.get("RB_TASKS", "400"))
SUBMITTERS = int(os.environ.get("RB_SUBMITTERS", "8"))
KILL_AFTER = float(os.environ.get("RB_KILL_AFTER", "3"))
BODY = json.dumps({"model": "fixed", "messages": [{"role": "user", "content": "Say hello."}]})


def log(msg):
    print(f"[replicas-bench] {msg}", file=sys.stderr, flush=True)


def http(method, url, body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wrk_cmd(url, seconds):
    return ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s", "-s", LUA,
            url + "/v1/chat/completions"]


def wrk_result(out):
    m = re.search(r"^WRK_RESULT (.*)$", out, re.M)
    if not m:
        raise SystemExit(f"wrk printed no result:\n{out}")
    r = {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors"] = int(sum(v for k, v in r.items() if k.startswith("errors_")))
    return r


def wrk(url, seconds):
    env = dict(os.environ, BODY=BODY)
    out = subprocess.run(wrk_cmd(url, seconds), env=env, check=True, capture_output=True,
                         text=True).stdout
    return wrk_result(out)


def http_calls(urls):
    """Ledger calls of caller http: each replica flushes its own ledger when asked, so ask
    every live one, then read once more."""
    for u in urls:
        http("GET", u + "/api/usage?caller=http")
    status, report = http("GET", urls[0] + "/api/usage?caller=http")
    assert status == 200, report
    return report["total"]["calls"]


def psql(db, sql):
    out = subprocess.run(["psql", db, "-At", "-F", "\t", "-c", sql], check=True,
                         capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def submit_burst(url, n, threads):
    ids, errors, lock = [], [], threading.Lock()
    def work(t):
        for i in range(t, n, threads):
            body = {"work": {"kind": "completion", "model": "slow",
                             "messages": [{"role": "user", "content": f"task {i}"}]}}
            try:
                status, answer = http("POST", url + "/api/tasks", body)
            except OSError as e:
                status, answer = 0, str(e)
            with lock:
                (ids.append(answer["id"]) if status == 202 else errors.append(f"{status} {answer}"))
    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return ids, errors


def main():
    balancer, a_url, a_pid, b_url, db, out = sys.argv[1:7]
    a_pid = int(a_pid)
    r = {"duration_s": DURATION, "connections": CONNECTIONS, "tasks": TASKS}

    log(f"1/3 one replica alone: wrk -c{CONNECTIONS} {DURATION}s on a")
    single = wrk(a_url, DURATION)
    r["single_rps"], r["single_errors"] = single["rps"], single["errors"]

    log(f"2/3 two replicas through the balancer: wrk -c{CONNECTIONS} {DURATION}s")
    before = http_calls([a_url, b_url])
    both = wrk(balancer, DURATION)
    time.sleep(0.5)  # answers wrk cut off at its end still finish (and are recorded)
    after = http_calls([b_url, a_url])
    r["balanced_rps"], r["balanced_errors"] = both["rps"], both["errors"]
    r["balanced_wrk_requests"] = int(both["requests"])
    r["balanced_ledger_rows"] = after - before

    log(f"3/3 kill -9: wrk through the balancer, after {KILL_AFTER}s {TASKS} tasks; a killed once it runs some")
    kill_seconds = max(DURATION, int(KILL_AFTER) + 8)
    load = subprocess.Popen(wrk_cmd(balancer, kill_seconds), env=dict(os.environ, BODY=BODY),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(KILL_AFTER)  # wrk alone first
    result = {}
    submitter = threading.Thread(target=lambda: result.update(
        zip(("ids", "errors"), submit_burst(balancer, TASKS, SUBMITTERS))))
    submitter.start()
    # Kill a as soon as it runs tasks of the burst.
    running_on_a = f"SELECT id FROM tasks WHERE state = 'running' AND owner LIKE '{a_pid}-%'"
    on_a, waited = [], time.monotonic() + 30
    while not on_a and time.monotonic() < waited:
        on_a = [row[0] for row in psql(db, running_on_a)]
        if not on_a:
            time.sleep(0.02)
    kill_ms = int(time.time() * 1000)
    os.kill(a_pid, signal.SIGKILL)
    log(f"killed a (pid {a_pid}) running {len(on_a)} task(s)")
    submitter.join()
    ids, submit_errors = result.get("ids", []), result.get("errors", [])
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        left = psql(db, "SELECT count(*) FROM tasks WHERE state IN ('queued', 'running')")
        if int(left[0][0]) == 0:
            break
        time.sleep(0.2)
    else:
        raise SystemExit("tasks still queued or running 300 s after the kill")
    load_out, _ = load.communicate()
    kill_load = wrk_result(load_out)

    states = {row[0]: int(row[1]) for row in psql(db, "SELECT state, count(*) FROM tasks GROUP BY state")}
    rerun = int(psql(db, "SELECT count(*) FROM tasks WHERE attempts > 1")[0][0])
    # The killed replica's tasks: those it ran at the kill, and any re-run since (claimed by a
    # between the look and the kill, then recovered).
    quoted = ",".join(f"'{i}'" for i in on_a) or "''"
    last = psql(db, f"SELECT max(finished_ms) FROM tasks WHERE id IN ({quoted}) OR attempts > 1")
    r["recovery_s"] = (int(last[0][0]) - kill_ms) / 1000 if last and last[0][0] else None
    # A task whose model call answered twice: the kill fell after the call's answer and before
    # the task's outcome was written (the answer lives in the outcome, so the task runs again).
    # A task cannot complete twice: only its owner writes the outcome, once.
    twice = psql(db, "SELECT count(*) FROM (SELECT task_id FROM jobs WHERE state = 'completed' "
                     "GROUP BY task_id HAVING count(*) > 1) t")[0][0]
    # Task calls in the ledger: the killed replica's batch not yet written died with it.
    status, report = http("GET", b_url + "/api/usage?caller=task")
    assert status == 200, report
    r.update({
        "submitted": len(ids), "submit_errors": len(submit_errors),
        "submit_error_sample": submit_errors[:3], "in_store": sum(states.values()),
        "completed": states.get("completed", 0), "failed": states.get("failed", 0),
        "cancelled": states.get("cancelled", 0), "running_on_a_at_kill": len(on_a),
        "rerun_after_kill": rerun, "task_ledger_calls": report["total"]["calls"],
        "answered_twice": int(twice),
        "kill_phase_rps": kill_load["rps"], "kill_phase_requests": int(kill_load["requests"]),
        "kill_phase_errors": kill_load["errors"],
    })
    json.dump(r, open(out, "w"), indent=1)
    log(json.dumps(r))


if __name__ == "__main__":
    main()
