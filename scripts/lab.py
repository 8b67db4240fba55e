#!/usr/bin/python3
"""The lab: real traffic through a router and two Tern balancers on one machine
(scripts/lab runs this after set-up and build; docs/lab.md).

    client ── router (BIRD, ECMP) ── bridge ── lb1, lb2 (tern run)
                                            └─ s1 s2 s3 (DR, nginx), s4 (IPIP)

Commands: up, demo, failover, down, status. Everything it makes carries the
prefix TERN_LAB_PREFIX (default "tl-"): network namespaces, EAL file
prefixes; its files and pids are in TERN_LAB_STATE (default /run/tern-lab).
demo and failover also write what they measured as JSON in that directory
(demo.json, failover.json), which the lab test reads.
"""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(os.environ.get("TERN_LAB_BUILD", os.path.join(ROOT, "build")))
TERN = os.path.join(BUILD, "tern")
P = os.environ.get("TERN_LAB_PREFIX", "tl-")
STATE = os.environ.get("TERN_LAB_STATE", "/run/tern-lab")

VIP = "192.0.2.80"
CLIENT = "10.77.1.2"
ROUTER_CL, ROUTER_LAN = "10.77.1.1", "10.77.0.1"
LBS = {"lb1": "10.77.0.2", "lb2": "10.77.0.3"}
LB_MAC = {"lb1": "02:77:00:00:00:02", "lb2": "02:77:00:00:00:03"}
DR = {"s1": ("10.77.0.11", 1), "s2": ("10.77.0.12", 2), "s3": ("10.77.0.13", 3)}
IPIP = {"s4": "10.77.0.14"}
ROUTER_ASN, LB_ASN = 65000, 64600
MONITOR_INTERVAL, MONITOR_TIMEOUT = 1, 0.5
DRAIN = 3
BIG_MB = 64
# The demo's share check: each server's share of REQUESTS within this many
# percentage points of its weight's share (binomial noise at 1500 requests is
# at most 1.3 points, so 5 points is about four standard deviations).
REQUESTS, TOLERANCE = 1500, 5.0

NS = {x: P + x for x in ("client", "router", "sw", "lb1", "lb2", "s1", "s2", "s3", "s4")}

# ---------------------------------------------------------------- helpers


def say(*a):
    print(*a, flush=True)


def sh(*cmd, check=True, input=None):
    r = subprocess.run(cmd, capture_output=True, text=True, input=input)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def nsx(ns, *cmd, check=True, input=None):
    return sh("ip", "netns", "exec", NS[ns], *cmd, check=check, input=input)


def path(*p):
    return os.path.join(STATE, *p)


def wait(pred, timeout, step=0.2):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)


def alive(pid):
    """Running (a zombie, gone but not yet reaped by its parent, is not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def read_pid(name):
    try:
        with open(path(f"{name}.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def spawn(ns, name, cmd):
    """A process in namespace ns, in its own session (it outlives this
    command), output to STATE/name.log, its pid in STATE/name.pid."""
    log = open(path(f"{name}.log"), "a")
    p = subprocess.Popen(["ip", "netns", "exec", NS[ns], *cmd], stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    with open(path(f"{name}.pid"), "w") as f:
        f.write(f"{p.pid}\n")
    return p.pid


def log_text(name):
    try:
        with open(path(f"{name}.log"), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def existing_namespaces():
    out = sh("ip", "netns", "list", check=False).stdout
    names = {line.split()[0] for line in out.splitlines() if line.strip()}
    return [n for n in NS.values() if n in names]


# ---------------------------------------------------------------- configs


def tern_config(lb, broken=False):
    servers = "".join(f"      - {{host: {h}, ip: {ip}, weight: {w}}}\n" for h, (ip, w) in DR.items())
    if broken:  # a weight out of range: `tern check` and a reload reject the whole file
        servers = servers.replace("weight: 1}", "weight: -1}", 1)
    return f"""# The lab's balancer {lb} (scripts/lab writes it; conf/REFERENCE.md has every key).
node: {{name: {P}{lb}, ipv4: {LBS[lb]}}}
ports:
  - {{name: lan, device: "net_af_packet0,iface=lan", mac: "{LB_MAC[lb]}", subnets: [10.77.0.0/24]}}
