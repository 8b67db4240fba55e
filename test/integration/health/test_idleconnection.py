#!/usr/bin/python3
"""IdleConnection against Python servers on loopback: one that holds the
connection (up, stays up), one that closes cleanly once and keeps listening
(the fast reconnect keeps it up), one that closes cleanly and stops listening
(down within timeout-clean-reconnect), one that resets (down at once), a
closed port (down) that starts listening later (up again after the back-off)."""
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

A = lib.args()


class Server:
    """A listener on 127.0.0.1 whose behaviour per accepted connection is `mode`:
    hold | close_once (FIN the first connection, hold the rest) | close_and_stop | reset."""

    def __init__(self, mode, port=0):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.accepted = 0
        self.stopped = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.mode == "reset":
                time.sleep(0.3)
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()
            elif self.mode == "close_once" and self.accepted == 1:
                time.sleep(0.3)
                c.close()
            elif self.mode == "close_and_stop":
                time.sleep(0.3)
                self.stop()
                c.close()
                return
            else:
                self.conns.append(c)

    def stop(self):
        self.stopped = True
        try:
            self.sock.close()
        except OSError:
            pass

    def close_all(self):
        self.stop()
        for c in self.conns:
            c.close()


servers = {m: Server(m) for m in ("hold", "close_once", "close_and_stop", "reset")}
closed_port = lib.free_port()
mon = "IdleConnection: {timeout-clean-reconnect: 1, max-delay: 1}"
yaml = ""
for m, s in servers.items():
    yaml += lib.service_yaml(m.replace("_", "-"), s.port, mon, [("h", "127.0.0.1")])
yaml += lib.service_yaml("later", closed_port, mon, [("h", "127.0.0.1")])

try:
    with lib.Probe(A.build, yaml) as p:
        t0 = time.monotonic()
        v = {}
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            x = p.wait_for("down", 0.2) or None
        seen = p.verdicts(0.5)
        by = {}
        for x in seen:
            by.setdefault(x["service"], []).append(x)
        lib.check("held connection: up, and stays up", [x["state"] for x in by.get("hold", [])] == ["up"],
                  by.get("hold"))
        lib.check("clean close with a listening server: the fast reconnect keeps it up",
                  [x["state"] for x in by.get("close-once", [])] == ["up"] and servers["close_once"].accepted >= 2,
                  (by.get("close-once"), servers["close_once"].accepted))
        cs = by.get("close-and-stop", [])
        lib.check("clean close, then nothing listens: down after the fast reconnect fails",
                  [x["state"] for x in cs][:2] == ["up", "down"] and "reconnect" in cs[1]["reason"], cs)
        rs = by.get("reset", [])
        lib.check("a reset is down at once", [x["state"] for x in rs][:2] == ["up", "down"]
                  and rs[1]["t"] - rs[0]["t"] < 0.9, rs)
        ls = by.get("later", [])
        lib.check("a closed port is down", ls and ls[0]["state"] == "down" and "refused" in ls[0]["reason"].lower(), ls)
        late = Server("hold", closed_port)
        up = p.wait_for("up", 5, monitor="IdleConnection", host="h")
        while up and up["service"] != "later":
            up = p.wait_for("up", 5)
        lib.check("it comes back up once the port listens (back-off capped by max-delay)", up is not None, p.verdicts())
        late.close_all()
        rc = p.stop()
        lib.check("the probe stops cleanly", rc == 0, "".join(p.stderr)[-2000:])
finally:
    for s in servers.values():
        s.close_all()
lib.done()
