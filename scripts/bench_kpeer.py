"""The kernel peer of scripts/bench (issue 8, item f): nftables jhash DNAT in a network namespace.

This kernel has no IPVS, so the kernel's L4 balancer is nftables doing what IPVS-NAT would: per
service (the 8 VIPs x ports 80/443 of `tern_bench pcap --case dr`), DNAT to one of the service's
100 real servers chosen by `jhash ip saddr . tcp sport mod 100`, the same server lists as
bench/traffic.cpp's make_config. The kernel does all of it: conntrack, NAT, routing, forwarding.

    root netns                                netns kpeer-PID
    testpmd (CPU 1)                           kpb (02:00:00:00:00:01, 10.64.0.10/24, GRO on,
    net_pcap0 dr.pcap, infinite_rx=1              threaded NAPI pinned to CPU 0)
      -> net_af_packet0 on kpa ===== veth ====>   prerouting: conntrack, nat (first packet of a flow)
                                                  route 10.64.0.0/16 dev kps, forward
                                                  kps: ifb, the kernel's net_null (see below)

What counts as forwarded: the rx_packets counter of kps. kps is an ifb device that no tc rule
redirects to, so its transmit function counts every packet it is handed (as rx_packets and
rx_dropped) and frees it: the kernel's equivalent of net_null, as Tern's PMD run transmits into the
pcap PMD's drop mode. Only the real servers (10.64.0.0/16) are routed there; the VIPs have no route
in the namespace, so a packet that was not DNATed dies in ip_route_input (IpExt InNoRoutes) and is
never counted. Ip ForwDatagrams and the DNAT rules' counters (one per new flow) are kept as checks.

Whose CPU: veth hands a packet to the peer's NAPI instead of the sender's backlog only when the
peer has GRO on and the sender does no TSO (veth_skb_is_eligible_for_gro), so kpa has tso/gso off
and kpb gro on. With threaded NAPI the whole receive path of kpb (GRO, ip_rcv, conntrack, NAT,
routing, forward, ifb transmit, skb free) runs in the kthread napi/kpb..., pinned to CPU 0; its
run time (/proc/PID/schedstat, ns) is the kernel's CPU time. The sender's side (af_packet's
tpacket_snd allocating and filling the skb, veth_xmit) runs on testpmd's CPU 1: it plays the NIC
and its driver's skb allocation, so it is not charged to the kernel, which flatters the kernel.
Per core = forwarded pps / (NAPI thread run time / wall time). CPU 0's irq+softirq ticks from
/proc/stat are recorded beside it (work done outside the thread would show there).

Run alone: /usr/bin/python3 scripts/bench_kpeer.py [--build build] (prints the result as JSON);
--ruleset prints the nftables ruleset and nothing else.
"""
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

VIP_BASE, HOST_BASE, HOSTS = 0xC6120001, 0x0A400100, 1000  # bench/traffic.cpp, Shape
VIPS, PORTS, SERVERS = 8, (80, 443), 100
PORT_MAC = "02:00:00:00:00:01"  # bench/traffic.h kPortMac: the frames' destination
WINDOW_S = 2.0


def ip4(x):
    return ".".join(str(x >> s & 255) for s in (24, 16, 8, 0))


def ruleset(table):
    """IPVS-NAT in nftables: a (VIP, port) -> service chain map; per service, jhash over the servers."""
    chains, elems, index = [], [], 0
    for v in range(VIPS):
        for port in PORTS:
            servers = [ip4(HOST_BASE + (index * 7 + k) % HOSTS) for k in range(SERVERS)]
            m = ", ".join(f"{i} : {s}" for i, s in enumerate(servers))
            chains.append(f"  chain svc{index} {{\n    counter dnat to jhash ip saddr . tcp sport mod {SERVERS} "
                          f"map {{ {m} }}\n  }}")
            elems.append(f"{ip4(VIP_BASE + v)} . {port} : jump svc{index}")
            index += 1
    return (f"table ip {table} {{\n"
            f"  map services {{\n    type ipv4_addr . inet_service : verdict\n"
            f"    elements = {{ {', '.join(elems)} }}\n  }}\n"
            f"  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n"
            f"    ip daddr . tcp dport vmap @services\n  }}\n" + "\n".join(chains) + "\n}\n")


