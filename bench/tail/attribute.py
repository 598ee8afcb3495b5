"""Reads `perf sched timehist` output (stdin) and attributes the scheduling delays of one
process's threads — time runnable but waiting for a CPU — to the task that held that CPU
just before the thread got it. For bench/tail.sh.
Usage: perf sched timehist -i DATA | attribute.py PID [MIN_MS]"""
import collections
import sys

pid = sys.argv[1]
min_ms = float(sys.argv[2]) if len(sys.argv) > 2 else 0.2
last = {}  # cpu -> the task that ran there last
blame = collections.Counter()
count = collections.Counter()
delays = collections.defaultdict(list)
for line in sys.stdin:
    parts = line.split()
    if len(parts) < 6 or not parts[0][:1].isdigit():
        continue
    cpu, task = parts[1], parts[2]
    try:
        delay = float(parts[4])
    except ValueError:
        continue
    if task.endswith(f"/{pid}]"):
        name = task.split("[")[0]
        delays[name].append(delay)
        if delay >= min_ms:
            before = last.get(cpu, "?")
            culprit = before.split("[")[0]
            if before.endswith(f"/{pid}]"):
                culprit = f"fusion's own {culprit}"
            blame[(name, culprit)] += delay
            count[(name, culprit)] += 1
    last[cpu] = task

print("| fusion thread | switch-ins | delay p50 | p99 | p99.9 | max |")
print("|---|---|---|---|---|---|")
for name, ds in sorted(delays.items(), key=lambda kv: -len(kv[1])):
    ds.sort()
    n = len(ds)
    pick = lambda q: ds[min(n - 1, int(n * q))]
    print(f"| {name} | {n:,} | {pick(0.5):.3f} ms | {pick(0.99):.3f} ms | {pick(0.999):.3f} ms | {ds[-1]:.3f} ms |")
print()
print(f"Delays of {min_ms} ms or more, by the task that held the CPU before:")
print()
print("| fusion thread | held the CPU before | times | total |")
print("|---|---|---|---|")
for (name, culprit), total in blame.most_common(15):
    print(f"| {name} | {culprit} | {count[(name, culprit)]} | {total:.1f} ms |")