console: {{socket: {path(lb + '.sock')}}}
http: {{address: 127.0.0.1, port: 9090}}
flows: {{size: 65536}}
bgp:
  local_asn: {LB_ASN}
  connect_retry: 1
  drain_time: {DRAIN}
  peers: [{{address: {ROUTER_LAN}, asn: {ROUTER_ASN}}}]
services:
  - name: web
    vip: {VIP}
    port: 80
    scheduler: maglev
    forward: dr
    monitors:
      ProxyFetch: {{url: "http://lab.tern/", interval: {MONITOR_INTERVAL}, timeout: {MONITOR_TIMEOUT}}}
    realservers:
{servers}  - name: tunnel
    vip: {VIP}
    port: 8080
    forward: ipip
    realservers:
      - {{host: s4, ip: {IPIP['s4']}}}
"""


def bird_config():
    peers = "".join(f"protocol bgp {lb} from balancers {{ neighbor {ip} as {LB_ASN}; }}\n" for lb, ip in LBS.items())
    return f"""# The lab's router (scripts/lab writes it): learns the VIPs from both
# balancers and installs them in the kernel as one multipath route.
router id {ROUTER_LAN};
protocol device {{ scan time 1; }}
protocol kernel {{
  ipv4 {{ import none; export where source = RTS_BGP; }};
  merge paths on;
}}
template bgp balancers {{
  local {ROUTER_LAN} as {ROUTER_ASN};
  connect delay time 1; connect retry time 1; error wait time 1, 2;
  ipv4 {{ import all; export none; }};
}}
{peers}"""


def nginx_config(h, port=80):
    d = path(h)
    return f"""# The lab's real server {h} (scripts/lab writes it).
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
  server {{
    listen {port} default_server;
    location = / {{ default_type text/plain; return 200 "{h}\\n"; }}
    location = /big.bin {{ root {path('www')}; }}
  }}
}}
"""


# Runs in the client's namespace: N requests to VIP:80 on T threads, each a
# new connection; prints JSON {"answers": {server: n}, "failed": n}.
REQUESTS_PY = r'''
import http.client, json, sys, threading
n, vip, threads = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
seen, failed, lock = {}, [0], threading.Lock()
def run(k):
    for _ in range(k):
        try:
            c = http.client.HTTPConnection(vip, 80, timeout=3)
            c.request("GET", "/", headers={"Connection": "close"})
            r = c.getresponse()
            body = r.read().decode().strip()
            c.close()
            ok = r.status == 200
        except Exception:
            ok = False
        with lock:
            if ok:
                seen[body] = seen.get(body, 0) + 1
            else:
                failed[0] += 1
ts = [threading.Thread(target=run, args=(n // threads + (i < n % threads),)) for i in range(threads)]
[t.start() for t in ts]
[t.join() for t in ts]
print(json.dumps({"answers": seen, "failed": failed[0]}))
'''

# Runs in the client's namespace: one download at RATE bytes/s (the reader
# paces itself; TCP's window slows the server), its SHA-256 at the end.
DOWNLOAD_PY = r'''
import hashlib, http.client, sys, time
vip, url, rate = sys.argv[1], sys.argv[2], float(sys.argv[3])
try:
    c = http.client.HTTPConnection(vip, 80, timeout=10)
    c.connect()
    print("port", c.sock.getsockname()[1], flush=True)
    c.request("GET", url)
    r = c.getresponse()
    h, n, t0, last = hashlib.sha256(), 0, time.time(), time.time()
    while True:
        b = r.read(65536)
        if not b:
            break
        h.update(b)
        n += len(b)
        ahead = n / rate - (time.time() - t0)
        if ahead > 0:
            time.sleep(ahead)
        if time.time() - last >= 1:
            print("progress", n, "%.1f" % (time.time() - t0), flush=True)
            last = time.time()
    print("done", r.status, n, h.hexdigest(), "%.1f" % (time.time() - t0), flush=True)
except Exception as e:
    print("error", repr(e), flush=True)
'''

# ---------------------------------------------------------------- observation


def console(lb, text):
    r = sh(TERN, "console", "--socket", path(f"{lb}.sock"), check=False, input=text + "\nquit\n")
    return r.stdout.replace("\r", "")


def pools(lb):
    return console(lb, "show pools")


def pool_state(lb):
    """{host: "enabled/up/pooled" ...} of service web."""
    out = pools(lb)
    return dict(re.findall(r"^\s*(s\d):\t(.+?)(?:  |$)", out, re.M))


def all_pooled(lb):
    st = pool_state(lb)
    return all(st.get(h, "").startswith("enabled/up/pooled") for h in DR)


def bird_protocols():
    return sh("birdc", "-s", path("bird.ctl"), "show", "protocols", check=False).stdout


def established(lb):
    return re.search(rf"^{lb}\s+BGP\s.*\sup\s.*Established", bird_protocols(), re.M) is not None


def vip_route():
    return nsx("router", "ip", "route", "show", VIP, check=False).stdout


def next_hops():
    return sorted(re.findall(r"via (\S+)", vip_route()))


def connections(lb):
    """{client port: (state, server)} of the client's flows to VIP:80 on lb."""
    out = console(lb, "show connections")
    return {int(p): (s, d) for s, p, d in
            re.findall(rf"^TCP \S+\s+(\S+)\s+{re.escape(CLIENT)}:(\d+)\s+{re.escape(VIP)}:80\s+(\S+):80$", out, re.M)}


