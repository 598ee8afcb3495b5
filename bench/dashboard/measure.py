"""Visits each dashboard page RUNS times in a fresh headless Chromium (new profile: cold cache)
through chromedriver's WebDriver HTTP API, and prints a Markdown table of medians: first
contentful paint, DOMContentLoaded, load, and bytes (document + resources, as transferred).
Usage: measure.py DRIVER_URL FUSION_URL RUNS WORKDIR REV"""
import json
import os
import statistics
import sys
import time
import urllib.request

driver, base, runs, work, rev = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
PAGES = ["/ui/tasks", "/ui/councils", "/ui/models", "/ui/usage", "/ui/mcp", "/ui/bench"]
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-extensions", "--disable-default-apps", "--disable-dev-shm-usage",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "--window-size=1280,900"]
PROBE = """
const nav = performance.getEntriesByType('navigation')[0];
const fcp = performance.getEntriesByName('first-contentful-paint')[0];
const res = performance.getEntriesByType('resource');
const hosts = [...new Set(res.map(r => new URL(r.name).hostname))];
return {fcp: fcp ? fcp.startTime : null, dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
        doc: nav.encodedBodySize, assets: res.filter(r => !r.name.includes('/api/'))
          .reduce((n, r) => n + r.encodedBodySize, 0), requests: res.length, hosts};
"""


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(driver + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)["value"]


def visit(page, n):
    profile = os.path.join(work, f"profile-{page.strip('/').replace('/', '-')}-{n}")
    caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
        "binary": "/usr/bin/chromium", "args": ARGS + [f"--user-data-dir={profile}"]}}}}
    session = call("POST", "/session", caps)["sessionId"]
    try:
        call("POST", f"/session/{session}/url", {"url": base + page})
        for _ in range(100):  # until load has ended and a paint is recorded
            m = call("POST", f"/session/{session}/execute/sync", {"script": PROBE, "args": []})
            if m["load"] and m["fcp"] is not None:
                return m
            time.sleep(0.05)
        raise SystemExit(f"{page}: no load or paint recorded: {m}")
    finally:
        call("DELETE", f"/session/{session}")


rows, foreign = [], set()
for page in PAGES:
    seen = [visit(page, n) for n in range(runs)]
    foreign |= {h for m in seen for h in m["hosts"] if h != "127.0.0.1"}
    med = lambda k: statistics.median(m[k] for m in seen)
    rows.append((page, med("fcp"), med("dcl"), med("load"), seen[0]["doc"], seen[0]["assets"],
                 seen[0]["requests"]))

print(f"Dashboard on loopback — release build, rev {rev}, {time.strftime('%Y-%m-%d', time.gmtime())}, "
      f"{runs} cold visits per page (fresh Chromium profile each), medians.\n")
print("| page | first contentful paint | DOMContentLoaded | load | HTML | CSS + JS | requests |")
print("|---|---:|---:|---:|---:|---:|---:|")
for page, fcp, dcl, load, doc, assets, reqs in rows:
    print(f"| `{page}` | {fcp:.0f} ms | {dcl:.0f} ms | {load:.0f} ms | {doc/1024:.1f} KB | "
          f"{assets/1024:.1f} KB | {reqs} |")
print(f"\nRequests to any host but 127.0.0.1: {len(foreign)}{' ' + str(sorted(foreign)) if foreign else ''}.")
