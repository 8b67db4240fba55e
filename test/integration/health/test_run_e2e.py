#!/usr/bin/python3
"""`tern run` end to end with health checks: real HTTP servers (Python's
http.server) in the balancer's network namespace, ProxyFetch on each, and SYNs
sent from a second namespace over a veth pair (the balancer's port is
net_af_packet on its end). What the balancer forwards (DR: the server's MAC)
shows which servers are pooled: a failing server is depooled, the depool
threshold keeps one pooled when too many fail, recovery lets it go, SIGHUP
reloads a good config and rejects a bad one whole."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import lib  # noqa: E402

A = lib.args()
PID = os.getpid()
NS_LB, NS_CL = f"tlb{PID}", f"tcl{PID}"
PORT_MAC = "02:00:00:00:01:01"
VIP = "192.0.2.10"
SERVERS = {"a": ("127.0.0.11", "02:00:00:00:00:11"),
           "b": ("127.0.0.12", "02:00:00:00:00:12"),
           "c": ("127.0.0.13", "02:00:00:00:00:13")}
MAC_TO_HOST = {mac: h for h, (_, mac) in SERVERS.items()}

SENDER = r'''
import socket, sys, time
from scapy.all import Ether, IP, TCP, raw
iface, base, count, vip, port_mac = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((iface, 0))
s.settimeout(0.05)
me = s.getsockname()[4]
seen = {}
for i in range(count):
    f = Ether(src="02:00:00:00:02:02", dst=port_mac) / IP(src="198.51.100.%d" % (1 + i % 200), dst=vip) / \
        TCP(sport=base + i, dport=8080, flags="S")
    s.send(raw(f))
end = time.time() + 1.5
while time.time() < end:
    try:
        d = s.recv(2048)
    except socket.timeout:
        continue
    if d[6:12] != bytes.fromhex(port_mac.replace(":", "")) or d[12:14] != b"\x08\x00":
        continue
    if socket.inet_ntoa(d[30:34]) != vip:
        continue
    mac = ":".join("%02x" % b for b in d[0:6])
    seen[mac] = seen.get(mac, 0) + 1
print(" ".join("%s=%d" % kv for kv in sorted(seen.items())))
'''


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def config(servers, threshold=0.5, extra=""):
    rs = "".join(f"      - {{host: {h}, ip: {SERVERS[h][0]}}}\n" for h in servers)
    neigh = "".join(f"  - {{ip: {ip}, mac: \"{mac}\"}}\n" for ip, mac in SERVERS.values())
    return (f"node: {{name: e2e, ipv4: 10.99.0.1}}\n"
            f"ports: [{{name: p0, device: \"net_af_packet0,iface=vlb{PID % 10000}\", mac: \"{PORT_MAC}\"}}]\n"
            f"neighbors:\n{neigh}"
            f"console: {{socket: /tmp/tern-e2e-{PID}.sock}}\n"
            f"services:\n"
            f"  - name: web\n    vip: {VIP}\n    port: 8080\n    depool_threshold: {threshold}\n"
            f"    monitors:\n      ProxyFetch: {{url: \"http://web.test/health\", interval: 0.3, timeout: 0.25}}\n"
            f"{extra}"
            f"    realservers:\n{rs}")


class E2E:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tern-e2e-")
        self.cfg = os.path.join(self.dir, "tern.yaml")
        self.sender = os.path.join(self.dir, "send.py")
        with open(self.sender, "w") as f:
            f.write(SENDER)
        self.http = {}
        self.tern = None
        self.log = []
        self.base = 10000

    def up(self):
        la, lb = f"vlb{PID % 10000}", f"vcl{PID % 10000}"
        sh("ip", "netns", "add", NS_LB)
        sh("ip", "netns", "add", NS_CL)
        sh("ip", "link", "add", la, "netns", NS_LB, "type", "veth", "peer", "name", lb, "netns", NS_CL)
        for ns, dev in ((NS_LB, la), (NS_CL, lb)):
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up")
        sh("ip", "netns", "exec", NS_LB, "sysctl", "-qw", f"net.ipv4.conf.{la}.arp_ignore=8")
        self.client_if = lb

    def start_http(self, host):
        ip = SERVERS[host][0]
        root = os.path.join(self.dir, host)
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, "health"), "w") as f:
            f.write("ok\n")
        self.http[host] = subprocess.Popen(
            ["ip", "netns", "exec", NS_LB, "/usr/bin/python3", "-m", "http.server", "8080", "--bind", ip,
             "--directory", root], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Listening before going on.
        end = time.monotonic() + 10
        while time.monotonic() < end:
            r = sh("ip", "netns", "exec", NS_LB, "ss", "-ltnH", f"src {ip}:8080", check=False)
            if r.stdout.strip():
                return
            time.sleep(0.1)

    def stop_http(self, host):
        p = self.http.pop(host)
        p.terminate()
        p.wait(timeout=5)

    def start_tern(self, text):
        with open(self.cfg, "w") as f:
            f.write(text)
        cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
        self.tern = subprocess.Popen(
            ["ip", "netns", "exec", NS_LB, os.path.join(A.build, "tern"), "run", "--config", self.cfg, "--",
             "--no-huge", "-m", "512", "--no-shconf", "--no-telemetry", "--lcores", f"(0-1)@({cpus})",
             "--file-prefix", f"tern-e2e-{PID}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        import threading

        def read():
            for line in self.tern.stdout:
                self.log.append(line.rstrip("\n"))
        threading.Thread(target=read, daemon=True).start()
        return self.wait_log("forwarding on", 30)

    def wait_log(self, fragment, timeout, start=0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for i in range(start, len(self.log)):
                if fragment in self.log[i]:
                    return i + 1
            if self.tern.poll() is not None:
                return 0
            time.sleep(0.05)
        return 0

    def send(self, count=60):
        r = sh("ip", "netns", "exec", NS_CL, "/usr/bin/python3", self.sender, self.client_if, str(self.base),
               str(count), VIP, PORT_MAC, check=False)
        self.base += count
        hosts = {}
        for kv in r.stdout.split():
            mac, n = kv.split("=")
            hosts[MAC_TO_HOST.get(mac, mac)] = int(n)
        return hosts

    def down(self):
        if self.tern and self.tern.poll() is None:
            self.tern.send_signal(signal.SIGTERM)
            try:
                self.tern.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.tern.kill()
                self.tern.wait()
        for p in self.http.values():
            p.kill()
            p.wait()
        sh("ip", "netns", "del", NS_LB, check=False)
        sh("ip", "netns", "del", NS_CL, check=False)
        subprocess.run(["rm", "-rf", self.dir])


e = E2E()
try:
    e.up()
    for h in SERVERS:
        e.start_http(h)
    started = e.start_tern(config(["a", "b", "c"]))
    if not lib.check("tern run starts with monitors", started, "\n".join(e.log[-30:])):
        raise SystemExit
    time.sleep(1.0)
    got = e.send()
    lib.check("all three servers take new flows", set(got) == {"a", "b", "c"}, got)

    mark = len(e.log)
    e.stop_http("b")
    seen = e.wait_log("Monitoring instance ProxyFetch reports server b", 5, mark)
    lib.check("ProxyFetch reports b down with the monitor and reason", seen > 0, "\n".join(e.log[mark:]))
    time.sleep(0.5)
    got = e.send()
    lib.check("b depooled: new flows avoid it", "b" not in got and set(got) == {"a", "c"}, got)

    mark = len(e.log)
    e.stop_http("a")
    seen = e.wait_log("Could not depool server a because of too many down!", 5, mark)
    lib.check("threshold 0.5 of 3: a second failing server stays pooled, logged as PyBal does", seen > 0,
              "\n".join(e.log[mark:]))
    time.sleep(0.5)
    got = e.send()
    lib.check("pooled-but-down a still takes flows", set(got) == {"a", "c"}, got)
    api = sh("ip", "netns", "exec", NS_LB, "curl", "-s", "127.0.0.1:9090/alerts", check=False).stdout
    lib.check("/alerts: CRITICAL names the pooled-but-down server", api == "CRITICAL - web: Servers a are marked down but pooled", api)
    api = sh("ip", "netns", "exec", NS_LB, "curl", "-s", "127.0.0.1:9090/pools/web", check=False).stdout
    lib.check("/pools/web: PyBal's lines", api == "a:\tenabled/down/pooled\nb:\tenabled/down/not pooled\nc:\tenabled/up/pooled\n", repr(api))

    mark = len(e.log)
    e.start_http("b")
    seen = e.wait_log("Server b", 5, mark)
    time.sleep(0.8)
    got = e.send()
    lib.check("b back: repooled, and a (pooled but down) depooled", set(got) == {"b", "c"},
              f"{got}\n" + "\n".join(e.log[mark:]))

    # Reload: a bad config is rejected whole and changes nothing.
    mark = len(e.log)
    with open(e.cfg, "w") as f:
        f.write(config(["b", "c"]).replace("depool_threshold: 0.5", "depool_threshold: 5"))
    e.tern.send_signal(signal.SIGHUP)
    seen = e.wait_log("rejected", 5, mark)
    lib.check("SIGHUP with a bad config: rejected, the error named", seen > 0 and any(
        "depool_threshold" in line for line in e.log[mark:]), "\n".join(e.log[mark:]))
    got = e.send()
    lib.check("after a rejected reload the pool is unchanged", set(got) == {"b", "c"}, got)

    # A good one: c leaves, b keeps its health (up), a comes back up.
    e.start_http("a")
    mark = len(e.log)
    with open(e.cfg, "w") as f:
        f.write(config(["a", "b"]))
    e.tern.send_signal(signal.SIGHUP)
    seen = e.wait_log("reloaded", 5, mark)
    time.sleep(1.0)
    got = e.send()
    lib.check("SIGHUP with a good config: c removed, a and b serve", seen > 0 and set(got) == {"a", "b"},
              f"{got}\n" + "\n".join(e.log[mark:]))
    e.tern.send_signal(signal.SIGTERM)
    rc = e.tern.wait(timeout=20)
    lib.check("tern run stops cleanly", rc == 0, "\n".join(e.log[-20:]))
finally:
    e.down()
lib.done()
