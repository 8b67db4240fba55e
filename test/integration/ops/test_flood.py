#!/usr/bin/python3
"""A flood at the node address (issue 16 part 3, issue 8): `tern run` on
net_af_packet with its TAP, a BGP session to BIRD (hold time 3 s) and two
nginx real servers checked by ProxyFetch every 0.5 s, all through the
exception path. A generator (a small C program this test builds: raw frames
through a packet socket, sendmmsg) sends ~100,000 UDP packets a second to
the node address for 10 s from a namespace of its own. Checked: the rate
was reached and tern's lcore received at least ten times the budget of it
(on a loaded machine not all of it: the kernel drops what the lcore does
not drain in time, before tern sees it); the BGP session stays Established (birdc,
polled) and tern's log shows no session loss; no server is reported down or
depooled; the flood reaches the kernel at no more than
dataplane.exception.budget_pps x time + burst (class `other` passed, and
the TAP's own RX counter minus the priority classes); BGP and the health
checks' replies pass unpoliced; the per-class counters are in /metrics and
`show stats lcore`. Prints the figures (docs/dataplane.md records them).

Five namespaces on one bridge (its own namespace):
  client: BIRD 10.99.0.2 (the router)
  tern: net_af_packet on its veth, TAP tern-p0 10.99.0.1/24 (the node address)
  server: nginx on 10.99.0.3 and 10.99.0.4 (two real servers)
  flood: the generator, 10.99.0.9 (a source tern does not trust)
"""
import os
import re
import shutil
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
NS_SW, NS_LB, NS_CL, NS_SV, NS_FL = (f"tf{x}{PID}" for x in ("sw", "lb", "cl", "sv", "fl"))
LB_IF, CL_IF, SV_IF, FL_IF = f"vfl{N}", f"vfc{N}", f"vfs{N}", f"vff{N}"
TMP = tempfile.mkdtemp(prefix="tern-flood-")
TERN = os.path.join(A.build, "tern")
PORT_MAC, SERVER_MAC, FLOOD_MAC = "02:00:00:00:01:01", "02:00:00:00:00:33", "02:00:00:00:00:99"
NODE, VIP = "10.99.0.1", "192.0.2.10"
SERVERS = {"web1": "10.99.0.3", "web2": "10.99.0.4"}
CONSOLE = os.path.join(TMP, "console.sock")
HTTP_PORT = 20000 + N
RATE, SECONDS = 100000, 10
BUDGET, BURST = 2000, 200
HERE = os.path.dirname(os.path.abspath(__file__))


def sh(*cmd, check=False, input=None):
    r = subprocess.run(cmd, capture_output=True, text=True, input=input)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr}")
    return r


def nsx(ns, *cmd, check=True):
    return sh("ip", "netns", "exec", ns, *cmd, check=check)


def config():
    rs = "".join(f"      - {{host: {h}, ip: {ip}}}\n" for h, ip in SERVERS.items())
    neigh = ", ".join(f"{{ip: {ip}, mac: \"{SERVER_MAC}\"}}" for ip in SERVERS.values())
    return f"""node: {{name: flood{PID}, ipv4: {NODE}}}
ports: [{{name: p0, device: "net_af_packet0,iface={LB_IF}", mac: "{PORT_MAC}", subnets: [10.99.0.0/24]}}]
console: {{socket: {CONSOLE}}}
http: {{address: 127.0.0.1, port: {HTTP_PORT}}}
neighbors: [{neigh}]
dataplane: {{exception: {{budget_pps: {BUDGET}, burst: {BURST}}}}}
bgp:
  local_asn: 64600
  hold_time: 3
  connect_retry: 1
  listen: false
  peers: [{{address: 10.99.0.2, asn: 65000}}]
services:
  - name: web
    vip: {VIP}
    port: 80
    monitors:
      ProxyFetch: {{url: "http://web.test/", interval: 0.5, timeout: 0.4}}
    realservers:
{rs}"""


