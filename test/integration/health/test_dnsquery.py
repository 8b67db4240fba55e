#!/usr/bin/python3
"""DNSQuery against a real DNS server (dnsmasq on 127.0.77.1:53) and against a
scripted one (Python, on 127.0.77.2:53 and [::1]:53) for what dnsmasq will
not do: stray datagrams, silence, SERVFAIL, FORMERR, truncated replies."""
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time

from lib import Probe, args, check, done, service_yaml, stop_process

a = args()
work = tempfile.mkdtemp(prefix="tern-dnsquery-")
DNSMASQ_IP = "127.0.77.1"
FAKE_IP = "127.0.77.2"
NOBODY_IP = "127.0.77.3"  # nothing listens: ICMP port unreachable


def dns_monitor(hostnames, fail_on_nxdomain=False, interval=0.2, timeout=0.5):
    names = ", ".join(hostnames)
    return (f"DNSQuery: {{hostnames: [{names}], interval: {interval}, timeout: {timeout}, "
            f"fail-on-nxdomain: {str(fail_on_nxdomain).lower()}}}")


def svc(monitor, ip):
    vip = "2001:db8::53" if ":" in ip else "192.0.2.53"  # a server has its VIP's family
    return service_yaml("dns", 53, monitor, [("ns1", ip)], vip=vip, protocol="udp")


class Dnsmasq:
    def __init__(self):
        self.log = os.path.join(work, "dnsmasq.log")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces",
             f"--listen-address={DNSMASQ_IP}", "--port=53", "--conf-file=/dev/null", "--user=root",
             f"--pid-file={work}/dnsmasq.pid", "--log-queries", f"--log-facility={self.log}",
             "--address=/up.test/192.0.2.10", "--address=/up.test/2001:db8::10", "--local=/test/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # Ready once it answers.
        end = time.monotonic() + 5
        while time.monotonic() < end and self.proc.poll() is None:
            if query(DNSMASQ_IP, "up.test") is not None:
                return True
            time.sleep(0.1)
        return False

    def queries(self):
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.proc:
            stop_process(self.proc)


