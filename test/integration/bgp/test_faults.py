#!/usr/bin/python3
"""BGP faults: what tern's speaker does when a peer misbehaves or restarts.

Part 1, fake peers (no router): tern-bgp-speak on loopback with two peers, both
Python. The "good" peer (127.0.0.2) completes OPEN and keeps the session up;
the "bad" one (127.0.0.N, one address per case) sends one malformed thing per
case (RFC 4271 section 6, RFC 7606). Each case checks the NOTIFICATION tern
sends back (code, subcode, data), that tern closes and connects again within
the backoff bound, announces its routes again, and that the good peer's session
was never disturbed. Each case runs its own speaker (a fresh backoff count).

Part 2, in interop.py's network namespaces: BIRD and GoBGP killed hard and
stopped with a Cease, restarted; BIRD flapping (with the connect-retry backoff
seen in tern's log); BIRD back with another hold time and without the 4-octet
AS capability; under `tern run`, BIRD restarted with show bgp and /metrics
counting the flap while the dataplane keeps running, and a peer that stops
reading while the HTTP API keeps answering.

Usage: test_faults.py [--build DIR] [-k TEXT]. Part 2 needs root and bird2.
Last line: "bgp-faults: N passed, N failed"."""

import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import interop  # noqa: E402 - the namespaces, BIRD and tern run helpers

Fail = interop.Fail
expect = interop.expect
wait_for = interop.wait_for

HOLD = 3      # tern's proposed hold time in part 1 (so OpenSent hold is 3 s too)
RETRY = 1     # connect_retry: the first failure waits 1 s
GOOD = "127.0.0.2"
OUR_ID = "127.0.0.1"  # tern's router id (node.ipv4)
V4S = [f"198.51.100.{i}" for i in range(10, 20)]
# Enough IPv6 VIPs that the announcement (about 70 kB) overflows the socket
# buffers of a peer that does not read.
V6S = [f"2001:db8:100::{i:x}" for i in range(1, 4001)]

# ---- BGP bytes ------------------------------------------------------------


def msg(mtype, body=b"", length=None, marker=b"\xff" * 16):
    n = 19 + len(body) if length is None else length
    return marker + struct.pack("!HB", n, mtype) + body


def open_msg(asn=65000, hold=9, rid="10.0.0.9", version=4, as4=True, mp6=True):
    caps = b"\x01\x04\x00\x01\x00\x01"  # IPv4 unicast
    if mp6:
        caps += b"\x01\x04\x00\x02\x00\x01"
    if as4:
        caps += b"\x41\x04" + struct.pack("!I", asn)
    params = b"\x02" + bytes([len(caps)]) + caps
    my_as = asn if asn < 65536 else 23456
    return msg(1, struct.pack("!BHH4sB", version, my_as, hold, socket.inet_aton(rid), len(params)) + params)


KEEPALIVE = msg(4)


def notification(code, sub, data=b""):
    return msg(3, bytes([code, sub]) + data)


def update(withdrawn=b"", attrs=b"", nlri=b"", wlen=None):
    w = struct.pack("!H", len(withdrawn) if wlen is None else wlen)
    return msg(2, w + withdrawn + struct.pack("!H", len(attrs)) + attrs + nlri)


def attr(flags, atype, value):
    return bytes([flags, atype, len(value)]) + value


ORIGIN = attr(0x40, 1, b"\x00")
AS_PATH = attr(0x40, 2, b"\x02\x01" + struct.pack("!I", 65000))
NEXT_HOP = attr(0x40, 3, socket.inet_aton("10.0.0.9"))
NLRI = b"\x18\xc0\x00\x02"  # 192.0.2.0/24
# MP_REACH_NLRI for IPv6 unicast, next hop 2001:db8::1, one prefix of length 129.
MP_BAD = (struct.pack("!HBB", 2, 1, 16) + socket.inet_pton(socket.AF_INET6, "2001:db8::1") + b"\x00" + b"\x81"
          + b"\x20" * 17)


