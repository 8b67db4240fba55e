#!/usr/bin/python3
"""IdleConnection against TCP servers on loopback: held connections, clean
closes with and without a working fast reconnect, resets, refused connects and
the back-off that brings the server back, keepalive options, IPv6."""
import re
import socket
import subprocess
import time

import lib

a = lib.args()


class Server:
    """A TCP listener; the test accepts by hand, so unaccepted connections
    stay in the kernel's queue."""

    def __init__(self, host="127.0.0.1", port=0, backlog=16):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.others = []  # client sockets the test made itself

    def accept(self, timeout):
        self.sock.settimeout(timeout)
        try:
            c, _ = self.sock.accept()
        except (socket.timeout, OSError):
            return None
        self.conns.append(c)
        return c

    def stop_listening(self):
        self.sock.close()

    def close(self):
        for s in [self.sock, *self.conns, *self.others]:
            try:
                s.close()
            except OSError:
                pass


def exits_cleanly(probe, name):
    """Stops the probe: it must exit 0 with no sanitizer report (CI runs ASan+UBSan)."""
    rc = probe.stop()
    time.sleep(0.1)  # the stderr reader's last lines
    bad = [l for l in probe.stderr if "Sanitizer" in l or "runtime error" in l]
    lib.check(f"{name}: probe exits cleanly", rc == 0 and not bad, f"exit {rc}; {''.join(probe.stderr[-20:])}")


def idle_yaml(name, port, ip="127.0.0.1", options="max-delay: 1", vip="192.0.2.1"):
    return lib.service_yaml(name, port, f"IdleConnection: {{{options}}}", [("rs", ip)], vip=vip)


