#!/usr/bin/python3
"""Runs every test_*.py here with --build DIR; prints their PASS/FAIL lines
and ends with "health: N passed, N failed"."""
import argparse
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser()
p.add_argument("--build", default=os.path.join(HERE, "..", "..", "..", "build"))
p.add_argument("only", nargs="*", help="test files to run (default: all)")
a = p.parse_args()
passed = failed = 0
files = a.only or sorted(glob.glob(os.path.join(HERE, "test_*.py")))
for f in files:
    try:
        r = subprocess.run([sys.executable, f, "--build", os.path.abspath(a.build)],
                           capture_output=True, text=True, timeout=600)
        out, rc = r.stdout, r.returncode
        err = r.stderr
    except subprocess.TimeoutExpired as e:
        out, rc, err = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), -1, "timeout"
    p_here = sum(1 for l in out.splitlines() if l.startswith("PASS "))
    f_here = sum(1 for l in out.splitlines() if l.startswith("FAIL "))
    sys.stdout.write(out)
    if rc != 0 and f_here == 0:
        f_here = 1
        print(f"FAIL {os.path.basename(f)}: exited {rc}\n{err[-3000:]}")
    elif f_here:
        sys.stdout.write(err[-3000:])
    passed += p_here
    failed += f_here
print(f"ops: {passed} passed, {failed} failed")
sys.exit(0 if failed == 0 else 1)
