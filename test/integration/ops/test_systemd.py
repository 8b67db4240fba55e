#!/usr/bin/python3
"""`tern run` speaks systemd's notify protocol (sd_notify(3)) to a unix
datagram socket this test listens on, as systemd would with Type=notify and
WatchdogSec: READY=1 with a STATUS once forwarding (no BGP here), WATCHDOG=1
every half WATCHDOG_USEC, none while a worker lcore is stalled (the console's
`debug stall`) and again once it moves, RELOADING=1 then READY=1 around a
SIGHUP, STOPPING=1 on SIGTERM; with a BGP peer down, READY after 10 s. The
log outside journald has timestamps."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import lib  # noqa: E402

A = lib.args()
PID = os.getpid()
NS = f"tsd{PID}"
TMP = tempfile.mkdtemp(prefix="tern-sd-")
TERN = os.path.join(A.build, "tern")
SOCK = os.path.join(TMP, "tern.sock")
NOTIFY = os.path.join(TMP, "notify.sock")
CFG = os.path.join(TMP, "tern.yaml")
WATCHDOG_USEC = 1000000
with open(CFG, "w") as f:
    f.write(f"""node: {{name: sd, ipv4: 10.0.0.1}}
ports: [{{name: p0, device: "net_null0,no-rx=1"}}]
console: {{socket: {SOCK}}}
http: {{enabled: false}}
neighbors: [{{ip: 10.0.0.11, mac: "02:00:00:00:00:11"}}]
services:
  - {{name: web, vip: 192.0.2.1, port: 80, realservers: [{{host: a, ip: 10.0.0.11}}]}}
