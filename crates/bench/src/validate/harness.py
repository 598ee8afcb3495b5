# Runs a benchmark answer's code and the task's tests in this directory (Fusion's `code`
# validator starts it in a sandbox: no network, a time limit, an empty environment). The first
# line of stdin is a one-time token; the last line this prints is the token and the result as
# JSON, written with functions taken before the answer's code runs.
import json
import os
import sys

try:
    import resource

    for _limit, _value in ((resource.RLIMIT_AS, 1 << 30), (resource.RLIMIT_FSIZE, 16 << 20)):
        resource.setrlimit(_limit, (_value, _value))
except Exception:
    pass

_write, _dumps, _exit = os.write, json.dumps, os._exit
token = sys.stdin.readline().strip()
with open("tests.json", encoding="utf-8") as _file:
    tests = json.load(_file)


def _describe(error):
    return (type(error).__name__ + ": " + str(error))[:300]


namespace = {"__name__": "solution"}
load_error = None
try:
    with open("solution.py", encoding="utf-8") as _file:
        _source = _file.read()
    exec(compile(_source, "solution.py", "exec"), namespace)
except BaseException as error:  # the answer's fault, whatever it raised
    load_error = _describe(error)

passed = 0
failures = []
if load_error is None:
    for _index, _test in enumerate(tests):
        try:
            exec(compile(_test, "test_%d" % (_index + 1), "exec"), namespace)
            passed += 1
        except BaseException as error:
            failures.append({"test": _index + 1, "error": _describe(error)})

try:
    sys.stdout.flush()
except BaseException:
    pass
_result = {"passed": passed, "total": len(tests), "failures": failures[:10], "load_error": load_error}
_write(1, ("\n" + token + " " + _dumps(_result) + "\n").encode("utf-8"))
_exit(0)
