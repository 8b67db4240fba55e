#!/usr/bin/python3
"""`tern run` with the kernel as the source of its next hops: no `neighbors`
in the config at all. Real kernel stacks in network namespaces joined by a
bridge: an HTTP client, three DR real servers (the VIP on loopback,
arp_ignore/arp_announce set, an HTTP server each) and the balancer on
net_af_packet. The kernel behind the exception path's TAP resolves the
servers' MACs (managed neighbour entries); requests through the VIP reach
every server; a server's NIC is replaced mid-run (new MAC, gratuitous ARP)
and its share follows it; a pooled server nobody answers for is an alert
(/alerts, show pools, a metric), not a silent drop."""
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
T = f"k{PID % 100000}"
NS = {x: f"{T}{x}" for x in ("lb", "sw", "cl", "a", "b", "c")}
PORT_MAC = "02:00:00:00:01:01"
NODE, CLIENT, VIP = "10.98.0.1", "10.98.0.100", "192.0.2.10"
SERVERS = {"a": "10.98.0.11", "b": "10.98.0.12", "c": "10.98.0.13"}
GHOST = "10.98.0.14"  # pooled (no monitor), nobody there
SOCK = f"/tmp/tern-kern-{PID}.sock"
HTTP_PORT = 9090

# Runs in the client's namespace: N requests, each a new connection; prints
# "host=count ... failed=N".
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
    except Exception as e:
        failed += 1
print(" ".join("%s=%d" % kv for kv in sorted(seen.items())), "failed=%d" % failed)
'''

# A gratuitous ARP from a server's namespace: its new MAC for its address.
GARP_PY = r'''
import sys
from scapy.all import Ether, ARP, sendp
iface, ip, mac = sys.argv[1:4]
sendp(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=mac, psrc=ip, hwdst="00:00:00:00:00:00", pdst=ip),
      iface=iface, count=2, verbose=False)