def server_stats(lb):
    """{server ip: (Conns, InPkts)} of VIP:80 on lb (show services stats, ipvsadm -Ln --stats's columns)."""
    out = console(lb, "show services stats")
    part = out.split(f"TCP  {VIP}:80 ")[1].split("TCP  ")[0] if f"TCP  {VIP}:80 " in out else ""
    return {ip: (int(c), int(i)) for ip, c, i in re.findall(r"-> (\S+):80\s+(\d+)\s+(\d+)", part)}


def new_flow(lb, base, packets=1):
    """The server to which lb created a flow and forwarded at least `packets`
    packets since base (server_stats), or None."""
    now = server_stats(lb)
    return next((ip for ip, (c, i) in now.items()
                 if c > base.get(ip, (0, 0))[0] and i >= base.get(ip, (0, 0))[1] + packets), None)


def service_conns(lb):
    m = re.search(rf"^TCP  {re.escape(VIP)}:80\s+(\d+)", console(lb, "show services stats"), re.M)
    return int(m.group(1)) if m else 0


def tern_running(lb):
    pid = read_pid(lb)
    return pid is not None and alive(pid)


def lb_ready(lb):
    return tern_running(lb) and "ready:" in log_text(lb) and established(lb)


def lab_ready():
    return all(lb_ready(lb) for lb in LBS) and len(next_hops()) == 2 and all(all_pooled(lb) for lb in LBS)


# ---------------------------------------------------------------- up


def start_tern(lb):
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    with open(path(f"{lb}.log"), "w"):
        pass
    spawn(lb, lb, [TERN, "run", "--config", path(f"{lb}.yaml"), "--", "--no-huge", "-m", "512", "--no-shconf",
                   "--no-telemetry", "--lcores", f"(0-1)@({cpus})", "--file-prefix", f"{P}{lb}"])


def start_nginx(h):
    spawn(h, f"{h}-nginx", ["nginx", "-p", path(h), "-c", path(h, "nginx.conf"), "-e", path(h, "error.log")])


def stop_nginx(h):
    pid = read_pid(f"{h}-nginx")
    if pid and alive(pid):
        os.kill(pid, signal.SIGTERM)
        wait(lambda: not alive(pid), 5, 0.05)


