"""Shared helpers for the integration suites (health/, ops/).

Each test_*.py file is a script run by run.py with --build DIR; it prints one
line per case, "PASS name" or "FAIL name: why", and cleans up what it started.
"""
import argparse
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

results = {"passed": 0, "failed": 0}


def args():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    a = p.parse_args()
    a.build = os.path.abspath(a.build)
    return a


def check(name, ok, detail=""):
    if ok:
        results["passed"] += 1
        print(f"PASS {name}", flush=True)
    else:
        results["failed"] += 1
        print(f"FAIL {name}: {detail}", flush=True)
    return ok


def done():
    sys.exit(0 if results["failed"] == 0 else 1)


def free_port(kind=socket.SOCK_STREAM, host="127.0.0.1"):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stop_process(proc, timeout=5):
    """SIGTERM, then SIGKILL after `timeout` seconds; returns the exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


# promtool's lint objects to one name that is PyBal's own (a gauge ending in
# _count); Tern keeps it as PyBal spells it (docs/operations.md, "Metrics").
PYBAL_LINT = 'pybal_bgp_session_state_count non-histogram and non-summary metrics should not have "_count" suffix'


def promtool_problems(text):
    """What `promtool check metrics` says of `text`, PyBal's one name aside:
    [] when it parses and lints clean. Parse errors exit 1, lint problems 3."""
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    lines = [x.strip() for x in (r.stdout + r.stderr).splitlines() if x.strip() and x.strip() != PYBAL_LINT]
    if r.returncode not in (0, 3) or (r.returncode == 3 and PYBAL_LINT not in r.stdout + r.stderr):
        lines.append(f"promtool exited {r.returncode}")
    return lines


def config_text(services_yaml):
    """A minimal tern.yaml around `services_yaml` (the list under services:)."""
    return (
        "node: {name: probe, ipv4: 10.0.0.1}\n"
        "ports: [{name: p0, device: net_null0}]\n"
        "services:\n" + services_yaml
    )


def service_yaml(name, port, monitors, servers, vip="192.0.2.1", protocol="tcp"):
    """monitors: YAML text of the monitors map; servers: [(host, ip)]."""
    out = (f"  - name: {name}\n    vip: {vip}\n    port: {port}\n    protocol: {protocol}\n"
           f"    monitors:\n")
    for line in monitors.strip().splitlines():
        out += "      " + line + "\n"
    out += "    realservers:\n"
    for host, ip in servers:
        out += f"      - {{host: {host}, ip: \"{ip}\"}}\n"
    return out


class Probe:
    """tern-health-probe on a config; verdict lines collected as they come."""

    def __init__(self, build, services_yaml, extra_args=()):
        self.dir = tempfile.mkdtemp(prefix="tern-health-")
        self.config = os.path.join(self.dir, "tern.yaml")
        with open(self.config, "w") as f:
            f.write(config_text(services_yaml))
        self.lines = queue.Queue()
        self.seen = []
        self.proc = subprocess.Popen(
            [os.path.join(build, "control", "tern-health-probe"), "--config", self.config, *extra_args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            parts = line.rstrip("\n").split(" ", 5)
            if len(parts) >= 5:
                self.lines.put({"t": float(parts[0]), "service": parts[1], "host": parts[2],
                                "monitor": parts[3], "state": parts[4],
                                "reason": parts[5] if len(parts) > 5 else ""})

    def _read_err(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def wait_for(self, state, timeout, host=None, monitor=None):
        """The next verdict `state` (up/down) for host/monitor within timeout s, or None.
        Verdicts for others, and of the other state, are kept in self.seen."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            try:
                v = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            self.seen.append(v)
            if v["state"] == state and (host is None or v["host"] == host) and \
                    (monitor is None or v["monitor"] == monitor):
                return v

    def verdicts(self, settle=0.0):
        """Every verdict so far (after waiting `settle` seconds)."""
        time.sleep(settle)
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return list(self.seen)

    def stop(self):
        return stop_process(self.proc)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        subprocess.run(["rm", "-rf", self.dir])