def table_pairs(text, prefix):
    """Header/value line pairs of /proc/net/snmp or netstat: {'Ip': {...}, 'IpExt': {...}}."""
    out, lines = {}, [l.split() for l in text.splitlines()]
    for head, vals in zip(lines[::2], lines[1::2]):
        if head and head[0].rstrip(":") in prefix:
            out[head[0].rstrip(":")] = dict(zip(head[1:], map(int, vals[1:])))
    return out


class KernelPeer:
    """One measurement; every set-up command goes through run() and into `commands`."""

    def __init__(self, pcap, workdir, memory, windows, warmup, commands):
        self.pcap, self.work, self.memory = pcap, workdir, memory
        self.windows, self.warmup, self.commands = windows, warmup, commands
        pid = os.getpid()
        self.ns, self.a, self.b, self.s = f"kpeer-{pid}", f"kpa{pid}", f"kpb{pid}", f"kps{pid}"
        self.procs = []

    def run(self, *cmd, record=True):
        if record:
            self.commands.append(" ".join(shlex.quote(c) for c in cmd))
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: {(r.stderr or r.stdout).strip()}")
        return r.stdout

    def nsx(self, *cmd, record=True):
        return self.run("ip", "netns", "exec", self.ns, *cmd, record=record)

    @staticmethod
    def remove_stale():
        """Namespaces left by a run that was killed (its PID gone); their veths go with them."""
        for name in re.findall(r"^kpeer-(\d+)", subprocess.run(["ip", "netns", "list"], capture_output=True,
                                                                  text=True).stdout, re.M):
            if not os.path.exists(f"/proc/{name}"):
                subprocess.run(["ip", "netns", "del", f"kpeer-{name}"], capture_output=True)

    def setup(self):
        ns, a, b, s = self.ns, self.a, self.b, self.s
        self.run("ip", "netns", "add", ns)
        # Defaults first, so kpb and kps are created with them: no IPv6 chatter on the wire.
        self.nsx("sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                 "net.ipv4.conf.default.rp_filter=0", "net.ipv6.conf.all.disable_ipv6=1",
                 "net.ipv6.conf.default.disable_ipv6=1")
        self.run("ip", "link", "add", a, "numtxqueues", "1", "numrxqueues", "1", "type", "veth", "peer", "name", b,
                 "netns", ns, "numtxqueues", "1", "numrxqueues", "1")
        self.run("sysctl", "-q", "-w", f"net.ipv6.conf.{a}.disable_ipv6=1")
        self.run("ethtool", "-K", a, "tso", "off", "gso", "off")  # else veth bypasses kpb's NAPI
        self.run("ip", "link", "set", a, "up")
        self.run("ip", "-n", ns, "link", "set", "lo", "up")
        self.run("ip", "-n", ns, "link", "set", b, "address", PORT_MAC, "up")
        self.run("ip", "-n", ns, "addr", "add", "10.64.0.10/24", "dev", b)
        self.run("ip", "-n", ns, "link", "add", s, "type", "ifb")
        self.run("ip", "-n", ns, "link", "set", s, "up")
        self.run("ip", "-n", ns, "route", "add", "10.64.0.0/16", "dev", s)  # the real servers only
        self.nsx("ethtool", "-K", b, "gro", "on")  # veth NAPI on kpb's side
        self.nsx("sh", "-c", f"echo 1 > /sys/class/net/{b}/threaded")
        rules = os.path.join(self.work, "kpeer.nft")
        with open(rules, "w") as f:
            f.write(ruleset("kpeer"))
        self.commands.append(f"/usr/bin/python3 scripts/bench_kpeer.py --ruleset > {shlex.quote(rules)}")
        self.nsx("nft", "-f", rules)
        prefix = f"napi/{b}-"[:15]  # comm is cut at 15 characters
        for _ in range(50):
            for d in os.listdir("/proc"):
                try:
                    if d.isdigit() and open(f"/proc/{d}/comm").read().strip().startswith(prefix):
                        self.napi = int(d)
                        self.run("taskset", "-pc", "0", d)
                        # Reads the namespace's /proc/net without a fork per sample.
                        self.holder = subprocess.Popen(["ip", "netns", "exec", ns, "sleep", "3600"])
                        self.procs.append(self.holder)
                        return
                except OSError:
                    pass
            time.sleep(0.02)
        raise RuntimeError(f"no threaded NAPI kthread for {b}: cannot tell which CPU does the kernel's work")

    def sample(self):
        t = time.monotonic()
        dev = {}
        for line in open(f"/proc/{self.holder.pid}/net/dev").read().splitlines()[2:]:
            name, vals = line.split(":", 1)
            v = list(map(int, vals.split()))
            dev[name.strip()] = {"rx_packets": v[1], "rx_dropped": v[3]}
        sysfs = f"/sys/class/net/{self.a}/statistics/"
        snmp = table_pairs(open(f"/proc/{self.holder.pid}/net/snmp").read(), ("Ip",))
        netstat = table_pairs(open(f"/proc/{self.holder.pid}/net/netstat").read(), ("IpExt",))
        cpu0 = open("/proc/stat").read().splitlines()[1].split()  # cpu0 user nice system idle iowait irq softirq
        status = open(f"/proc/{self.napi}/status").read()
        return {
            "t": (t + time.monotonic()) / 2,
            "forwarded": dev[self.s]["rx_packets"],
            "kpb_rx": dev[self.b]["rx_packets"], "kpb_dropped": dev[self.b]["rx_dropped"],
            "kpa_tx": int(open(sysfs + "tx_packets").read()), "kpa_dropped": int(open(sysfs + "tx_dropped").read()),
            "forw_datagrams": snmp["Ip"]["ForwDatagrams"], "in_no_routes": netstat["IpExt"]["InNoRoutes"],
            "napi_ns": int(open(f"/proc/{self.napi}/schedstat").read().split()[0]),
            "napi_wakeups": int(re.search(r"voluntary_ctxt_switches:\s+(\d+)", status).group(1)),
            "cpu0_irq_softirq_ticks": int(cpu0[6]) + int(cpu0[7]),
        }

    def measure(self):
        mem = ["--in-memory"] if self.memory == "hugepages" else ["--no-huge", "-m", "1024", "--no-shconf"]
        seconds = self.warmup + self.windows * WINDOW_S
        cmd = ["timeout", "-s", "INT", str(int(seconds + 6)), "taskset", "-c", "1",
               "dpdk-testpmd", "--lcores", "0@1,1@1", "--no-pci", "--no-telemetry", "--log-level", "*:warning",
               "--file-prefix", f"bench-testpmd-{os.getpid()}", *mem,
               "--vdev", f"net_pcap0,rx_pcap={self.pcap},infinite_rx=1",
               "--vdev", f"net_af_packet0,iface={self.a},framecnt=4096", "--",
               "--forward-mode=io", "--no-flush-rx", "--stats-period", "1", "--total-num-mbufs", "73728"]
        self.commands.append(" ".join(shlex.quote(c) for c in cmd))
        out = os.path.join(self.work, "kpeer-testpmd.out")
        tp = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=open(out, "w"), stderr=subprocess.STDOUT)
        self.procs.append(tp)
        time.sleep(self.warmup + 1)  # EAL start-up, then the warm-up
        samples = [self.sample()]
        for _ in range(self.windows):
            time.sleep(WINDOW_S)
            samples.append(self.sample())
        if tp.poll() is not None:
            raise RuntimeError(f"testpmd ended early: {open(out).read()[-1500:]}")
        wins = []
        for p, q in zip(samples, samples[1:]):
            dt = q["t"] - p["t"]
            d = {k: q[k] - p[k] for k in q if k != "t"}
            busy = d["napi_ns"] / 1e9 / dt
            pps = d["forwarded"] / dt
            wins.append({
                "seconds": round(dt, 3), "forwarded_mpps": pps / 1e6, "napi_busy": busy,
                "mpps_per_core": pps / busy / 1e6 if busy > 0 else 0.0,
                # veth counts a packet its peer's NAPI ring had no room for as the sender's tx_dropped.
                "offered_mpps": (d["kpa_tx"] + d["kpa_dropped"]) / dt / 1e6, "veth_ring_full": d["kpa_dropped"],
                "forw_datagrams": d["forw_datagrams"], "forwarded": d["forwarded"], "in_no_routes": d["in_no_routes"],
                "packets_per_wakeup": d["forwarded"] / d["napi_wakeups"] if d["napi_wakeups"] else None,
                "cpu0_irq_softirq": d["cpu0_irq_softirq_ticks"] / os.sysconf("SC_CLK_TCK") / dt,
            })
        return wins

    def checks(self):
        conntrack = int(self.nsx("cat", "/proc/sys/net/netfilter/nf_conntrack_count", record=False))
        dnat = sum(int(n) for n in re.findall(r"counter packets (\d+)", self.nsx("nft", "list", "table", "ip",
                                                                                 "kpeer", record=False)))
        return {"conntrack_entries": conntrack, "dnat_new_flows": dnat}

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT if p is not getattr(self, "holder", None) else signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        # Deleting the namespace deletes kpb (and with it kpa), kps, the nft table and the NAPI kthread.
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.a], capture_output=True)


