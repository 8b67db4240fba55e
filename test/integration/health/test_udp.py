#!/usr/bin/python3
"""UDP against loopback ports: nothing listening (the kernel answers ICMP port
unreachable) is down, a listener is up, and after the listener comes back the
server is up only once icmp-timeout passed without an unreachable."""
import socket
import threading
import time

import lib

a = lib.args()
INTERVAL, ICMP_TIMEOUT = 0.2, 1.0


class Listener:
    """A UDP socket counting the datagrams it gets (and their lengths);
    `echo` answers each, which the monitor must ignore."""

    def __init__(self, host, port, echo=False):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.05)
        self.echo = echo
        self.lengths = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping.is_set():
            try:
                data, peer = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            self.lengths.append(len(data))
            if self.echo:
                self.sock.sendto(b"pong" * 100, peer)

    def close(self):
        self.stopping.set()
        self.thread.join(2)
        self.sock.close()


def exits_cleanly(probe, name):
    """Stops the probe: it must exit 0 with no sanitizer report (CI runs ASan+UBSan)."""
    rc = probe.stop()
    time.sleep(0.1)  # the stderr reader's last lines
    bad = [l for l in probe.stderr if "Sanitizer" in l or "runtime error" in l]
    lib.check(f"{name}: probe exits cleanly", rc == 0 and not bad, f"exit {rc}; {''.join(probe.stderr[-20:])}")


def udp_yaml(name, port, ip, vip):
    return lib.service_yaml(name, port, f"UDP: {{interval: {INTERVAL}, icmp-timeout: {ICMP_TIMEOUT}}}",
                            [("rs", ip)], vip=vip, protocol="udp")


def case_cycle(host, vip, echo):
    """closed → down; listening → up after icmp-timeout; closed → down; reopened → up again."""
    tag = f"{host}"
    port = lib.free_port(socket.SOCK_DGRAM, host)
    listener = None
    try:
        with lib.Probe(a.build, udp_yaml("cycle", port, host, vip)) as p:
            down = p.wait_for("down", 3)
            lib.check(f"{tag} nothing listening: first verdict down",
                      down is not None and p.seen[0]["state"] == "down" and "Connection refused" in down["reason"],
                      f"verdicts {p.seen}; stderr {p.stderr[-5:]}")

            listener = Listener(host, port, echo)
            t0 = time.monotonic()
            up = p.wait_for("up", 4)
            dt = time.monotonic() - t0
            # The last unreachable came at most one interval before the
            # listener: up after icmp-timeout, give or take an interval.
            lib.check(f"{tag} listening: up only after icmp-timeout without ICMP",
                      up is not None and ICMP_TIMEOUT - 2 * INTERVAL <= dt <= ICMP_TIMEOUT + 4 * INTERVAL,
                      f"after {dt:.2f} s; verdicts {p.seen}")
            seen = len(p.seen)
            later = p.verdicts(1.5)[seen:]
            lib.check(f"{tag} listening: stays up{' despite replies' if echo else ''}", not later,
                      f"verdicts {p.seen}")
            lengths = list(listener.lengths)
            lib.check(f"{tag} listening: gets an empty datagram each interval",
                      len(lengths) >= 10 and set(lengths) == {0}, f"lengths {lengths}")

            listener.close()
            listener = None
            t0 = time.monotonic()
            down = p.wait_for("down", 2)
            dt = time.monotonic() - t0
            lib.check(f"{tag} listener closed: down within an interval or so",
                      down is not None and dt <= 3 * INTERVAL + 0.2, f"after {dt:.2f} s; verdicts {p.seen}")

            time.sleep(0.5)
            listener = Listener(host, port, echo)
            t0 = time.monotonic()
            early = p.wait_for("up", ICMP_TIMEOUT - 2 * INTERVAL - 0.05)
            up = early or p.wait_for("up", 3)
            dt = time.monotonic() - t0
            lib.check(f"{tag} reopened: up again only after icmp-timeout",
                      early is None and up is not None and dt <= ICMP_TIMEOUT + 4 * INTERVAL,
                      f"after {dt:.2f} s; verdicts {p.seen}")
            exits_cleanly(p, tag)
    finally:
        if listener:
            listener.close()


def case_listening_from_start():
    port = lib.free_port(socket.SOCK_DGRAM)
    listener = Listener("127.0.0.1", port)
    try:
        with lib.Probe(a.build, udp_yaml("ready", port, "127.0.0.1", "192.0.2.1")) as p:
            up = p.wait_for("up", 3)
            # The first verdict comes at the first check, an interval after start.
            lib.check("listening from the start: first verdict up at the first check",
                      up is not None and p.seen[0]["state"] == "up" and INTERVAL - 0.05 <= up["t"] < INTERVAL + 0.5,
                      f"verdicts {p.seen}; stderr {p.stderr[-5:]}")
            exits_cleanly(p, "listening from the start")
    finally:
        listener.close()


case_listening_from_start()
case_cycle("127.0.0.1", "192.0.2.1", echo=True)
case_cycle("::1", "2001:db8::1", echo=False)
lib.done()