class Peer:
    """One accepted BGP connection: framed reads with a deadline."""

    def __init__(self, sock):
        self.s = sock
        self.buf = b""
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, b):
        self.s.sendall(b)

    def read(self, timeout):
        """(type, body) of the next message; None at EOF or reset; raises Fail at the deadline."""
        end = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 19:
                n = struct.unpack("!H", self.buf[16:18])[0]
                if len(self.buf) >= n:
                    m, self.buf = self.buf[:n], self.buf[n:]
                    return m[18], m[19:]
            left = end - time.monotonic()
            if left <= 0:
                raise Fail(f"no message from tern within {timeout} s")
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            self.buf += chunk

    def read_until(self, pred, timeout, what):
        end = time.monotonic() + timeout
        while True:
            m = self.read(max(0.01, end - time.monotonic()))
            if m is None:
                raise Fail(f"tern closed while we waited for {what}")
            if pred(m):
                return m

    def handshake(self, **kw):
        """Reads tern's OPEN, sends ours and a KEEPALIVE, reads tern's KEEPALIVE; returns tern's OPEN body."""
        m = self.read(5)
        expect(m is not None and m[0] == 1, f"first message from tern is {m and m[0]}, not OPEN")
        ours = m[1]
        self.send(open_msg(**kw) + KEEPALIVE)
        self.read_until(lambda m: m[0] == 4, 5, "tern's KEEPALIVE")
        return ours

    def routes(self, timeout=5):
        """Reads UPDATEs until one announces 198.51.100.10/32 (tern's first IPv4 VIP)."""
        want = b"\x20" + socket.inet_aton(V4S[0])
        self.read_until(lambda m: m[0] == 2 and want in m[1], timeout, "tern's UPDATE announcing 198.51.100.10/32")

    def closed_within(self, timeout):
        """Reads to EOF; returns the messages read before it. Raises Fail if still open."""
        got = []
        end = time.monotonic() + timeout
        while True:
            m = self.read(max(0.01, end - time.monotonic()))
            if m is None:
                return got
            got.append(m)

    def close(self):
        self.s.close()


class Listener:
    def __init__(self, addr, port, rcvbuf=None):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.bind((addr, port))
        self.s.listen(4)

    def accept(self, timeout):
        self.s.settimeout(timeout)
        try:
            c, _ = self.s.accept()
        except socket.timeout:
            raise Fail(f"tern did not connect within {timeout} s") from None
        return Peer(c)

    def close(self):
        self.s.close()


class GoodPeer(threading.Thread):
    """A well-behaved router: KEEPALIVE every second; records what happens."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.lis = Listener(GOOD, port)
        self.events = []  # "established", "routes", "notification c/s", "closed"
        self.connections = 0
        self.keepalives = []  # arrival times of tern's KEEPALIVEs
        self.stop_flag = False

    def run(self):
        try:
            p = self.lis.accept(10)
            self.connections += 1
            p.handshake()
            self.events.append("established")
            p.routes(10)
            self.events.append("routes")
            last = 0.0
            while not self.stop_flag:
                if time.monotonic() - last >= 1:
                    p.send(KEEPALIVE)
                    last = time.monotonic()
                try:
                    m = p.read(0.2)
                except Fail:
                    continue
                if m is None:
                    self.events.append("closed")
                    return
                if m[0] == 4:
                    self.keepalives.append(time.monotonic())
                if m[0] == 3:
                    self.events.append(f"notification {m[1][0]}/{m[1][1]}")
            p.close()
        except Exception as e:  # noqa: BLE001 - reported by the case
            self.events.append(f"error {e}")

    def undisturbed(self):
        expect(self.connections == 1 and self.events[:2] == ["established", "routes"] and len(self.events) == 2,
               f"the other peer was disturbed: {self.events}, {self.connections} connection(s)")
        gaps = [b - a for a, b in zip(self.keepalives, self.keepalives[1:])]
        expect(len(self.keepalives) >= 2 and max(gaps) < 2.0,
               f"tern's KEEPALIVEs to the other peer (every 1 s) stalled: gaps {gaps}")


def fake_conf(work, port, bad):
    services = [{"name": f"v4_{i}", "vip": v, "port": 80, "realservers": []} for i, v in enumerate(V4S)]
    services += [{"name": f"v6_{i}", "vip": v, "port": 80, "realservers": []} for i, v in enumerate(V6S)]
    conf = {
        "node": {"name": "faults", "ipv4": OUR_ID, "ipv6": "fd00::1"},
        "ports": [{"name": "uplink", "device": "net_null0"}],
        "bgp": {"local_asn": 64600, "hold_time": HOLD, "connect_retry": RETRY, "listen": False,
                "peers": [{"address": GOOD, "asn": 65000, "port": port},
                          {"address": bad, "asn": 65000, "port": port}]},
        "services": services,
    }
    p = work / "faults.yaml"
    p.write_text(json.dumps(conf))
    return p


def free_port():
    """A port free on 127.0.0.2 and the bad peers' addresses, from our PID."""
    for i in range(200):
        port = 20000 + (os.getpid() * 7 + i * 101) % 20000
        try:
            for a in [GOOD] + [f"127.0.0.{10 + k}" for k in range(len(CASES))]:
                s = socket.socket()
                s.bind((a, port))
                s.close()
            return port
        except OSError:
            continue
    raise Fail("no free port")