def median(v):
    v = sorted(v)
    n = len(v)
    return 0 if n == 0 else (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2)


def kernel_peer(pcap, workdir, memory, windows, warmup, commands):
    """The step: returns {"status": "ok", ...} or {"status": "n/a", "reason": ...}; always cleans up."""
    if os.cpu_count() < 2:
        return {"status": "n/a", "reason": "needs 2 CPUs: one for the traffic source, one for the kernel"}
    for tool in ("nft", "ethtool", "dpdk-testpmd"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode != 0:
            return {"status": "n/a", "reason": f"{tool} not installed (scripts/setup)"}
    KernelPeer.remove_stale()
    kp = KernelPeer(pcap, workdir, memory, windows, warmup, commands)
    old = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        kp.setup()
        wins = kp.measure()
        chk = kp.checks()
    except RuntimeError as e:
        return {"status": "n/a", "reason": str(e)[:500]}
    finally:
        kp.cleanup()
        signal.signal(signal.SIGTERM, old)
    res = {"status": "ok", "windows": wins, "window_s": WINDOW_S, **chk,
           "mpps": median([w["forwarded_mpps"] for w in wins]),
           "mpps_per_core": median([w["mpps_per_core"] for w in wins]),
           "napi_busy": median([w["napi_busy"] for w in wins]),
           "offered_mpps": median([w["offered_mpps"] for w in wins]),
           "packets_per_wakeup": median([w["packets_per_wakeup"] or 0 for w in wins]),
           "services": VIPS * len(PORTS), "servers_per_service": SERVERS}
    # Every forwarded packet must have been DNATed to a real server: the counts must agree, and a
    # flow that skipped NAT would show up as a VIP without a route.
    if res["mpps"] <= 0 or chk["dnat_new_flows"] == 0 or any(w["in_no_routes"] for w in wins):
        return {"status": "n/a", "reason": f"not all traffic was DNATed and forwarded: {json.dumps(res)[:400]}"}
    return res


def main():
    import argparse
    import tempfile
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--ruleset", action="store_true")
    a = ap.parse_args()
    if a.ruleset:
        print(ruleset("kpeer"), end="")
        return
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    work = tempfile.mkdtemp(prefix="tern-bench-")
    pcap = os.path.join(work, "dr.pcap")
    subprocess.run([os.path.join(root, a.build, "bench", "tern_bench"), "pcap", "--case", "dr", "--out", pcap,
                    "--flows", "4096"], check=True, capture_output=True)
    hp = open("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages").read().strip()
    commands = []
    r = kernel_peer(pcap, work, "hugepages" if int(hp) >= 512 else "no-huge", a.windows, a.warmup, commands)
    print(json.dumps({"result": r, "commands": commands}, indent=1))


if __name__ == "__main__":
    main()
