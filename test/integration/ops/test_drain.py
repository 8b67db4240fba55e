#!/usr/bin/python3
"""SIGTERM drains: `tern run` on net_af_packet withdraws its route from BIRD
(the session runs through the TAP exception path), keeps forwarding an
established kernel TCP connection for bgp.drain_time, then stops; a second
SIGTERM during the drain stops it at once. READY waits for the BGP session.
The lcore watchdog: with its one worker lcore stalled (the console's `debug
stall`), tern notices within a second (log, /alerts, metric) and withdraws
the route (the UPDATE waits in the TAP's queue, which the stalled worker
serves: it reaches BIRD when the lcore moves again, followed by the
announcement); a SIGTERM while it stays stalled ends the process 5 s after
the drain instead of hanging.

Four namespaces on one bridge (its own namespace):
  client + BIRD 10.99.0.2 (the router; VIP route via 10.99.0.1)
  tern: net_af_packet on its veth, TAP tern-p0 10.99.0.1/24 (the node address, set by tern)
  server 10.99.0.3, the VIP on lo (DR), a TCP echo server on VIP:8080
"""
import os
import shutil
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
N = PID % 10000
NS_SW, NS_LB, NS_CL, NS_SV = f"tdsw{PID}", f"tdlb{PID}", f"tdcl{PID}", f"tdsv{PID}"
LB_IF, CL_IF, SV_IF = f"vdl{N}", f"vdc{N}", f"vds{N}"
TMP = tempfile.mkdtemp(prefix="tern-drain-")
TERN = os.path.join(A.build, "tern")
PORT_MAC, SERVER_MAC = "02:00:00:00:01:01", "02:00:00:00:00:33"
VIP = "192.0.2.10"
DRAIN = 3

CLIENT = r'''
import socket, sys, time
vip, dur = sys.argv[1], float(sys.argv[2])
end = time.time() + dur
s = socket.create_connection((vip, 8080), timeout=3)
print("connected", time.time(), flush=True)
s.settimeout(0.25)
i = 0
while time.time() < end:
    t = time.time()
    try:
        s.sendall(b"%d\n" % i)
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(100)
            if not chunk:
                raise ConnectionError("closed by the server")
            data += chunk
        print("ok", t, flush=True)
    except socket.timeout:
        print("timeout", t, flush=True)
    except OSError as e:
        print("error", t, e, flush=True)
        break
    i += 1
    time.sleep(0.1)
'''

ECHO = r'''
import socketserver
class H(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            d = self.request.recv(100)
            if not d:
                return
            self.request.sendall(d)
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer.daemon_threads = True
socketserver.ThreadingTCPServer(("0.0.0.0", 8080), H).serve_forever()
'''


def sh(*cmd, check=False, input=None):
    r = subprocess.run(cmd, capture_output=True, text=True, input=input)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr}")
    return r


def nsx(ns, *cmd, check=True):
    return sh("ip", "netns", "exec", ns, *cmd, check=check)


CONSOLE = os.path.join(TMP, "console.sock")
HTTP_PORT = 20000 + N


def config(drain, operators=False):
    ops = (f"console: {{socket: {CONSOLE}}}\nhttp: {{address: 127.0.0.1, port: {HTTP_PORT}}}" if operators else
           "console: {enabled: false}\nhttp: {enabled: false}")
    return f"""node: {{name: drain, ipv4: 10.99.0.1}}
ports: [{{name: p0, device: "net_af_packet0,iface={LB_IF}", mac: "{PORT_MAC}", subnets: [10.99.0.0/24]}}]
{ops}
neighbors: [{{ip: 10.99.0.3, mac: "{SERVER_MAC}"}}]
bgp:
  local_asn: 64600
  connect_retry: 1
  listen: false
  drain_time: {drain}
  peers: [{{address: 10.99.0.2, asn: 65000}}]
services:
  - name: echo
    vip: {VIP}
    port: 8080
    realservers: [{{host: s, ip: 10.99.0.3}}]
"""


