#!/usr/bin/python3
"""`tern run` on two ports with two queues each: an uplink (net_af_packet,
qpairs=2, on a veth to the client's namespace) and a server-facing port
(net_af_packet, qpairs=2, on a veth into a bridge with three DR real
servers), two worker lcores. No `neighbors`: the node address is on the
server subnet, so it goes on the server port's TAP (tern-srv), whose kernel
resolves the servers and runs the health checks; the client reaches the VIP
through the uplink (a static ARP entry for the uplink's address, as a router
would have), and the servers answer it directly (DR) through the client's
leg on their bridge. Checked: what arrives on the uplink leaves through the
server port with that port's MAC; real HTTP requests reach every server;
per-port counters (console, metrics) show both ports and both TAPs; ICMP
fragmentation-needed errors from the client side about established flows
reach each flow's server, for every scheduler (maglev, rr, wrr, wlc, sh), on
whichever lcore they land."""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import lib  # noqa: E402

A = lib.args()
PID = os.getpid()
T = f"p{PID % 100000}"
NS = {x: f"{T}{x}" for x in ("lb", "sw", "cl", "a", "b", "c")}
UP_MAC, SRV_MAC = "02:00:00:00:01:01", "02:00:00:00:02:02"
UP_ADDR = "10.97.1.1"  # the uplink's address as the client's router sees it (static ARP)
NODE = "10.97.2.1"     # the node address: on the server subnet, so on tern-srv
CLIENT, CLIENT_SRV = "10.97.1.100", "10.97.2.254"
VIP = "192.0.2.10"
SERVERS = {"a": "10.97.2.11", "b": "10.97.2.12", "c": "10.97.2.13"}
SOCK = f"/tmp/tern-ports-{PID}.sock"
HTTP_PORT = 9090
N = 120  # crafted flows per service for the ICMP check
# A service per other scheduler on the same VIP: its port (maglev is web's, on 80).
OTHER_SCHEDULERS = (("rr", 8080), ("wrr", 8081), ("wlc", 8082), ("sh", 8083))

CLIENT_PY = r'''
import http.client, sys
n, vip = int(sys.argv[1]), sys.argv[2]
seen, failed = {}, 0
for i in range(n):
    try:
        c = http.client.HTTPConnection(vip, 80, timeout=3)
        c.request("GET", "/")
        body = c.getresponse().read().decode().strip()
        c.close()
        seen[body] = seen.get(body, 0) + 1
    except Exception:
        failed += 1
print(" ".join("%s=%d" % kv for kv in sorted(seen.items())), "failed=%d" % failed)
'''

# Crafted flows (S, A, PA from many client addresses) to VIP:port through
# the uplink (scapy: the system's python3, as test_queues.py), then an ICMP fragmentation-needed about each, from routers'
# addresses, so that RSS puts errors and flows on different lcores.
SEND_PY = r'''
import random, socket, sys, time
from scapy.all import Ether, IP, ICMP, TCP, Raw, raw
iface, n, vip, port, mac, phase, net = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6], int(sys.argv[7])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((iface, 0))
rng = random.Random(port)
eth = Ether(src="02:00:00:00:0c:0c", dst=mac)
for i in range(n):
    client, cport = "198.%d.%d.%d" % (net, 100 + i // 200, 1 + i % 200), 20000 + i
    if phase == "flows":
        for flags in ("S", "A", "PA"):
            s.send(raw(eth / IP(src=client, dst=vip) / TCP(sport=cport, dport=port, flags=flags) / Raw(b"x")))
    else:
        router = "203.0.%d.%d" % (rng.randrange(113, 120), rng.randrange(1, 255))
        quote = raw(IP(src=vip, dst=client, flags="DF") / TCP(sport=port, dport=cport, flags="PA"))[:28]
        s.send(raw(eth / IP(src=router, dst=vip) / ICMP(type=3, code=4, nexthopmtu=1400) / Raw(quote)))
    time.sleep(0.0005)
'''

