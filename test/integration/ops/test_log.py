#!/usr/bin/python3
"""tern run's log as operators read it: every line on stderr, DPDK's EAL lines
included, starts with an ISO-8601 time and says "error:"/"warning:" outside
journald, and carries its syslog priority (<3>, <4>, <6>) when stderr is
journald's stream (JOURNAL_STREAM names it). Start-up errors (a bad config,
an EAL that cannot start, a port that cannot open) are such lines too, at
priority error, never bare text. Runs tern in a namespace of its own (the
kernel interface tern-p0 lives there)."""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import lib  # noqa: E402

A = lib.args()
PID = os.getpid()
NS = f"tlog{PID}"
TMP = tempfile.mkdtemp(prefix="tern-log-")
TERN = os.path.join(A.build, "tern")
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d tern: "
# Explicit EAL arguments: no hugepages taken from other tests, a file prefix of our own.
EAL = ["--lcores", "(0-1)@(0)", "--no-huge", "-m", "256", "--no-shconf", "--file-prefix", f"tlog{PID}"]


def config(device="net_null0,no-rx=1", extra=""):
    return f"""node: {{name: log{PID}, ipv4: 10.0.0.1}}
ports: [{{name: p0, device: "{device}"}}]
console: {{enabled: false}}
http: {{enabled: false}}
flows: {{size: 4096}}
neighbors: [{{ip: 10.0.0.11, mac: "02:00:00:00:00:11"}}]
services:
  - {{name: web, vip: 192.0.2.1, port: 80, realservers: [{{host: a, ip: 10.0.0.11}}]}}
{extra}"""


def write(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run(cfg, journal, eal=EAL, serve=False):
    """Runs tern run with stderr to a file (named by JOURNAL_STREAM when
    `journal`); with `serve`, until it forwards, then SIGTERM. Returns (status,
    stderr lines, stdout)."""
    err_path = os.path.join(TMP, f"stderr{time.monotonic_ns()}")
    env = dict(os.environ)
    env.pop("JOURNAL_STREAM", None)
    with open(err_path, "w") as err:
        if journal:
            st = os.fstat(err.fileno())
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        p = subprocess.Popen(["ip", "netns", "exec", NS, TERN, "run", "--config", cfg, "--", *eal],
                             stdout=subprocess.PIPE, stderr=err, env=env, text=True)
        out = ""
        if serve:
            end = time.monotonic() + 30
            while time.monotonic() < end and p.poll() is None:
                line = p.stdout.readline()
                out += line
                if "forwarding on" in line:
                    p.send_signal(signal.SIGTERM)
                    break
        try:
            out += p.communicate(timeout=40)[0]
        except subprocess.TimeoutExpired:
            p.kill()
            out += p.communicate()[0]
    return p.returncode, open(err_path).read().splitlines(), out


def all_match(lines, pattern):
    bad = [line for line in lines if not re.match(pattern, line)]
    return not bad and bool(lines), bad


try:
    subprocess.run(["ip", "netns", "add", NS], check=True)
    subprocess.run(["ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up"], check=True)
    good = write("good.yaml", config())

    # A config error: a log line at error, naming the file, line and column.
    bad = write("bad.yaml", config(extra="servics: []\n"))
    rc, lines, _ = run(bad, journal=False)
    lib.check("a bad config stops tern run with status 2", rc == 2, (rc, lines))
    ok, stray = all_match(lines, STAMP)
    lib.check("outside journald every stderr line of a config error starts with the time", ok, stray or lines)
    lib.check("the config error is an error line naming file:line:column",
              any(re.match(STAMP + r"error: " + re.escape(bad) + r":\d+:\d+: servics", x) for x in lines), lines)
    rc, lines, _ = run(bad, journal=True)
    lib.check("under journald the config error carries priority <3>",
              rc == 2 and any(re.match(r"<3>" + re.escape(bad) + r":\d+:\d+: servics", x) for x in lines), lines)
    ok, stray = all_match(lines, r"<\d>")
    lib.check("under journald every stderr line carries a priority", ok, stray or lines)

    # A run that starts and stops: the EAL's lines are tern's lines.
    rc, lines, out = run(good, journal=False, serve=True)
    lib.check("tern run starts and stops with status 0", rc == 0 and "forwarding on" in out, (rc, out, lines[-10:]))
    ok, stray = all_match(lines, STAMP)
    lib.check("every stderr line of a run starts with the time, the EAL's too", ok, stray)
    eal = [x for x in lines if re.match(STAMP + r"EAL: ", x)]
    lib.check("the EAL's own lines are in the log, time-stamped", len(eal) > 0, lines[:20])
    rc, lines, out = run(good, journal=True, serve=True)
    ok, stray = all_match(lines, r"<[3467]>")
    lib.check("under journald every stderr line of a run carries a priority", rc == 0 and ok, (rc, stray))
    lib.check("under journald the EAL's info lines carry <6>", any(x.startswith("<6>EAL: ") for x in lines), lines[:20])
    lib.check("under journald tern's own lines carry <6>", any(x.startswith("<6>") and "EAL" not in x for x in lines),
              lines)

    # The EAL cannot start (an EAL argument it rejects): the EAL's error and
    # tern's are log lines at error.
    rc, lines, _ = run(good, journal=False, eal=EAL + ["--lcores", "(0-1)@(4096)"])
    lib.check("an EAL that cannot start stops tern run with status 1", rc == 1, (rc, lines))
    lib.check("tern's EAL failure is an error line",
              any(re.match(STAMP + r"error: EAL initialisation failed", x) for x in lines), lines)
    lib.check("the EAL's own error is an error line", any(re.match(STAMP + r"error: EAL: ", x) for x in lines), lines)
    rc, lines, _ = run(good, journal=True, eal=EAL + ["--lcores", "(0-1)@(4096)"])
    lib.check("under journald the EAL failure carries <3>", rc == 1 and
              any(x.startswith("<3>EAL initialisation failed") for x in lines) and
              any(x.startswith("<3>EAL: ") for x in lines), lines)

    # A vdev no PMD provides: the EAL cannot start, and says why at error.
    rc, lines, _ = run(write("nopmd.yaml", config(device="net_nosuchpmd0")), journal=True)
    lib.check("a device the EAL cannot parse stops tern run with status 1, the EAL's reason at <3>",
              rc == 1 and any(x.startswith("<3>EAL: ") and "net_nosuchpmd0" in x for x in lines), (rc, lines))
    # A PCI port that is not there: the EAL starts, the port cannot open.
    rc, lines, _ = run(write("noport.yaml", config(device="0000:ff:1f.7")), journal=False)
    ok, stray = all_match(lines, STAMP)
    lib.check("a port that cannot open stops tern run with status 1, as a time-stamped error line",
              rc == 1 and ok and any(re.match(STAMP + r"error: ports\[0\] p0: 0000:ff:1f.7: ", x) for x in lines),
              (rc, stray or lines))
finally:
    subprocess.run(["ip", "netns", "delete", NS], capture_output=True)
    subprocess.run(["rm", "-rf", TMP])
lib.done()
