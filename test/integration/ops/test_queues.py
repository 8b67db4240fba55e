#!/usr/bin/python3
"""`tern run` with two worker lcores on a two-queue port: net_af_packet with
qpairs=2 on a veth whose peer (another namespace) sends. The PMD spreads flows
over its two sockets with the kernel's PACKET_FANOUT hash, not Toeplitz, so
Tern says it cannot compute a flow's lcore and offers ICMP errors to each
lcore in turn. Checked: both lcores receive and forward (the per-lcore
metrics); every packet of a flow goes to one server and the flow tables hold
each flow once (no flow split over the lcores); ICMP errors quoting the
flows, sent from many router addresses so that they land on either lcore,
reach their flow's server (rr: a fresh choice would often differ), some of
them handed over from the other lcore."""
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
NS_LB, NS_CL = f"tqlb{PID}", f"tqcl{PID}"
LA, LB = f"vqa{PID % 10000}", f"vqb{PID % 10000}"
TMP = tempfile.mkdtemp(prefix="tern-queues-")
TERN = os.path.join(A.build, "tern")
PORT_MAC = "02:00:00:00:01:01"
VIP = "192.0.2.10"
N = 240
SERVERS = {"02:00:00:00:00:11": "a", "02:00:00:00:00:12": "b", "02:00:00:00:00:13": "c"}
CFG = os.path.join(TMP, "tern.yaml")
with open(CFG, "w") as f:
    f.write(f"""node: {{name: queues, ipv4: 10.99.0.1}}
ports: [{{name: p0, device: "net_af_packet0,iface={LA},qpairs=2", mac: "{PORT_MAC}"}}]
console: {{socket: {os.path.join(TMP, "tern.sock")}}}
neighbors:
  - {{ip: 10.0.0.11, mac: "02:00:00:00:00:11"}}
  - {{ip: 10.0.0.12, mac: "02:00:00:00:00:12"}}
  - {{ip: 10.0.0.13, mac: "02:00:00:00:00:13"}}
services:
  - name: web
    vip: {VIP}
    port: 8080
    scheduler: rr
    realservers:
      - {{host: a, ip: 10.0.0.11}}
      - {{host: b, ip: 10.0.0.12}}
      - {{host: c, ip: 10.0.0.13}}
""")
SENDER = os.path.join(TMP, "send.py")
with open(SENDER, "w") as f:
    f.write(r'''
import json, random, socket, sys, time
from scapy.all import Ether, IP, ICMP, TCP, Raw, raw
iface, n, vip, port_mac, phase = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
pm = bytes.fromhex(port_mac.replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE: all the answers wait here while we send
s.bind((iface, 0))
s.settimeout(0.05)
rng = random.Random(7)
eth = Ether(src="02:00:00:00:02:02", dst=port_mac)
flows = [("198.51.%d.%d" % (100 + i // 200, 1 + i % 200), 20000 + i) for i in range(n)]
for client, cport in flows:
    if phase == "flows":
        for flags in ("S", "A", "PA"):
            s.send(raw(eth / IP(src=client, dst=vip) / TCP(sport=cport, dport=8080, flags=flags) / Raw(b"x")))
    else:
        router = "203.0.%d.%d" % (rng.randrange(113, 120), rng.randrange(1, 255))
        quote = raw(IP(src=vip, dst=client, flags="DF") / TCP(sport=8080, dport=cport, flags="PA"))[:28]
        s.send(raw(eth / IP(src=router, dst=vip) / ICMP(type=3, code=4, nexthopmtu=1400) / Raw(quote)))
    time.sleep(0.0005)
seen = {}
end = time.time() + 2.0
while time.time() < end:
    try:
        d = s.recv(2048)
    except socket.timeout:
        continue
    if d[6:12] != pm or d[12:14] != b"\x08\x00":
        continue
    mac = ":".join("%02x" % b for b in d[0:6])
    ip = d[14:]
    if ip[9] == 6:
        key = "%s:%d" % (socket.inet_ntoa(ip[12:16]), int.from_bytes(ip[20:22], "big"))
    elif ip[9] == 1:
        q = ip[28:]
        key = "%s:%d" % (socket.inet_ntoa(q[16:20]), int.from_bytes(q[22:24], "big"))
    else:
        continue
    seen.setdefault(key, []).append(mac)
print(json.dumps(seen))
''')