# In a server's namespace, until OUT.stop exists (at most `secs` seconds):
# what arrives from the balancer (its server-facing MAC), per flow
# "client:port", the TCP packets and the ICMP errors quoting it; written to
# OUT as JSON.
SNIFF_PY = r'''
import json, os, socket, sys, time
iface, mac, secs, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
pm = bytes.fromhex(mac.replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)
s.bind((iface, 0))
s.settimeout(0.05)
seen = {}
open(out + ".ready", "w").close()
end = time.time() + secs
while time.time() < end and not os.path.exists(out + ".stop"):
    try:
        d = s.recv(2048)
    except socket.timeout:
        continue
    if d[6:12] != pm or d[12:14] != b"\x08\x00":
        continue
    ip = d[14:]
    if ip[9] == 6 and ip[12] == 198:
        key, kind = "%s:%d" % (socket.inet_ntoa(ip[12:16]), int.from_bytes(ip[20:22], "big")), "tcp"
    elif ip[9] == 1 and ip[20] == 3:
        q = ip[28:]
        key, kind = "%s:%d" % (socket.inet_ntoa(q[16:20]), int.from_bytes(q[22:24], "big")), "icmp"
    else:
        continue
    seen.setdefault(key, {"tcp": 0, "icmp": 0})[kind] += 1
with open(out, "w") as f:
    json.dump(seen, f)
'''


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def nsx(ns, *cmd, check=True):
    return sh("ip", "netns", "exec", NS[ns], *cmd, check=check)


def config():
    rs = "".join(f"      - {{host: {h}, ip: {ip}}}\n" for h, ip in SERVERS.items())
    return (f"node: {{name: ports{PID}, ipv4: {NODE}}}\n"
            f"ports:\n"
            f"  - {{name: up, device: \"net_af_packet0,iface={T}u,qpairs=2\", mac: \"{UP_MAC}\","
            f" subnets: [10.97.1.0/24]}}\n"
            f"  - {{name: srv, device: \"net_af_packet1,iface={T}s,qpairs=2\", mac: \"{SRV_MAC}\","
            f" subnets: [10.97.2.0/24]}}\n"
            f"console: {{socket: {SOCK}}}\n"
            f"http: {{address: 127.0.0.1, port: {HTTP_PORT}}}\n"
            f"services:\n"
            f"  - name: web\n    vip: {VIP}\n    port: 80\n"
            f"    monitors:\n      ProxyFetch: {{url: \"http://web.test/\", interval: 0.5, timeout: 0.4}}\n"
            f"    realservers:\n{rs}"
            + "".join(f"  - name: {sched}\n    vip: {VIP}\n    port: {port}\n    scheduler: {sched}\n"
                      f"    realservers:\n{rs}" for sched, port in OTHER_SCHEDULERS))