def topology_up():
    for ns in (NS_SW, NS_LB, NS_CL, NS_SV):
        sh("ip", "netns", "add", ns, check=True)
        sh("ip", "-n", ns, "link", "set", "lo", "up", check=True)
    sh("ip", "-n", NS_SW, "link", "add", "br0", "type", "bridge", check=True)
    for i, (ns, dev) in enumerate(((NS_LB, LB_IF), (NS_CL, CL_IF), (NS_SV, SV_IF))):
        sw = f"s{i}{N}"
        sh("ip", "link", "add", dev, "netns", ns, "type", "veth", "peer", "name", sw, "netns", NS_SW, check=True)
        sh("ip", "-n", NS_SW, "link", "set", sw, "master", "br0", "up", check=True)
        sh("ip", "-n", ns, "link", "set", dev, "up", check=True)
    sh("ip", "-n", NS_SW, "link", "set", "br0", "up", check=True)
    # tern's veth: the kernel must not answer ARP for the TAP's address on it.
    nsx(NS_LB, "sysctl", "-qw", f"net.ipv4.conf.{LB_IF}.arp_ignore=8")
    # The client's TCP goes through af_packet, which fixes no checksums.
    sh("ip", "-n", NS_CL, "addr", "add", "10.99.0.2/24", "dev", CL_IF, check=True)
    sh("ip", "-n", NS_CL, "route", "add", f"{VIP}/32", "via", "10.99.0.1", check=True)
    nsx(NS_CL, "ethtool", "-K", CL_IF, "tx", "off")
    # The real server: DR, the VIP on lo, no ARP for it.
    sh("ip", "-n", NS_SV, "link", "set", SV_IF, "address", SERVER_MAC, check=True)
    sh("ip", "-n", NS_SV, "addr", "add", "10.99.0.3/24", "dev", SV_IF, check=True)
    sh("ip", "-n", NS_SV, "addr", "add", f"{VIP}/32", "dev", "lo", check=True)
    nsx(NS_SV, "sysctl", "-qw", f"net.ipv4.conf.{SV_IF}.arp_ignore=1", f"net.ipv4.conf.{SV_IF}.arp_announce=2")


