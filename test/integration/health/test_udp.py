#!/usr/bin/python3
"""UDP against loopback: nothing listening is down (ICMP port unreachable);
a listener is up; closing it is down; reopening it is up only once
icmp-timeout has passed without an ICMP unreachable."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

A = lib.args()
closed = lib.free_port(socket.SOCK_DGRAM)
listening = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
listening.bind(("127.0.0.1", 0))
open_port = listening.getsockname()[1]
mon = "UDP: {interval: 0.2, icmp-timeout: 1}"
yaml = (lib.service_yaml("closed", closed, mon, [("h", "127.0.0.1")], protocol="udp") +
        lib.service_yaml("open", open_port, mon, [("h", "127.0.0.1")], protocol="udp"))
with lib.Probe(A.build, yaml) as p:
    time.sleep(1.5)
    seen = p.verdicts()
    by = {}
    for x in seen:
        by.setdefault(x["service"], []).append(x["state"])
    lib.check("nothing listening: down (ICMP port unreachable), never up", by.get("closed") == ["down"], seen)
    lib.check("a listener: up", by.get("open") == ["up"], seen)
    listening.close()
    d = p.wait_for("down", 3)
    lib.check("the listener closed: down", d is not None and d["service"] == "open", p.verdicts())
    again = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    again.bind(("127.0.0.1", open_port))
    t0 = time.monotonic()
    u = p.wait_for("up", 5)
    waited = time.monotonic() - t0
    lib.check("reopened: up only after icmp-timeout without ICMP", u is not None and u["service"] == "open"
              and waited >= 0.8, (u, waited))
    again.close()
    lib.check("the probe stops cleanly", p.stop() == 0, "".join(p.stderr)[-2000:])
lib.done()