def up():
    if existing_namespaces() or os.path.exists(STATE):
        say("lab: an earlier lab is here; taking it down first")
        down(quiet=True)
    for tool in ("bird", "birdc", "nginx", "ethtool", "curl"):
        if shutil.which(tool) is None:
            raise SystemExit(f"lab: {tool} is missing (scripts/setup installs it)")
    if not os.access(TERN, os.X_OK):
        raise SystemExit(f"lab: {TERN} is not built")
    os.makedirs(STATE, mode=0o755)
    os.chmod(STATE, 0o755)
    t0 = time.monotonic()
    say("lab: making the network (namespaces, a bridge, veths)")
    for ns in NS.values():
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "-n", NS["sw"], "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", NS["sw"], "link", "set", "br0", "up")
    # Every host of the LAN: "lan" in its namespace, "<host>" on the bridge.
    for x in ("router", *LBS, *DR, *IPIP):
        sh("ip", "link", "add", "lan", "netns", NS[x], "type", "veth", "peer", "name", x, "netns", NS["sw"])
        sh("ip", "-n", NS["sw"], "link", "set", x, "master", "br0", "up")
        sh("ip", "-n", NS[x], "link", "set", "lan", "up")
    sh("ip", "link", "add", "eth0", "netns", NS["client"], "type", "veth", "peer", "name", "cl", "netns", NS["router"])
    # The client: everything through the router. Its TCP crosses af_packet,
    # which fills in no checksums: the veth computes them (tx off).
    sh("ip", "-n", NS["client"], "addr", "add", f"{CLIENT}/24", "dev", "eth0")
    sh("ip", "-n", NS["client"], "link", "set", "eth0", "up")
    sh("ip", "-n", NS["client"], "route", "add", "default", "via", ROUTER_CL)
    nsx("client", "ethtool", "-K", "eth0", "tx", "off")
    # The router: forwards, hashes flows over ECMP next hops by their ports.
    sh("ip", "-n", NS["router"], "addr", "add", f"{ROUTER_CL}/24", "dev", "cl")
    sh("ip", "-n", NS["router"], "link", "set", "cl", "up")
    sh("ip", "-n", NS["router"], "addr", "add", f"{ROUTER_LAN}/24", "dev", "lan")
    nsx("router", "ethtool", "-K", "lan", "tx", "off")
    nsx("router", "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1")
    # The balancers' ports carry no address (it is on tern's TAP); their
    # kernel must not answer ARP on them.
    for lb in LBS:
        nsx(lb, "sysctl", "-qw", "net.ipv4.conf.lan.arp_ignore=8", "net.ipv6.conf.lan.disable_ipv6=1")
    # The real servers, set up by scripts/realserver; replies go to the router.
    say("lab: real servers (scripts/realserver)")
    for h, (ip, _) in DR.items():
        sh("ip", "-n", NS[h], "addr", "add", f"{ip}/24", "dev", "lan")
        sh("ip", "-n", NS[h], "route", "add", "default", "via", ROUTER_LAN)
        out = nsx(h, os.path.join(ROOT, "scripts", "realserver"), "dr", VIP).stdout
        say("  " + h + ": " + out.strip().splitlines()[-1])
    for h, ip in IPIP.items():
        sh("ip", "-n", NS[h], "addr", "add", f"{ip}/24", "dev", "lan")
        sh("ip", "-n", NS[h], "route", "add", "default", "via", ROUTER_LAN)
        out = nsx(h, os.path.join(ROOT, "scripts", "realserver"), "ipip", VIP).stdout
        say("  " + h + ": " + out.strip().splitlines()[-1])
        with open(path(f"{h}.decap"), "w") as f:
            f.write("no\n" if "no decapsulation" in out else "yes\n")
    # nginx on the DR servers; /big.bin is the same file everywhere.
    os.makedirs(path("www"))
    with open(path("www", "big.bin"), "wb") as f:
        h = hashlib.sha256()
        for _ in range(BIG_MB):
            b = os.urandom(1 << 20)
            h.update(b)
            f.write(b)
    with open(path("www", "big.sha256"), "w") as f:
        f.write(h.hexdigest() + "\n")
    # s4 answers on 8080 where its kernel can decapsulate.
    for h in (*DR, *IPIP):
        os.makedirs(path(h, "tmp"))
        with open(path(h, "nginx.conf"), "w") as f:
            f.write(nginx_config(h, 8080 if h in IPIP else 80))
        start_nginx(h)
    say("lab: router (BIRD 2)")
    with open(path("bird.conf"), "w") as f:
        f.write(bird_config())
    spawn("router", "bird", ["bird", "-f", "-c", path("bird.conf"), "-s", path("bird.ctl")])
    say("lab: balancers (tern run on net_af_packet, one worker lcore each)")
    for lb in LBS:
        with open(path(f"{lb}.yaml"), "w") as f:
            f.write(tern_config(lb))
        start_tern(lb)
    say("lab: waiting for BGP, the multipath route and the pools")
    stages = [("both BGP sessions established", lambda: all(lb_ready(lb) for lb in LBS)),
              ("the router's route to the VIP has both balancers", lambda: len(next_hops()) == 2),
              ("every DR server pooled on both balancers", lambda: all(all_pooled(lb) for lb in LBS))]
    for what, pred in stages:
        ok = wait(pred, 60, 0.3)
        say(f"  {'ok' if ok else 'NOT'}: {what} ({time.monotonic() - t0:.0f} s)")
        if not ok:
            for lb in LBS:
                say(f"--- {lb} log (tail)\n" + "\n".join(log_text(lb).splitlines()[-15:]))
            say("--- router\n" + bird_protocols() + vip_route())
            raise SystemExit("lab: not up; logs in " + STATE + "; `scripts/lab down` removes it")
    picture()


