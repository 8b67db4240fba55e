"""Shared code of Tern's pcap golden tests (test/pcap/<case>/{gen,check}.py).

- pcap I/O without scapy (exact timestamps, microsecond and nanosecond files),
- the test's view of a tern.yaml (ports, neighbours, services, servers),
- a minimal parser of well-formed frames into flow keys,
- running `tern replay`,
- checks that need no Maglev: DR rewrite, byte identity, timestamps, flow
  stickiness, weight shares, and the stats JSON against the pcaps.

Cases build packets with scapy (Debian's, /usr/bin/python3) and fixed seeds,
fixed timestamps, so `gen.py` regenerates the same in.pcap bytes.
"""

import collections
import ipaddress
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]

# Every drop reason the stats must name (dataplane/counters.h).
DROP_REASONS = (
    "truncated_ether", "other_mac", "truncated_ip", "bad_ip_version", "bad_ihl",
    "bad_ip_length", "truncated_l4", "bad_ipv6_ext", "no_server", "no_neighbor",
    "tx_full", "punt_full",
)

# Fixed capture start for every generated input: 2023-11-14T22:13:20Z.
T0_US = 1_700_000_000 * 1_000_000

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_VLAN = 0x8100
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_NAMES = {"tcp": PROTO_TCP, "udp": PROTO_UDP}


class CheckFailed(Exception):
    pass


def fail(msg):
    raise CheckFailed(msg)


def expect(cond, msg):
    if not cond:
        raise CheckFailed(msg)


class Errors:
    """Collects several mismatches and fails once with all of them (the first 25)."""

    def __init__(self, what):
        self.what = what
        self.items = []

    def add(self, msg):
        self.items.append(msg)

    def check(self, cond, msg):
        if not cond:
            self.items.append(msg)

    def raise_if_any(self):
        if self.items:
            shown = self.items[:25]
            more = len(self.items) - len(shown)
            text = f"{self.what}: {len(self.items)} problem(s):\n  " + "\n  ".join(shown)
            if more:
                text += f"\n  ... and {more} more"
            raise CheckFailed(text)


# ----------------------------------------------------------------------------- pcap I/O

class Rec:
    """One pcap record: timestamp in nanoseconds since the epoch, and the frame bytes."""

    __slots__ = ("ts_ns", "data", "orig_len")

    def __init__(self, ts_ns, data, orig_len=None):
        self.ts_ns = ts_ns
        self.data = bytes(data)
        self.orig_len = len(self.data) if orig_len is None else orig_len

    def __repr__(self):
        return f"Rec(ts={fmt_ts(self.ts_ns)}, len={len(self.data)})"


def fmt_ts(ts_ns):
    return f"{ts_ns // 1_000_000_000}.{ts_ns % 1_000_000_000:09d}"


def read_pcap(path):
    """Reads a classic pcap file (either byte order, us or ns precision) into a list of Rec."""
    raw = Path(path).read_bytes()
    expect(len(raw) >= 24, f"{path}: not a pcap file ({len(raw)} bytes)")
    magic = raw[:4]
    table = {
        b"\xd4\xc3\xb2\xa1": ("<", 1000), b"\xa1\xb2\xc3\xd4": (">", 1000),
        b"\x4d\x3c\xb2\xa1": ("<", 1), b"\xa1\xb2\x3c\x4d": (">", 1),
    }
    expect(magic in table, f"{path}: unknown pcap magic {magic.hex()}")
    endian, scale = table[magic]
    _, _, _, _, _, linktype = struct.unpack(endian + "HHiIII", raw[4:24])
    expect(linktype == 1, f"{path}: link type {linktype}, want 1 (Ethernet)")
    recs = []
    off = 24
    hdr = struct.Struct(endian + "IIII")
    while off < len(raw):
        expect(off + 16 <= len(raw), f"{path}: truncated record header at offset {off}")
        sec, frac, incl, orig = hdr.unpack_from(raw, off)
        off += 16
        expect(off + incl <= len(raw), f"{path}: truncated record at offset {off}")
        expect(incl == orig, f"{path}: record {len(recs)} captured {incl} of {orig} bytes")
        recs.append(Rec(sec * 1_000_000_000 + frac * scale, raw[off:off + incl], orig))
        off += incl
    return recs