def topology_up():
    for ns in (NS_SW, NS_LB, NS_CL, NS_SV, NS_FL):
        sh("ip", "netns", "add", ns, check=True)
        sh("ip", "-n", ns, "link", "set", "lo", "up", check=True)
    sh("ip", "-n", NS_SW, "link", "add", "br0", "type", "bridge", check=True)
    for i, (ns, dev) in enumerate(((NS_LB, LB_IF), (NS_CL, CL_IF), (NS_SV, SV_IF), (NS_FL, FL_IF))):
        sw = f"t{i}{N}"
        sh("ip", "link", "add", dev, "netns", ns, "type", "veth", "peer", "name", sw, "netns", NS_SW, check=True)
        sh("ip", "-n", NS_SW, "link", "set", sw, "master", "br0", "up", check=True)
        sh("ip", "-n", ns, "link", "set", dev, "up", check=True)
    sh("ip", "-n", NS_SW, "link", "set", "br0", "up", check=True)
    nsx(NS_LB, "sysctl", "-qw", f"net.ipv4.conf.{LB_IF}.arp_ignore=8")
    sh("ip", "-n", NS_CL, "addr", "add", "10.99.0.2/24", "dev", CL_IF, check=True)
    nsx(NS_CL, "ethtool", "-K", CL_IF, "tx", "off")
    sh("ip", "-n", NS_SV, "link", "set", SV_IF, "address", SERVER_MAC, check=True)
    for ip in SERVERS.values():
        sh("ip", "-n", NS_SV, "addr", "add", f"{ip}/24", "dev", SV_IF, check=True)
    nsx(NS_SV, "ethtool", "-K", SV_IF, "tx", "off")
    sh("ip", "-n", NS_FL, "link", "set", FL_IF, "address", FLOOD_MAC, check=True)
    sh("ip", "-n", NS_FL, "addr", "add", "10.99.0.9/24", "dev", FL_IF, check=True)


def nginx_up():
    d = os.path.join(TMP, "nginx")
    os.makedirs(d)
    listen = " ".join(f"listen {ip}:80;" for ip in SERVERS.values())
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 1;
error_log {d}/error.log;
pid {d}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{ {listen} location / {{ return 200 "ok\\n"; }} }}
}}
""")
    return subprocess.Popen(["ip", "netns", "exec", NS_SV, "nginx", "-c", conf, "-p", d, "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Tern:
    def __init__(self):
        self.cfg = os.path.join(TMP, "tern.yaml")
        with open(self.cfg, "w") as f:
            f.write(config())
        cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
        self.log = []
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", NS_LB, TERN, "run", "--config", self.cfg, "--", "--no-huge", "-m", "512",
             "--no-shconf", "--no-telemetry", "--lcores", f"(0-1)@({cpus})", "--file-prefix", f"tern-flood-{PID}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.p.stdout:
            self.log.append(line.rstrip())

    def wait_log(self, fragment, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.p.poll() is None:
            if any(fragment in line for line in list(self.log)):
                return True
            time.sleep(0.05)
        return False

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


class Bird:
    def __init__(self):
        self.sock = os.path.join(TMP, "bird.ctl")
        with open(os.path.join(TMP, "bird.conf"), "w") as f:
            f.write(f"""router id 10.99.0.2;
log stderr all;
protocol device {{ scan time 1; }}
protocol bgp tern {{
  local 10.99.0.2 as 65000;
  neighbor {NODE} as 64600;
  hold time 3;
  connect delay time 1; connect retry time 1; error wait time 1, 2;
  ipv4 {{ import all; export none; }};
}}
""")
        self.logf = open(os.path.join(TMP, "bird.log"), "w")
        self.p = subprocess.Popen(["ip", "netns", "exec", NS_CL, "bird", "-f", "-c", os.path.join(TMP, "bird.conf"),
                                   "-s", self.sock], stdout=self.logf, stderr=subprocess.STDOUT)

    def state(self):
        """The session's state and since-time as `birdc show protocols` prints them."""
        out = sh("birdc", "-s", self.sock, "show", "protocols", "tern").stdout
        m = re.search(r"^tern\s+BGP\s+\S+\s+(\S+)\s+(\S+ \S+|\S+)\s+(\S+)", out, re.M)
        return (m.group(3), m.group(2)) if m else (None, out)

    def has_route(self):
        return f"{VIP}/32" in sh("birdc", "-s", self.sock, "show", "route", "for", VIP).stdout

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
    return sh(TERN, "console", "--socket", CONSOLE, input=f"{cmd}\nquit\n").stdout.replace("\r", "")