def picture():
    w = " ".join(f"{h} w{w_}" for h, (_, w_) in DR.items())
    say(f"""
lab is up: VIP {VIP} port 80 (DR: {w}), port 8080 (IPIP to s4)

  {NS['client']} {CLIENT}
        |
  {NS['router']} {ROUTER_CL} / {ROUTER_LAN}   BIRD AS {ROUTER_ASN}, ECMP over both balancers
        |  bridge 10.77.0.0/24 ({NS['sw']})
        +-- {NS['lb1']} {LBS['lb1']}   tern run, AS {LB_ASN} --+  both announce {VIP}/32,
        +-- {NS['lb2']} {LBS['lb2']}   tern run, AS {LB_ASN} --+  same Maglev ring
        +-- {NS['s1']} {DR['s1'][0]}  {NS['s2']} {DR['s2'][0]}  {NS['s3']} {DR['s3'][0]}
        |       nginx, DR (VIP on lo), weights {DR['s1'][1]}:{DR['s2'][1]}:{DR['s3'][1]}
        +-- {NS['s4']} {IPIP['s4']}  IPIP{'' if decap() else ' (this kernel has no ipip: tshark shows the packets)'}

try:
  scripts/lab demo        shares per server, both consoles, a server stopped, a bad reload
  scripts/lab failover    SIGTERM on the balancer carrying a {BIG_MB} MB download
  ip netns exec {NS['client']} curl http://{VIP}/
  ip netns exec {NS['client']} wrk -t2 -c20 -d5s http://{VIP}/
  build/tern console --socket {path('lb1.sock')}      (show pools, show connections, ...)
  ip netns exec {NS['lb1']} curl -s 127.0.0.1:9090/pools/web
  ip netns exec {NS['router']} ip route show {VIP}
  birdc -s {path('bird.ctl')} show route all
  scripts/lab down        removes everything (configs and logs are in {STATE})""")


# ---------------------------------------------------------------- demo


def client_requests(n, threads=6):
    with open(path("requests.py"), "w") as f:
        f.write(REQUESTS_PY)
    r = nsx("client", sys.executable, path("requests.py"), str(n), VIP, str(threads), check=False)
    try:
        return json.loads(r.stdout)
    except ValueError:
        return {"answers": {}, "failed": n, "error": r.stdout + r.stderr}


def require_up():
    if not os.path.isdir(STATE) or not existing_namespaces():
        raise SystemExit("lab: not up (scripts/lab up)")


def show_console(lb, cmds):
    for c in cmds:
        say(f"{lb}> {c}")
        say("\n".join("  " + line for line in console(lb, c).rstrip().splitlines() if not line.startswith("tern>")))