class Rig:
    """A speaker with the good peer and one bad peer (its listener, not yet accepted)."""

    def __init__(self, work, port, bad, rcvbuf=None):
        self.good = GoodPeer(port)
        self.bad = Listener(bad, port, rcvbuf)
        self.good.start()
        self.log_path = work / "speaker.log"
        self.log = open(self.log_path, "a")
        self.p = subprocess.Popen([str(interop.SPEAK), "--config", str(fake_conf(work, port, bad))],
                                  stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: "routes" in self.good.events or self.p.poll() is not None, 20, "the good peer's routes")
        expect(self.p.poll() is None, "tern-bgp-speak exited")

    def logtext(self):
        return self.log_path.read_text()

    def finish(self):
        """The speaker still runs and the good peer was never disturbed (for at
        least three of its KEEPALIVEs)."""
        wait_for(lambda: len(self.good.keepalives) >= 3 or "routes" not in self.good.events, 6,
                 "three KEEPALIVEs to the other peer")
        expect(self.p.poll() is None, "tern-bgp-speak exited")
        self.good.undisturbed()

    def close(self):
        self.good.stop_flag = True
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.good.join(timeout=3)
        self.good.lis.close()
        self.bad.close()
        self.log.close()


def expect_notification(peer, code, sub, data=None, timeout=5):
    """tern's answer: one NOTIFICATION code/sub (with data when given), then the close."""
    got = peer.closed_within(timeout)
    notes = [m for m in got if m[0] == 3]
    expect(notes, f"no NOTIFICATION before the close; got types {[m[0] for m in got]}")
    body = notes[-1][1]
    expect((body[0], body[1]) == (code, sub), f"NOTIFICATION {body[0]}/{body[1]}, want {code}/{sub}")
    if data is not None:
        expect(body[2:] == data, f"NOTIFICATION data {body[2:].hex()}, want {data.hex()}")
    return f"{code}/{sub}" + (f" data {data.hex()}" if data else "")


def reconnects(rig, t_closed, bound=RETRY + 1.5, stale=False):
    """tern connects again within the first backoff step, and announces again.
    With `stale`, connections tern made while we were not accepting (and has
    given up on since) are skipped."""
    end = time.monotonic() + bound + 8
    while True:
        p = rig.bad.accept(bound + 2)
        dt = time.monotonic() - t_closed
        expect(stale or dt <= bound, f"tern took {dt:.1f} s to connect again (bound {bound} s)")
        try:
            p.handshake()
            break
        except (Fail, OSError):
            if not stale or time.monotonic() > end:
                raise
            p.close()
    p.routes()
    p.close()
    return f"back in {dt:.1f} s with its routes"


def established_bad(rig):
    p = rig.bad.accept(10)
    p.handshake()
    p.routes()
    return p


# Each case: (title, fn(rig) -> notes). The bad peer's address is given by the runner.

def reset_case(send, code, sub, data=None, establish=True):
    def fn(rig):
        if establish:
            p = established_bad(rig)
        else:
            p = rig.bad.accept(10)
            t, _ = p.read(5)
            expect(t == 1, "tern's OPEN first")
        send(p)
        what = expect_notification(p, code, sub, data)
        t = time.monotonic()
        p.close()
        return [f"NOTIFICATION {what}", reconnects(rig, t)]
    return fn


def stays_up_case(send):
    """RFC 7606 treat-as-withdraw: no NOTIFICATION, the session stays."""
    def fn(rig):
        p = established_bad(rig)
        send(p)
        end = time.monotonic() + HOLD + 1
        kas = 0
        while time.monotonic() < end:
            p.send(KEEPALIVE)
            try:
                m = p.read(0.5)
            except Fail:
                continue
            expect(m is not None, "tern closed the session")
            expect(m[0] != 3, f"tern sent NOTIFICATION {m[1][:2].hex()}")
            kas += m[0] == 4
        expect(kas >= 2, f"{kas} KEEPALIVEs in {HOLD + 1} s")
        p.close()
        return ["no NOTIFICATION, session kept (treat-as-withdraw)"]
    return fn


def bytewise(p, b):
    for i in range(len(b)):
        p.send(b[i:i + 1])
        time.sleep(0.002)