class Tern:
    def __init__(self, drain, name, operators=False):
        self.cfg = os.path.join(TMP, f"{name}.yaml")
        with open(self.cfg, "w") as f:
            f.write(config(drain, operators))
        cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
        self.log = []
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", NS_LB, TERN, "run", "--config", self.cfg, "--", "--no-huge", "-m", "512",
             "--no-shconf", "--no-telemetry", "--lcores", f"(0-1)@({cpus})", "--file-prefix", f"tern-drain-{PID}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.p.stdout:
            self.log.append((time.time(), line.rstrip()))

    def wait_log(self, fragment, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for t, line in list(self.log):
                if fragment in line:
                    return t
            if self.p.poll() is not None:
                return None
            time.sleep(0.05)
        return None

    def where(self, fragment):
        return next((i for i, (_, line) in enumerate(self.log) if fragment in line), -1)

    def text(self):
        return "\n".join(line for _, line in self.log)

    def up(self):
        """Forwarding (tern gives the TAP the node's address), the session to BIRD established."""
        if self.wait_log("forwarding on", 30) is None:
            return False
        return self.wait_log("Established", 20) is not None

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


class Bird:
    def __init__(self):
        self.sock = os.path.join(TMP, "bird.ctl")
        with open(os.path.join(TMP, "bird.conf"), "w") as f:
            f.write("""router id 10.99.0.2;
log stderr all;
protocol device { scan time 1; }
protocol bgp tern {
  local 10.99.0.2 as 65000;
  neighbor 10.99.0.1 as 64600;
  connect delay time 1; connect retry time 1; error wait time 1, 2;
  ipv4 { import all; export none; };
}
""")
        self.logf = open(os.path.join(TMP, "bird.log"), "w")
        self.p = subprocess.Popen(["ip", "netns", "exec", NS_CL, "bird", "-f", "-c", os.path.join(TMP, "bird.conf"),
                                   "-s", self.sock], stdout=self.logf, stderr=subprocess.STDOUT)

    def has_route(self):
        out = sh("birdc", "-s", self.sock, "show", "route", "for", VIP).stdout
        return f"{VIP}/32" in out

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.logf.close()


def console(cmd):
    return sh(TERN, "console", "--socket", CONSOLE, input=f"{cmd}\nquit\n").stdout


def http(path):
    return nsx(NS_LB, "curl", "-s", "--max-time", "2", f"http://127.0.0.1:{HTTP_PORT}{path}", check=False).stdout


def wait_until(cond, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return time.time()
        time.sleep(0.05)
    return None


def parse_client(out):
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("ok", "timeout", "error", "connected"):
            rows.append((parts[0], float(parts[1])))
    return rows


tern = bird = echo = None
try:
    missing = [t for t in ("bird", "birdc", "ethtool") if shutil.which(t) is None]
    if not lib.check("bird2 and ethtool are installed (scripts/setup)", not missing, f"missing: {missing}"):
        raise SystemExit
    topology_up()
    with open(os.path.join(TMP, "client.py"), "w") as f:
        f.write(CLIENT)
    with open(os.path.join(TMP, "echo.py"), "w") as f:
        f.write(ECHO)
    echo = subprocess.Popen(["ip", "netns", "exec", NS_SV, "/usr/bin/python3", os.path.join(TMP, "echo.py")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bird = Bird()

    # 1. A drain of DRAIN seconds.
    tern = Tern(DRAIN, "drain")
    up = tern.up()
    lib.check("tern run forwards and its BGP session to BIRD (through the TAP) comes up", up, tern.text())
    if not up:
        raise SystemExit
    end = time.monotonic() + 10
    while time.monotonic() < end and not bird.has_route():
        time.sleep(0.2)
    lib.check("BIRD has the VIP route", bird.has_route(), sh("birdc", "-s", bird.sock, "show", "route").stdout)
    tern.wait_log("ready:", 12)
    ready = tern.where("ready:")
    lib.check("READY (the log's 'ready:') waits for the BGP session", ready > tern.where("Established") >= 0,
              tern.text())

    client = subprocess.Popen(["ip", "netns", "exec", NS_CL, "/usr/bin/python3", os.path.join(TMP, "client.py"),
                               VIP, str(DRAIN + 5)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(1.5)
    t_term = time.time()
    tern.p.send_signal(signal.SIGTERM)
    t_withdrawn = None
    while tern.p.poll() is None and time.time() < t_term + DRAIN + 15:
        if t_withdrawn is None and not bird.has_route():
            t_withdrawn = time.time()
        time.sleep(0.05)
    t_exit = time.time()
    rc = tern.p.wait(timeout=10)
    out = client.communicate(timeout=DRAIN + 15)[0]
    rows = parse_client(out)
    lib.check("the client's kernel TCP connection through the VIP works before SIGTERM",
              any(k == "ok" and t < t_term for k, t in rows), out)
    lib.check("BIRD loses the route right after SIGTERM",
              t_withdrawn is not None and t_withdrawn - t_term < 1.5, f"withdrawn at {t_withdrawn}, SIGTERM {t_term}")
    late_ok = [t for k, t in rows if k == "ok" and t_withdrawn is not None and t > t_withdrawn]
    lib.check("the established connection is still forwarded after the withdrawal, until the drain ends",
              late_ok and max(late_ok) > t_term + DRAIN - 1.0, f"{late_ok}\n{out}")
    lib.check(f"tern run stops after the drain ({DRAIN} s) with status 0",
              rc == 0 and DRAIN <= t_exit - t_term < DRAIN + 3, f"rc {rc}, {t_exit - t_term:.1f} s\n{tern.text()}")
    after = [k for k, t in rows if t > t_exit + 0.3]
    lib.check("once stopped, nothing is forwarded", after and "ok" not in after, out)
    order = [tern.where(s) for s in ("withdrawing 1 route", f"draining for {DRAIN} s; routes withdrawn",
                                     "drain over", "forwarded where:")]
    lib.check("the log says withdraw, drain, drain over, stop in that order",
              -1 not in order and order == sorted(order), f"{order}\n{tern.text()}")

    # 2. A second SIGTERM during a long drain stops at once.
    tern = Tern(60, "second")
    up = tern.up()
    lib.check("tern run up again with a 60 s drain", up, tern.text())
    if up:
        tern.p.send_signal(signal.SIGTERM)
        draining = tern.wait_log("draining for 60 s", 10)
        t = time.time()
        tern.p.send_signal(signal.SIGTERM)
        try:
            rc = tern.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rc = None
        lib.check("a second SIGTERM during the drain stops it at once",
                  draining is not None and rc == 0 and time.time() - t < 8 and tern.where("stopping at once") >= 0,
                  f"rc {rc}\n{tern.text()}")

    # 3. The lcore watchdog: the one worker stalls, then comes back; then
    # it stalls past a SIGTERM.
    tern = Tern(1, "watchdog", operators=True)
    up = tern.up() and wait_until(bird.has_route, 10) is not None
    lib.check("tern run up with its console and HTTP API, BIRD has the route", up, tern.text())
    if up:
        lib.check("/alerts is not CRITICAL before", not http("/alerts").startswith("CRITICAL"), http("/alerts"))
        t_asked = time.time()
        out = console("debug stall lcore 1 5")
        lib.check("debug stall lcore 1 5", "lcore 1 stalls for 5 s" in out, out)
        t_noticed = tern.wait_log("watchdog: worker lcore 1 made no progress", 3)
        lib.check("the stall is noticed within a second (log)",
                  t_noticed is not None and t_noticed - t_asked < 1.5, f"{t_noticed} - {t_asked}\n{tern.text()}")
        t_gone = tern.wait_log("bgp: withdrawing 192.0.2.10/32 (no worker lcore makes progress)", 3)
        lib.check("no worker forwards: the route is withdrawn within 1.5 s",
                  t_gone is not None and t_gone - t_asked < 1.5, f"{t_gone} - {t_asked}\n{tern.text()}")
        alerts = http("/alerts")
        lib.check("/alerts is CRITICAL and names the lcore",
                  alerts.startswith("CRITICAL") and "Worker lcores 1 make no progress" in alerts, alerts)
        metrics = http("/metrics")
        lib.check("tern_lcore_stalled{lcore=\"1\"} is 1", 'tern_lcore_stalled{lcore="1"} 1' in metrics,
                  "\n".join(l for l in metrics.splitlines() if "lcore" in l))
        t_back = tern.wait_log("worker lcore 1 makes progress again", 10)
        lib.check("the log says the lcore moves again after the 5 s stall",
                  t_back is not None and 4 < t_back - t_asked < 7, f"{t_back} - {t_asked}\n{tern.text()}")
        lib.check("the route is announced again", wait_until(bird.has_route, 5) is not None
                  and tern.where("bgp: announcing 192.0.2.10/32") > tern.where("(no worker lcore makes progress)"),
                  tern.text())
        lib.check("/alerts is not CRITICAL again", not http("/alerts").startswith("CRITICAL"), http("/alerts"))
        lib.check("tern_lcore_stalled{lcore=\"1\"} is 0 again",
                  'tern_lcore_stalled{lcore="1"} 0' in http("/metrics"), "")

        out = console("debug stall lcore 1 60")
        tern.wait_log("watchdog: worker lcore 1 made no progress", 3)
        t = time.time()
        tern.p.send_signal(signal.SIGTERM)
        try:
            rc = tern.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            rc = None
        took = time.time() - t
        lib.check("SIGTERM with a stalled lcore: the process ends after drain + 5 s with status 1",
                  rc == 1 and 5 < took < 12 and tern.where("worker lcores did not stop within 5 s") >= 0,
                  f"rc {rc} after {took:.1f} s\n{tern.text()}")
finally:
    if tern is not None:
        tern.kill()
    if bird is not None:
        bird.stop()
    if echo is not None:
        echo.kill()
        echo.wait()
    for ns in (NS_CL, NS_SV, NS_LB, NS_SW):
        sh("ip", "netns", "del", ns)
    shutil.rmtree(TMP, ignore_errors=True)
lib.done()