def metrics():
    return nsx(NS_LB, "curl", "-s", "--max-time", "2", f"http://127.0.0.1:{HTTP_PORT}/metrics", check=False).stdout


def metric(text, name, **labels):
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def snapshot():
    m = metrics()
    tap = nsx(NS_LB, "cat", "/sys/class/net/tern-p0/statistics/rx_packets", check=False).stdout.strip()
    return {"t": time.monotonic(), "m": m, "tap_rx": int(tap) if tap.isdigit() else -1}


def delta(a, b, name, **labels):
    return metric(b["m"], name, **labels) - metric(a["m"], name, **labels)


CLASSES = ("arp_nd", "bgp", "trusted", "other")
PASSED, POLICED = "tern_lcore_exception_passed_packets_total", "tern_lcore_exception_policed_packets_total"

tern = bird = nginx = None
try:
    missing = [t for t in ("bird", "birdc", "ethtool", "nginx", "cc", "curl") if shutil.which(t) is None]
    if not lib.check("bird2, nginx, ethtool, curl and a C compiler are installed (scripts/setup)", not missing,
                     f"missing: {missing}"):
        raise SystemExit
    flood = os.path.join(TMP, "flood")
    built = sh("cc", "-O2", "-Wall", "-o", flood, os.path.join(HERE, "flood.c"))
    if not lib.check("the flood generator builds", built.returncode == 0, built.stderr):
        raise SystemExit
    topology_up()
    nginx = nginx_up()
    bird = Bird()
    tern = Tern()
    up = tern.wait_log("forwarding on", 30) and tern.wait_log("Established", 20)
    lib.check("tern run forwards and its BGP session to BIRD (through the TAP) comes up", up, "\n".join(tern.log))
    if not up:
        raise SystemExit
    end = time.monotonic() + 15
    pools = ""
    while time.monotonic() < end and (pools.count("enabled/up/pooled") < 2 or not bird.has_route()):
        time.sleep(0.3)
        pools = console("show pools")
    lib.check("both servers are up and pooled, BIRD has the VIP route",
              pools.count("enabled/up/pooled") == 2 and bird.has_route(), pools)
    state0, since0 = bird.state()
    lib.check("BIRD's session is Established", state0 == "Established", since0)

    mark = len(tern.log)
    before = snapshot()
    gen = subprocess.Popen(["ip", "netns", "exec", NS_FL, flood, FL_IF, FLOOD_MAC, PORT_MAC, "10.99.0.9", NODE,
                            str(RATE), str(SECONDS)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    states = []
    while gen.poll() is None:
        states.append(bird.state())
        time.sleep(0.5)
    out = gen.communicate()[0]
    # What the flood left queued reaches tern within a moment; health and
    # BGP get one more hold time to show any harm.
    time.sleep(3.5)
    states.append(bird.state())
    after = snapshot()
    log = tern.log[mark:]
    elapsed = after["t"] - before["t"]

    m = re.search(r"sent (\d+) tried (\d+) seconds ([\d.]+)", out)
    sent, secs = (int(m.group(1)), float(m.group(3))) if m else (0, 1.0)
    rx = delta(before, after, "tern_lcore_rx_packets_total")
    missed = delta(before, after, "tern_port_rx_missed_total")
    passed = {c: delta(before, after, PASSED, **{"class": c}) for c in CLASSES}
    policed = {c: delta(before, after, POLICED, **{"class": c}) for c in CLASSES}
    tap = after["tap_rx"] - before["tap_rx"]
    print(f"figures: generator sent {sent} in {secs:.2f} s ({sent / secs:.0f}/s); tern rx {rx:.0f} "
          f"({rx / secs:.0f}/s), port rx_missed {missed:.0f}; "
          f"window {elapsed:.2f} s; passed {passed}; policed {policed}; TAP rx {tap}", flush=True)

    lib.check(f"the generator reached ~{RATE} packets a second", sent / secs >= 0.9 * RATE, out)
    # On a loaded machine the lcore (sharing two CPUs with everything else)
    # does not drain the af_packet socket at 100,000/s: the kernel drops the
    # rest before tern sees it (net_af_packet reports no rx_missed). What
    # tern does receive must still be ten times the budget, or the policing
    # was not tested.
    lib.check("tern's lcore received at least ten times the budget of the flood",
              rx >= 10 * BUDGET * SECONDS, f"rx {rx}, rx_missed {missed}, sent {sent}")
    lib.check("the BGP session stayed Established through the flood (birdc, every 0.5 s)",
              all(s == ("Established", since0) for s in states), f"{since0}: {states}")
    lost = [line for line in log if "bgp" in line.lower() and ("Established" in line or "down" in line.lower()
                                                                 or "Idle" in line or "hold" in line.lower())]
    lib.check("tern's log shows no BGP session change", not lost, "\n".join(lost))
    harm = [line for line in log if "reports server" in line or "Depooling" in line or "depool" in line]
    lib.check("no server was reported down or depooled", not harm, "\n".join(harm))
    pools = console("show pools")
    lib.check("both servers are still up and pooled", pools.count("enabled/up/pooled") == 2, pools)
    bound = BUDGET * elapsed + BURST
    lib.check(f"class other passed at most budget x time + burst ({bound:.0f})", passed["other"] <= bound,
              f"{passed['other']}")
    lib.check("class other used its budget (not everything was policed)",
              passed["other"] >= 0.8 * BUDGET * SECONDS, f"{passed['other']}")
    priority = passed["arp_nd"] + passed["bgp"] + passed["trusted"]
    lib.check("the rest of the flood tern received was policed", policed["other"] + passed["other"] + priority <= rx
              and policed["other"] + passed["other"] >= 0.99 * rx - priority,
              f"policed {policed['other']}, passed {passed['other']}, rx {rx}")
    # The TAP counts what tern wrote to the kernel: the flood's share is
    # what is left after the priority classes (a few BGP/health packets may
    # fall between the two snapshots: a margin of 50).
    lib.check("the kernel (the TAP's RX counter) got no more of the flood than budget x time + burst",
              0 <= tap - priority <= bound + 50, f"TAP rx {tap}, priority {priority}, bound {bound:.0f}")
    lib.check("BGP and the health checks' replies passed, none policed",
              passed["bgp"] > 0 and passed["trusted"] > 0 and policed["bgp"] == policed["trusted"] == 0
              and policed["arp_nd"] == 0, f"passed {passed}, policed {policed}")
    names = [f'{PASSED}{{lcore="1",class="{c}"}}' for c in CLASSES]
    lib.check("the per-class counters are in /metrics", all(n in after["m"] for n in names),
              "\n".join(line for line in after["m"].splitlines() if "exception" in line))
    st = console("show stats lcore")
    lib.check("`show stats lcore` shows the classes", all(re.search(rf"^1\s+{c}\s+\d+\s+\d+", st, re.M) for c in CLASSES),
              st)
finally:
    if tern is not None:
        tern.kill()
    for p in (bird,):
        if p is not None:
            p.stop()
    if nginx is not None:
        lib.stop_process(nginx)
    for ns in (NS_CL, NS_SV, NS_FL, NS_LB, NS_SW):
        sh("ip", "netns", "del", ns)
    shutil.rmtree(TMP, ignore_errors=True)
lib.done()
