#!/usr/bin/python3
"""rise and fall, timed: a RunCommand monitor whose command reads its answer
from a file and writes down each run. After its first verdict (at once,
whatever rise says) a server goes down after exactly `fall` failed checks in a
row and up after exactly `rise` good ones, one interval apart; a shorter run
of the other answer changes nothing."""
import os
import tempfile
import time

from lib import Probe, args, check, done, service_yaml

INTERVAL = 0.5
RISE, FALL = 3, 2

a = args()
work = tempfile.mkdtemp(prefix="tern-risefall-")
os.chmod(work, 0o1777)  # the command runs as nobody and writes its runs here
state = os.path.join(work, "state")
runs = os.path.join(work, "runs")
cmd = os.path.join(work, "check.sh")
with open(cmd, "w") as f:
    f.write(f'#!/bin/sh\ns=$(cat {state})\necho "$s" >> {runs}\n[ "$s" = up ]\n')
os.chmod(cmd, 0o755)


def answer(s):
    with open(state + ".new", "w") as f:
        f.write(s + "\n")
    os.replace(state + ".new", state)


def run_log():
    try:
        with open(runs) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def wait_runs(n, timeout):
    """Waits until the command has run `n` times in all; the log then."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and len(run_log()) < n:
        time.sleep(0.02)
    return run_log()


monitor = (f"RunCommand: {{command: \"{cmd}\", interval: {INTERVAL}, timeout: 5, log-output: false, "
           f"rise: {RISE}, fall: {FALL}}}")
answer("up")
try:
    with Probe(a.build, service_yaml("svc", 80, monitor, [("h1", "127.0.0.1")])) as p:
        v = p.wait_for("up", 5)
        check("rise_fall_first_verdict_at_once", v is not None and len(run_log()) == 1 and
              INTERVAL * 0.8 <= v["t"] < INTERVAL + 1, f"{v} runs {run_log()}")

        # fall: the verdict comes with the FALL-th failed run, not before.
        n = len(wait_runs(1, 5))
        answer("down")
        t0 = time.monotonic()
        v = p.wait_for("down", FALL * INTERVAL + 3)
        took = time.monotonic() - t0
        after = run_log()[n:]
        check("fall_after_exactly_fall_failures", v is not None and after == ["down"] * FALL,
              f"verdict {v}, runs since the flip {after}")
        check("fall_timed_by_the_interval", v is not None and
              (FALL - 1) * INTERVAL * 0.9 <= took < FALL * INTERVAL + 0.5, f"{took:.2f} s")

        # rise: RISE good runs in a row, one interval apart.
        n = len(run_log())
        answer("up")
        t0 = time.monotonic()
        v = p.wait_for("up", RISE * INTERVAL + 3)
        up_at = v["t"] if v else 0
        took = time.monotonic() - t0
        after = run_log()[n:]
        check("rise_after_exactly_rise_successes", v is not None and after == ["up"] * RISE,
              f"verdict {v}, runs since the flip {after}")
        check("rise_timed_by_the_interval", v is not None and
              (RISE - 1) * INTERVAL * 0.9 <= took < RISE * INTERVAL + 0.5, f"{took:.2f} s")

        # A failure fewer than `fall`, then good again: still up.
        n = len(run_log())
        answer("down")
        wait_runs(n + FALL - 1, 3)
        answer("up")
        wait_runs(n + FALL + 2, 5)
        vs = [x for x in p.verdicts() if x["state"] == "down" and x["t"] > up_at]
        check("fewer_than_fall_failures_keep_it_up", run_log()[n:n + FALL - 1] == ["down"] * (FALL - 1) and not vs,
              f"runs {run_log()[n:]}, down verdicts {vs}")

        # Down again, then fewer than `rise` good runs: still down.
        answer("down")
        v = p.wait_for("down", FALL * INTERVAL + 3)
        n = len(run_log())
        answer("up")
        wait_runs(n + RISE - 1, 3)
        answer("down")
        wait_runs(n + RISE + 1, 5)
        ups = [x for x in p.verdicts() if x["state"] == "up" and v is not None and x["t"] > v["t"]]
        check("fewer_than_rise_successes_keep_it_down",
              v is not None and run_log()[n:n + RISE - 1] == ["up"] * (RISE - 1) and not ups,
              f"runs {run_log()[n:]}, up verdicts after the down {ups}")
finally:
    os.system(f"rm -rf {work}")
done()