def case_split_bytes(rig):
    p = rig.bad.accept(10)
    t, _ = p.read(5)
    expect(t == 1, "tern's OPEN first")
    bytewise(p, open_msg() + KEEPALIVE)  # one byte per segment (TCP_NODELAY)
    p.read_until(lambda m: m[0] == 4, 5, "tern's KEEPALIVE after a byte-by-byte OPEN")
    p.routes()
    bytewise(p, KEEPALIVE + msg(9))  # then a bad type, byte by byte
    what = expect_notification(p, 1, 3, b"\x09")
    t = time.monotonic()
    p.close()
    return ["Established over an OPEN sent byte by byte", f"NOTIFICATION {what}", reconnects(rig, t)]


def case_peer_notification(rig):
    p = established_bad(rig)
    p.send(notification(6, 2))
    got = p.closed_within(5)
    expect(not [m for m in got if m[0] == 3], "tern answered a NOTIFICATION with one")
    t = time.monotonic()
    p.close()
    return ["closed without an answer", reconnects(rig, t)]


def case_no_open(rig):
    p = rig.bad.accept(10)
    t0 = time.monotonic()
    t, _ = p.read(5)
    expect(t == 1, "tern's OPEN first")
    what = expect_notification(p, 4, 0, timeout=HOLD + 3)
    dt = time.monotonic() - t0
    expect(HOLD - 1.5 <= dt <= HOLD + 1.5, f"OpenSent hold expired after {dt:.1f} s, want {HOLD}")
    t = time.monotonic()
    p.close()
    return [f"NOTIFICATION {what} after {dt:.1f} s in OpenSent", reconnects(rig, t)]


def case_deaf_peer(rig):
    """A peer that completes OPEN and then neither reads nor sends: tern's
    announcement fills its window; the hold timer still ends the session, the
    socket is cut, and the control thread (the other peer's KEEPALIVEs) never
    stalls."""
    p = rig.bad.accept(10)
    t, _ = p.read(5)
    expect(t == 1, "tern's OPEN first")
    p.send(open_msg() + KEEPALIVE)
    t0 = time.monotonic()
    time.sleep(1)
    port = rig.bad.s.getsockname()[1]
    out = interop.sh("ss", "-tnH", "state", "established", "dst", f"{rig.bad_addr}:{port}", check=False)
    rows = [line.split() for line in out.splitlines() if line.split()]
    expect(len(rows) == 1, f"tern's connections to the deaf peer: {out}")
    sendq, local = int(rows[0][1]), rows[0][2]
    expect(sendq > 10000, f"tern's socket to the deaf peer has {sendq} bytes unsent: its window is not full")
    # Hold time (3 s from the last message) + linger (2 s): that socket is
    # reset, gone from the kernel too (tern's next connection to the peer
    # comes from another port).
    wait_for(lambda: local not in interop.sh("ss", "-tanH", "dst", f"{rig.bad_addr}:{port}", check=False),
             HOLD + 6, "tern's socket to the deaf peer to close")
    dt = time.monotonic() - t0
    expect("hold timer expired" in rig.logtext(), "tern's log does not say the hold timer expired")
    p.close()
    t = time.monotonic()
    return [f"{sendq} bytes stuck in tern's send queue", f"hold expiry + cut after {dt:.1f} s",
            reconnects(rig, t, stale=True)]


