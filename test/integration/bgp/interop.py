#!/usr/bin/python3
"""BGP interop: tern-bgp-speak against BIRD 2 and GoBGP, each in network namespaces
joined by a bridge (not loopback: BIRD ignores lo and GoBGP rejects such next hops).

  netns R (router: bird or gobgpd) bridge br0 10.99.0.1/24, fd99::1/64
  netns A (speaker a) 10.99.0.2, fd99::2     netns B (speaker b) 10.99.0.3, fd99::3
  netns T (tern run on eth0 with net_af_packet; 10.99.0.4, fd99::4 on its TAP)

Checks, per router: IPv4 and IPv6 VIP routes with next hop, MED, AS path (with a
prepend), communities and large communities; a graceful stop withdraws within a
second; a hung speaker's routes go at hold-timer expiry; two speakers with MED 0
and 100 -> the router prefers the first, and the second is best within a second
of stopping the first. BIRD also: TCP MD5, and passive (BIRD connects to us).
Usage: interop.py [--build DIR] [bird|gobgp ...] (DIR holds tern and control/tern-bgp-speak). Needs root, bird2 and gobgpd:
missing ones fail the run. Last line: "bgp-interop: N passed, N failed"."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SPEAK = ROOT / "build" / "control" / "tern-bgp-speak"
TERN = ROOT / "build" / "tern"
TAG = f"tb{os.getpid() % 100000}"
NS_R, NS_A, NS_B, NS_T = f"{TAG}r", f"{TAG}a", f"{TAG}b", f"{TAG}t"
V4 = "198.51.100.10/32"
V4B = "198.51.100.11/32"
V6 = "2001:db8:100::10/128"
ADDR = {NS_A: ("10.99.0.2", "fd99::2"), NS_B: ("10.99.0.3", "fd99::3"), NS_T: ("10.99.0.4", "fd99::4")}
# NS_T's eth0 has no address: `tern run` drives it as its port (net_af_packet)
# and the node's addresses live on its exception path's TAP.


def sh(*cmd, check=True, ns=None, capture=True):
    if ns:
        cmd = ("ip", "netns", "exec", ns) + cmd
    r = subprocess.run(cmd, capture_output=capture, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.returncode}: {r.stderr.strip()}")
    return r.stdout


class Fail(Exception):
    pass


def expect(cond, msg):
    if not cond:
        raise Fail(msg)


def wait_for(pred, timeout, what):
    t0 = time.monotonic()
    while True:
        v = pred()
        if v:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise Fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def topology_up():
    for ns in (NS_R, NS_A, NS_B, NS_T):
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
    sh("ip", "link", "add", "br0", "type", "bridge", ns=NS_R)
    sh("ip", "link", "set", "br0", "up", ns=NS_R)
    sh("ip", "addr", "add", "10.99.0.1/24", "dev", "br0", ns=NS_R)
    sh("ip", "addr", "add", "fd99::1/64", "dev", "br0", "nodad", ns=NS_R)
    for ns, (v4, v6) in ADDR.items():
        side = f"{ns}-r"[-15:]
        sh("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", side, "netns", NS_R)
        sh("ip", "link", "set", side, "master", "br0", ns=NS_R)
        sh("ip", "link", "set", side, "up", ns=NS_R)
        if ns == NS_T:
            sh("sysctl", "-qw", "net.ipv4.conf.eth0.arp_ignore=8", ns=ns)
            sh("sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=1", ns=ns)
        else:
            sh("ip", "addr", "add", f"{v4}/24", "dev", "eth0", ns=ns)
            sh("ip", "addr", "add", f"{v6}/64", "dev", "eth0", "nodad", ns=ns)
        sh("ip", "link", "set", "eth0", "up", ns=ns)


def topology_down():
    for ns in (NS_R, NS_A, NS_B, NS_T):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def speaker_conf(work, ns, med, hold=3, password=None, passive=False, vips=(V4, V6), ttl_security=False, v6=False):
    v4, v6addr = ADDR[ns]
    peer = {"address": "fd99::1" if v6 else "10.99.0.1", "asn": 65000}
    if password:
        peer["password"] = password
    if passive:
        peer["passive"] = True
    if ttl_security:
        peer["ttl_security"] = True
    services = []
    for i, v in enumerate(vips):
        services.append({"name": f"svc{i}", "vip": v.split("/")[0], "port": 443, "realservers": []})
    conf = {
        "node": {"name": ns, "ipv4": v4, "ipv6": v6addr},
        "ports": [{"name": "uplink", "device": "net_null0"}],
        "bgp": {"local_asn": 64600, "med": med, "hold_time": hold, "connect_retry": 1, "as_path_prepend": 1,
                "communities": ["14907:7"], "large_communities": ["64600:1:2"], "peers": [peer]},
        "services": services,
    }
    p = work / f"{ns}.yaml"
    p.write_text(json.dumps(conf))  # JSON is YAML
    return p


class Speaker:
    def __init__(self, work, ns, conf):
        self.log = open(work / f"{ns}.log", "a")
        self.p = subprocess.Popen(["ip", "netns", "exec", ns, str(SPEAK), "--config", str(conf)],
                                  stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            if sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    self.p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.p.kill()
                    self.p.wait()

    def kill(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGCONT)
            self.p.kill()
            self.p.wait()
        self.log.close()


# ---- routers -------------------------------------------------------------

class Bird:
    name = "bird"

    def __init__(self, work, peers, md5=None, passive_peer=False, ttl_security=False, v6=False, in_ns=NS_R,
                 local=("10.99.0.1", "fd99::1"), tag="bird"):
        self.work = work
        self.sock = work / f"{tag}.ctl"
        lines = [f'router id {local[0]};', 'log stderr all;', 'timeformat protocol iso long ms;',
                 'protocol device { scan time 1; }']
        for ns in peers:
            v4, v6addr = ADDR[ns]
            extra = f'password "{md5}";' if md5 else ""
            if passive_peer:
                extra += " neighbor port 1179;"
            if ttl_security:
                extra += " ttl security yes;"
            lines.append(f"""protocol bgp p_{ns} {{
  local {local[1] if v6 else local[0]} as 65000;
  neighbor {v6addr if v6 else v4} as 64600;
  {extra}
  connect delay time 1; connect retry time 1; error wait time 1, 2;
  ipv4 {{ import all; export none; }};
  ipv6 {{ import all; export none; }};
}}""")
        (work / f"{tag}.conf").write_text("\n".join(lines) + "\n")
        self.log = open(work / f"{tag}.log", "a")
        self.p = subprocess.Popen(["ip", "netns", "exec", in_ns, "bird", "-f", "-c", str(work / f"{tag}.conf"),
                                   "-s", str(self.sock)], stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.sock.exists(), 10, "bird's control socket")

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.p.kill()
        self.log.close()

    def established(self):
        """Whether any BGP session of the router is Established."""
        return "Established" in sh("birdc", "-s", str(self.sock), "show", "protocols", check=False)

    def routes(self, prefix):
        """[{best, next_hop, med, as_path, communities, large, from}] for prefix."""
        out = sh("birdc", "-s", str(self.sock), "show", "route", "for", prefix.split("/")[0], "all", check=False)
        routes, cur = [], None
        for line in out.splitlines():
            s = line.strip()
            if "unicast [" in line:
                cur = {"best": "] *" in line, "from": line.split("[")[1].split()[0][2:], "communities": [],
                       "large": []}
                if not line.startswith(("\t", " ")) and line.split()[0] != prefix:
                    cur = None
                    continue
                routes.append(cur)
            elif cur is None:
                continue
            elif s.startswith("BGP.next_hop:"):
                cur["next_hop"] = s.split(":", 1)[1].split()[0]
            elif s.startswith("BGP.med:"):
                cur["med"] = int(s.split(":", 1)[1])
            elif s.startswith("BGP.as_path:"):
                cur["as_path"] = [int(x) for x in s.split(":", 1)[1].split()]
            elif s.startswith("BGP.community:"):
                cur["communities"] = [c.strip("() ").replace(",", ":") for c in s.split(":", 1)[1].split(")") if c.strip()]
            elif s.startswith("BGP.large_community:"):
                cur["large"] = [c.strip("() ").replace(", ", ":") for c in s.split(":", 1)[1].split(")") if c.strip()]
        return routes


class GoBgp:
    name = "gobgp"

    def __init__(self, work, peers, md5=None, ttl_security=False, v6=False):
        conf = ['[global.config]', '  as = 65000', '  router-id = "10.99.0.1"']
        for ns in peers:
            v4, v6addr = ADDR[ns]
            conf += ['[[neighbors]]', '  [neighbors.config]', f'    neighbor-address = "{v6addr if v6 else v4}"',
                     '    peer-as = 64600']
            if md5:
                conf += [f'    auth-password = "{md5}"']
            if ttl_security:
                conf += ['  [neighbors.ttl-security.config]', '    enabled = true', '    ttl-min = 255']
            conf += ['  [neighbors.timers.config]', '    connect-retry = 1',
                     '  [[neighbors.afi-safis]]', '    [neighbors.afi-safis.config]',
                     '      afi-safi-name = "ipv4-unicast"',
                     '  [[neighbors.afi-safis]]', '    [neighbors.afi-safis.config]',
                     '      afi-safi-name = "ipv6-unicast"']
        (work / "gobgpd.toml").write_text("\n".join(conf) + "\n")
        self.log = open(work / "gobgpd.log", "a")
        self.p = subprocess.Popen(["ip", "netns", "exec", NS_R, "gobgpd", "-f", str(work / "gobgpd.toml"),
                                   "--api-hosts", "127.0.0.1:50051"], stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: sh("gobgp", "-u", "127.0.0.1", "global", ns=NS_R, check=False).strip() != "", 10,
                 "gobgpd's API")

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.p.kill()
        self.log.close()

    def established(self):
        """Whether any BGP session of the router is Established."""
        out = sh("gobgp", "-u", "127.0.0.1", "neighbor", ns=NS_R, check=False)
        return any(line.split("|")[0].split()[-1:] == ["Establ"] for line in out.splitlines()[1:])

    def routes(self, prefix):
        fam = ["-a", "ipv6"] if ":" in prefix else []
        out = sh("gobgp", "-u", "127.0.0.1", "global", "rib", *fam, "-j", ns=NS_R, check=False)
        try:
            rib = json.loads(out) if out.strip() else {}
        except json.JSONDecodeError:
            return []
        routes = []
        for p in rib.get(prefix, []):
            r = {"best": bool(p.get("best")), "from": p.get("neighbor-ip"), "communities": [], "large": []}
            for a in p.get("attrs", []):
                t = a.get("type")
                if t == 2:
                    r["as_path"] = [x for seg in a.get("as_paths", []) for x in seg.get("asns", [])]
                elif t == 3:
                    r["next_hop"] = a.get("nexthop")
                elif t == 4:
                    r["med"] = a.get("metric")
                elif t == 8:
                    r["communities"] = [f"{c >> 16}:{c & 0xffff}" for c in a.get("communities", [])]
                elif t == 14:
                    r["next_hop"] = a.get("nexthop")
                elif t == 32:
                    r["large"] = [f"{v['ASN']}:{v['LocalData1']}:{v['LocalData2']}" for v in a.get("value", [])]
            routes.append(r)
        return routes


# ---- cases ---------------------------------------------------------------

def best(router, prefix):
    return next((r for r in router.routes(prefix) if r["best"]), None)


def case_attributes(make_router, work):
    router = make_router(work, [NS_A])
    a = Speaker(work, NS_A, speaker_conf(work, NS_A, med=0))
    try:
        wait_for(lambda: best(router, V4) and best(router, V6), 15, "both VIP routes")
        r4, r6 = best(router, V4), best(router, V6)
        notes = []
        for r, nh in ((r4, "10.99.0.2"), (r6, "fd99::2")):
            expect(r.get("next_hop") == nh, f"next hop {r.get('next_hop')}, want {nh}: {r}")
            expect(r.get("med") == 0, f"MED {r.get('med')}: {r}")
            expect(r.get("as_path") == [64600, 64600], f"AS path {r.get('as_path')} (want 64600 prepended once)")
            expect(r["communities"] == ["14907:7"], f"communities {r['communities']}")
            expect(r["large"] == ["64600:1:2"], f"large communities {r['large']}")
        notes.append(f"v4 {r4['next_hop']} med {r4['med']} path {r4['as_path']} {r4['communities']} {r4['large']}")
        a.stop()
        t = wait_for(lambda: not router.routes(V4) and not router.routes(V6), 1.0, "withdrawal on graceful stop")
        notes.append(f"graceful stop withdrew both in {t * 1000:.0f} ms")
        expect(a.p.returncode == 0, f"speaker exited {a.p.returncode}")
        return notes
    finally:
        a.kill()
        router.stop()


def case_hold_expiry(make_router, work):
    router = make_router(work, [NS_A])
    a = Speaker(work, NS_A, speaker_conf(work, NS_A, med=0, hold=3))
    try:
        wait_for(lambda: best(router, V4), 15, "the VIP route")
        time.sleep(1)  # a keepalive or two have flowed
        a.p.send_signal(signal.SIGSTOP)  # hung: TCP stays open, nothing is sent
        t0 = time.monotonic()
        time.sleep(1.5)
        expect(best(router, V4) is not None, "route gone before the hold time")
        wait_for(lambda: not router.routes(V4), 4, "withdrawal at hold expiry")
        t = time.monotonic() - t0
        expect(t >= 1.9, f"route went after {t:.1f} s, before a 3 s hold could expire")
        return [f"hung speaker's route went after {t:.1f} s (hold time 3 s)"]
    finally:
        a.kill()
        router.stop()


def case_failover(make_router, work):
    router = make_router(work, [NS_A, NS_B])
    a = Speaker(work, NS_A, speaker_conf(work, NS_A, med=0))
    b = Speaker(work, NS_B, speaker_conf(work, NS_B, med=100))
    try:
        wait_for(lambda: len(router.routes(V4)) == 2 and len(router.routes(V6)) == 2, 15, "routes from both speakers")
        for v in (V4, V6):
            r = best(router, v)
            expect(r and r.get("med") == 0 and r["next_hop"] in ("10.99.0.2", "fd99::2"), f"best for {v} is {r}")
        a.stop()
        t = wait_for(lambda: (best(router, V4) or {}).get("med") == 100 and (best(router, V6) or {}).get("med") == 100,
                     1.0, "the backup to become best")
        expect(best(router, V4)["next_hop"] == "10.99.0.3", f"best after failover {best(router, V4)}")
        return [f"MED 0 preferred over 100; backup best {t * 1000:.0f} ms after stopping the primary"]
    finally:
        a.kill()
        b.kill()
        router.stop()


def established(work, ns):
    """Whether speaker `ns` logged a session reaching Established."""
    return "-> Established" in (work / f"{ns}.log").read_text()


def case_md5(make_router, work):
    router = make_router(work, [NS_A], md5="s3cret-md5")
    a = Speaker(work, NS_A, speaker_conf(work, NS_A, med=0, password="wrong-one"))
    try:
        time.sleep(4)
        expect(not router.routes(V4), "a route came up with the wrong MD5 password")
        expect(not established(work, NS_A), "a session came up with the wrong MD5 password")
        a.kill()
        a = Speaker(work, NS_A, speaker_conf(work, NS_A, med=0, password="s3cret-md5"))
        wait_for(lambda: best(router, V4) and best(router, V6), 15, "the routes over an MD5-signed session")
        return ["wrong password: no session in 4 s; right password: both routes learned"]
    finally:
        a.kill()
        router.stop()


def case_ttl_security(make_router, work):
    # Both sides GTSM on a direct link: TTL 255 each way.
    router = make_router(work, [NS_A], ttl_security=True)
    a = Speaker(work, NS_A, speaker_conf(work, NS_A, med=0, ttl_security=True))
    try:
        wait_for(lambda: best(router, V4) and best(router, V6), 15, "the routes over a GTSM session")
        expect(router.established(), "the router shows no Established session")
        return ["both sides with TTL security: session up, both routes learned"]
    finally:
        a.kill()
        router.stop()


def case_ttl_security_refused(make_router, work):
    # The router without GTSM sends its direct eBGP packets with TTL 1 (BIRD) or
    # a kernel default below 254 (GoBGP): we must not let them in, whichever
    # side connects (the router connects to our listener as well).
    router = make_router(work, [NS_A])
    a = Speaker(work, NS_A, speaker_conf(work, NS_A, med=0, ttl_security=True))
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 6:
            expect(not router.established(), "the router's session came up (it sent below TTL 254)")
            time.sleep(0.1)
        expect(not router.routes(V4) and not router.routes(V6), "routes came up from a router without GTSM")
        log = (work / f"{NS_A}.log").read_text()
        expect("OpenConfirm" not in log and not established(work, NS_A), f"got an OPEN below TTL 254:\n{log}")
        return ["router without TTL security: no OPEN received and the router never Established in 6 s"]
    finally:
        a.kill()
        router.stop()


def case_v6_transport(make_router, work):
    # The session runs between fd99::1 and fd99::2; both families ride on it.
    router = make_router(work, [NS_A], v6=True)
    a = Speaker(work, NS_A, speaker_conf(work, NS_A, med=0, v6=True))
    try:
        wait_for(lambda: best(router, V4) and best(router, V6), 15, "both VIP routes over an IPv6 session")
        for v, nh in ((V4, "10.99.0.2"), (V6, "fd99::2")):
            r = best(router, v)
            expect(r.get("next_hop") == nh, f"next hop for {v} {r.get('next_hop')}, want {nh}: {r}")
            expect(r.get("as_path") == [64600, 64600], f"AS path {r.get('as_path')}")
        log = (work / f"{NS_A}.log").read_text()
        expect("fd99::1" in log, f"the session was not with fd99::1:\n{log}")
        a.stop()
        wait_for(lambda: not router.routes(V4) and not router.routes(V6), 1.0, "withdrawal on graceful stop")
        return ["session over IPv6: IPv4 route via 10.99.0.2, IPv6 via fd99::2; graceful stop withdrew both"]
    finally:
        a.kill()
        router.stop()


def case_passive(work):
    # BIRD connects to our listener (port 1179); we never connect.
    router = Bird(work, [NS_A], passive_peer=True)
    conf = speaker_conf(work, NS_A, med=0, passive=True)
    c = json.loads(conf.read_text())
    c["bgp"]["listen_port"] = 1179
    conf.write_text(json.dumps(c))
    a = Speaker(work, NS_A, conf)
    try:
        wait_for(lambda: best(router, V4), 15, "the route over a session BIRD opened")
        log = (work / f"{NS_A}.log").read_text()
        expect("incoming connection" in log, "the session was not the incoming one")
        return ["passive session accepted from BIRD"]
    finally:
        a.kill()
        router.stop()


def tern_run(work, ns, conf, name="tern-run"):
    """`tern run --config conf` in `ns` on a net_null0 dataplane; its output in work/name.log."""
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    log = open(work / f"{name}.log", "w")
    try:
        return subprocess.Popen(["ip", "netns", "exec", ns, str(TERN), "run", "--config", str(conf), "--", "--no-huge",
                                 "-m", "512", "--no-shconf", "--no-telemetry", "--lcores", f"(0-1)@({cpus})",
                                 "--file-prefix", f"tern-bgp-{os.getpid()}"], stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()


def stop_tern(p):
    if p.poll() is None:
        p.kill()
        p.wait()


def case_tern_run(work):
    """`tern run` (dataplane on net_null0) runs the speaker: announces once forwarding,
    and on SIGTERM withdraws and sends CEASE before the dataplane stops."""
    router = Bird(work, [NS_A])
    p = tern_run(work, NS_A, speaker_conf(work, NS_A, med=0))
    try:
        wait_for(lambda: best(router, V4) and best(router, V6), 30, "tern run's VIP routes")
        p.send_signal(signal.SIGTERM)
        t = wait_for(lambda: not router.routes(V4) and not router.routes(V6), 1.0, "withdrawal on SIGTERM")
        rc = p.wait(timeout=30)
        out = (work / "tern-run.log").read_text()
        expect(rc == 0, f"tern run exited {rc}:\n{out}")
        expect("OpenConfirm -> Established" in out, f"no session state change logged:\n{out}")
        expect(out.find("withdrawing") < out.find("forwarded where:"), "routes withdrawn after the dataplane stopped")
        return [f"tern run announced both VIPs; SIGTERM withdrew them in {t * 1000:.0f} ms, before the counters"]
    finally:
        stop_tern(p)
        router.stop()


def case_tern_run_tap(work):
    """BGP through the exception path: `tern run` drives NS_T's eth0 (no
    address) with net_af_packet; the node's addresses are on its TAP, so the
    router's ARP, the session's TCP and the withdrawal all cross the dataplane
    and the kernel behind it."""
    router = Bird(work, [NS_T])
    conf = speaker_conf(work, NS_T, med=0)
    c = json.loads(conf.read_text())
    c["ports"] = [{"name": "uplink", "device": "net_af_packet0,iface=eth0", "mac": "02:00:00:00:99:04",
                   "subnets": ["10.99.0.0/24", "fd99::/64"]}]
    c["console"] = {"enabled": False}
    c["http"] = {"enabled": False}
    conf.write_text(json.dumps(c))
    p = tern_run(work, NS_T, conf)
    log = work / "tern-run.log"
    try:
        wait_for(lambda: best(router, V4) and best(router, V6), 30, "tern run's VIP routes through its TAP")
        expect(best(router, V4).get("next_hop") == "10.99.0.4", f"next hop {best(router, V4)}")
        eth0 = sh("ip", "-o", "addr", "show", "dev", "eth0", ns=NS_T)
        expect("10.99.0.4" not in eth0, f"eth0 holds the node address: {eth0}")
        tap = sh("ip", "-o", "addr", "show", "dev", "tern-uplink", ns=NS_T)
        expect("10.99.0.4/24" in tap and "fd99::4/64" in tap, f"the TAP's addresses: {tap}")
        arp = sh("ip", "neigh", "show", "10.99.0.4", ns=NS_R)
        expect("02:00:00:00:99:04" in arp, f"the router's ARP entry for the node: {arp}")
        p.send_signal(signal.SIGTERM)
        t = wait_for(lambda: not router.routes(V4) and not router.routes(V6), 2.0, "withdrawal on SIGTERM")
        rc = p.wait(timeout=30)
        expect(rc == 0, f"tern run exited {rc}:\n{log.read_text()}")
        return [f"session through the TAP; the router resolved the node to the port's MAC; withdrawn in "
                f"{t * 1000:.0f} ms on SIGTERM"]
    finally:
        stop_tern(p)
        router.stop()


def monitored_conf(work, flag, withdraw_unpooled):
    """One service on V4 with one real server whose RunCommand monitor is up
    while `flag` exists; a depool threshold of 0 lets it leave the pool."""
    conf = speaker_conf(work, NS_A, med=0, vips=(V4,))
    c = json.loads(conf.read_text())
    c["bgp"]["withdraw_unpooled"] = withdraw_unpooled
    c["console"] = {"enabled": False}
    c["http"] = {"enabled": False}
    c["services"] = [{"name": "svc0", "vip": V4.split("/")[0], "port": 443, "depool_threshold": 0,
                      "monitors": {"RunCommand": {"command": "/bin/sh", "arguments": ["-c", f"test -e {flag}"],
                                                  "interval": 0.3, "timeout": 2}},
                      "realservers": [{"host": "rs1", "ip": "10.99.0.50"}]}]
    conf.write_text(json.dumps(c))
    os.chmod(work, 0o755)  # the command runs as nobody and looks for the flag here
    return conf


def case_withdraw_unpooled(work):
    """bgp.withdraw_unpooled: the VIP goes from the router while its only server
    is depooled, and comes back when the server is pooled again."""
    router = Bird(work, [NS_A])
    flag = work / "rs1-up"
    flag.touch()
    p = tern_run(work, NS_A, monitored_conf(work, flag, True))
    log = work / "tern-run.log"
    try:
        wait_for(lambda: best(router, V4), 30, "tern run's VIP route")
        time.sleep(1)  # a few good checks
        expect(best(router, V4) is not None, "the VIP went while its server was up")
        flag.unlink()
        t_down = wait_for(lambda: not router.routes(V4), 5, "the VIP's withdrawal once its server failed")
        out = log.read_text()
        expect("Depooling server rs1" in out, f"the server was not depooled:\n{out}")
        expect("bgp: withdrawing 198.51.100.10/32" in out, f"no withdrawal logged:\n{out}")
        flag.touch()
        t_up = wait_for(lambda: best(router, V4), 5, "the VIP's announcement once its server was back")
        expect(p.poll() is None, f"tern run exited {p.returncode}")
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=30)
        expect(rc == 0, f"tern run exited {rc}:\n{log.read_text()}")
        return [f"server down: VIP withdrawn in {t_down:.1f} s; up again: announced in {t_up:.1f} s"]
    finally:
        stop_tern(p)
        router.stop()


def case_unpooled_stays(work):
    """Without bgp.withdraw_unpooled (PyBal's behaviour) the VIP stays announced
    while its only server is depooled."""
    router = Bird(work, [NS_A])
    flag = work / "rs1-up"
    flag.touch()
    p = tern_run(work, NS_A, monitored_conf(work, flag, False))
    log = work / "tern-run.log"
    try:
        wait_for(lambda: best(router, V4), 30, "tern run's VIP route")
        flag.unlink()
        wait_for(lambda: "Depooling server rs1" in log.read_text(), 5, "the server's depooling")
        time.sleep(3)
        expect(best(router, V4) is not None, "the VIP was withdrawn without bgp.withdraw_unpooled")
        expect("bgp: withdrawing 198.51.100.10" not in log.read_text(), f"a withdrawal was logged:\n{log.read_text()}")
        return ["server depooled; VIP still announced 3 s later"]
    finally:
        stop_tern(p)
        router.stop()


def bgp_connections(ns, peer):
    """The established TCP connections on port 179 with `peer` in `ns`, as (local, remote) pairs."""
    out = sh("ss", "-Htn", "state", "established", ns=ns, check=False)
    pairs = set()
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 4 and f[-1].rsplit(":", 1)[0] == peer and (f[-2].endswith(":179") or f[-1].endswith(":179")):
            pairs.add((f[-2], f[-1]))
    return pairs


def case_reload(work):
    """SIGHUP to a running tern run: a second peer (a second BIRD) added, bgp.med
    0 -> 50, a flow timeout and flows.size changed. The first router gets the new
    MED over its session, which is never reset; the second one's session comes up
    with it; the log names what applied and that flows.size waits for a restart,
    and says so again at the next reload."""
    r1 = Bird(work, [NS_A])
    r2 = Bird(work, [NS_A], in_ns=NS_B, local=ADDR[NS_B], tag="bird2")
    conf = speaker_conf(work, NS_A, med=0, hold=30)
    c = json.loads(conf.read_text())
    c["console"] = {"enabled": False}
    c["http"] = {"enabled": False}
    c["flows"] = {"size": 4096}
    conf.write_text(json.dumps(c))
    p = tern_run(work, NS_A, conf)
    log = work / "tern-run.log"
    try:
        wait_for(lambda: best(r1, V4) and best(r1, V6), 30, "tern run's VIP routes at the first router")
        expect(best(r1, V4).get("med") == 0, f"MED before the reload: {best(r1, V4)}")
        # The first session's TCP connection as the router sees it: a reset
        # would be a new connection (another ephemeral port). BIRD's
        # protocol time is not used: it is stamped again without a reset.
        conns = bgp_connections(NS_R, ADDR[NS_A][0])
        expect(len(conns) == 1, f"the router's BGP connections with {ADDR[NS_A][0]}: {conns}")
        c["bgp"]["med"] = 50
        c["bgp"]["peers"].append({"address": "10.99.0.3", "asn": 65000})
        c["flows"] = {"size": 8192, "timeouts": {"udp": 5}}
        conf.write_text(json.dumps(c))
        p.send_signal(signal.SIGHUP)
        t1 = wait_for(lambda: (best(r1, V4) or {}).get("med") == 50 and (best(r1, V6) or {}).get("med") == 50, 10,
                      "the new MED at the first router")
        t2 = wait_for(lambda: (best(r2, V4) or {}).get("med") == 50 and (best(r2, V6) or {}).get("med") == 50, 30,
                      "the second router's session and routes")
        after = bgp_connections(NS_R, ADDR[NS_A][0])
        expect(after == conns, f"the first session's connection changed: {conns} -> {after}")
        out = log.read_text()
        expect(out.count("bgp peer 10.99.0.1 AS 65000: OpenConfirm -> Established") == 1,
               f"the first session was established more than once:\n{out}")
        line = next((x for x in out.splitlines() if "reloaded" in x), "")
        for want in ("bgp.med 0 -> 50 applied", "bgp.peers[1] (10.99.0.3) added",
                     "flows.timeouts.udp 300 -> 5 applied",
                     "flows.size 4096 -> 8192: takes effect at the next restart"):
            expect(want in line, f"the reload's line lacks {want!r}: {line}")
        expect("bgp peer 10.99.0.3: added" in out, f"the speaker did not say it added the peer:\n{out}")
        # Nothing changed since: the restart key is still named, nothing else.
        p.send_signal(signal.SIGHUP)
        wait_for(lambda: log.read_text().count("reloaded") == 2, 5, "the second reload's line")
        line2 = [x for x in log.read_text().splitlines() if "reloaded" in x][1]
        expect(line2.endswith("flows.size 4096 -> 8192: takes effect at the next restart"), f"second reload: {line2}")
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=30)
        expect(rc == 0, f"tern run exited {rc}:\n{log.read_text()}")
        return [f"new MED at the first router in {t1:.1f} s, its session kept (TCP {sorted(conns)[0][1]} -> {sorted(conns)[0][0]}); second session and "
                f"routes with MED 50 in {t2:.1f} s", line.split(": ", 1)[-1][:160]]
    finally:
        stop_tern(p)
        r2.stop()
        r1.stop()


def case_passive_listener_taken(work):
    """A passive peer and a listener that cannot bind: tern run refuses to start,
    naming the address and port, before the dataplane forwards."""
    holder = subprocess.Popen(["ip", "netns", "exec", NS_A, "/usr/bin/python3", "-c",
                               "import socket, sys, time\n"
                               "s = socket.socket(); s.bind(('0.0.0.0', 1179)); s.listen()\n"
                               "print('bound', flush=True); time.sleep(120)"],
                              stdout=subprocess.PIPE, text=True)
    conf = speaker_conf(work, NS_A, med=0, passive=True)
    c = json.loads(conf.read_text())
    c["bgp"]["listen_port"] = 1179
    c["console"] = {"enabled": False}
    conf.write_text(json.dumps(c))
    p = None
    try:
        expect(holder.stdout.readline().strip() == "bound", "the port holder did not bind 1179")
        p = tern_run(work, NS_A, conf)
        rc = p.wait(timeout=60)
        out = (work / "tern-run.log").read_text()
        expect(rc == 1, f"tern run exited {rc} with its listener port taken, want 1:\n{out}")
        expect("0.0.0.0" in out and "1179" in out, f"the error does not name the address and port:\n{out}")
        expect("forwarding on" not in out, f"the dataplane started before the refusal:\n{out}")
        line = next((x for x in out.splitlines() if "1179" in x), "")
        return [f"exit {rc}: {line.strip()}"]
    finally:
        if p is not None:
            stop_tern(p)
        holder.kill()
        holder.wait()


def metric(text, name, **labels):
    """The value of the sample `name` whose labels include `labels`, or None."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if head != name and not head.startswith(name + "{"):
            continue
        got = dict(kv.split("=", 1) for kv in head[len(name) + 1:-1].split(",")) if "{" in head else {}
        if all(got.get(k) == f'"{v}"' for k, v in labels.items()):
            return float(value)
    return None


def case_show_bgp_metrics(work):
    """`show bgp` on the console and the BGP metrics (PyBal's and Tern's names,
    through promtool) of a tern run whose session to BIRD is up, then after
    BIRD stops: the state, the counters and the labels follow the session."""
    router = Bird(work, [NS_A])
    conf = speaker_conf(work, NS_A, med=0)
    c = json.loads(conf.read_text())
    sock = work / "tern.sock"
    c["console"] = {"socket": str(sock)}
    c["http"] = {"port": 9090}
    conf.write_text(json.dumps(c))
    p = tern_run(work, NS_A, conf)

    def show_bgp():
        r = subprocess.run([str(TERN), "console", "--socket", str(sock)], input="show bgp\nquit\n",
                           capture_output=True, text=True, timeout=20)
        rows = [x for x in r.stdout.replace("\r", "").splitlines() if x.startswith("10.99.0.1 ")]
        return rows[0].split() if rows else []

    def metrics():
        return sh("curl", "-s", "127.0.0.1:9090/metrics", ns=NS_A, check=False)

    try:
        wait_for(lambda: best(router, V4) and best(router, V6), 30, "tern run's VIP routes")
        row = show_bgp()
        # Peer, AS, State, Up/Down, Ups, Flaps, MsgRcvd, MsgSent
        expect(len(row) >= 8 and row[1] == "AS65000" and row[2] == "Established" and row[4] == "1" and row[5] == "0",
               f"show bgp while established: {row}")
        expect(row[3].count(":") == 2 and int(row[6]) >= 2 and int(row[7]) >= 3,
               f"show bgp's time and message counts: {row}")
        m = metrics()
        peer = {"peer": "10.99.0.1", "local_asn": "64600"}
        # Either end may open the connection that wins (BIRD connects too;
        # under the sanitizers it is often first): the side is the one the
        # established session reports.
        conn = {"local_asn": "64600", "local_ip": "10.99.0.2", "remote_ip": "10.99.0.1", "side": "active"}
        if metric(m, "pybal_bgp_session_state_count", state="ESTABLISHED", **dict(conn, side="passive")) == 1:
            conn["side"] = "passive"
        expect(metric(m, "pybal_bgp_enabled") == 1 and metric(m, "tern_bgp_enabled") == 1, "bgp_enabled")
        expect(metric(m, "pybal_bgp_session_established", **peer) == 1, f"pybal_bgp_session_established:\n{m}")
        expect(metric(m, "tern_bgp_session_established", **peer) == 1, "tern_bgp_session_established")
        expect(metric(m, "pybal_bgp_session_state_count", state="ESTABLISHED", **conn) == 1 and
               metric(m, "pybal_bgp_session_state_count", state="IDLE", **conn) == 0,
               f"pybal_bgp_session_state_count: {[x for x in m.splitlines() if 'state_count' in x]}")
        expect(metric(m, "tern_bgp_established_total", **peer) == 1, "tern_bgp_established_total")
        # Two UPDATEs at least (one per family), counted among the messages.
        sent = metric(m, "tern_bgp_messages_sent_total", **peer)
        expect(metric(m, "tern_bgp_updates_sent_total", **peer) >= 2 and sent >= 4,
               f"messages sent {sent}, updates {metric(m, 'tern_bgp_updates_sent_total', **peer)}")
        r = subprocess.run(["promtool", "check", "metrics"], input=m, capture_output=True, text=True)
        problems = [x for x in (r.stdout + r.stderr).splitlines() if x.strip()
                    and "pybal_bgp_session_state_count non-histogram" not in x]
        expect(r.returncode in (0, 3) and not problems, f"promtool: rc {r.returncode}: {problems}")
        # The router goes: the session leaves Established; the gauges follow,
        # the counters keep what they counted.
        router.stop()
        wait_for(lambda: metric(metrics(), "pybal_bgp_session_established", **peer) == 0, 15,
                 "pybal_bgp_session_established 0 after BIRD stopped")
        m = metrics()
        # After the stop the session may be counted on the other side (tern
        # connecting again): both sides together count it once.
        sides = [dict(conn, side=x) for x in ("active", "passive")]
        expect(all(not metric(m, "pybal_bgp_session_state_count", state="ESTABLISHED", **c) for c in sides),
               f"state_count ESTABLISHED after the stop: {[x for x in m.splitlines() if 'state_count' in x]}")
        expect(sum(metric(m, "pybal_bgp_session_state_count", state=s, **c) or 0
                   for s in ("IDLE", "CONNECT", "ACTIVE", "OPENSENT", "OPENCONFIRM") for c in sides) == 1,
               f"one state counts the session: {[x for x in m.splitlines() if 'state_count' in x]}")
        expect(metric(m, "tern_bgp_established_total", **peer) == 1, "tern_bgp_established_total after the stop")
        row = show_bgp()
        expect(len(row) >= 6 and row[2] != "Established" and row[4] == "1" and row[5] == "1",
               f"show bgp after BIRD stopped: {row}")
        expect(metric(m, "tern_bgp_flaps_total", **peer) == 1, "tern_bgp_flaps_total after the stop")
        return [f"show bgp: {' '.join(row[:6])}", "PyBal's and Tern's BGP metrics followed the session"]
    finally:
        stop_tern(p)
        router.stop()


def main(argv):
    global SPEAK, TERN
    if "--build" in argv:
        i = argv.index("--build")
        SPEAK = Path(argv[i + 1]) / "control" / "tern-bgp-speak"
        TERN = Path(argv[i + 1]) / "tern"
        del argv[i:i + 2]
    only = None
    if "-k" in argv:
        i = argv.index("-k")
        only = argv[i + 1]
        del argv[i:i + 2]
    routers = argv or ["bird", "gobgp"]
    passed = failed = 0
    missing = [t for t in ("bird", "birdc", "gobgpd", "gobgp") if shutil.which(t) is None]
    if os.geteuid() != 0 or missing or not SPEAK.exists() or not TERN.exists():
        print(f"FAIL setup: need root, {SPEAK}, {TERN} and bird2/gobgpd (missing: {missing or 'none'})")
        print("bgp-interop: 0 passed, 1 failed")
        return 1
    cases = []
    for name in routers:
        make = Bird if name == "bird" else GoBgp
        cases += [(f"{name} attributes + graceful stop", lambda w, m=make: case_attributes(m, w)),
                  (f"{name} hold expiry", lambda w, m=make: case_hold_expiry(m, w)),
                  (f"{name} MED failover", lambda w, m=make: case_failover(m, w)),
                  (f"{name} md5", lambda w, m=make: case_md5(m, w)),
                  (f"{name} ttl security", lambda w, m=make: case_ttl_security(m, w)),
                  (f"{name} ttl security refused", lambda w, m=make: case_ttl_security_refused(m, w)),
                  (f"{name} IPv6 transport", lambda w, m=make: case_v6_transport(m, w))]
        if name == "bird":
            cases += [("bird passive", case_passive), ("tern run with bird", case_tern_run),
                      ("tern run BGP through the exception path", case_tern_run_tap),
                      ("tern run withdraw_unpooled", case_withdraw_unpooled),
                      ("tern run unpooled VIP stays", case_unpooled_stays),
                      ("tern run reload", case_reload),
                      ("tern run passive listener taken", case_passive_listener_taken),
                      ("tern run show bgp and BGP metrics", case_show_bgp_metrics)]
    cases = [(t, f) for t, f in cases if only is None or only in t]
    for title, fn in cases:
        work = Path(tempfile.mkdtemp(prefix="tern-bgp-"))
        topology_down()
        try:
            topology_up()
            notes = fn(work)
            print(f"PASS {title}: {'; '.join(notes)}")
            passed += 1
            shutil.rmtree(work, ignore_errors=True)
        except Exception as e:  # noqa: BLE001 - report and go on
            msg = str(e) if isinstance(e, Fail) else traceback.format_exc()
            print(f"FAIL {title}: {msg} (logs in {work})")
            failed += 1
        finally:
            topology_down()
    print(f"bgp-interop: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