'''


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def nsx(ns, *cmd, check=True):
    return sh("ip", "netns", "exec", NS[ns], *cmd, check=check)


def config(neighbors=None, hosts=tuple(SERVERS), ipv6=False):
    rs = "".join(f"      - {{host: {h}, ip: {SERVERS[h]}}}\n" for h in hosts)
    neigh = "".join(f"  - {{ip: {ip}, mac: \"{mac}\"}}\n" for ip, mac in (neighbors or {}).items())
    return (f"node: {{name: kern{PID}, ipv4: {NODE}" + (", ipv6: \"fd98::1\"" if ipv6 else "") + "}\n"
            f"ports: [{{name: p0, device: \"net_af_packet0,iface={T}lb\", mac: \"{PORT_MAC}\","
            f" subnets: [10.98.0.0/24" + (", \"fd98::/64\"" if ipv6 else "") + "]}]\n"
            f"console: {{socket: {SOCK}}}\n"
            f"http: {{address: 127.0.0.1, port: {HTTP_PORT}}}\n"
            + (f"neighbors:\n{neigh}" if neigh else "") +
            f"services:\n"
            f"  - name: web\n    vip: {VIP}\n    port: 80\n"
            f"    monitors:\n      ProxyFetch: {{url: \"http://web.test/\", interval: 0.5, timeout: 0.4}}\n"
            f"    realservers:\n{rs}"
            f"  - name: ghost\n    vip: {VIP}\n    port: 8081\n"
            f"    realservers:\n      - {{host: g, ip: {GHOST}}}\n")


class Lab:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tern-kern-")
        self.procs = {}
        self.tern = None
        self.log = []

    def up(self):
        for ns in NS.values():
            sh("ip", "netns", "add", ns)
        nsx("sw", "ip", "link", "add", "br0", "type", "bridge")
        nsx("sw", "ip", "link", "set", "br0", "up")
        for x in ("lb", "cl", "a", "b", "c"):
            sh("ip", "link", "add", f"{T}{x}", "netns", NS[x], "type", "veth", "peer", "name", f"{T}{x}s", "netns",
               NS["sw"])
            nsx("sw", "ip", "link", "set", f"{T}{x}s", "master", "br0", "up")
            nsx(x, "ip", "link", "set", "lo", "up")
            nsx(x, "ip", "link", "set", f"{T}{x}", "up")
        # The balancer's port: the kernel of its namespace stays out (the TAP answers).
        nsx("lb", "sysctl", "-qw", f"net.ipv4.conf.{T}lb.arp_ignore=8")
        # The client: the VIP through the balancer; checksums filled before af_packet sees them.
        nsx("cl", "ip", "addr", "add", f"{CLIENT}/24", "dev", f"{T}cl")
        nsx("cl", "ip", "route", "add", f"{VIP}/32", "via", NODE)
        nsx("cl", "ethtool", "-K", f"{T}cl", "tx", "off")
        # DR real servers: the VIP on loopback, never answered for on the wire.
        for h, ip in SERVERS.items():
            nsx(h, "ip", "addr", "add", f"{ip}/24", "dev", f"{T}{h}")
            nsx(h, "ip", "addr", "add", f"{VIP}/32", "dev", "lo")
            for k, v in (("arp_ignore", 1), ("arp_announce", 2)):
                nsx(h, "sysctl", "-qw", f"net.ipv4.conf.all.{k}={v}")
                nsx(h, "sysctl", "-qw", f"net.ipv4.conf.{T}{h}.{k}={v}")
            root = os.path.join(self.dir, h)
            os.makedirs(root)
            with open(os.path.join(root, "index.html"), "w") as f:
                f.write(h + "\n")
            self.procs[h] = subprocess.Popen(
                ["ip", "netns", "exec", NS[h], sys.executable, "-m", "http.server", "80", "--directory", root],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(self.dir, "client.py"), "w") as f:
            f.write(CLIENT_PY)
        with open(os.path.join(self.dir, "garp.py"), "w") as f:
            f.write(GARP_PY)

    def write_config(self, text):
        with open(os.path.join(self.dir, "tern.yaml"), "w") as f:
            f.write(text)

    def start_tern(self):
        cfg = os.path.join(self.dir, "tern.yaml")
        # c arrives later, through the console.
        self.write_config(config(hosts=("a", "b")))
        cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
        self.tern = subprocess.Popen(
            ["ip", "netns", "exec", NS["lb"], os.path.join(A.build, "tern"), "run", "--config", cfg, "--",
             "--no-huge", "-m", "512", "--no-shconf", "--no-telemetry", "--lcores", f"(0-1)@({cpus})",
             "--file-prefix", f"tern-kern-{PID}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        def read():
            for line in self.tern.stdout:
                self.log.append(line.rstrip("\n"))
        threading.Thread(target=read, daemon=True).start()
        return self.wait_log("forwarding on", 30)

    def wait_log(self, fragment, timeout, start=0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(fragment in line for line in self.log[start:]):
                return True
            if self.tern.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def requests(self, n=60):
        r = nsx("cl", sys.executable, os.path.join(self.dir, "client.py"), str(n), VIP, check=False)
        got = dict(kv.split("=") for kv in r.stdout.split())
        return {k: int(v) for k, v in got.items()}

    def console(self, text):
        return subprocess.run(["ip", "netns", "exec", NS["lb"], os.path.join(A.build, "tern"), "console", "--socket",
                               SOCK], input=text, capture_output=True, text=True).stdout.replace("\r", "")

    def http(self, path):
        return nsx("lb", "curl", "-s", f"http://127.0.0.1:{HTTP_PORT}{path}", check=False).stdout

    def down(self):
        if self.tern and self.tern.poll() is None:
            self.tern.send_signal(signal.SIGTERM)
            try:
                self.tern.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.tern.kill()
                self.tern.wait()
        for p in self.procs.values():
            p.kill()
            p.wait()
        for ns in NS.values():
            sh("ip", "netns", "del", ns, check=False)
        subprocess.run(["rm", "-rf", self.dir])


lab = Lab()
try:
    lab.up()
    if not lib.check("tern run starts without neighbors", lab.start_tern(), "\n".join(lab.log[-30:])):
        raise SystemExit
    addrs = nsx("lb", "ip", "-o", "addr", "show", "dev", "tern-p0").stdout
    lib.check("the exception path carries the node address with its subnet's length", f"{NODE}/24" in addrs, addrs)
    # The monitors' first verdicts come through the TAP too (the servers are reached on-link through it).
    end = time.monotonic() + 10
    while time.monotonic() < end and "web:" not in lab.console("show pools\nquit\n"):
        time.sleep(0.2)
    time.sleep(1.5)
    neigh = nsx("lb", "ip", "neigh", "show", "dev", "tern-p0").stdout
    lib.check("the kernel holds managed entries for the servers",
              all(re.search(rf"^{re.escape(SERVERS[h])} .*lladdr .*managed", neigh, re.M) for h in "ab"), neigh)

    got = lab.requests(40)
    lib.check("requests through the VIP reach a and b, none fails",
              got.get("failed") == 0 and got.get("a", 0) > 0 and got.get("b", 0) > 0, got)

    conns = lab.console("show connections\nquit\n")
    rows = re.findall(rf"^TCP \d\d:\d\d  (\S+)\s+{re.escape(CLIENT)}:\d+\s+{re.escape(VIP)}:80\s+(\S+):80$", conns, re.M)
    lib.check("show connections lists the client's flows as ipvsadm -Lnc does",
              "IPVS connection entries\npro expire state       source             virtual            destination" in conns
              and rows and {d for _, d in rows} <= {SERVERS["a"], SERVERS["b"]}, conns)

    st = lab.console("show services stats\nshow services rate\nquit\n")
    m = re.search(rf"^TCP  {re.escape(VIP)}:80\s+(\d+)\s+(\d+)\s+0\s+(\d+)\s+0\s*$", st, re.M)
    lib.check("show services stats: the 40 requests' connections and packets (ipvsadm --stats)",
              "Conns   InPkts  OutPkts  InBytes OutBytes" in st and m and int(m.group(1)) >= 40
              and int(m.group(2)) >= 5 * 40, st)
    lib.check("show services rate: ipvsadm --rate's columns", "CPS    InPPS   OutPPS    InBPS   OutBPS" in st, st)

    # testpmd's words for the ports.
    first = lab.console("show port stats all\nquit\n")
    lab.requests(10)
    pst = lab.console("show port stats all\nshow port info all\nshow port xstats all\nclear port stats all\n"
                      "show port stats all\nquit\n")
    rx = [int(x) for x in re.findall(r"RX-packets: (\d+)", pst)]
    pps = [int(x) for x in re.findall(r"Rx-pps: +(\d+)", pst)]
    lib.check("show port stats all: testpmd's block per port, throughput since the last show",
              "######################## NIC statistics for port 0  ########################" in first
              and len(rx) >= 4 and rx[0] > 0 and pps and pps[0] > 0, pst[:1500])
    lib.check("show port info all: testpmd's infos (MAC, driver, link)",
              f"MAC address: {PORT_MAC.upper()}" in pst and "Driver name: net_af_packet" in pst
              and "Driver name: net_tap" in pst, pst)
    lib.check("show port xstats all: the PMD's extended statistics",
              "###### NIC extended statistics for port 0" in pst and "rx_good_packets: " in pst, pst)
    lib.check("clear port stats all: the counters restart", "NIC statistics for port 0 cleared" in pst
              and rx[-2] < rx[0], rx)

    # A server that arrives at run time (as from etcd or a pool file): the
    # kernel is asked to resolve it, and it takes its share.
    out = lab.console(f"add realserver web c {SERVERS['c']} 1\nquit\n")
    end = time.monotonic() + 10
    neigh = ""
    while time.monotonic() < end and not re.search(rf"^{re.escape(SERVERS['c'])} .*lladdr", neigh, re.M):
        time.sleep(0.2)
        neigh = nsx("lb", "ip", "neigh", "show", "dev", "tern-p0").stdout
    lib.check("add realserver: the kernel is asked to resolve the new server (a managed entry) and does",
              re.search(rf"^{re.escape(SERVERS['c'])} .*lladdr .*managed", neigh, re.M), out + neigh)
    end = time.monotonic() + 10
    while time.monotonic() < end and "c:\tenabled/up/pooled" not in lab.console("show pools\nquit\n"):
        time.sleep(0.2)
    got = lab.requests(60)
    lib.check("requests through the VIP reach every server, none fails",
              got.get("failed") == 0 and all(got.get(h, 0) > 0 for h in SERVERS), got)

    pools = lab.console("show pools\nquit\n")
    lib.check("show pools marks the pooled server whose MAC is unknown",
              f"[no MAC for {GHOST}]" in pools and "[no MAC" not in pools.split("ghost")[0], pools)
    alerts = lab.http("/alerts")
    lib.check("/alerts: a pooled server with an unknown MAC is critical",
              alerts.startswith("CRITICAL") and f"g ({GHOST})" in alerts and "a (" not in alerts, alerts)
    metrics = lab.http("/metrics")
    lib.check("the metric names the unresolved server only",
              'tern_server_next_hop_unresolved{service="ghost",host="g"} 1' in metrics
              and 'tern_server_next_hop_unresolved{service="web",host="a"} 0' in metrics, metrics[:3000])

    # A replaced NIC: b's MAC changes and b says so (gratuitous ARP).
    new_mac = "02:00:00:00:0b:0b"
    mark = len(lab.log)
    nsx("b", "ip", "link", "set", "dev", f"{T}b", "address", new_mac)
    nsx("b", sys.executable, os.path.join(lab.dir, "garp.py"), f"{T}b", SERVERS["b"], new_mac)
    moved = lab.wait_log(f"{SERVERS['b']} moved", 5, mark)
    lib.check("the kernel's new MAC for b reaches the table", moved, "\n".join(lab.log[mark:]))
    # Health checks sent to the old MAC before the gratuitous ARP may depool
    # b for a moment (a check every 0.5 s, 0.4 s timeout): past that window,
    # requests once it is pooled again.
    time.sleep(2)
    end = time.monotonic() + 10
    while time.monotonic() < end and "b:\tenabled/up/pooled" not in lab.console("show pools\nquit\n"):
        time.sleep(0.2)
    got = lab.requests(60)
    lib.check("after b's NIC changed, requests still reach every server, none fails",
              got.get("failed") == 0 and all(got.get(h, 0) > 0 for h in SERVERS),
              f"{got}\n" + "\n".join(lab.log[mark:]))

    # A server killed is depooled; then no request fails and none reaches it.
    lab.procs["c"].kill()
    end = time.monotonic() + 10
    while time.monotonic() < end and "c:\tenabled/down/not pooled" not in lab.console("show pools\nquit\n"):
        time.sleep(0.2)
    got = lab.requests(60)
    lib.check("c killed and depooled: no request fails, none reaches c",
              got.get("failed") == 0 and "c" not in got and got.get("a", 0) > 0 and got.get("b", 0) > 0, got)

    # With static neighbors (the servers' real MACs), reloaded: the same.
    macs = {}
    for h, ip in SERVERS.items():
        macs[ip] = nsx(h, "cat", f"/sys/class/net/{T}{h}/address").stdout.strip()
    lab.write_config(config(macs, ipv6=True))
    mark = len(lab.log)
    lab.tern.send_signal(signal.SIGHUP)
    lib.check("SIGHUP: the config with neighbors is reloaded", lab.wait_log("reloaded", 10, mark),
              "\n".join(lab.log[mark:]))
    addrs = nsx("lb", "ip", "-o", "addr", "show", "dev", "tern-p0").stdout
    lib.check("the reload's new node address is on the exception path", "fd98::1/64" in addrs, addrs)
    got = lab.requests(60)
    lib.check("with neighbors in the config, requests reach the pooled servers, none fails",
              got.get("failed") == 0 and got.get("a", 0) > 0 and got.get("b", 0) > 0 and "c" not in got, got)
finally:
    lab.down()
    lib.done()