CASES = [
    ("bad marker", reset_case(lambda p: p.send(msg(4, marker=b"\x00" * 16)), 1, 1, b"")),
    ("length 18", reset_case(lambda p: p.send(msg(4, length=18)), 1, 2, b"\x00\x12")),
    ("length 4097", reset_case(lambda p: p.send(msg(2, b"\x00" * 4078)), 1, 2, b"\x10\x01")),
    ("unknown type 9", reset_case(lambda p: p.send(msg(9)), 1, 3, b"\x09")),
    ("KEEPALIVE with a body", reset_case(lambda p: p.send(msg(4, b"\x00")), 1, 2, b"\x00\x14")),
    ("UPDATE withdrawn length past the end",
     reset_case(lambda p: p.send(update(wlen=200)), 3, 1, b"")),
    ("UPDATE NLRI prefix length 33",
     reset_case(lambda p: p.send(update(attrs=ORIGIN + AS_PATH + NEXT_HOP, nlri=b"\x21\xc0\x00\x02\x00")), 3, 10)),
    ("UPDATE MP_REACH prefix length 129",
     reset_case(lambda p: p.send(update(attrs=ORIGIN + AS_PATH + attr(0x80, 14, MP_BAD))), 3, 9,
                attr(0x80, 14, MP_BAD))),
    ("UPDATE ORIGIN with the optional flag", stays_up_case(
        lambda p: p.send(update(attrs=attr(0xc0, 1, b"\x00") + AS_PATH + NEXT_HOP, nlri=NLRI)))),
    ("UPDATE attribute overruns the attribute list", stays_up_case(
        lambda p: p.send(update(attrs=ORIGIN + AS_PATH + b"\x40\x03\x09" + socket.inet_aton("10.0.0.9"),
                                nlri=NLRI)))),
    ("UPDATE AS_PATH segment type 7", stays_up_case(
        lambda p: p.send(update(attrs=ORIGIN + attr(0x40, 2, b"\x07\x01" + struct.pack("!I", 65000)) + NEXT_HOP,
                                nlri=NLRI)))),
    ("UPDATE AS_PATH segment overruns", stays_up_case(
        lambda p: p.send(update(attrs=ORIGIN + attr(0x40, 2, b"\x02\x05" + struct.pack("!I", 65000)) + NEXT_HOP,
                                nlri=NLRI)))),
    ("OPEN version 3", reset_case(lambda p: p.send(open_msg(version=3)), 2, 1, b"\x00\x04", establish=False)),
    ("OPEN hold time 1", reset_case(lambda p: p.send(open_msg(hold=1)), 2, 6, establish=False)),
    ("OPEN hold time 2", reset_case(lambda p: p.send(open_msg(hold=2)), 2, 6, establish=False)),
    ("OPEN BGP identifier 0", reset_case(lambda p: p.send(open_msg(rid="0.0.0.0")), 2, 3, establish=False)),
    ("OPEN BGP identifier ours", reset_case(lambda p: p.send(open_msg(rid=OUR_ID)), 2, 3, establish=False)),
    ("OPEN wrong AS", reset_case(lambda p: p.send(open_msg(asn=65001)), 2, 2, b"\xfd\xe9", establish=False)),
    ("garbage before OPEN", reset_case(lambda p: p.send(b"GET / HTTP/1.0\r\n\r\n" + b"x" * 8), 1, 1,
                                       establish=False)),
    ("KEEPALIVE before OPEN", reset_case(lambda p: p.send(KEEPALIVE), 5, 1, establish=False)),
    ("OPEN when Established", reset_case(lambda p: p.send(open_msg()), 5, 3)),
    ("peer NOTIFICATION", case_peer_notification),
    ("messages split byte by byte", case_split_bytes),
    ("peer never sends OPEN", case_no_open),
    ("peer stops reading", case_deaf_peer),
]


def run_fake_cases(only):
    passed = failed = 0
    port = free_port()
    for i, (title, fn) in enumerate(CASES):
        title = f"fake peer: {title}"
        if only and only not in title:
            continue
        work = Path(tempfile.mkdtemp(prefix="tern-bgpfault-"))
        bad = f"127.0.0.{10 + i}"
        rig = None
        try:
            rig = Rig(work, port, bad, rcvbuf=4096 if "stops reading" in title else None)
            rig.bad_addr = bad
            notes = fn(rig)
            rig.finish()
            print(f"PASS {title}: {'; '.join(notes)}")
            passed += 1
        except Exception as e:  # noqa: BLE001 - report and go on
            msg_ = str(e) if isinstance(e, Fail) else traceback.format_exc()
            print(f"FAIL {title}: {msg_} (logs in {work})")
            failed += 1
        finally:
            if rig:
                rig.close()
    return passed, failed


# ---- part 2: a router that restarts (BIRD) ----------------------------------


def bird_restart(router, work, **kw):
    """Starts the router again with the same peers (BIRD's stale control socket removed)."""
    if isinstance(router, interop.Bird):
        router.sock.unlink(missing_ok=True)
    return type(router)(work, [interop.NS_A], **kw)


def transitions(log, to):
    return len(re.findall(rf"-> {to} ", log))