def encode_name(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"


def query(ip, name):
    """One A query from here: the rcode, or None on no answer."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(0.5)
        s.connect((ip, 53))
        s.send(struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0) + encode_name(name) + struct.pack(">HH", 1, 1))
        return s.recv(512)[3] & 0x0f
    except OSError:
        return None
    finally:
        s.close()


class FakeServer:
    """Answers each query as `mode` says: "answer", "strays" (only wrong
    datagrams), "strays+answer", "servfail", "formerr", "tc"."""

    def __init__(self, ip, mode):
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 53))
        self.sock.settimeout(0.1)
        self.running = True
        self.queries = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _reply(self, qid, flags, question, answers=b"", ancount=0):
        return struct.pack(">HHHHHH", qid, flags, 1, ancount, 0, 0) + question + answers

    def _serve(self):
        while self.running:
            try:
                q, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            self.queries += 1
            qid = struct.unpack(">H", q[:2])[0]
            question = q[12:]
            qtype = struct.unpack(">H", question[-4:-2])[0]
            if qtype == 1:
                record = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 99])
            else:
                record = b"\xc0\x0c" + struct.pack(">HHIH", 28, 1, 60, 16) + bytes(15) + b"\x99"
            out = []
            if self.mode.startswith("strays"):
                other = encode_name("other.test") + question[-4:]
                out += [b"\x00\x01\x02",                                  # too short
                        q,                                                # a query, not a reply
                        self._reply(qid ^ 0xffff, 0x8180, question, record[:-1] + b"\x66", 1),  # wrong id
                        self._reply(qid, 0x8180, other),                  # wrong question
                        self._reply(qid, 0x8180, question[:-4] + struct.pack(">HH", 15, 1))]  # wrong type
            if self.mode in ("answer", "strays+answer"):
                out.append(self._reply(qid, 0x8180, question, record, 1))
            elif self.mode == "servfail":
                out.append(self._reply(qid, 0x8182, question))
            elif self.mode == "formerr":
                out.append(self._reply(qid, 0x8181, question))
            elif self.mode == "tc":
                out.append(self._reply(qid, 0x8380, question, record[:5], 1))
            for d in out:
                self.sock.sendto(d, peer)

    def close(self):
        self.running = False
        self.thread.join(timeout=2)
        self.sock.close()


dnsmasq = Dnsmasq()
try:
    if not shutil.which("dnsmasq"):
        check("dnsmasq_installed", False, "dnsmasq is not installed (apt-get install dnsmasq-base)")
        done()
    started = dnsmasq.start()
    err = "" if started else (dnsmasq.proc.stderr.read() if dnsmasq.proc.poll() is not None else "no answer")
    check("dnsmasq_started", started, f"dnsmasq on {DNSMASQ_IP}:53: {err}")

    # Up; the names go round, each as A then AAAA.
    with Probe(a.build, svc(dns_monitor(["up.test", "www.up.test"]), DNSMASQ_IP)) as p:
        v = p.wait_for("up", 3)
        check("existing_name_up", v is not None and v["reason"] == "up.test A 192.0.2.10", p.verdicts())
        time.sleep(1.2)
        log = dnsmasq.queries()
        asked = [f"query[{t}] {n} " for n in ("up.test", "www.up.test") for t in ("A", "AAAA")]
        check("names_and_types_in_turn", all(q in log for q in asked), log[-2000:])

        # The server gone: down, by the kernel's ICMP port unreachable, or by
        # the timeout when a query was in flight as dnsmasq died (it then
        # never answers it). The ICMP path alone is nobody_listening_down.
        dnsmasq.stop()
        v = p.wait_for("down", 3)
        check("server_killed_down", v is not None and (v["reason"].startswith("DNS server unreachable") or
                                                       v["reason"].startswith("DNS query timeout")),
              p.verdicts())
        check("server_restarted", dnsmasq.start(), "dnsmasq did not come back")
        v = p.wait_for("up", 3)
        check("server_restarted_up", v is not None, p.verdicts())

    with Probe(a.build, svc(dns_monitor(["nope.test"]), DNSMASQ_IP)) as p:
        v = p.wait_for("up", 3)
        vs = p.verdicts(0.5)
        check("nxdomain_up_by_default", v is not None and v["reason"] == "nope.test NXDOMAIN" and
              all(x["state"] == "up" for x in vs), vs)
    with Probe(a.build, svc(dns_monitor(["nope.test"], fail_on_nxdomain=True), DNSMASQ_IP)) as p:
        v = p.wait_for("down", 3)
        check("nxdomain_down_when_asked", v is not None and v["reason"] == "nope.test NXDOMAIN", p.verdicts())
    # dnsmasq refuses names outside what it knows when it has no upstream.
    with Probe(a.build, svc(dns_monitor(["www.example.com"]), DNSMASQ_IP)) as p:
        v = p.wait_for("down", 3)
        check("refused_down", v is not None and v["reason"] == "DNS query refused, query: www.example.com A",
              p.verdicts())

    with Probe(a.build, svc(dns_monitor(["x.test"]), NOBODY_IP)) as p:
        v = p.wait_for("down", 3)
        check("nobody_listening_down", v is not None and v["reason"].startswith("DNS server unreachable"),
              p.verdicts())

    def fake_case(name, mode, state, reason, ip=FAKE_IP, within=3):
        server = FakeServer(ip, mode)
        try:
            with Probe(a.build, svc(dns_monitor(["x.test"]), ip)) as p:
                v = p.wait_for(state, within)
                vs = p.verdicts(0.3)
                first = vs[0] if vs else None
                ok = v is not None and v["reason"] == reason and first is v and server.queries >= 1
                check(name, ok, f"{vs}, {server.queries} queries")
                return v
        finally:
            server.close()

    fake_case("strays_ignored_up", "strays+answer", "up", "x.test A 192.0.2.99")
    v = fake_case("strays_only_timeout", "strays", "down", "DNS query timeout, query: x.test A")
    check("timeout_after_0.5s", v is not None and 0.6 <= v["t"] < 1.5, v)
    fake_case("servfail_down", "servfail", "down", "DNS server error, query: x.test A")
    fake_case("formerr_down", "formerr", "down", "DNS error FORMERR, query: x.test A")
    fake_case("truncated_up", "tc", "up", "x.test A (no records) (truncated)")
    fake_case("ipv6_server_up", "answer", "up", "x.test A 192.0.2.99", ip="::1")
finally:
    dnsmasq.stop()
    shutil.rmtree(work, ignore_errors=True)
done()