""")


def sh(*cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


notes = []  # (time, message)
listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
listener.bind(NOTIFY)
listener.settimeout(0.2)
stop_listening = threading.Event()


def listen():
    while not stop_listening.is_set():
        try:
            msg = listener.recv(4096).decode()
        except socket.timeout:
            continue
        notes.append((time.time(), msg))


def notes_with(key, since=0.0):
    return [(t, m) for t, m in list(notes) if t >= since and key in m.split("\n")]


def wait_note(key, timeout, since=0.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = notes_with(key, since)
        if got:
            return got[0]
        time.sleep(0.05)
    return None


def pings(since, until):
    return [t for t, m in list(notes) if since <= t < until and "WATCHDOG=1" in m.split("\n")]


threading.Thread(target=listen, daemon=True).start()
tern = None
log = []
try:
    sh("ip", "netns", "add", NS, check=True)
    sh("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up", check=True)
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    env = dict(os.environ, NOTIFY_SOCKET=NOTIFY, WATCHDOG_USEC=str(WATCHDOG_USEC))
    env.pop("JOURNAL_STREAM", None)
    # WATCHDOG_PID: tern's own PID, as systemd sets it (ip netns exec execs in place).
    cmd = ["ip", "netns", "exec", NS, TERN, "run", "--config", CFG, "--", "--no-huge", "-m", "512", "--no-shconf",
           "--no-telemetry", "--lcores", f"(0-1)@({cpus})", "--file-prefix", f"tern-sd-{PID}"]
    tern = subprocess.Popen(["sh", "-c", 'WATCHDOG_PID=$$ exec "$@"', "sh", *cmd], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    threading.Thread(target=lambda: [log.append(l.rstrip()) for l in tern.stdout], daemon=True).start()

    ready = wait_note("READY=1", 30)
    lib.check("READY=1 once forwarding, with a STATUS line",
              ready is not None and "STATUS=forwarding on p0 (1 worker lcore); 1 services" in ready[1],
              f"{notes}\n" + "\n".join(log))
    if ready is None:
        raise SystemExit
    stamped = [l for l in log if " tern: " in l]
    lib.check("outside journald each log line starts with an ISO-8601 time",
              stamped and all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d tern: ", l) for l in stamped),
              "\n".join(log))
    time.sleep(2.2)
    t0 = time.time()
    got = pings(t0 - 2.0, t0)
    lib.check("WATCHDOG=1 every half WATCHDOG_USEC (1 s: 3 or more in 2 s)", 3 <= len(got) <= 6, got)

    out = sh(TERN, "console", "--socket", SOCK, input="debug stall lcore 7 2\nquit\n", timeout=20).stdout
    lib.check("debug stall names a missing lcore", "no worker lcore 7" in out, out)
    # The stall starts between t_asked and t_said and lasts 3 s; a ping may
    # follow its start by up to one period and a control loop (0.6 s).
    t_asked = time.time()
    out = sh(TERN, "console", "--socket", SOCK, input="debug stall lcore 1 3\nquit\n", timeout=20).stdout
    t_stall = time.time()
    lib.check("debug stall lcore 1 3: the console says so", "lcore 1 stalls for 3 s" in out, out)
    time.sleep(4.5)
    during = pings(t_stall + 0.8, t_asked + 2.9)
    lib.check("no WATCHDOG=1 while the lcore is stalled", t_stall - t_asked < 1.5 and not during,
              f"{during} (stall from {t_asked}..{t_stall})\n" + "\n".join(log[-10:]))
    lib.check("the log names the stalled lcore", any("watchdog: worker lcore 1 made no progress" in l for l in log),
              "\n".join(log[-10:]))
    after = pings(t_stall + 3.4, t_stall + 4.5)
    lib.check("WATCHDOG=1 again once it moves, and the log says so",
              len(after) >= 1 and any("lcore 1 makes progress again" in l for l in log), f"{after}\n" + "\n".join(log[-10:]))

    t_hup = time.time()
    tern.send_signal(signal.SIGHUP)
    reloading = wait_note("RELOADING=1", 5, t_hup)
    ready2 = wait_note("READY=1", 5, t_hup)
    lib.check("SIGHUP: RELOADING=1, then READY=1", reloading is not None and ready2 is not None and
              reloading[0] <= ready2[0], f"{notes[-6:]}")

    t_term = time.time()
    tern.send_signal(signal.SIGTERM)
    stopping = wait_note("STOPPING=1", 5, t_term)
    rc = tern.wait(timeout=30)
    lib.check("SIGTERM: STOPPING=1, then exit 0", stopping is not None and rc == 0, f"{rc} {notes[-4:]}")
    tern = None

    # With a BGP peer that never answers, READY waits 10 s (kBgpReadyWait) and says why.
    with open(CFG, "a") as f:
        f.write("bgp: {local_asn: 64600, listen: false, drain_time: 0, peers: [{address: 10.0.0.99, asn: 65000}]}\n")
    log.clear()
    t_start = time.time()
    tern = subprocess.Popen(["sh", "-c", 'WATCHDOG_PID=$$ exec "$@"', "sh", *cmd], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    threading.Thread(target=lambda: [log.append(l.rstrip()) for l in tern.stdout], daemon=True).start()
    end = time.monotonic() + 30
    while time.monotonic() < end and not any("forwarding on" in l for l in log):
        time.sleep(0.05)
    t_fwd = time.time()
    ready = wait_note("READY=1", 30, t_start)
    # The serving loop's first turn sends the first WATCHDOG=1: READY's
    # 10 s count from there (kBgpReadyWait).
    first = wait_note("WATCHDOG=1", 1, t_start)
    serving = first[0] if first else None
    lib.check("a BGP peer down: READY=1 10 s after serving began, the STATUS saying so",
              ready is not None and serving is not None and 9.9 <= ready[0] - serving < 11 and
              "0 of 1 BGP sessions established after 10 s" in ready[1],
              f"{ready} serving from {serving}, forwarding at {t_fwd}\n" + "\n".join(log))
    lib.check("... and serving began right after forwarding", serving is not None and serving - t_fwd < 8,
              f"serving from {serving}, forwarding at {t_fwd}\n" + "\n".join(log))
    tern.send_signal(signal.SIGTERM)
    lib.check("... and it stops at once with drain_time 0", tern.wait(timeout=10) == 0, "\n".join(log[-10:]))
    tern = None
finally:
    stop_listening.set()
    if tern is not None and tern.poll() is None:
        tern.kill()
        tern.wait()
    sh("ip", "netns", "del", NS)
    shutil.rmtree(TMP, ignore_errors=True)
lib.done()