def case_restarts(make_router, work):
    """The router killed hard, then stopped gracefully: the session comes back
    each time and the routes are announced again."""
    conf = interop.speaker_conf(work, interop.NS_A, 0)
    router = make_router(work, [interop.NS_A])
    sp = interop.Speaker(work, interop.NS_A, conf)
    log = work / f"{interop.NS_A}.log"
    notes = []
    try:
        wait_for(lambda: interop.best(router, interop.V4) and interop.best(router, interop.V6), 20, "routes")
        # Killed hard: the kernel resets tern's connection.
        router.p.kill()
        router.p.wait()
        router.log.close()
        wait_for(lambda: "Established -> Idle" in log.read_text(), 5, "tern to see the session go")
        t0 = time.monotonic()
        router = bird_restart(router, work)
        dt = wait_for(lambda: interop.best(router, interop.V4) and interop.best(router, interop.V6), 10,
                      "routes after BIRD was restarted")
        notes.append(f"SIGKILL: routes back {dt:.1f} s after the restart")
        expect(sp.p.poll() is None, "tern-bgp-speak exited")
        # Stopped gracefully: the router sends a Cease.
        router.stop()
        wait_for(lambda: "received NOTIFICATION 6/" in log.read_text(), 5, "tern to log the router's Cease")
        router = bird_restart(router, work)
        dt = wait_for(lambda: interop.best(router, interop.V4) and interop.best(router, interop.V6), 10,
                      "routes after BIRD was restarted")
        notes.append(f"Cease: routes back {dt:.1f} s after the restart")
        text = log.read_text()
        expect(transitions(text, "Established") == 3, f"3 Established in tern's log: {text}")
        return notes
    finally:
        sp.stop()
        sp.kill()
        router.stop()


def case_bird_flaps(work):
    """BIRD flapping (killed and restarted three times, then killed and left
    down 10 s): tern's attempts back off (the fourth failure in a row waits
    8 s, then 16), so its log stays short; BIRD back: it connects to us and
    the session is up at once, whatever the backoff."""
    conf = interop.speaker_conf(work, interop.NS_A, 0)
    router = interop.Bird(work, [interop.NS_A])
    sp = interop.Speaker(work, interop.NS_A, conf)
    log = work / f"{interop.NS_A}.log"
    try:
        wait_for(lambda: interop.best(router, interop.V4), 20, "routes")
        for _ in range(3):  # three quick flaps
            router.p.kill()
            router.p.wait()
            router.log.close()
            router = bird_restart(router, work)
            wait_for(lambda: interop.best(router, interop.V4), 15, "routes after a flap")
        before = len(log.read_text().splitlines())
        router.p.kill()
        router.p.wait()
        router.log.close()
        time.sleep(10)
        text = log.read_text()
        lines = text.splitlines()[before:]
        waits = [int(x) for x in re.findall(r"next attempt in (\d+) s", "\n".join(lines))]
        expect(len(lines) <= 6, f"{len(lines)} log lines in 10 s of a dead router:\n" + "\n".join(lines))
        # Four flaps in a row (none stable for 60 s): 1 s x 2^3, then doubling.
        expect(len(waits) >= 2 and waits[0] == 8 and all(b == 2 * a for a, b in zip(waits, waits[1:])),
               f"the waits do not back off: {waits}")
        expect(transitions(text, "Idle") >= 4, "four Established -> Idle in tern's log")
        router = bird_restart(router, work)
        dt = wait_for(lambda: interop.best(router, interop.V4), 10, "routes after BIRD came back")
        expect(sp.p.poll() is None, "tern-bgp-speak exited")
        return [f"4 flaps; then {len(lines)} log lines in 10 s down, waits {waits} s",
                f"routes back {dt:.1f} s after BIRD restarted (it connects to us)"]
    finally:
        sp.stop()
        sp.kill()
        router.stop()


def case_bird_other_capabilities(work):
    """BIRD comes back with another router id, hold time 6 and without the
    4-octet AS capability: tern negotiates again (hold 6, 2-octet AS_PATH,
    which BIRD accepts)."""
    conf = interop.speaker_conf(work, interop.NS_A, 0, hold=9)
    router = interop.Bird(work, [interop.NS_A])
    sp = interop.Speaker(work, interop.NS_A, conf)
    log = work / f"{interop.NS_A}.log"
    try:
        wait_for(lambda: interop.best(router, interop.V4), 20, "routes")
        expect("(hold time 9 s)" in log.read_text(), "first session: hold time 9 s")
        router.stop()
        cfg = (work / "bird.conf").read_text()
        cfg = cfg.replace("router id 10.99.0.1;", "router id 10.99.0.254;")
        (work / "bird.conf").write_text(cfg.replace("ipv4 {", "hold time 6; enable as4 off;\n  ipv4 {"))
        router.sock.unlink(missing_ok=True)
        router.log = open(work / "bird.log", "a")
        router.p = subprocess.Popen(["ip", "netns", "exec", interop.NS_R, "bird", "-f", "-c", str(work / "bird.conf"),
                                     "-s", str(router.sock)], stdout=router.log, stderr=subprocess.STDOUT)
        wait_for(lambda: router.sock.exists(), 10, "bird's control socket")
        wait_for(lambda: "(hold time 6 s)" in log.read_text(), 15, "a session with hold time 6 s")
        expect("router id 10.99.0.254" in log.read_text(), "tern's log has BIRD's new router id")
        wait_for(lambda: interop.best(router, interop.V4), 10, "routes from the 2-octet session")
        r = interop.best(router, interop.V4)
        expect(r.get("as_path") == [64600, 64600], f"AS path at BIRD: {r}")
        return ["router id 10.99.0.1 -> 10.99.0.254, hold 9 -> 6 s", f"2-octet AS_PATH accepted: {r.get('as_path')}"]
    finally:
        sp.stop()
        sp.kill()
        router.stop()