def demo():
    require_up()
    res = {"tolerance_points": TOLERANCE, "requests": REQUESTS, "weights": {h: w for h, (_, w) in DR.items()}}
    ok = True
    say(f"== 1. {REQUESTS} requests to http://{VIP}/, each a new connection, spread by the router over both "
        "balancers")
    before = {lb: service_conns(lb) for lb in LBS}
    t = time.monotonic()
    got = client_requests(REQUESTS)
    res["shares"] = got
    res["shares_seconds"] = round(time.monotonic() - t, 1)
    total_w = sum(w for _, w in DR.values())
    n = sum(got["answers"].values())
    say(f"   server  weight  expected  answered   share   (tolerance +-{TOLERANCE:.0f} points)")
    within = True
    for h, (_, w) in DR.items():
        exp = 100.0 * w / total_w
        a = got["answers"].get(h, 0)
        share = 100.0 * a / n if n else 0.0
        good = abs(share - exp) <= TOLERANCE
        within &= good
        say(f"   {h:6}  {w:6}  {exp:7.1f}%  {a:8}  {share:6.1f}%   {'ok' if good else 'OUT OF TOLERANCE'}")
    say(f"   failed: {got['failed']}  ({res['shares_seconds']} s)")
    time.sleep(1.2)  # the consoles' counters are gathered each second
    per_lb = {lb: service_conns(lb) - before[lb] for lb in LBS}
    res["per_balancer"] = per_lb
    say("   new connections per balancer (ECMP): " + ", ".join(f"{lb} {c}" for lb, c in per_lb.items()))
    ok &= within and got["failed"] == 0

    say("\n== 2. what each balancer shows (tern console)")
    for lb in LBS:
        show_console(lb, ["show services", "show pools"])

    victim = "s2"
    say(f"\n== 3. nginx on {victim} stops: the ProxyFetch monitor (every {MONITOR_INTERVAL} s, "
        f"timeout {MONITOR_TIMEOUT} s) depools it")
    stop_nginx(victim)
    t = time.monotonic()
    gone = wait(lambda: all("not pooled" in pool_state(lb).get(victim, "") for lb in LBS), 15, 0.1)
    res["depool_seconds"] = round(time.monotonic() - t, 1) if gone else None
    say(f"   {victim} depooled on both balancers after {res['depool_seconds']} s")
    say("   lb1: " + " ".join(f"{h}={s}" for h, s in pool_state("lb1").items()))
    got = client_requests(300)
    res["depooled"] = got
    say(f"   300 requests: {json.dumps(got['answers'], sort_keys=True)}, failed: {got['failed']}")
    ok &= bool(gone) and got["failed"] == 0 and victim not in got["answers"]
    start_nginx(victim)
    back = wait(lambda: all(all_pooled(lb) for lb in LBS), 15, 0.2)
    res["repooled"] = bool(back)
    say(f"   nginx on {victim} started again: {'pooled again' if back else 'NOT pooled again'}")
    ok &= bool(back)

    say("\n== 4. a broken config reloaded on lb1 (a weight of -1): rejected whole, nothing changes")
    before = (console("lb1", "show services"), pools("lb1"))
    good = path("lb1.yaml")
    shutil.copy(good, path("lb1.yaml.good"))
    with open(good, "w") as f:
        f.write(tern_config("lb1", broken=True))
    reply = console("lb1", "reload")
    shutil.move(path("lb1.yaml.good"), good)
    after = (console("lb1", "show services"), pools("lb1"))
    say("   lb1> reload\n" + "\n".join("   " + line for line in reply.strip().splitlines()
                                     if not line.startswith("tern>")))
    res["reload_rejected"] = "rejected" in reply
    res["reload_unchanged"] = before == after
    say(f"   show services and show pools before and after: {'identical' if before == after else 'CHANGED'}")
    ok &= res["reload_rejected"] and res["reload_unchanged"]

    say("\n== 5. the IPIP service (port 8080 -> s4): " + (
        "s4 decapsulates; tshark on s4 shows what arrives" if decap() else
        "this kernel has no ipip module, so s4 cannot answer; tshark on s4 shows what arrives"))
    res["ipip"] = ipip_capture()
    ok &= res["ipip"]["seen"]

    res["ok"] = bool(ok)
    with open(path("demo.json"), "w") as f:
        json.dump(res, f, indent=1)
    say(f"\ndemo: {'everything as expected' if ok else 'SOMETHING WAS NOT AS EXPECTED'} (numbers in "
        f"{path('demo.json')})")
    return ok


def decap():
    """Whether s4's kernel decapsulates IPIP (scripts/realserver said so)."""
    try:
        with open(path("s4.decap")) as f:
            return f.read().strip() == "yes"
    except OSError:
        return False


