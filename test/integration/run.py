#!/usr/bin/python3
"""Runs an integration suite: every test_*.py in test/integration/SUITE (or the
files named), each with --build DIR and test/integration on its import path
(lib.py); prints their PASS/FAIL lines and ends with "SUITE: N passed, N failed".
Usage: run.py SUITE [--build DIR] [FILE...]"""
import argparse
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser()
p.add_argument("suite")
p.add_argument("--build", default=os.path.join(HERE, "..", "..", "build"))
p.add_argument("only", nargs="*", help="test files to run (default: all of the suite)")
a = p.parse_intermixed_args()
env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
passed = failed = 0
# A file is a path, or a name in the suite's folder (test_run_ops.py).
files = [f if os.path.exists(f) else os.path.join(HERE, a.suite, f) for f in a.only] or \
    sorted(glob.glob(os.path.join(HERE, a.suite, "test_*.py")))
for f in files:
    try:
        r = subprocess.run([sys.executable, f, "--build", os.path.abspath(a.build)],
                           capture_output=True, text=True, timeout=600, env=env)
        out, rc, err = r.stdout, r.returncode, r.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        rc, err = -1, "timeout after 600 s"
    p_here = sum(1 for line in out.splitlines() if line.startswith("PASS "))
    f_here = sum(1 for line in out.splitlines() if line.startswith("FAIL "))
    sys.stdout.write(out)
    if rc != 0 and f_here == 0:
        f_here = 1
        print(f"FAIL {os.path.basename(f)}: exited {rc}\n{err[-3000:]}")
    elif f_here:
        sys.stdout.write(err[-3000:])
    passed += p_here
    failed += f_here
print(f"{a.suite}: {passed} passed, {failed} failed")
sys.exit(0 if failed == 0 else 1)