def case_tern_run_router_restart(work):
    """`tern run` with BIRD: BIRD killed and restarted; show bgp and /metrics
    count the flap; the dataplane's lcores keep receiving (net_null0) meanwhile."""
    conf = json.loads(interop.speaker_conf(work, interop.NS_A, 0).read_text())
    conf["console"] = {"socket": str(work / "console.sock")}
    conf["http"] = {"port": 9090}
    path = work / "tern-run.yaml"
    path.write_text(json.dumps(conf))
    router = interop.Bird(work, [interop.NS_A])
    p = interop.tern_run(work, interop.NS_A, path)

    def metrics():
        return interop.sh("curl", "-s", "127.0.0.1:9090/metrics", ns=interop.NS_A, check=False)

    def rx():
        return interop.metric(metrics(), "tern_port_rx_packets_total", port="uplink") or 0

    def show_bgp():
        r = subprocess.run([str(interop.TERN), "console", "--socket", str(work / "console.sock")],
                           input="show bgp\nquit\n", capture_output=True, text=True, timeout=20)
        rows = [x for x in r.stdout.replace("\r", "").splitlines() if x.startswith("10.99.0.1 ")]
        return rows[0].split() if rows else []

    peer = {"peer": "10.99.0.1", "local_asn": "64600"}
    try:
        wait_for(lambda: interop.best(router, interop.V4), 30, "tern run's routes")
        router.p.kill()
        router.p.wait()
        router.log.close()
        wait_for(lambda: interop.metric(metrics(), "pybal_bgp_session_established", **peer) == 0, 10,
                 "the session to go")
        rx0 = rx()
        time.sleep(1)
        rx1 = rx()
        expect(rx1 > rx0, f"the dataplane stopped receiving while BGP was down: {rx0} -> {rx1}")
        row = show_bgp()
        expect(len(row) >= 6 and row[2] != "Established" and row[5] == "1", f"show bgp while down: {row}")
        expect(interop.metric(metrics(), "tern_bgp_flaps_total", **peer) == 1, "tern_bgp_flaps_total 1")
        router = bird_restart(router, work)
        dt = wait_for(lambda: interop.best(router, interop.V4), 15, "routes after BIRD restarted")
        row = show_bgp()
        expect(len(row) >= 6 and row[2] == "Established" and row[4] == "2" and row[5] == "1",
               f"show bgp after the restart: {row}")
        expect(p.poll() is None, "tern run exited")
        return [f"rx {rx0} -> {rx1} packets in 1 s with BGP down", f"show bgp: {' '.join(row[:6])}",
                f"routes back {dt:.1f} s after BIRD restarted"]
    finally:
        interop.stop_tern(p)
        router.stop()


DEAF_PEER = r"""
import socket, struct, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.bind(("10.99.0.1", 1790))
s.listen(4)
c, _ = s.accept()
c.recv(4096)  # tern's OPEN
caps = b"\x01\x04\x00\x01\x00\x01\x01\x04\x00\x02\x00\x01\x41\x04" + struct.pack("!I", 65000)
params = b"\x02" + bytes([len(caps)]) + caps
body = struct.pack("!BHH4sB", 4, 65000, 3, socket.inet_aton("10.99.0.1"), len(params)) + params
c.sendall(b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 1) + body + b"\xff" * 16 + struct.pack("!HB", 19, 4))
print("established", flush=True)
time.sleep(30)  # never reads again
"""