def ipip_capture():
    cap = subprocess.Popen(["ip", "netns", "exec", NS["s4"], "tshark", "-i", "lan", "-n", "-l", "-a", "duration:8",
                            "-c", "2", "-f", "ip proto 4", "-T", "fields", "-E", "occurrence=a", "-E", "separator=;",
                            "-e", "ip.src", "-e", "ip.dst", "-e", "tcp.srcport", "-e", "tcp.dstport",
                            "-e", "tcp.flags.str"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # tshark says "Capturing on 'lan'" once it listens.
    line = ""
    end = time.monotonic() + 10
    while "Capturing on" not in line and time.monotonic() < end and cap.poll() is None:
        line = cap.stderr.readline()
    r = nsx("client", "curl", "-s", "-m", "2", f"http://{VIP}:8080/", check=False)
    out, _ = cap.communicate(timeout=15)
    rows = [l.split(";") for l in out.splitlines() if l.strip()]
    seen = False
    for src, dst, sp, dp, flags in ([*row, "", "", "", "", ""][:5] for row in rows):
        srcs, dsts = src.split(","), dst.split(",")
        if len(srcs) == 2 and len(dsts) == 2:
            say(f"   outer {srcs[0]} -> {dsts[0]} (IPIP)   inner {srcs[1]}:{sp} -> {dsts[1]}:{dp} {flags}")
            seen |= srcs[1] == CLIENT and dsts[1] == VIP and dp == "8080" and dsts[0] == IPIP["s4"]
    if r.returncode == 0:
        say(f"   curl http://{VIP}:8080/: {r.stdout.strip()} answered through the tunnel")
    else:
        say(f"   curl http://{VIP}:8080/: exit {r.returncode}" +
            ("" if decap() else " (no answer, as expected without decapsulation)"))
    return {"seen": seen, "rows": rows}


# ---------------------------------------------------------------- failover


def failover():
    require_up()
    res = {"size_mb": BIG_MB, "drain_time": DRAIN}
    with open(path("www", "big.sha256")) as f:
        want = f.read().strip()
    with open(path("download.py"), "w") as f:
        f.write(DOWNLOAD_PY)
    rate = 6 << 20
    say(f"== a {BIG_MB} MB download at {rate >> 20} MB/s from http://{VIP}/big.bin")
    base = {lb: server_stats(lb) for lb in LBS}
    dl = subprocess.Popen(["ip", "netns", "exec", NS["client"], sys.executable, path("download.py"), VIP, "/big.bin",
                           str(rate)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = dl.stdout.readline().split()
    if len(first) != 2 or first[0] != "port":
        raise SystemExit(f"lab: the download did not start: {first} {dl.stdout.read()}")
    port = int(first[1])
    lines = []
    threading.Thread(target=lambda: [lines.append(l.rstrip()) for l in dl.stdout], daemon=True).start()
    res["client_port"] = port
    # The download is the one flow the balancers see now: the balancer and
    # server whose Conns rose (show connections lists only a sample).
    # (20 packets or more: a SYN sent again may have reached the other one.)
    found = wait(lambda: next(((lb, new_flow(lb, base[lb], 20)) for lb in LBS if new_flow(lb, base[lb], 20)), None),
                 5, 0.1)
    if found is None:
        dl.kill()
        raise SystemExit("lab: no balancer shows the download's flow")
    carrier, server = found
    other = next(lb for lb in LBS if lb != carrier)
    res.update(carrier=carrier, other=other, server_before=server, route_before=next_hops())
    say(f"   client port {port}: the router sends it to {carrier}, which sends it to {server} "
        f"(show services stats: Conns +1)")
    say(f"   router: {' '.join(vip_route().split())}")
    time.sleep(2)
    pid = read_pid(carrier)
    say(f"== SIGTERM to {carrier} (pid {pid}): it withdraws {VIP} and drains for {DRAIN} s")
    got = next((l.split()[1] for l in reversed(lines) if l.startswith("progress")), "0")
    say(f"   the client has {int(got) >> 20} MB of {BIG_MB} so far")
    t = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    withdrawn = wait(lambda: next_hops() == [LBS[other]], 5, 0.05)
    res["withdraw_seconds"] = round(time.monotonic() - t, 2) if withdrawn else None
    res["route_after"] = next_hops()
    say(f"   router after {res['withdraw_seconds']} s: {' '.join(vip_route().split())}")
    # Its next ACK reaches `other`, which has no entry for it: Maglev picks
    # the server (the same ring as the carrier's) and the flow goes on.
    moved = wait(lambda: new_flow(other, base[other], 50), 8, 0.1)
    res["server_after"] = moved
    say(f"   {other} now carries port {port}: to {moved} "
        + ("(the same server: the same Maglev ring)" if moved == server else "(NOT the same server)"))
    row = connections(other).get(port)
    if row:
        say(f"   {other}> show connections: TCP {row[0]} {CLIENT}:{port} {VIP}:80 {row[1]}:80 (an ACK without an "
            "entry makes a CLOSE entry, as IPVS's table; each packet renews it)")
    stopped = wait(lambda: not alive(pid), DRAIN + 10, 0.1)
    res["carrier_stopped_seconds"] = round(time.monotonic() - t, 1) if stopped else None
    got = next((l.split()[1] for l in reversed(lines) if l.startswith("progress")), "0")
    say(f"   {carrier} stopped {res['carrier_stopped_seconds']} s after SIGTERM, the client at {int(got) >> 20} MB; "
        f"the download goes on through {other}")
    try:
        dl.wait(timeout=120)
    except subprocess.TimeoutExpired:
        dl.kill()
    time.sleep(0.2)
    done = next((l.split() for l in lines if l.startswith(("done", "error"))), ["none"])
    progress = [l for l in lines if l.startswith("progress")]
    if progress:
        say("   " + progress[-1])
    res["result"] = done
    good = done[0] == "done" and done[1] == "200" and int(done[2]) == BIG_MB << 20 and done[3] == want
    res["bytes"] = int(done[2]) if done[0] == "done" else 0
    res["checksum_ok"] = done[0] == "done" and done[3] == want
    say(f"   download: {' '.join(done)}")
    say(f"   expected sha256 {want}: {'MATCH' if res['checksum_ok'] else 'MISMATCH'}")
    say(f"== {carrier} started again")
    start_tern(carrier)
    back = wait(lab_ready, 60, 0.3)
    res["restarted"] = bool(back)
    say(f"   {carrier} {'up; the router has both balancers again' if back else 'NOT back'}: "
        f"{' '.join(vip_route().split())}")
    ok = good and withdrawn and res["server_after"] == server and bool(back)
    res["ok"] = bool(ok)
    with open(path("failover.json"), "w") as f:
        json.dump(res, f, indent=1)
    say(f"failover: {'the download survived its balancer' if ok else 'SOMETHING WAS NOT AS EXPECTED'}")
    return ok


# ---------------------------------------------------------------- down


def down(quiet=False):
    procs = set()
    for ns in existing_namespaces():
        for p in sh("ip", "netns", "pids", ns, check=False).stdout.split():
            procs.add(int(p))
    for name in ("lb1", "lb2", "bird", *[f"{h}-nginx" for h in (*DR, *IPIP)]):
        pid = read_pid(name)
        if pid and alive(pid):
            procs.add(pid)
    # tern run drains on SIGTERM; a second one stops it at once.
    for sig in (signal.SIGTERM, signal.SIGTERM):
        for p in procs:
            try:
                os.kill(p, sig)
            except OSError:
                pass
        time.sleep(0.3)
    wait(lambda: not any(alive(p) for p in procs), 10, 0.1)
    for p in procs:
        if alive(p):
            os.kill(p, signal.SIGKILL)
    nss = existing_namespaces()
    for ns in nss:
        sh("ip", "netns", "del", ns, check=False)
    for lb in LBS:
        shutil.rmtree(f"/var/run/dpdk/{P}{lb}", ignore_errors=True)
    shutil.rmtree(STATE, ignore_errors=True)
    left = existing_namespaces() + [p for p in procs if alive(p)] + ([STATE] if os.path.exists(STATE) else [])
    if not quiet:
        say(f"lab: stopped {len(procs)} processes, removed {len(nss)} namespaces (and their interfaces) and "
            f"{STATE}" + (f"; LEFT BEHIND: {left}" if left else "; nothing left"))
    return not left


def status():
    if not existing_namespaces():
        say("lab: down")
        return True
    for lb in LBS:
        say(f"{lb}: {'running' if tern_running(lb) else 'stopped'}, BGP "
            f"{'Established' if established(lb) else 'not established'}, pools "
            + " ".join(f"{h}={s}" for h, s in pool_state(lb).items()))
    say(f"router: {' '.join(vip_route().split()) or 'no route to ' + VIP}")
    return lab_ready()


def main(argv):
    cmds = {"up": up, "demo": demo, "failover": failover, "down": down, "status": status}
    if len(argv) != 1 or argv[0] not in cmds:
        say("usage: scripts/lab up|demo|failover|down|status")
        return 2
    if os.geteuid() != 0:
        say("lab: needs root (network namespaces)")
        return 1
    try:
        r = cmds[argv[0]]()
    except RuntimeError as e:  # a command of the set-up failed
        say(f"lab: {argv[0]} failed: {e}\n(logs in {STATE}; `scripts/lab down` removes what was made)")
        return 1
    return 0 if r in (None, True) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