def reset(conn):
    """Closes with an RST instead of a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()


def downs(probe, settle):
    return [v for v in probe.verdicts(settle) if v["state"] == "down"]


def keepalive_timer(server_port):
    """Seconds left on the keepalive timer of the probe's connection to
    server_port, None when it has no keepalive timer, or a string on error."""
    try:
        out = subprocess.run(["ss", "-tnoH", "state", "established", f"( dport = :{server_port} )"],
                             capture_output=True, text=True, timeout=10).stdout
    except FileNotFoundError:
        return "ss (iproute2) is not installed; the keepalive case needs it"
    m = re.search(r"timer:\(keepalive,([^,]*),", out)
    if not m:
        return None if out.strip() else f"no connection to port {server_port} in: {out!r}"
    # ss writes 1min30sec, 6.696ms (6 s 696 ms), 7sec, 250ms.
    t = re.fullmatch(r"(?:(\d+)min)?(?:(\d+)(?:sec|\.))?(?:(\d+)ms)?", m.group(1))
    if not t:
        return f"unknown ss timer {m.group(1)!r}"
    return int(t.group(1) or 0) * 60 + int(t.group(2) or 0) + int(t.group(3) or 0) / 1000


def case_hold(host, vip):
    name = f"hold {host}"
    srv = Server(host)
    try:
        with lib.Probe(a.build, idle_yaml("hold", srv.port, host, vip=vip)) as p:
            up = p.wait_for("up", 5)
            lib.check(f"{name}: up once connected", up is not None and srv.accept(2) is not None,
                      f"verdicts {p.seen}; stderr {p.stderr}")
            lib.check(f"{name}: stays up on one idle connection",
                      not downs(p, 2.5) and srv.accept(0.1) is None, f"verdicts {p.seen}; {len(srv.conns)} connections")
            exits_cleanly(p, name)
    finally:
        srv.close()


def case_keepalive():
    srv = Server()
    try:
        with lib.Probe(a.build, idle_yaml("ka", srv.port, options="keepalive-idle: 7, keepalive-interval: 2")):
            c = srv.accept(5)
            time.sleep(0.3)
            t = keepalive_timer(srv.port)
            lib.check("keepalive: timer set from keepalive-idle", c is not None and isinstance(t, float) and 5 < t <= 7,
                      f"timer {t!r}")
    finally:
        srv.close()
    srv = Server()
    try:
        with lib.Probe(a.build, idle_yaml("noka", srv.port, options="keepalive: false")):
            c = srv.accept(5)
            time.sleep(0.3)
            t = keepalive_timer(srv.port)
            lib.check("keepalive: false sets none", c is not None and t is None, f"timer {t!r}")
    finally:
        srv.close()


def case_clean_close_reconnects():
    srv = Server()
    try:
        with lib.Probe(a.build, idle_yaml("clean", srv.port, options="max-delay: 1, timeout-clean-reconnect: 1")) as p:
            first = srv.accept(5)
            up = p.wait_for("up", 5)
            if first is not None:
                first.close()  # FIN
            second = srv.accept(2)
            lib.check("clean close: reconnects at once", up is not None and second is not None,
                      f"verdicts {p.seen}; stderr {p.stderr}")
            lib.check("clean close: no down verdict", not downs(p, 2.5), f"verdicts {p.seen}")
            exits_cleanly(p, "clean close")
    finally:
        srv.close()


def case_clean_close_refused():
    srv = Server()
    try:
        with lib.Probe(a.build, idle_yaml("gone", srv.port, options="max-delay: 1, timeout-clean-reconnect: 2")) as p:
            conn = srv.accept(5)
            up = p.wait_for("up", 5)
            srv.stop_listening()
            t0 = time.monotonic()
            if conn is not None:
                conn.close()
            down = p.wait_for("down", 4)
            dt = time.monotonic() - t0
            lib.check("clean close, then refused: down at once",
                      up is not None and down is not None and dt < 1.5 and
                      down["reason"] == "clean close, reconnect failed: Connection refused",
                      f"after {dt:.2f} s; verdicts {p.seen}")
    finally:
        srv.close()


def case_clean_close_unanswered():
    # A full accept queue (backlog 0, one connection waiting) makes the
    # kernel drop the reconnect's SYN: the fast reconnect times out.
    srv = Server(backlog=0)
    try:
        with lib.Probe(a.build, idle_yaml("silent", srv.port,
                                          options="max-delay: 1, timeout-clean-reconnect: 1.5")) as p:
            conn = srv.accept(5)
            up = p.wait_for("up", 5)
            for _ in range(3):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", srv.port))
                srv.others.append(s)
            time.sleep(0.3)
            t0 = time.monotonic()
            if conn is not None:
                conn.close()
            down = p.wait_for("down", 5)
            dt = time.monotonic() - t0
            lib.check("clean close, reconnect unanswered: down after timeout-clean-reconnect",
                      up is not None and down is not None and 1.3 <= dt <= 2.5 and
                      down["reason"].startswith("clean close, reconnect failed: no answer within 1.5 s"),
                      f"after {dt:.2f} s; verdicts {p.seen}")
            time.sleep(1.6)  # the retry (max-delay 1 s) is now waiting for its SYN's answer
            exits_cleanly(p, "clean close, reconnect unanswered (stopped while connecting)")
    finally:
        srv.close()


def case_reset():
    srv = Server()
    try:
        with lib.Probe(a.build, idle_yaml("reset", srv.port)) as p:
            conn = srv.accept(5)
            up = p.wait_for("up", 5)
            t0 = time.monotonic()
            if conn is not None:
                reset(conn)
            down = p.wait_for("down", 3)
            dt = time.monotonic() - t0
            lib.check("reset: down at once", up is not None and down is not None and dt < 0.5 and
                      down["reason"] == "Connection reset by peer", f"after {dt:.2f} s; verdicts {p.seen}")
            # Still listening: the back-off (max-delay 1 s) brings it back.
            again = p.wait_for("up", 3)
            lib.check("reset: up again after the back-off", again is not None and srv.accept(1) is not None,
                      f"verdicts {p.seen}")
            exits_cleanly(p, "reset")
    finally:
        srv.close()


def case_refused_then_listening():
    port = lib.free_port()
    srv = None
    try:
        with lib.Probe(a.build, idle_yaml("refused", port)) as p:
            down = p.wait_for("down", 3)
            lib.check("refused: down", down is not None and down["reason"] == "Connection refused",
                      f"verdicts {p.seen}; stderr {p.stderr}")
            p.verdicts(1.5)  # a few refused retries
            srv = Server(port=port)
            t0 = time.monotonic()
            up = p.wait_for("up", 4)
            dt = time.monotonic() - t0
            lib.check("refused: up once listening, within the capped back-off",
                      up is not None and dt < 2 and srv.accept(1) is not None, f"after {dt:.2f} s; verdicts {p.seen}")
            lib.check("refused: one down verdict for the refused retries",
                      sum(1 for v in p.seen if v["state"] == "down") == 1, f"verdicts {p.seen}")
    finally:
        if srv:
            srv.close()


def case_backoff_grows():
    # max-delay 300: the first retry comes after about e s (1.7..3.7 with
    # the jitter), the next e^2 s later: two attempts in 5 s, not five.
    port = lib.free_port()
    with lib.Probe(a.build, idle_yaml("backoff", port, options="max-delay: 300")) as p:
        t0 = time.monotonic()
        p.wait_for("down", 3)
        time.sleep(5)
        hits = [l for l in p.stderr if "failed: Connection refused" in l]
    lib.check("back-off: retries slow down by e", len(hits) == 2,
              f"{len(hits)} attempts in {time.monotonic() - t0:.1f} s: {hits}")


case_hold("127.0.0.1", "192.0.2.1")
case_hold("::1", "2001:db8::1")
case_keepalive()
case_clean_close_reconnects()
case_clean_close_refused()
case_clean_close_unanswered()
case_reset()
case_refused_then_listening()
case_backoff_grows()
lib.done()