def case_tern_run_deaf_peer(work):
    """`tern run` whose only peer stops reading once Established (receive
    buffer 4 kB, 1,000 IPv6 VIPs announced: its window is full): the HTTP API
    answers throughout, and the hold timer (3 s) ends the session."""
    conf = json.loads(interop.speaker_conf(work, interop.NS_A, 0).read_text())
    conf["bgp"]["peers"] = [{"address": "10.99.0.1", "asn": 65000, "port": 1790}]
    conf["services"] += [{"name": f"v6_{i}", "vip": v, "port": 80, "realservers": [], "table_size": 1021}
                         for i, v in enumerate(V6S[:1000])]
    conf["http"] = {"port": 9090}
    path = work / "tern-run.yaml"
    path.write_text(json.dumps(conf))
    deaf = subprocess.Popen(["ip", "netns", "exec", interop.NS_R, sys.executable, "-c", DEAF_PEER],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    p = interop.tern_run(work, interop.NS_A, path)
    peer = {"peer": "10.99.0.1", "local_asn": "64600"}

    def metrics():
        """The /metrics text and curl's time for the request (not counting its start)."""
        out = interop.sh("curl", "-s", "-m", "5", "-w", "\n@time %{time_total}\n", "127.0.0.1:9090/metrics",
                         ns=interop.NS_A, check=False)
        text, _, t = out.rpartition("\n@time ")
        return text, float(t or 99)

    try:
        wait_for(lambda: interop.metric(metrics()[0], "pybal_bgp_session_established", **peer) == 1, 60,
                 "the session with the deaf peer")
        t0 = time.monotonic()
        slowest, down_at, answers = 0.0, None, 0
        while time.monotonic() - t0 < 8:
            m, took = metrics()
            slowest = max(slowest, took)
            expect("tern_bgp_established_total" in m, f"the HTTP API did not answer: {m[:200]}")
            answers += 1
            if down_at is None and interop.metric(m, "pybal_bgp_session_established", **peer) == 0:
                down_at = time.monotonic() - t0
            time.sleep(0.1)
        expect(down_at is not None and down_at <= 4.5, f"the session did not end by the hold timer: {down_at}")
        expect(slowest < 0.5, f"the HTTP API took {slowest:.2f} s to answer")
        expect(p.poll() is None, "tern run exited")
        log = (work / "tern-run.log").read_text()
        expect("hold timer expired" in log, "tern's log does not say the hold timer expired")
        return [f"{answers} /metrics answers in 8 s, slowest {slowest * 1000:.0f} ms",
                f"session down {down_at:.1f} s after it was seen up (hold 3 s)"]
    finally:
        interop.stop_tern(p)
        deaf.kill()
        deaf.wait()


ROUTER_CASES = [
    ("tern run: a peer that stops reading", case_tern_run_deaf_peer),
    ("bird killed and stopped, restarted", lambda w: case_restarts(interop.Bird, w)),
    ("gobgp killed and stopped, restarted", lambda w: case_restarts(interop.GoBgp, w)),
    ("bird flapping: backoff", case_bird_flaps),
    ("bird back with other capabilities", case_bird_other_capabilities),
    ("tern run: bird restarted", case_tern_run_router_restart),
]


def run_router_cases(only):
    passed = failed = 0
    for title, fn in ROUTER_CASES:
        title = f"router: {title}"
        if only and only not in title:
            continue
        work = Path(tempfile.mkdtemp(prefix="tern-bgpfault-"))
        interop.topology_down()
        try:
            interop.topology_up()
            notes = fn(work)
            print(f"PASS {title}: {'; '.join(notes)}")
            passed += 1
        except Exception as e:  # noqa: BLE001 - report and go on
            msg_ = str(e) if isinstance(e, Fail) else traceback.format_exc()
            print(f"FAIL {title}: {msg_} (logs in {work})")
            failed += 1
        finally:
            interop.topology_down()
    return passed, failed


def main(argv):
    if "--build" in argv:
        i = argv.index("--build")
        interop.SPEAK = Path(argv[i + 1]) / "control" / "tern-bgp-speak"
        interop.TERN = Path(argv[i + 1]) / "tern"
        del argv[i:i + 2]
    only = None
    if "-k" in argv:
        i = argv.index("-k")
        only = argv[i + 1]
        del argv[i:i + 2]
    if not interop.SPEAK.exists() or os.geteuid() != 0:
        print(f"FAIL setup: need root and {interop.SPEAK}")
        print("bgp-faults: 0 passed, 1 failed")
        return 1
    p1, f1 = run_fake_cases(only)
    p2, f2 = run_router_cases(only)
    print(f"bgp-faults: {p1 + p2} passed, {f1 + f2} failed")
    return 0 if f1 + f2 == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