def write_pcap(path, frames):
    """Writes (ts_us, bytes) pairs as a little-endian microsecond pcap, snaplen 65535."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for ts_us, data in frames:
        data = bytes(data)
        out += struct.pack("<IIII", ts_us // 1_000_000, ts_us % 1_000_000, len(data), len(data))
        out += data
    Path(path).write_bytes(bytes(out))


def write_frames(path, frames, step_us=1000, jitter=None):
    """Writes frames (bytes or scapy packets) with fixed timestamps from T0_US.

    Record i gets T0_US + i*step_us (+ jitter(i) when given: e.g. a seeded
    random source, so that timestamps are not all round numbers)."""
    recs = []
    for i, f in enumerate(frames):
        ts = T0_US + i * step_us + (jitter(i) if jitter else 0)
        recs.append((ts, bytes(f)))
    write_pcap(path, recs)
    return len(recs)


# ----------------------------------------------------------------------------- addresses

def mac_bytes(text):
    b = bytes(int(x, 16) for x in text.split(":"))
    assert len(b) == 6, text
    return b


def mac_str(b):
    return ":".join(f"{x:02x}" for x in b)


def is_group_mac(b):
    return bool(b[0] & 1)


# ----------------------------------------------------------------------------- generating

ROUTER_MAC = "00:00:5e:00:01:01"   # VRRP-style MAC of the router that sends client traffic


def ip_layer(src, dst, rng, **kw):
    """An IPv4 or IPv6 header with fixed-seed variety (TTL/hop limit, DSCP/ECN, ID, DF)."""
    from scapy.all import IP, IPv6
    if ipaddress.ip_address(src).version == 4:
        args = dict(src=str(src), dst=str(dst), ttl=rng.randrange(40, 65),
                    tos=rng.choice((0, 0, 0x10, 0xB8, 0x02)), id=rng.randrange(65536),
                    flags=rng.choice(("DF", "DF", 0)))
        args.update(kw)
        return IP(**args)
    args = dict(src=str(src), dst=str(dst), hlim=rng.randrange(40, 65),
                tc=rng.choice((0, 0, 0x28, 0xB8)), fl=rng.randrange(1 << 20))
    args.update(kw)
    return IPv6(**args)


def tcp_flow(rng, eth, src, dst, sport, dport, tag, npkts=4, payload_max=1400, ip_kw=None):
    """The client->server packets of one TCP connection: SYN, ACK, data..., FIN.
    Every packet differs (flags, sequence numbers, payload with `tag`)."""
    from scapy.all import TCP, Raw
    ip_kw = ip_kw or {}
    isn = rng.randrange(1 << 32)
    ack = rng.randrange(1 << 32)
    pkts = [eth / ip_layer(src, dst, rng, **ip_kw) /
            TCP(sport=sport, dport=dport, flags="S", seq=isn, window=64240,
                options=[("MSS", 1460), ("SAckOK", b""), ("WScale", 7)])]
    seq = (isn + 1) & 0xFFFFFFFF
    for k in range(1, npkts - 1):
        if k == 1:
            pkts.append(eth / ip_layer(src, dst, rng, **ip_kw) /
                        TCP(sport=sport, dport=dport, flags="A", seq=seq, ack=ack, window=502))
            continue
        body = f"GET /{tag}/{k} HTTP/1.1\r\nHost: test\r\n\r\n".encode()
        body += bytes(rng.randrange(32, 127) for _ in range(rng.randrange(0, payload_max - len(body))))
        pkts.append(eth / ip_layer(src, dst, rng, **ip_kw) /
                    TCP(sport=sport, dport=dport, flags="PA", seq=seq, ack=ack, window=502) / Raw(body))
        seq = (seq + len(body)) & 0xFFFFFFFF
    if npkts > 1:
        pkts.append(eth / ip_layer(src, dst, rng, **ip_kw) /
                    TCP(sport=sport, dport=dport, flags="FA", seq=seq, ack=ack, window=502))
    return pkts


def udp_flow(rng, eth, src, dst, sport, dport, tag, npkts=2, ip_kw=None):
    """npkts DNS-query-like datagrams of one UDP flow, each with its own query id."""
    from scapy.all import UDP, Raw
    ip_kw = ip_kw or {}
    pkts = []
    for k in range(npkts):
        qname = b"".join(bytes([len(x)]) + x for x in (f"{tag}-{k}".encode(), b"example", b"org")) + b"\0"
        body = struct.pack("!HHHHHH", rng.randrange(65536), 0x0100, 1, 0, 0, 0) + qname + b"\0\x01\0\x01"
        pkts.append(eth / ip_layer(src, dst, rng, **ip_kw) / UDP(sport=sport, dport=dport) / Raw(body))
    return pkts


def interleave(rng, flows):
    """Merges flows (lists of packets) into one capture order: each flow starts at a
    random point and keeps its own packet order."""
    events = []
    for n, pkts in enumerate(flows):
        t = rng.random()
        for k, p in enumerate(pkts):
            events.append((t, n, k, p))
            t += rng.random() * 0.01
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    return [e[3] for e in events]


def rand_v4(rng, nets):
    net = ipaddress.ip_network(rng.choice(nets))
    return net[rng.randrange(1, net.num_addresses - 1)]


def rand_v6(rng, net):
    net = ipaddress.ip_network(net)
    return net[rng.randrange(1, min(net.num_addresses, 1 << 64))]


def assert_unique(frames, what="frames"):
    """Generators call this: every frame must differ after the MAC addresses, so
    that outputs can be matched to inputs."""
    seen = {}
    for i, f in enumerate(frames):
        if len(bytes(f)) < 14:
            continue  # cannot be forwarded nor punted
        k = bytes(f)[12:]
        assert k not in seen, f"{what}: frames {seen[k]} and {i} are identical after the MACs"
        seen[k] = i


# ----------------------------------------------------------------------------- config

class Server:
    def __init__(self, service, d, neighbors):
        self.service = service
        self.host = d["host"]
        self.ip = ipaddress.ip_address(d["ip"])
        self.weight = int(d.get("weight", 1))
        self.enabled = bool(d.get("enabled", True))
        self.mac = neighbors.get(self.ip)  # bytes or None

    @property
    def active(self):
        """Can take new flows (weight > 0 and enabled)."""
        return self.enabled and self.weight > 0

    def __repr__(self):
        return f"{self.service.name}/{self.host}"


class Service:
    def __init__(self, d, neighbors):
        self.name = d["name"]
        self.vip = ipaddress.ip_address(d["vip"])
        self.port = int(d["port"])
        self.protocol = d.get("protocol", "tcp")
        self.proto = PROTO_NAMES[self.protocol]
        self.scheduler = d.get("scheduler", "maglev")
        self.forward = d.get("forward", "dr")
        self.servers = [Server(self, s, neighbors) for s in d.get("realservers", [])]

    def server(self, host):
        for s in self.servers:
            if s.host == host:
                return s
        raise KeyError(host)

    @property
    def active(self):
        return [s for s in self.servers if s.active]

    def by_mac(self, mac):
        """The server of this service with this MAC (active or not), or None."""
        for s in self.servers:
            if s.mac == mac:
                return s
        return None

    def __repr__(self):
        return f"{self.name}({self.vip}:{self.port}/{self.protocol})"


class Config:
    def __init__(self, path):
        self.path = Path(path)
        d = yaml.safe_load(self.path.read_text())
        self.raw = d
        port = d["ports"][0]
        self.port_name = port["name"]
        self.port_mac = mac_bytes(port["mac"])
        self.neighbors = {ipaddress.ip_address(n["ip"]): mac_bytes(n["mac"])
                          for n in d.get("neighbors", [])}
        self.services = [Service(s, self.neighbors) for s in d.get("services", [])]
        self._by_key = {(s.vip, s.port, s.proto): s for s in self.services}

    def service(self, name):
        for s in self.services:
            if s.name == name:
                return s
        raise KeyError(name)

    def service_for(self, flow):
        """The service a flow's packets belong to, or None (then they are the kernel's).

        Fragments carry no ports: they go to the VIP's lowest-port service of
        their protocol."""
        if flow is None:
            return None
        if flow.fragment:
            cands = [s for s in self.services if s.vip == flow.dst and s.proto == flow.proto]
            return min(cands, key=lambda s: s.port) if cands else None
        return self._by_key.get((flow.dst, flow.dport, flow.proto))


def load_config(path):
    return Config(path)


# ----------------------------------------------------------------------------- parsing

Flow = collections.namedtuple("Flow", "family src dst proto sport dport fragment")


def flow_of(frame):
    """The flow key of a WELL-FORMED Ethernet (+ one 802.1Q) IPv4/IPv6 frame.

    Returns None for non-IP frames and for IP packets that are neither TCP nor
    UDP; fragments have sport = dport = None and fragment = True. This is not a
    validator: the malformed-frame case states its expectations explicitly."""
    off = 14
    etype = struct.unpack_from("!H", frame, 12)[0]
    if etype == ETH_VLAN:
        etype = struct.unpack_from("!H", frame, 16)[0]
        off = 18
    if etype == ETH_IPV4:
        ip = frame[off:]
        ihl = (ip[0] & 0x0F) * 4
        proto = ip[9]
        src = ipaddress.IPv4Address(ip[12:16])
        dst = ipaddress.IPv4Address(ip[16:20])
        frag = struct.unpack_from("!H", ip, 6)[0] & 0x3FFF
        if proto not in (PROTO_TCP, PROTO_UDP):
            return None
        if frag:
            return Flow(4, src, dst, proto, None, None, True)
        sport, dport = struct.unpack_from("!HH", ip, ihl)
        return Flow(4, src, dst, proto, sport, dport, False)
    if etype == ETH_IPV6:
        ip = frame[off:]
        src = ipaddress.IPv6Address(ip[8:24])
        dst = ipaddress.IPv6Address(ip[24:40])
        nxt = ip[6]
        h = 40
        while True:
            if nxt in (0, 43, 60):
                nxt, h = ip[h], h + (ip[h + 1] + 1) * 8
            elif nxt == 44:
                offm = struct.unpack_from("!H", ip, h + 2)[0]
                nxt, h = ip[h], h + 8
                if offm & 0xFFF9:
                    if nxt not in (PROTO_TCP, PROTO_UDP):
                        return None
                    return Flow(6, src, dst, nxt, None, None, True)
            else:
                break
        if nxt not in (PROTO_TCP, PROTO_UDP):
            return None
        sport, dport = struct.unpack_from("!HH", ip, h)
        return Flow(6, src, dst, nxt, sport, dport, False)
    return None


def expected_action(cfg, frame):
    """What Tern must do with a WELL-FORMED frame: ("out", service) | ("punt", None)
    | ("drop", "other_mac")."""
    dst = frame[:6]
    if not is_group_mac(dst) and dst != cfg.port_mac:
        return ("drop", "other_mac")
    if is_group_mac(dst):
        return ("punt", None)
    svc = cfg.service_for(flow_of(frame))
    if svc is None:
        return ("punt", None)
    return ("out", svc)


def flow_str(f):
    if f is None:
        return "-"
    p = {PROTO_TCP: "tcp", PROTO_UDP: "udp"}.get(f.proto, str(f.proto))
    if f.fragment:
        return f"{p} {f.src} -> {f.dst} (fragment)"
    return f"{p} {f.src}:{f.sport} -> {f.dst}:{f.dport}"


# ----------------------------------------------------------------------------- running tern

def tern_path():
    return Path(os.environ.get("TERN") or (REPO / "build" / "tern"))


class Replay:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def replay(config, inp, workdir, tag="run", lcores=None, punt=True, stats=True, timeout=300):
    """Runs `tern replay` and returns its OUT, PUNT (lists of Rec) and stats (dict)."""
    tern = tern_path()
    expect(tern.exists(), f"tern binary not found at {tern} (build it, or set TERN / --tern)")
    workdir = Path(workdir)
    out = workdir / f"{tag}.out.pcap"
    punt_p = workdir / f"{tag}.punt.pcap"
    stats_p = workdir / f"{tag}.stats.json"
    cmd = [str(tern), "replay", "--config", str(config), "--in", str(inp), "--out", str(out)]
    if punt:
        cmd += ["--punt", str(punt_p)]
    if lcores is not None:
        cmd += ["--lcores", str(lcores)]
    if stats:
        cmd += ["--stats", str(stats_p)]
    try:
        p = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        fail(f"`{' '.join(cmd)}` did not finish within {timeout} s")
    log = workdir / f"{tag}.log"
    log.write_text(f"$ {' '.join(cmd)}\n--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}\n")
    if p.returncode != 0:
        tail = "\n".join((p.stdout + p.stderr).strip().splitlines()[-30:])
        fail(f"tern replay ({tag}) exited with status {p.returncode}:\n{tail}")
    expect(out.exists(), f"tern replay ({tag}) wrote no OUT file {out}")
    r = Replay(cmd=cmd, stdout=p.stdout, stderr=p.stderr, out_path=out, punt_path=punt_p,
               stats_path=stats_p, out=read_pcap(out), punt=None, stats=None)
    if punt:
        expect(punt_p.exists(), f"tern replay ({tag}) wrote no PUNT file {punt_p}")
        r.punt = read_pcap(punt_p)
    if stats:
        expect(stats_p.exists(), f"tern replay ({tag}) wrote no stats file {stats_p}")
        try:
            r.stats = json.loads(stats_p.read_text())
        except json.JSONDecodeError as e:
            fail(f"stats file {stats_p} is not JSON: {e}")
    return r


# ----------------------------------------------------------------------------- matching

def match(inp, recs, what, key=lambda d: d):
    """Pairs every record of an output (OUT or PUNT) with the input record it came from.

    key(frame) picks the bytes that must survive: for PUNT the whole frame, for
    OUT everything after the MAC addresses. Each output must match a distinct
    input record byte for byte and carry its timestamp (identical input frames
    are told apart by their timestamps). Returns a list of input indices, in
    output order."""
    index = collections.defaultdict(list)
    for i, r in enumerate(inp):
        index[key(r.data)].append(i)
    errs = Errors(f"{what} vs input")
    used = {}
    idx = []
    for j, r in enumerate(recs):
        cands = index.get(key(r.data))
        if not cands:
            errs.add(f"{what} record {j} ({len(r.data)} bytes, dst {mac_str(r.data[:6])}) matches "
                     f"no input record byte for byte{closest(inp, r.data, key)}")
            continue
        free = [i for i in cands if i not in used]
        same_ts = [i for i in free if inp[i].ts_ns == r.ts_ns]
        if same_ts:
            i = same_ts[0]
        elif free:
            i = free[0]
            errs.add(f"{what} record {j} has timestamp {fmt_ts(r.ts_ns)}, its input record {i} "
                     f"has {fmt_ts(inp[i].ts_ns)}")
        else:
            errs.add(f"{what} record {j} duplicates input record {cands[0]}, which already left as "
                     f"{what} record {used[cands[0]]}")
            continue
        used[i] = j
        idx.append(i)
    errs.raise_if_any()
    return idx


def closest(inp, data, key):
    """For a failure message: the input record that shares the longest prefix (under key)
    with an unmatched output, and where they differ."""
    k = key(data)
    best, best_n = None, -1
    for i, r in enumerate(inp):
        ki = key(r.data)
        n = 0
        m = min(len(k), len(ki))
        while n < m and k[n] == ki[n]:
            n += 1
        if n > best_n:
            best, best_n = i, n
    if best is None:
        return ""
    off = best_n + (len(data) - len(k))
    ki = key(inp[best].data)
    return (f"; nearest is input record {best} ({len(inp[best].data)} bytes), first difference at "
            f"frame offset {off}: output {k[best_n:best_n + 8].hex() or '(end)'}, input "
            f"{ki[best_n:best_n + 8].hex() or '(end)'}")


def after_macs(d):
    return d[12:]


def check_in_order(idx, what):
    """With one lcore, outputs keep the input order."""
    for a, b in zip(idx, idx[1:]):
        expect(a < b, f"{what} is not in input order: input record {b} follows input record {a}")


def check_dr(cfg, inp, out, idx):
    """Checks every OUT record as a DR forward of its input record and returns
    {input index: Server}.

    - the input was for a VIP:port:protocol of a service (and to the port's MAC),
    - dst MAC = the MAC of an active (enabled, weight > 0) server OF THAT service,
    - src MAC = the port's MAC,
    - everything after the MACs (EtherType, IP packet, padding) unchanged (match() did that)."""
    errs = Errors("DR forwarding")
    chosen = {}
    for j, i in enumerate(idx):
        fin, fout = inp[i].data, out[j].data
        act, svc = expected_action(cfg, fin)
        if act != "out":
            errs.add(f"input record {i} ({flow_str(flow_of(fin))}, dst {mac_str(fin[:6])}) was "
                     f"forwarded but must be {act}{' (' + svc + ')' if isinstance(svc, str) else ''}")
            continue
        if fout[6:12] != cfg.port_mac:
            errs.add(f"OUT record {j}: src MAC {mac_str(fout[6:12])}, want the port's "
                     f"{mac_str(cfg.port_mac)}")
        srv = svc.by_mac(fout[:6])
        if srv is None:
            errs.add(f"OUT record {j} ({flow_str(flow_of(fin))}): dst MAC {mac_str(fout[:6])} is no "
                     f"server of {svc.name}")
            continue
        if not srv.active:
            errs.add(f"OUT record {j} ({flow_str(flow_of(fin))}): sent to {srv} which has weight "
                     f"{srv.weight}, enabled {srv.enabled}")
        chosen[i] = srv
    errs.raise_if_any()
    return chosen


def check_checksums(recs, what):
    """Every IPv4 header checksum in recs is valid, and so is the TCP/UDP checksum of
    every unfragmented TCP/UDP packet (IPv4 and IPv6, after any extension headers).
    Recomputed here (RFC 1071 with the pseudo-headers of RFC 768/793/8200)."""
    errs = Errors(f"{what} checksums")
    for j, r in enumerate(recs):
        d = r.data
        off = 18 if d[12:14] == b"\x81\x00" else 14
        etype = d[off - 2:off]
        if etype == b"\x08\x00":
            ip = d[off:]
            ihl = (ip[0] & 0x0F) * 4
            if internet_checksum(ip[:ihl]) != 0:
                errs.add(f"{what} record {j}: bad IPv4 header checksum {ip[10:12].hex()}")
            total = struct.unpack_from("!H", ip, 2)[0]
            proto = ip[9]
            if struct.unpack_from("!H", ip, 6)[0] & 0x3FFF or proto not in (PROTO_TCP, PROTO_UDP):
                continue
            l4 = ip[ihl:total]
            if proto == PROTO_UDP and l4[6:8] == b"\0\0":
                continue  # no UDP checksum (IPv4 only)
            pseudo = ip[12:20] + struct.pack("!BBH", 0, proto, len(l4))
        elif etype == b"\x86\xdd":
            ip = d[off:]
            end_ = 40 + struct.unpack_from("!H", ip, 4)[0]
            nxt, h = ip[6], 40
            while nxt in (0, 43, 60):
                nxt, h = ip[h], h + (ip[h + 1] + 1) * 8
            if nxt not in (PROTO_TCP, PROTO_UDP):
                continue  # fragments (44) and everything else
            l4 = ip[h:end_]
            pseudo = ip[8:40] + struct.pack("!IxxxB", len(l4), nxt)
            proto = nxt
        else:
            continue
        if internet_checksum(pseudo + l4) != 0:
            name = "TCP" if proto == PROTO_TCP else "UDP"
            cs = l4[16:18] if proto == PROTO_TCP else l4[6:8]
            errs.add(f"{what} record {j}: bad {name} checksum {cs.hex()}")
    errs.raise_if_any()


def internet_checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def check_sticky(inp, chosen, what="flows"):
    """Every packet of a flow (5-tuple; 3-tuple for fragments) went to one server.
    Returns {flow: Server}."""
    per_flow = {}
    errs = Errors(f"{what} stickiness")
    for i, srv in sorted(chosen.items()):
        f = flow_of(inp[i].data)
        prev = per_flow.setdefault(f, srv)
        if prev is not srv:
            errs.add(f"{flow_str(f)}: input record {i} went to {srv}, earlier packets to {prev}")
    errs.raise_if_any()
    return per_flow


def check_shares(counts, service, what, sigmas=4.0, slack=0.02):
    """Checks that the number of flows (or clients) per server follows weights.

    counts: {Server: n} for the active servers of `service` (missing = 0).
    Each of the N flows has pseudo-random ports/addresses, so it lands on
    server i with probability p_i = w_i / sum(w) (weighted Maglev with a
    65537-entry table gives each server its weight's share of entries to well
    under 1%). Then n_i ~ Binomial(N, p_i), sd_i = sqrt(N p_i (1 - p_i)).
    Accepted: |n_i - N p_i| <= sigmas * sd_i + slack * N p_i + 1. With 4 sigma a
    correct balancer fails a server with probability ~6e-5 (and since inputs
    and hashes are fixed, a given build passes or fails deterministically); the
    2% slack absorbs the ring's quantisation. Weights are chosen so that
    ignoring them (equal split) misses by many sigma."""
    active = service.active
    n = sum(counts.get(s, 0) for s in active)
    wsum = sum(s.weight for s in active)
    expect(n > 0, f"{what}: {service.name} got no flows at all")
    errs = Errors(f"{what}: weight shares of {service.name} over {n}")
    lines = []
    for s in active:
        p = s.weight / wsum
        mean = n * p
        sd = math.sqrt(n * p * (1 - p))
        tol = sigmas * sd + slack * mean + 1
        got = counts.get(s, 0)
        lines.append(f"{s.host}: {got} (want {mean:.0f} +- {tol:.0f})")
        errs.check(abs(got - mean) <= tol,
                   f"{s.host} (weight {s.weight}) got {got}, want {mean:.1f} +- {tol:.1f}")
    for s, c in counts.items():
        if s not in active and c:
            errs.add(f"{s.host} (weight {s.weight}, enabled {s.enabled}) got {c}")
    errs.raise_if_any()
    return ", ".join(lines)


# ----------------------------------------------------------------------------- stats

def check_stats(st, cfg, inp, out, punt, drops, out_servers, lcores=1):
    """Checks the --stats JSON against the pcaps.

    drops: {reason: expected count}; every other reason must be 0.
    out_servers: {OUT index: Server} (from check_dr), for per-service and
    per-server packets and bytes (bytes = frame length as received = as sent,
    since DR keeps the length)."""
    errs = Errors("stats")
    n_in, n_out = len(inp), len(out)
    n_punt = len(punt) if punt is not None else None
    for key in ("ports", "lcores", "totals", "drops", "services"):
        expect(key in st, f"stats: no key {key!r} (keys: {sorted(st)})")

    # drops: every reason named, each with the expected count
    for r in DROP_REASONS:
        errs.check(r in st["drops"], f"drops: reason {r!r} missing")
    for r in drops:
        assert r in DROP_REASONS, r
    for r in DROP_REASONS:
        if r in st["drops"]:
            want = drops.get(r, 0)
            errs.check(st["drops"][r] == want, f"drops.{r} = {st['drops'][r]}, want {want}")
    n_drop = sum(drops.values())

    # totals
    t = st["totals"]
    errs.check(t.get("rx") == n_in, f"totals.rx = {t.get('rx')}, want {n_in} (input records)")
    errs.check(t.get("tx") == n_out, f"totals.tx = {t.get('tx')}, want {n_out} (OUT records)")
    if n_punt is not None:
        errs.check(t.get("punt") == n_punt, f"totals.punt = {t.get('punt')}, want {n_punt} (PUNT records)")
    errs.check(t.get("dropped") == n_drop, f"totals.dropped = {t.get('dropped')}, want {n_drop}")
    errs.check(t.get("dropped") == sum(st["drops"].values()),
               f"totals.dropped = {t.get('dropped')} but drops sum to {sum(st['drops'].values())}")

    # lcores add up to the totals
    lc = st["lcores"]
    errs.check(len(lc) == lcores, f"{len(lc)} lcores in stats, want {lcores}")
    for f in ("rx", "tx", "punt", "dropped"):
        s = sum(x.get(f, 0) for x in lc)
        errs.check(s == t.get(f), f"lcores' {f} sum to {s}, totals.{f} = {t.get(f)}")
    for x in lc:
        d = x.get("drops", {})
        errs.check(x.get("dropped") == sum(d.values()),
                   f"lcore {x.get('lcore')}: dropped {x.get('dropped')} but its drops sum to {sum(d.values())}")
    for r in DROP_REASONS:
        s = sum(x.get("drops", {}).get(r, 0) for x in lc)
        errs.check(s == st["drops"].get(r), f"lcores' drops.{r} sum to {s}, drops.{r} = {st['drops'].get(r)}")

    # the port
    ports = [p for p in st["ports"] if p.get("name") == cfg.port_name]
    if len(ports) != 1:
        errs.add(f"ports: want one entry named {cfg.port_name!r}, have {[p.get('name') for p in st['ports']]}")
    else:
        p = ports[0]
        want = {"rx_packets": n_in, "rx_bytes": sum(len(r.data) for r in inp),
                "tx_packets": n_out, "tx_bytes": sum(len(r.data) for r in out),
                "rx_missed": 0, "rx_errors": 0, "tx_errors": 0}
        for k, v in want.items():
            errs.check(p.get(k) == v, f"ports[{cfg.port_name}].{k} = {p.get(k)}, want {v}")

    # services and servers against OUT
    svc_pk = collections.Counter()
    svc_by = collections.Counter()
    srv_pk = collections.Counter()
    srv_by = collections.Counter()
    for j, srv in out_servers.items():
        ln = len(out[j].data)
        svc_pk[srv.service.name] += 1
        svc_by[srv.service.name] += ln
        srv_pk[(srv.service.name, srv.host)] += 1
        srv_by[(srv.service.name, srv.host)] += ln
    by_name = {s.get("name"): s for s in st["services"]}
    errs.check(len(st["services"]) == len(cfg.services),
               f"{len(st['services'])} services in stats, config has {len(cfg.services)}")
    for svc in cfg.services:
        s = by_name.get(svc.name)
        if s is None:
            errs.add(f"services: {svc.name} missing")
            continue
        vip = s.get("vip")
        try:
            ok = ipaddress.ip_address(vip) == svc.vip
        except (ValueError, TypeError):
            ok = False
        errs.check(ok, f"services[{svc.name}].vip = {vip!r}, want {svc.vip}")
        for k, v in (("port", svc.port), ("protocol", svc.protocol), ("scheduler", svc.scheduler),
                     ("forward", svc.forward), ("packets", svc_pk[svc.name]), ("bytes", svc_by[svc.name])):
            errs.check(s.get(k) == v, f"services[{svc.name}].{k} = {s.get(k)!r}, want {v!r}")
        rs = {x.get("host"): x for x in s.get("servers", [])}
        errs.check(len(s.get("servers", [])) == len(svc.servers),
                   f"services[{svc.name}]: {len(s.get('servers', []))} servers, config has {len(svc.servers)}")
        for srv in svc.servers:
            x = rs.get(srv.host)
            if x is None:
                errs.add(f"services[{svc.name}].servers: {srv.host} missing")
                continue
            try:
                ok = ipaddress.ip_address(x.get("ip")) == srv.ip
            except (ValueError, TypeError):
                ok = False
            errs.check(ok, f"services[{svc.name}].servers[{srv.host}].ip = {x.get('ip')!r}, want {srv.ip}")
            for k, v in (("weight", srv.weight), ("enabled", srv.enabled),
                         ("packets", srv_pk[(svc.name, srv.host)]), ("bytes", srv_by[(svc.name, srv.host)])):
                errs.check(x.get(k) == v, f"services[{svc.name}].servers[{srv.host}].{k} = {x.get(k)!r}, want {v!r}")
    errs.raise_if_any()


# ----------------------------------------------------------------------------- case driver

def out_servers_by_out_index(idx, chosen):
    """{OUT index: Server} from match() indices and check_dr()'s {input index: Server}."""
    return {j: chosen[i] for j, i in enumerate(idx)}


def check_expectations(inp, r, exp, what="frames"):
    """Checks hand-written per-frame expectations (from a case's gen.frames()).

    exp: one (expectation, note, frame) per input record, expectation "out" |
    "punt" | "drop:<reason>". Every "out" frame must be in OUT, every "punt" frame
    in PUNT (byte-identical), "drop" frames in neither. Returns (out_idx,
    punt_idx, {reason: expected count})."""
    expect(len(exp) == len(inp), f"{len(exp)} expectations for {len(inp)} input records")
    out_idx = match(inp, r.out, "OUT", key=after_macs)
    punt_idx = match(inp, r.punt, "PUNT")
    in_out, in_punt = set(out_idx), set(punt_idx)
    errs = Errors(what)
    drops = collections.Counter()
    for i, (want, note, _) in enumerate(exp):
        where = [w for w, s in (("OUT", in_out), ("PUNT", in_punt)) if i in s]
        if want.startswith("drop:"):
            drops[want[5:]] += 1
        wanted = {"out": ["OUT"], "punt": ["PUNT"]}.get(want, [])
        if where != wanted:
            errs.add(f"input record {i} ({note}): in {where or 'neither'}, want "
                     f"{wanted or 'neither (' + want + ')'}")
    errs.raise_if_any()
    return out_idx, punt_idx, dict(drops)


def check_run(cfg, inp, r, lcores=1, drops=None, may_drop=None):
    """The common checks of a replay over well-formed input:

    - OUT and PUNT records each come from a distinct input record with its timestamp;
      OUT keeps everything after the MACs, PUNT the whole frame; with one lcore
      both keep the input order;
    - every frame for a VIP:port:protocol (to the port's MAC) is in OUT and only
      those; every other frame for the port's MAC or a group MAC is in PUNT and
      only those; frames for other unicast MACs are in neither;
    - OUT is a DR forward to an active server of the right service (check_dr);
    - IPv4 header and TCP/UDP checksums in OUT and PUNT are valid;
    - the stats JSON agrees (check_stats) with drops = {"other_mac": n} + `drops`.

    may_drop(i) -> bool marks VIP frames that may be missing from OUT (they
    must then be counted by the caller, e.g. as no_neighbor).
    Returns (out_idx, punt_idx, chosen) with chosen = {input index: Server}."""
    out_idx = match(inp, r.out, "OUT", key=after_macs)
    punt_idx = match(inp, r.punt, "PUNT")
    if lcores == 1:
        check_in_order(out_idx, "OUT")
        check_in_order(punt_idx, "PUNT")
    in_out, in_punt = set(out_idx), set(punt_idx)
    errs = Errors("where frames went")
    other_mac = 0
    for i, rec in enumerate(inp):
        act, svc = expected_action(cfg, rec.data)
        where = [w for w, s in (("OUT", in_out), ("PUNT", in_punt)) if i in s]
        if act == "drop":
            other_mac += 1
        if act == "out" and may_drop is not None and may_drop(i) and not where:
            continue
        want = {"out": ["OUT"], "punt": ["PUNT"], "drop": []}[act]
        if where != want:
            errs.add(f"input record {i} ({flow_str(flow_of(rec.data))}, dst MAC {mac_str(rec.data[:6])}"
                     f"{', for ' + svc.name if act == 'out' else ''}): in {where or 'neither'}, want "
                     f"{want or 'neither'}")
    errs.raise_if_any()
    chosen = check_dr(cfg, inp, r.out, out_idx)
    check_checksums(r.out, "OUT")
    check_checksums(r.punt, "PUNT")
    d = dict(drops or {})
    if other_mac:
        d["other_mac"] = d.get("other_mac", 0) + other_mac
    check_stats(r.stats, cfg, inp, r.out, r.punt, d, out_servers_by_out_index(out_idx, chosen),
                lcores=lcores)
    return out_idx, punt_idx, chosen


def load_gen(case):
    """Imports <case>/gen.py as a module (hand-written cases list their frames and
    expectations there)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(f"gen_{Path(case).name}", Path(case) / "gen.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def check_generated(inp, frames, case):
    """in.pcap must hold exactly the frames gen.py builds, so that the expectations that
    gen.py states belong to the records checked."""
    expect(len(inp) == len(frames) and all(r.data == bytes(f) for r, f in zip(inp, frames)),
           f"{case}/in.pcap differs from what {case}/gen.py builds: run gen.py and commit in.pcap")


def main(check):
    """Runs check(case_dir, workdir) and reports. The work dir is $TERNPCAP_WORKDIR
    (the runner's) or a fresh temporary directory removed afterwards."""
    case_dir = Path(sys.argv[0]).resolve().parent
    own = "TERNPCAP_WORKDIR" not in os.environ
    workdir = Path(tempfile.mkdtemp(prefix=f"ternpcap-{case_dir.name}-")) if own \
        else Path(os.environ["TERNPCAP_WORKDIR"])
    rc = 0
    try:
        notes = check(case_dir, workdir)
        for n in notes or []:
            print(f"ok: {n}")
        print(f"PASS {case_dir.name}")
    except CheckFailed as e:
        print(f"FAIL: {e}")
        rc = 1
    except Exception:  # a bug in the test, or output it cannot read: say so, do not pass
        import traceback
        traceback.print_exc(file=sys.stdout)
        print(f"FAIL: internal error in {case_dir.name}/check.py (traceback above)")
        rc = 1
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(rc)
