#!/usr/bin/python3
"""Packet capture on a running `tern run`: the console's `capture` writes a
port's packets (both directions) into a pcapng file with a pcap-filter
expression and a packet count; tshark reads the file back. The balancer's
port is net_af_packet on a veth whose peer (another namespace) sends."""
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
NS_LB, NS_CL = f"tcap{PID}", f"tccl{PID}"
LA, LB = f"vca{PID % 10000}", f"vcb{PID % 10000}"
TMP = tempfile.mkdtemp(prefix="tern-cap-")
SOCK = os.path.join(TMP, "tern.sock")
TERN = os.path.join(A.build, "tern")
PORT_MAC = "02:00:00:00:01:01"
CFG = os.path.join(TMP, "tern.yaml")
with open(CFG, "w") as f:
    f.write(f"""node: {{name: cap, ipv4: 10.99.0.1}}
ports: [{{name: p0, device: "net_af_packet0,iface={LA}", mac: "{PORT_MAC}"}}]
console: {{socket: {SOCK}}}
http: {{enabled: false}}
neighbors:
  - {{ip: 10.0.0.11, mac: "02:00:00:00:00:11"}}
services:
  - name: web
    vip: 192.0.2.10
    port: 8080
    realservers:
      - {{host: a, ip: 10.0.0.11}}
""")
SENDER = os.path.join(TMP, "send.py")
with open(SENDER, "w") as f:
    f.write(r'''
import socket, sys
from scapy.all import Ether, IP, TCP, UDP, raw
iface, n, port_mac = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
for i in range(n):
    s.send(raw(Ether(src="02:00:00:00:02:02", dst=port_mac) / IP(src="198.51.100.7", dst="192.0.2.10") /
               TCP(sport=20000 + i, dport=8080, flags="S")))
    s.send(raw(Ether(src="02:00:00:00:02:02", dst=port_mac) / IP(src="198.51.100.8", dst="192.0.2.10") /
               UDP(sport=20000 + i, dport=53)))
''')


def sh(*cmd, check=False, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


def console(script):
    return sh(TERN, "console", "--socket", SOCK, input=script, timeout=20).stdout.replace("\r", "")


def fields(path, *names):
    args = ["tshark", "-r", path, "-T", "fields"]
    for n in names:
        args += ["-e", n]
    return [l.split("\t") for l in sh(*args).stdout.splitlines()]


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
                             "--no-shconf", "--no-telemetry", "--lcores", f"(0-1)@({cpus})", "--file-prefix",
                             f"tern-cap-{PID}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    threading.Thread(target=lambda: [log.append(l.rstrip()) for l in tern.stdout], daemon=True).start()
    end = time.monotonic() + 30
    while time.monotonic() < end and not os.path.exists(SOCK):
        time.sleep(0.1)
    time.sleep(0.5)

    out1 = os.path.join(TMP, "tcp.pcapng")
    r = console(f"capture start p0 {out1} 6 tcp and src host 198.51.100.7\nshow capture\nquit\n")
    lib.check("capture start with a filter and a count", "capturing p0 into" in r and "filter 'tcp and src host" in r, r)
    # 3 SYNs matching the filter: 3 in, 3 forwarded to the server (6), and UDP that does not match.
    sh("ip", "netns", "exec", NS_CL, "/usr/bin/python3", SENDER, LB, "3", PORT_MAC)
    time.sleep(1.0)
    r = console("show capture\nquit\n")
    lib.check("the capture stops by itself at its count", "no capture is running" in r, r)
    rows = fields(out1, "frame.interface_name", "ip.src", "tcp.dstport", "eth.dst")
    lib.check("the file holds exactly COUNT packets, all matching the filter",
              len(rows) == 6 and all(r[1] == "198.51.100.7" and r[2] == "8080" for r in rows), rows)
    # Both directions: SYNs in from the client, out to the server's MAC.
    dsts = {r[3] for r in rows}
    lib.check("received and forwarded packets are both captured",
              "02:00:00:00:01:01" in dsts and "02:00:00:00:00:11" in dsts, dsts)

    out2 = os.path.join(TMP, "all.pcapng")
    r = console(f"capture start all {out2} 0 udp\nquit\n")
    sh("ip", "netns", "exec", NS_CL, "/usr/bin/python3", SENDER, LB, "4", PORT_MAC)
    time.sleep(1.0)
    r = console("capture stop\nquit\n")
    lib.check("capture stop reports what was written", "stopped: " in r and "packets written" in r, r)
    rows = fields(out2, "ip.src", "udp.dstport")
    lib.check("an open-ended capture took every UDP packet and nothing else",
              len(rows) >= 4 and all(r[1] == "53" for r in rows), rows)

    r = console("capture start p9 /tmp/x.pcapng\ncapture start p0 /tmp/x.pcapng 5 tcp port\nquit\n")
    lib.check("a bad port is named", "no port named 'p9'" in r, r)
    lib.check("a bad filter is named", "filter 'tcp port'" in r, r)
    tern.send_signal(signal.SIGTERM)
    lib.check("tern run stops cleanly", tern.wait(timeout=30) == 0, "\n".join(log[-20:]))
    tern = None
finally:
    if tern is not None and tern.poll() is None:
        tern.kill()
        tern.wait()
    sh("ip", "netns", "del", NS_LB)
    sh("ip", "netns", "del", NS_CL)
    shutil.rmtree(TMP, ignore_errors=True)
lib.done()