class Lab:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tern-ports-")
        self.procs = {}
        self.tern = None
        self.log = []

    def up(self):
        for ns in NS.values():
            sh("ip", "netns", "add", ns)
        for ns in NS:
            nsx(ns, "ip", "link", "set", "lo", "up")
        # The uplink: a veth straight to the client.
        sh("ip", "link", "add", f"{T}u", "netns", NS["lb"], "type", "veth", "peer", "name", f"{T}c", "netns", NS["cl"])
        # The server side: a bridge with the balancer's port, the servers and the client's second leg.
        nsx("sw", "ip", "link", "add", "br0", "type", "bridge")
        nsx("sw", "ip", "link", "set", "br0", "up")
        legs = {"lb": f"{T}s", "cl": f"{T}k", "a": f"{T}a", "b": f"{T}b", "c": f"{T}c2"}
        for x, dev in legs.items():
            sh("ip", "link", "add", dev, "netns", NS[x], "type", "veth", "peer", "name", f"{dev}w", "netns", NS["sw"])
            nsx("sw", "ip", "link", "set", f"{dev}w", "master", "br0", "up")
            nsx(x, "ip", "link", "set", dev, "up")
        nsx("lb", "ip", "link", "set", f"{T}u", "up")
        nsx("cl", "ip", "link", "set", f"{T}c", "up")
        for dev in (f"{T}u", f"{T}s"):
            nsx("lb", "sysctl", "-qw", f"net.ipv4.conf.{dev}.arp_ignore=8")
        # The client: the VIP through the uplink (a static ARP entry, as a
        # router would be configured); the servers' answers come in on its
        # leg on their bridge (DR), so no reverse-path filter.
        nsx("cl", "ip", "addr", "add", f"{CLIENT}/24", "dev", f"{T}c")
        nsx("cl", "ip", "addr", "add", f"{CLIENT_SRV}/24", "dev", f"{T}k")
        nsx("cl", "ip", "neigh", "replace", UP_ADDR, "lladdr", UP_MAC, "dev", f"{T}c", "nud", "permanent")
        nsx("cl", "ip", "route", "add", f"{VIP}/32", "via", UP_ADDR, "dev", f"{T}c")
        for k in ("all", "default", f"{T}c", f"{T}k"):
            nsx("cl", "sysctl", "-qw", f"net.ipv4.conf.{k}.rp_filter=0")
        nsx("cl", "ethtool", "-K", f"{T}c", "tx", "off")
        # DR real servers: the VIP on loopback; their way back to clients is the client's leg.
        for h, ip in SERVERS.items():
            dev = legs[h]
            nsx(h, "ip", "addr", "add", f"{ip}/24", "dev", dev)
            nsx(h, "ip", "addr", "add", f"{VIP}/32", "dev", "lo")
            nsx(h, "ip", "route", "add", "default", "via", CLIENT_SRV)
            for k, v in (("arp_ignore", 1), ("arp_announce", 2)):
                nsx(h, "sysctl", "-qw", f"net.ipv4.conf.all.{k}={v}")
                nsx(h, "sysctl", "-qw", f"net.ipv4.conf.{dev}.{k}={v}")
            root = os.path.join(self.dir, h)
            os.makedirs(root)
            with open(os.path.join(root, "index.html"), "w") as f:
                f.write(h + "\n")
            self.procs[h] = subprocess.Popen(
                ["ip", "netns", "exec", NS[h], sys.executable, "-m", "http.server", "80", "--directory", root],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.legs = legs
        for name, text in (("client.py", CLIENT_PY), ("send.py", SEND_PY), ("sniff.py", SNIFF_PY)):
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        with open(os.path.join(self.dir, "tern.yaml"), "w") as f:
            f.write(config())

    def start_tern(self):
        cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
        self.tern = subprocess.Popen(
            ["ip", "netns", "exec", NS["lb"], os.path.join(A.build, "tern"), "run", "--config",
             os.path.join(self.dir, "tern.yaml"), "--", "--no-huge", "-m", "768", "--no-shconf", "--no-telemetry",
             "--lcores", f"(0-2)@({cpus})", "--file-prefix", f"tern-ports-{PID}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        def read():
            for line in self.tern.stdout:
                self.log.append(line.rstrip("\n"))
        threading.Thread(target=read, daemon=True).start()
        end = time.monotonic() + 30
        while time.monotonic() < end and self.tern.poll() is None:
            if any("forwarding on" in line for line in self.log):
                return True
            time.sleep(0.05)
        return False

    def requests(self, n):
        r = nsx("cl", sys.executable, os.path.join(self.dir, "client.py"), str(n), VIP, check=False)
        got = dict(kv.split("=") for kv in r.stdout.split())
        return {k: int(v) for k, v in got.items()}

    def console(self, text):
        return subprocess.run(["ip", "netns", "exec", NS["lb"], os.path.join(A.build, "tern"), "console", "--socket",
                               SOCK], input=text, capture_output=True, text=True).stdout.replace("\r", "")

    def metrics(self):
        return nsx("lb", "curl", "-s", f"http://127.0.0.1:{HTTP_PORT}/metrics", check=False).stdout

    def sniffed(self, port, net, secs=60.0):
        """Crafted flows to VIP:port, then ICMP errors about them; what each server saw."""
        sniffers = {}
        for h in SERVERS:
            out = os.path.join(self.dir, f"sniff-{port}-{h}.json")
            sniffers[h] = (out, subprocess.Popen(["ip", "netns", "exec", NS[h], sys.executable,
                                                  os.path.join(self.dir, "sniff.py"), self.legs[h], SRV_MAC,
                                                  str(secs), out], stderr=subprocess.PIPE, text=True))
        end = time.monotonic() + 10
        while time.monotonic() < end and not all(os.path.exists(o + ".ready") for o, _ in sniffers.values()):
            time.sleep(0.05)
        self.errors = []
        for phase in ("flows", "errors"):
            r = nsx("cl", "/usr/bin/python3", os.path.join(self.dir, "send.py"), f"{T}c", str(N), VIP, str(port), UP_MAC,
                    phase, str(net), check=False)
            if r.returncode != 0:
                self.errors.append(r.stderr[-2000:])
            time.sleep(1.0)
        for out, _ in sniffers.values():
            open(out + ".stop", "w").close()
        seen = {}
        for h, (out, p) in sniffers.items():
            _, err = p.communicate(timeout=secs + 10)
            if p.returncode != 0:
                self.errors.append(err[-2000:])
            try:
                with open(out) as f:
                    seen[h] = json.load(f)
            except (OSError, json.JSONDecodeError):
                seen[h] = {}
        return seen

    def down(self):
        if self.tern and self.tern.poll() is None:
            lib.stop_process(self.tern, 20)
        for p in self.procs.values():
            p.kill()
            p.wait()
        for ns in NS.values():
            sh("ip", "netns", "del", ns, check=False)
        subprocess.run(["rm", "-rf", self.dir])


def icmp_check(lab, port, net, name):
    seen = lab.sniffed(port, net)
    keys = [f"198.{net}.{100 + i // 200}.{1 + i % 200}:{20000 + i}" for i in range(N)]
    owner, wrong, missing = {}, {}, []
    for k in keys:
        tcp_at = [h for h in SERVERS if seen[h].get(k, {}).get("tcp", 0) > 0]
        icmp_at = [h for h in SERVERS if seen[h].get(k, {}).get("icmp", 0) > 0]
        if len(tcp_at) != 1 or seen[tcp_at[0]][k]["tcp"] != 3:
            missing.append((k, {h: seen[h].get(k) for h in SERVERS}))
            continue
        owner[k] = tcp_at[0]
        if icmp_at != tcp_at:
            wrong[k] = (tcp_at, icmp_at)
    lib.check(f"{name}: all {N} crafted flows reach one server each, every packet of a flow the same one",
              not missing, f"{missing[:5]} {lab.errors}")
    lib.check(f"{name}: the flows are spread over every server", set(owner.values()) == set(SERVERS),
              set(owner.values()))
    lib.check(f"{name}: every ICMP fragmentation-needed from the client side reaches its flow's server",
              not wrong and len(owner) == N, list(wrong.items())[:5])


lab = Lab()
try:
    lab.up()
    cfg = os.path.join(lab.dir, "tern.yaml")
    r = sh(os.path.join(A.build, "tern"), "check", "--config", cfg, check=False)
    lib.check("tern check accepts two ports", r.returncode == 0 and "OK" in r.stdout, r.stdout + r.stderr)
    r = sh(os.path.join(A.build, "tern"), "replay", "--config", cfg, "--in", os.path.join(lab.dir, "none.pcap"),
           "--out", os.path.join(lab.dir, "out.pcap"), check=False)
    lib.check("tern replay refuses a config with two ports, saying why",
              r.returncode == 2 and "2 ports configured; tern replay drives one port from one capture" in r.stderr,
              r.stdout + r.stderr)
    started = lab.start_tern()
    if not lib.check("tern run starts on two ports with two worker lcores", started and any(
            "forwarding on up, srv (2 worker lcores), kernel interfaces tern-up, tern-srv" in line
            for line in lab.log), "\n".join(lab.log[-30:])):
        raise SystemExit
    lib.check("it says, per port, how the device spreads flows over its two queues",
              all(any(f": {p}: " in line and "queues" in line for line in lab.log) for p in ("up", "srv")),
              "\n".join(lab.log))
    addrs_srv = nsx("lb", "ip", "-o", "addr", "show", "dev", "tern-srv").stdout
    addrs_up = nsx("lb", "ip", "-o", "addr", "show", "dev", "tern-up").stdout
    lib.check("the node address is on the TAP of the port whose subnet holds it (tern-srv), not on tern-up",
              f"{NODE}/24" in addrs_srv and NODE not in addrs_up, addrs_srv + addrs_up)
    # The servers resolved by the kernel behind tern-srv, and found up by their monitors through it.
    end = time.monotonic() + 15
    pools = ""
    while time.monotonic() < end and pools.count("enabled/up/pooled") < 3:
        time.sleep(0.3)
        pools = lab.console("show pools\nquit\n")
    neigh = nsx("lb", "ip", "neigh", "show", "dev", "tern-srv").stdout
    lib.check("the kernel resolves the servers on the server port's TAP (managed entries)",
              all(re.search(rf"^{re.escape(ip)} .*lladdr .*managed", neigh, re.M) for ip in SERVERS.values()),
              neigh)
    lib.check("the health checks through tern-srv find every server up", pools.count("enabled/up/pooled") >= 3,
              pools)

    got = lab.requests(90)
    lib.check("HTTP requests in through the uplink, out through the server port, reach every server, none fails",
              got.get("failed") == 0 and all(got.get(h, 0) > 0 for h in SERVERS), got)

    m = lab.metrics()

    def port_metric(name, port):
        r = re.search(rf'^{name}{{port="{re.escape(port)}"}} ([0-9.e+]+)$', m, re.M)
        return float(r.group(1)) if r else None
    up_rx, srv_tx = port_metric("tern_port_rx_packets_total", "up"), port_metric("tern_port_tx_packets_total", "srv")
    up_tx = port_metric("tern_port_tx_packets_total", "up")
    lib.check("metrics: the uplink received the requests, the server port sent them (tern_port_*{port=...})",
              up_rx and srv_tx and up_rx >= 90 * 5 and srv_tx >= up_rx * 0.9 and (up_tx or 0) < up_rx / 10,
              f"up rx {up_rx} tx {up_tx}, srv tx {srv_tx}")
    lib.check("metrics: both ports' kernel interfaces are counted",
              port_metric("tern_port_rx_packets_total", "kernel-up") is not None
              and (port_metric("tern_port_tx_packets_total", "kernel-srv") or 0) > 0, m[:2000])
    pst = lab.console("show port stats all\nshow port info all\nquit\n")
    blocks = re.findall(r"NIC statistics for port (\d+)", pst)
    lib.check("show port stats all / info all: every port (two data ports, two TAPs)",
              len(set(blocks)) == 4 and f"MAC address: {UP_MAC.upper()}" in pst
              and f"MAC address: {SRV_MAC.upper()}" in pst, pst[:3000])

    icmp_check(lab, 80, 51, "maglev")
    for i, (sched, port) in enumerate(OTHER_SCHEDULERS):
        icmp_check(lab, port, 52 + i, sched)
    m = lab.metrics()
    handed = sum(float(v) for v in re.findall(r'^tern_lcore_handed_over_packets_total\{[^}]*\} ([0-9.e+]+)$', m, re.M))
    rx = re.findall(r'^tern_lcore_rx_packets_total\{[^}]*\} ([0-9.e+]+)$', m, re.M)
    lib.check("both lcores received, and errors that landed on the other lcore were handed to the flow's",
              handed > 0 and len(rx) == 2 and all(float(v) > 0 for v in rx), f"handed over {handed}, rx {rx}")
    # (other_mac: the bridge floods frames for others' MACs to the server port.)
    drops = {line for line in m.splitlines()
             if line.startswith("tern_lcore_dropped_packets_total") and not line.endswith(" 0")
             and 'reason="other_mac"' not in line}
    lib.check("no drops on any lcore (no_neighbor, no_server, tx_full, inbox_full, ...)", not drops, drops)

    lab.tern.send_signal(signal.SIGTERM)
    rc = lab.tern.wait(timeout=20)
    lib.check("tern run stops cleanly", rc == 0, "\n".join(lab.log[-20:]))
finally:
    lab.down()
    lib.done()