def sh(*cmd, check=False, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


def send(phase):
    r = sh("ip", "netns", "exec", NS_CL, "/usr/bin/python3", SENDER, LB, str(N), VIP, PORT_MAC, phase, timeout=120)
    try:
        return json.loads(r.stdout)
    except json.JSONDecodeError:
        return {"error": r.stdout + r.stderr}


def metrics():
    text = sh("ip", "netns", "exec", NS_LB, "curl", "-s", "127.0.0.1:9090/metrics").stdout
    out = {}
    for line in text.splitlines():
        m = re.match(r'^(tern_lcore_\w+|tern_flow_table_entries)(\{[^}]*\})? ([0-9.e+]+)$', line)
        if m:
            lab = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            out[(m.group(1), lab.get("lcore"), lab.get("reason"))] = float(m.group(3))
    return out


def per_lcore(m, name):
    return {k[1]: v for k, v in m.items() if k[0] == name and k[2] is None}


tern = None
log = []
try:
    sh("ip", "netns", "add", NS_LB, check=True)
    sh("ip", "netns", "add", NS_CL, check=True)
    sh("ip", "link", "add", LA, "netns", NS_LB, "type", "veth", "peer", "name", LB, "netns", NS_CL, check=True)
    for ns, dev in ((NS_LB, LA), (NS_CL, LB)):
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up")
    sh("ip", "netns", "exec", NS_LB, "sysctl", "-qw", f"net.ipv4.conf.{LA}.arp_ignore=8")
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    tern = subprocess.Popen(["ip", "netns", "exec", NS_LB, TERN, "run", "--config", CFG, "--", "--no-huge", "-m", "512",
                             "--no-shconf", "--no-telemetry", "--lcores", f"(0-2)@({cpus})", "--file-prefix",
                             f"tern-queues-{PID}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    threading.Thread(target=lambda: [log.append(line.rstrip()) for line in tern.stdout], daemon=True).start()
    end = time.monotonic() + 30
    while time.monotonic() < end and not any("forwarding on" in line for line in log) and tern.poll() is None:
        time.sleep(0.1)
    started = any("forwarding on p0 (2 worker lcores)" in line for line in log)
    if not lib.check("tern run starts two worker lcores on a two-queue port", started, "\n".join(log[-30:])):
        raise SystemExit
    time.sleep(1.0)
    lib.check("it says af_packet's spreading is not Toeplitz: errors offered to each lcore in turn",
              any("spread by the device" in line and "each lcore in turn" in line for line in log), "\n".join(log))

    flows = send("flows")
    keys = [f"198.51.{100 + i // 200}.{1 + i % 200}:{20000 + i}" for i in range(N)]
    server = {k: flows.get(k, [None])[0] for k in keys}
    lib.check(f"all {N} flows forwarded, 3 packets each", all(len(flows.get(k, [])) == 3 for k in keys),
              {k: flows.get(k) for k in keys if len(flows.get(k, [])) != 3} or flows.get("error"))
    split = {k: v for k, v in flows.items() if k in server and len(set(v)) != 1}
    lib.check("every packet of a flow goes to one server", not split, split)
    used = {SERVERS.get(m) for m in server.values()}
    lib.check("rr spreads the flows over all three servers", used == {"a", "b", "c"}, used)
    m = metrics()
    rx, fwd = per_lcore(m, "tern_lcore_rx_packets_total"), per_lcore(m, "tern_lcore_forwarded_packets_total")
    lib.check("both lcores receive and forward (tern_lcore_*_packets_total)",
              len(rx) == 2 and all(v > 0 for v in rx.values()) and len(fwd) == 2 and all(v > 0 for v in fwd.values()),
              f"rx {rx} forwarded {fwd}")
    entries = m.get(("tern_flow_table_entries", None, None))
    lib.check(f"the lcores' flow tables hold each of the {N} flows once (no flow split over lcores)",
              entries == N, f"tern_flow_table_entries {entries}")

    errors = send("errors")
    wrong = {k: (errors.get(k), server[k]) for k in keys if errors.get(k) != [server[k]]}
    lib.check(f"all {N} ICMP errors reach their flow's server", not wrong, wrong or errors.get("error"))
    m = metrics()
    handed = per_lcore(m, "tern_lcore_handed_over_packets_total")
    rx2 = per_lcore(m, "tern_lcore_rx_packets_total")
    lib.check("errors landed on both lcores and some were handed over",
              sum(handed.values()) > 0 and all(rx2[l] > rx[l] for l in rx), f"handed over {handed}, rx {rx} -> {rx2}")
    full = m.get(("tern_lcore_dropped_packets_total", None, "inbox_full"), 0)
    lib.check("no drops", all(v == 0 for k, v in m.items() if k[0] == "tern_lcore_dropped_packets_total"),
              {k: v for k, v in m.items() if k[0] == "tern_lcore_dropped_packets_total" and v} or full)
    tern.send_signal(signal.SIGTERM)
    rc = tern.wait(timeout=20)
    lib.check("tern run stops cleanly", rc == 0, "\n".join(log[-20:]))
finally:
    if tern is not None and tern.poll() is None:
        lib.stop_process(tern, 20)
    sh("ip", "netns", "del", NS_LB)
    sh("ip", "netns", "del", NS_CL)
    subprocess.run(["rm", "-rf", TMP])
lib.done()
