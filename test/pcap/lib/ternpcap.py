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
    "tx_full", "punt_full", "too_big_no_df", "icmp_rate_limited", "too_big_icmp_error", "inbox_full",
    "punt_policed",
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

def check_stats(st, cfg, inp, out, punt, drops, out_servers, lcores=1, svc_bytes=None, counters=None):
    """Checks the --stats JSON against the pcaps.

    drops: {reason: expected count}; every other reason must be 0.
    out_servers: {OUT index: Server} (from check_dr), for per-service and
    per-server packets and bytes (bytes = frame length as received = as sent,
    since DR keeps the length).
    svc_bytes: {OUT index: bytes to count for its service and server} when that is
    not the OUT frame's length (IPIP, VLAN tags added or removed: the counters
    count frames as received).
    counters: {totals key: expected value} for other totals (too_big_sent,
    echo_replies, icmp_errors_forwarded, ...); each must also be the lcores' sum."""
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
    for k, v in (counters or {}).items():
        errs.check(t.get(k) == v, f"totals.{k} = {t.get(k)}, want {v}")
        s = sum(x.get(k, 0) for x in lc)
        errs.check(s == t.get(k), f"lcores' {k} sum to {s}, totals.{k} = {t.get(k)}")
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
        ln = len(out[j].data) if svc_bytes is None else svc_bytes[j]
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


# ============================================================================= issue 3:
# IPIP, 802.1Q next hops, generated ICMP, ICMP errors to a VIP, and tshark.
#
# The cases of issue 3 (ipip_v4, ipip_v6, vlan, too_big, icmp_errors, echo,
# ipv6_ext) state one expectation per input record in gen.py and check every
# output frame byte for byte against a frame this module builds on its own from
# the config and the input: the next hop (connected subnet, VLAN, gateway), the
# DR header or the outer IPIP header (with the outer source and flow label
# recomputed from the flow hash of docs/dataplane.md), the ICMP answers. Only
# the choice of server is taken from the output (Maglev is checked elsewhere);
# it must be an active server of the service, the same for every packet of a
# flow, and for an ICMP error the server of the flow it quotes.

ETH_IPV4_B = b"\x08\x00"
PROTO_ICMP = 1
PROTO_ICMP6 = 58
PROTO_IPIP = 4
PROTO_IPV6_IN = 41


# ----------------------------------------------------------------------------- flow hash

def _crc32c_table():
    t = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        t.append(c)
    return t


_CRC32C = _crc32c_table()


def crc32c(data, crc):
    """CRC32C (Castagnoli, reflected) of `data` from `crc`, with no pre- or post-inversion:
    what DPDK's rte_hash_crc computes with `crc` as its init value."""
    for b in data:
        crc = (crc >> 8) ^ _CRC32C[(crc ^ b) & 0xFF]
    return crc


def fmix32(h):
    """MurmurHash3's 32-bit finaliser."""
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return h


def flow_hash(flow):
    """The dataplane's flow hash of a Flow (docs/dataplane.md): fmix32 of CRC32C seeded
    "tern" over src, dst (4 or 16 bytes), proto (1 byte), sport, dport (2 bytes each in
    network order; left out for fragments)."""
    h = crc32c(flow.src.packed, 0x7465726E)
    h = crc32c(flow.dst.packed, h)
    h = crc32c(bytes([flow.proto]), h)
    if not flow.fragment:
        h = crc32c(struct.pack("!HH", flow.sport, flow.dport), h)
    return fmix32(h)


def pick_in_prefix(net, h):
    """The address of prefix `net` at position h: base | (h mod 2^host_bits)."""
    host_bits = net.max_prefixlen - net.prefixlen
    return ipaddress.ip_address(int(net.network_address) | (h % (1 << host_bits)))


def ipip_source(net, fh):
    """The outer source the dataplane picks for a flow of hash fh in prefix `net`:
    pick_in_prefix(net, fmix32(fh ^ 0x9E3779B9))."""
    return pick_in_prefix(net, fmix32(fh ^ 0x9E3779B9))


# ----------------------------------------------------------------------------- L2 and IP

class L2:
    """An Ethernet frame split: dst, src (bytes), vlan (id or None), etype (int), off
    (where the IP packet starts), ip (the IP packet by its own length, without
    padding), pad (bytes after it)."""

    def __init__(self, frame):
        frame = bytes(frame)
        self.dst, self.src = frame[:6], frame[6:12]
        etype = struct.unpack_from("!H", frame, 12)[0]
        off = 14
        self.vlan = None
        self.tci = None
        if etype == ETH_VLAN:
            self.tci = struct.unpack_from("!H", frame, 14)[0]
            self.vlan = self.tci & 0x0FFF
            etype = struct.unpack_from("!H", frame, 16)[0]
            off = 18
        self.etype, self.off = etype, off
        rest = frame[off:]
        if etype == ETH_IPV4 and len(rest) >= 20:
            n = struct.unpack_from("!H", rest, 2)[0]
        elif etype == ETH_IPV6 and len(rest) >= 40:
            n = 40 + struct.unpack_from("!H", rest, 4)[0]
        else:
            n = len(rest)
        self.ip, self.pad = rest[:n], rest[n:]


def l2_header(dst, src, vlan, etype):
    """An Ethernet header, with an 802.1Q tag (PCP 0, DEI 0) when vlan is not None/0."""
    if vlan:
        return bytes(dst) + bytes(src) + struct.pack("!HHH", ETH_VLAN, vlan, etype)
    return bytes(dst) + bytes(src) + struct.pack("!H", etype)


def with_checksum(b, at):
    """b with the RFC 1071 checksum of b (field at `at` zeroed first) stored at `at`."""
    b = bytearray(b)
    b[at:at + 2] = b"\0\0"
    b[at:at + 2] = struct.pack("!H", internet_checksum(bytes(b)))
    return bytes(b)


def ipv4_header(tos, total, ident, flags_frag, ttl, proto, src, dst):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, tos, total, ident, flags_frag, ttl, proto, 0,
                    ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    return with_checksum(h, 10)


def ipip4_outer(inner, src, dst):
    """The outer IPv4 header Tern must put before the IPv4 packet `inner`: version 4,
    IHL 5, TOS = inner TOS, total length = 20 + inner, ID = inner ID, DF copied (never
    MF, offset 0), TTL 64, protocol 4, valid checksum."""
    ident = struct.unpack_from("!H", inner, 4)[0]
    df = struct.unpack_from("!H", inner, 6)[0] & 0x4000
    return ipv4_header(inner[1], 20 + len(inner), ident, df, 64, PROTO_IPIP, src, dst)


def ipip6_outer(inner, src, dst, label):
    """The outer IPv6 header before the IPv6 packet `inner`: traffic class = inner's,
    flow label `label`, payload length = inner, next header 41, hop limit 64."""
    tc = ((inner[0] & 0x0F) << 4) | (inner[1] >> 4)
    return (struct.pack("!IHBB", (6 << 28) | (tc << 20) | (label & 0xFFFFF), len(inner), PROTO_IPV6_IN, 64)
            + ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed)


def icmp6_checksum_ok(ip6):
    """The ICMPv6 message right after the fixed IPv6 header `ip6` has a valid checksum."""
    plen = struct.unpack_from("!H", ip6, 4)[0]
    msg = ip6[40:40 + plen]
    return internet_checksum(ip6[8:40] + struct.pack("!I3xB", len(msg), PROTO_ICMP6) + msg) == 0


def icmp6_with_checksum(src, dst, msg):
    """The ICMPv6 message `msg` (checksum field zero) with its checksum set."""
    pseudo = ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed + \
        struct.pack("!I3xB", len(msg), PROTO_ICMP6)
    c = internet_checksum(pseudo + msg[:2] + b"\0\0" + msg[4:])
    return msg[:2] + struct.pack("!H", c) + msg[4:]


def ip_src_dst(ip):
    """(src, dst) addresses of an IPv4 or IPv6 packet."""
    if ip[0] >> 4 == 4:
        return ipaddress.IPv4Address(ip[12:16]), ipaddress.IPv4Address(ip[16:20])
    return ipaddress.IPv6Address(ip[8:24]), ipaddress.IPv6Address(ip[24:40])


def icmp_of(frame):
    """(family, type, code, offset of the ICMP message in the IP packet) of an ICMP or
    ICMPv6 frame (after IPv6 extension headers), or None."""
    l2 = L2(frame)
    ip = l2.ip
    if l2.etype == ETH_IPV4 and len(ip) >= 20:
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != PROTO_ICMP or struct.unpack_from("!H", ip, 6)[0] & 0x3FFF or len(ip) < ihl + 8:
            return None
        return 4, ip[ihl], ip[ihl + 1], ihl
    if l2.etype == ETH_IPV6 and len(ip) >= 40:
        nxt, h = ip[6], 40
        while nxt in (0, 43, 60) and h + 8 <= len(ip):
            nxt, h = ip[h], h + (ip[h + 1] + 1) * 8
        if nxt != PROTO_ICMP6 or len(ip) < h + 8:
            return None
        return 6, ip[h], ip[h + 1], h
    return None


def is_icmp_error(family, typ):
    return typ in ((3, 11) if family == 4 else (1, 2, 3))


def quoted_flow(frame):
    """For an ICMP error frame: the flow its quoted packet belongs to, reversed (the
    quote is VIP -> client; the flow is client -> VIP), or None."""
    ic = icmp_of(frame)
    if ic is None or not is_icmp_error(ic[0], ic[1]):
        return None
    q = L2(frame).ip[ic[3] + 8:]
    if ic[0] == 4:
        if len(q) < 20 or q[0] >> 4 != 4:
            return None
        ihl = (q[0] & 0x0F) * 4
        if q[9] not in (PROTO_TCP, PROTO_UDP) or len(q) < ihl + 4:
            return None
        sport, dport = struct.unpack_from("!HH", q, ihl)
        return Flow(4, ipaddress.IPv4Address(q[16:20]), ipaddress.IPv4Address(q[12:16]), q[9], dport, sport, False)
    if len(q) < 40 or q[0] >> 4 != 6:
        return None
    nxt, h = q[6], 40  # extension headers of the quoted packet; a first fragment has the ports
    while nxt in (0, 43, 60, 44) and h + 8 <= len(q):
        if nxt == 44 and struct.unpack_from("!H", q, h + 2)[0] & 0xFFF8:
            return None
        nxt, h = q[h], h + (8 if nxt == 44 else (q[h + 1] + 1) * 8)
    if nxt not in (PROTO_TCP, PROTO_UDP) or len(q) < h + 4:
        return None
    sport, dport = struct.unpack_from("!HH", q, h)
    return Flow(6, ipaddress.IPv6Address(q[24:40]), ipaddress.IPv6Address(q[8:24]), nxt, dport, sport, False)


# ----------------------------------------------------------------------------- topology

class Topology:
    """The test's reading of the next-hop rules (conf/REFERENCE.md, "Next hops") and of
    the other settings issue 3 added: port mtu, node.ipip_source_v4/v6, gateways,
    dataplane.answer_vip_echo / icmp_rate_limit."""

    def __init__(self, cfg):
        raw = cfg.raw
        port = raw["ports"][0]
        self.cfg = cfg
        self.mtu = int(port.get("mtu", 1500))
        self.nets = [(ipaddress.ip_network(s), None) for s in port.get("subnets", []) or []]
        for v in port.get("vlans", []) or []:
            self.nets += [(ipaddress.ip_network(s), int(v["id"])) for s in v.get("subnets", []) or []]
        self.gateway = {4: raw.get("gateway_v4"), 6: raw.get("gateway_v6")}
        self.gateway = {k: ipaddress.ip_address(v) if v else None for k, v in self.gateway.items()}
        node = raw["node"]
        self.node4 = ipaddress.ip_address(node["ipv4"])
        self.node6 = ipaddress.ip_address(node["ipv6"]) if node.get("ipv6") else None
        s4, s6 = node.get("ipip_source_v4"), node.get("ipip_source_v6")
        self.src_net = {4: ipaddress.ip_network(s4) if s4 else ipaddress.ip_network(f"{self.node4}/32"),
                        6: ipaddress.ip_network(s6) if s6 else
                        (ipaddress.ip_network(f"{self.node6}/128") if self.node6 else None)}
        dp = raw.get("dataplane") or {}
        self.answer_echo = bool(dp.get("answer_vip_echo", False))
        self.icmp_rate_limit = int(dp.get("icmp_rate_limit", 1000))

    def attachment(self, ip):
        """(on a declared subnet, vlan) of an address: the longest matching connected
        subnet's VLAN (None = untagged)."""
        best = None
        for net, vlan in self.nets:
            if net.version == ip.version and ip in net and (best is None or net.prefixlen > best[0].prefixlen):
                best = (net, vlan)
        return (True, best[1]) if best else (False, None)

    def next_hop(self, server):
        """(IP of the next hop, its VLAN or None) toward a server, from the config alone
        (replay): a server in `neighbors` or on a declared subnet is on-link, and so is
        every DR server; an IPIP server elsewhere goes through the gateway of its family,
        or counts as on-link when there is none."""
        connected, vlan = self.attachment(server.ip)
        if connected or server.ip in self.cfg.neighbors or server.service.forward != "ipip":
            return server.ip, vlan
        gw = self.gateway[server.ip.version]
        if gw is None:
            return server.ip, None
        return gw, self.attachment(gw)[1]

    def hop_mac(self, server):
        nh = self.next_hop(server)
        return None if nh is None else self.cfg.neighbors.get(nh[0])

    def outer_source(self, family, fh):
        return ipip_source(self.src_net[family], fh)

    # ------------------------------------------------------------- expected frames

    def forwarded(self, frame, server, fh):
        """The frame Tern must send for input `frame` (to a VIP, or an ICMP error to a
        VIP) forwarded to `server` (DR or IPIP as its service says); fh is the flow hash
        that picks the IPIP outer source and flow label."""
        l2 = L2(frame)
        hop_ip, vlan = self.next_hop(server)
        mac = self.cfg.neighbors[hop_ip]
        if server.service.forward == "dr":
            return l2_header(mac, self.cfg.port_mac, vlan, l2.etype) + bytes(frame)[l2.off:]
        inner = l2.ip  # Ethernet padding stays outside the tunnel
        src = self.outer_source(server.ip.version, fh)
        if server.ip.version == 4:
            outer = ipip4_outer(inner, src, server.ip)
        else:
            outer = ipip6_outer(inner, src, server.ip, fh & 0xFFFFF)
        return l2_header(mac, self.cfg.port_mac, vlan, l2.etype) + outer + inner

    def too_big(self, frame, out_frame=None):
        """The ICMP fragmentation-needed (IPv4) / packet-too-big (IPv6) answer to `frame`:
        to the frame's source MAC from the port's, on the VLAN it came on; from the VIP to
        the client; IPv4: TOS 0xC0, TTL 64, type 3 code 4, next-hop MTU = mtu - 20,
        quoting up to 548 bytes of the packet (576 in all); IPv6: hop limit 64, type 2,
        MTU = mtu - 40, quoting up to 1232 bytes (1280 in all); checksums valid.

        What the issue leaves open (IPv4 ID and DF; IPv6 traffic class and flow label)
        is taken from out_frame when given (the caller checks it separately)."""
        l2 = L2(frame)
        client, vip = ip_src_dst(l2.ip)
        hdr = l2_header(l2.src, self.cfg.port_mac, l2.vlan, l2.etype)
        if l2.etype == ETH_IPV4:
            quote = l2.ip[:548]
            icmp = with_checksum(struct.pack("!BBHHH", 3, 4, 0, 0, self.mtu - 20) + quote, 2)
            ident, ff = 0, 0
            if out_frame is not None:
                o = L2(out_frame).ip
                if len(o) >= 8:
                    ident, ff = struct.unpack_from("!HH", o, 4)
            return hdr + ipv4_header(0xC0, 20 + len(icmp), ident, ff, 64, PROTO_ICMP, vip, client) + icmp
        quote = l2.ip[:1232]
        msg = icmp6_with_checksum(vip, client, struct.pack("!BBHI", 2, 0, 0, self.mtu - 40) + quote)
        first = 6 << 28
        if out_frame is not None:
            o = L2(out_frame).ip
            if len(o) >= 4:
                first = (6 << 28) | (struct.unpack_from("!I", o, 0)[0] & 0x0FFFFFFF)
        return hdr + struct.pack("!IHBB", first, len(msg), PROTO_ICMP6, 64) + vip.packed + client.packed + msg

    def echo_reply(self, frame):
        """The answer to an echo request to a VIP: back to the sender's MAC from the port's
        on the same VLAN; IP addresses swapped, TTL/hop limit 64, type 0 (ICMPv6: 129),
        checksums valid, everything else (ID, TOS, identifier, sequence, payload)
        unchanged. Returns the frame without Ethernet padding (the caller accepts the
        input's padding after it, or none)."""
        l2 = L2(frame)
        ip = bytearray(l2.ip)
        hdr = l2_header(l2.src, self.cfg.port_mac, l2.vlan, l2.etype)
        if l2.etype == ETH_IPV4:
            ihl = (ip[0] & 0x0F) * 4
            ip[12:16], ip[16:20] = ip[16:20], ip[12:16]
            ip[8] = 64
            ip[ihl] = 0
            ip = bytearray(with_checksum(bytes(ip[:ihl]), 10) + with_checksum(bytes(ip[ihl:]), 2))
            return hdr + bytes(ip)
        ip[8:24], ip[24:40] = ip[24:40], ip[8:24]
        ip[7] = 64
        ip[40] = 129
        msg = icmp6_with_checksum(ipaddress.IPv6Address(bytes(ip[8:24])), ipaddress.IPv6Address(bytes(ip[24:40])),
                                  bytes(ip[40:]))
        return hdr + bytes(ip[:40]) + msg


# ----------------------------------------------------------------------------- the generic check

def match_by_time(inp, recs, what):
    """{input index: output index} pairing output records with input records by
    timestamp (replay stamps what it sends with the input record's time; generators
    give every input record its own time). An output record whose time is no input
    record's, or two outputs with one input's time, fail."""
    by_ts = {}
    for i, r in enumerate(inp):
        expect(r.ts_ns not in by_ts, f"test bug: input records {by_ts.get(r.ts_ns)} and {i} share a timestamp")
        by_ts[r.ts_ns] = i
    errs = Errors(f"{what} vs input (by timestamp)")
    got = {}
    for j, r in enumerate(recs):
        i = by_ts.get(r.ts_ns)
        if i is None:
            errs.add(f"{what} record {j} ({len(r.data)} bytes) has timestamp {fmt_ts(r.ts_ns)}, no input record's")
        elif i in got:
            errs.add(f"{what} records {got[i]} and {j} both carry input record {i}'s timestamp")
        else:
            got[i] = j
    errs.raise_if_any()
    return got


def first_difference(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return (f"{len(a)} vs {len(b)} bytes, first difference at offset {n}: got "
            f"{a[n:n + 12].hex() or '(end)'}, want {b[n:n + 12].hex() or '(end)'}")


class Outcome:
    """What happened to one input record (check_frames)."""

    def __init__(self, i, kind, note):
        self.i, self.kind, self.note = i, kind, note
        self.out = None      # OUT index
        self.punt = None     # PUNT index
        self.server = None   # Server it was forwarded to
        self.flow = None     # flow key (for an ICMP error: the reversed quoted flow)
        self.fh = None       # that flow's hash
        self.expected = None  # the frame it had to become


def server_from_output(svc, frame):
    """The server of `svc` an OUT frame went to: IPIP by outer destination address, DR by
    destination MAC (None when neither names one)."""
    l2 = L2(frame)
    if svc.forward == "ipip":
        if len(l2.ip) < 20:
            return None
        dst = ip_src_dst(l2.ip)[1]
        return next((s for s in svc.servers if s.ip == dst), None)
    return svc.by_mac(l2.dst)


def accept_priority(expected, got, frame):
    """The issue fixes an output tag's VLAN id, not its priority (PCP) and DEI bits: they
    may be 0 or the input frame's. Returns `expected` with got's PCP/DEI when they are
    one of those and the VLAN ids agree. An answer (ICMP) to a priority-tagged frame
    (VLAN id 0) may be untagged (as expected) or priority-tagged."""
    e, g, f = L2(expected), L2(got), L2(frame)
    if e.tci is None and f.tci is not None and f.vlan == 0 and g.tci is not None and g.vlan == 0 \
            and e.dst == g.dst and e.src == g.src:
        # an answer to a priority-tagged frame (VLAN 0) may keep the tag or drop it
        expected = expected[:12] + struct.pack("!HH", ETH_VLAN, g.tci) + expected[12:]
        e = L2(expected)
    if e.tci is None or g.tci is None or (e.tci & 0x0FFF) != (g.tci & 0x0FFF):
        return expected
    prio = g.tci & 0xF000
    if prio == 0 or (f.tci is not None and prio == f.tci & 0xF000):
        return expected[:14] + struct.pack("!H", g.tci) + expected[16:]
    return expected


def check_frames(cfg, inp, r, exp, what="frames", lcores=1):
    """Checks a replay against per-record expectations, byte for byte.

    exp: one (kind, note, frame) per input record, kind one of
      "fwd"       forwarded to an active server of the frame's service (by its flow; for
                  an ICMP error to a VIP, by the reversed flow it quotes), DR or IPIP as
                  the service says, exactly as Topology.forwarded builds it;
      "too_big"   answered with ICMP frag-needed / packet-too-big (Topology.too_big);
      "echo"      answered with an echo reply (Topology.echo_reply);
      "punt"      in PUNT byte-identical;
      "drop:R"    nowhere, counted under R;
      "no_answer" not in OUT (neither forwarded nor answered with generated ICMP: an
                  ICMP error must not answer an ICMP error, RFC 1122 3.2.2 / RFC 4443
                  2.4(e)); in PUNT byte-identical, or dropped under any reason.
    Every OUT and PUNT record must carry one input record's timestamp; with one lcore
    both keep the input order. Also checked: every packet of a flow (and every ICMP
    error quoting it) reaches one server; the stats (drops by reason, totals including
    too_big_sent / echo_replies / icmp_errors_forwarded, per-service and per-server
    packets and bytes as received).
    Returns {input index: Outcome}."""
    topo = Topology(cfg)
    expect(len(exp) == len(inp), f"{len(exp)} expectations for {len(inp)} input records")
    for rec, (_, note, frame) in zip(inp, exp):
        expect(rec.data == bytes(frame), f"in.pcap differs from what gen.py builds ({note}): run gen.py")
    out_of = match_by_time(inp, r.out, "OUT")
    punt_of = match_by_time(inp, r.punt, "PUNT")
    check_in_order(sorted(out_of, key=out_of.get), "OUT")
    check_in_order(sorted(punt_of, key=punt_of.get), "PUNT")
    errs = Errors(what)
    res = {}
    drops = collections.Counter()
    counters = collections.Counter()
    wild = 0  # "no_answer" records dropped: under any reason
    for i, (kind, note, frame) in enumerate(exp):
        frame = bytes(frame)
        o = res[i] = Outcome(i, kind, note)
        o.out, o.punt = out_of.get(i), punt_of.get(i)
        where = [w for w, x in (("OUT", o.out), ("PUNT", o.punt)) if x is not None]
        want = ["PUNT"] if kind == "punt" else [] if kind.startswith("drop:") else ["OUT"]
        if kind == "no_answer":
            if not where:
                wild += 1
                continue
            if where == ["PUNT"]:
                kind, want = "punt", ["PUNT"]
            else:
                errs.add(f"input record {i} ({note}): in {where}, want neither or PUNT (no ICMP answer to an "
                         f"ICMP error, not forwarded since it does not fit)")
                continue
        if where != want:
            errs.add(f"input record {i} ({note}): in {where or 'neither'}, want {want or 'neither (' + kind + ')'}")
            continue
        if kind.startswith("drop:"):
            drops[kind[5:]] += 1
            continue
        if kind == "punt":
            if r.punt[o.punt].data != frame:
                errs.add(f"input record {i} ({note}): PUNT record {o.punt} is not the input frame: "
                         f"{first_difference(r.punt[o.punt].data, frame)}")
            continue
        got = r.out[o.out].data
        if kind == "too_big":
            counters["too_big_sent"] += 1
            o.expected = topo.too_big(frame, got)
            l3 = L2(got).ip
            if L2(frame).etype == ETH_IPV4 and len(l3) >= 8 and l3[0] == 0x45 and \
                    struct.unpack_from("!H", l3, 6)[0] & 0x3FFF:
                errs.add(f"input record {i} ({note}): the ICMP answer has MF or an offset "
                         f"(flags/offset {l3[6:8].hex()})")
        elif kind == "echo":
            counters["echo_replies"] += 1
            o.expected = topo.echo_reply(frame)
            if got[len(o.expected):] in (b"", L2(frame).pad):
                got = got[:len(o.expected)]
        elif kind == "fwd":
            ic = icmp_of(frame)
            if ic is not None:
                counters["icmp_errors_forwarded"] += 1
                o.flow = quoted_flow(frame)
            else:
                o.flow = flow_of(frame)
            svc = cfg.service_for(o.flow)
            if svc is None:
                errs.add(f"test bug: input record {i} ({note}) is for no service")
                continue
            o.server = server_from_output(svc, got)
            if o.server is None:
                errs.add(f"input record {i} ({note}, {flow_str(o.flow)}): OUT record {o.out} "
                         f"(to {mac_str(got[:6])}) goes to no server of {svc.name}")
                continue
            if not o.server.active:
                errs.add(f"input record {i} ({note}): sent to {o.server}, which takes no new flows")
            o.fh = flow_hash(o.flow)
            o.expected = topo.forwarded(frame, o.server, o.fh)
        else:
            errs.add(f"test bug: unknown expectation {kind!r} for input record {i}")
            continue
        o.expected = accept_priority(o.expected, got, frame)
        if got != o.expected:
            errs.add(f"input record {i} ({note}): OUT record {o.out} is not the frame expected"
                     f"{' for ' + str(o.server) if o.server else ''}: {first_difference(got, o.expected)}")
    errs.raise_if_any()

    # A flow's packets and the ICMP errors about it: one server.
    errs = Errors(f"{what}: one server per flow")
    per_flow = {}
    for o in res.values():
        if o.server is None:
            continue
        prev = per_flow.setdefault(o.flow, o)
        if prev.server is not o.server:
            errs.add(f"{flow_str(o.flow)}: input record {o.i} ({o.note}) went to {o.server}, input record "
                     f"{prev.i} ({prev.note}) to {prev.server}")
    errs.raise_if_any()

    # The stats.
    if wild:
        st = r.stats.get("drops", {})
        extra = {k: st.get(k, 0) - drops.get(k, 0) for k in DROP_REASONS if st.get(k, 0) > drops.get(k, 0)}
        expect(sum(extra.values()) == wild, f"{what}: {wild} frames that may be dropped under any reason "
               f"were dropped, but the drop counters exceed the other expectations by {extra}")
        drops.update(extra)
    in_len = {o.out: len(inp[o.i].data) for o in res.values() if o.server is not None}
    servers = {o.out: o.server for o in res.values() if o.server is not None}
    check_stats(r.stats, cfg, inp, r.out, r.punt, dict(drops), servers, lcores=lcores, svc_bytes=in_len,
                counters=dict(counters, **{k: 0 for k in ("too_big_sent", "echo_replies", "icmp_errors_forwarded")
                                           if k not in counters}))
    return res


# ----------------------------------------------------------------------------- tshark

# tshark 4.0 (Debian 12) checks IPv4, TCP and UDP checksums only when asked; ICMP and
# ICMPv6 checksums always. TCP sequence analysis is off: the captures hold one
# direction of each connection, which it would flag as lost segments.
TSHARK_PREFS = ("-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
                "-o", "udp.check_checksum:TRUE", "-o", "tcp.analyze_sequence_numbers:FALSE",
                "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE")
# Reassembly is off: every frame stands on its own (a fragment shows as IP + data).
# Only the dissectors of what Tern builds stay on (Ethernet, 802.1Q, ARP, IPv4 and its
# options, IPv6 and its extension headers, TCP and its options, UDP, ICMP, ICMPv6, data,
# and tshark's own "_ws." pseudo-protocols such as malformed and expert): the payloads
# are test bytes, not real HTTP/DNS/..., and a port-based guess would flag them.
TSHARK_KEEP = ("frame", "eth", "ethertype", "vlan", "arp", "ip", "ipv6", "tcp", "udp", "icmp", "icmpv6", "data")
TSHARK_KEEP_PREFIXES = ("_ws.", "ip.options.", "tcp.options.", "ipv6.hopopts", "ipv6.routing",
                        "ipv6.dstopts", "ipv6.fraghdr")
PI_WARN = 0x00600000       # expert severities (epan/proto.h)
PI_ERROR = 0x00800000
PI_SEVERITY_MASK = 0x00F00000
PI_GROUP_MASK = 0xFF000000
PI_SEQUENCE = 0x02000000   # TCP stream events (a RST, a zero window): about the traffic, not the packet


def tshark_binary():
    """tshark's path. A case that needs it FAILS without it (scripts/setup installs it)."""
    path = os.environ.get("TSHARK") or shutil.which("tshark") or "/usr/bin/tshark"
    expect(Path(path).exists(), "tshark not found (install it: scripts/setup, Debian package tshark); "
                                "this check needs an independent dissector and does not skip")
    return path


_TSHARK_DISABLED = None


def tshark_disabled():
    """Every protocol tshark knows but those of TSHARK_KEEP / TSHARK_KEEP_PREFIXES."""
    global _TSHARK_DISABLED
    if _TSHARK_DISABLED is None:
        p = subprocess.run([tshark_binary(), "-G", "protocols"], capture_output=True, text=True)
        expect(p.returncode == 0, f"tshark -G protocols failed: {p.stderr.strip()[-500:]}")
        names = [line.split("\t")[2] for line in p.stdout.splitlines() if line.count("\t") >= 2]
        expect(all(k in names for k in TSHARK_KEEP), f"tshark lacks one of {TSHARK_KEEP}")
        _TSHARK_DISABLED = [n for n in names if n not in TSHARK_KEEP and not n.startswith(TSHARK_KEEP_PREFIXES)]
    return _TSHARK_DISABLED


def tshark_version():
    p = subprocess.run([tshark_binary(), "-v"], capture_output=True, text=True)
    return p.stdout.splitlines()[0] if p.stdout else "?"


def tshark_decode(pcap):
    """Runs tshark over a pcap; returns one list of (field, value) per frame, in document
    order (an encapsulated header's fields after the outer one's), plus one list of
    expert infos [(severity, group, message, field)] per frame."""
    cmd = [tshark_binary(), "-r", str(pcap), "-n", "-T", "json", "--no-duplicate-keys", *TSHARK_PREFS]
    for p in tshark_disabled():
        cmd += ["--disable-protocol", p]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        fail(f"tshark over {pcap} did not finish in 600 s")
    expect(p.returncode == 0, f"`{' '.join(cmd)}` exited with {p.returncode}: {p.stderr.strip()[-2000:]}")
    try:
        pkts = json.loads(p.stdout) if p.stdout.strip() else []
    except json.JSONDecodeError as e:
        fail(f"tshark's JSON for {pcap} does not parse: {e}")
    frames, experts = [], []
    for pkt in pkts:
        flat, exp = [], []

        def walk(key, v):
            if isinstance(v, list):
                for x in v:
                    walk(key, x)
            elif isinstance(v, dict):
                if key == "_ws.expert":
                    exp.append((int(v.get("_ws.expert.severity", "0")), int(v.get("_ws.expert.group", "0")),
                                v.get("_ws.expert.message", ""), next((k for k in v if not k.startswith("_ws.")), "")))
                    return
                if key and key.startswith("_ws.malformed"):
                    exp.append((PI_ERROR, 0, "malformed packet (_ws.malformed)", key))
                for k, x in v.items():
                    walk(k, x)
            else:
                if key.startswith("_ws.malformed"):
                    exp.append((PI_ERROR, 0, "malformed packet (_ws.malformed)", key))
                flat.append((key, v))

        walk("", pkt.get("_source", {}).get("layers", {}))
        frames.append(flat)
        experts.append(exp)
    return frames, experts


def tshark_values(flat, field):
    return [v for k, v in flat if k == field]


def _tshark_same(got, want):
    if callable(want):
        return bool(want(got))
    if isinstance(want, bool):
        return got in (("1", "True") if want else ("0", "False"))
    if isinstance(want, int):
        try:
            return int(got, 0) == want
        except ValueError:
            return False
    if isinstance(want, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        try:
            return ipaddress.ip_address(got) == want
        except ValueError:
            return False
    return got == str(want)


def check_tshark(pcap, what, want=None, n_frames=None, allow_unverified=()):
    """An independent dissector's view of a pcap Tern wrote:

    - no malformed packet, no expert info of severity warning or error (a bad checksum,
      a length beyond the packet, ...);
    - every IPv4 header, TCP, UDP, ICMP and ICMPv6 checksum tshark reports is good
      ("checksum.status" 1); unverified (2) only for the fields in allow_unverified
      and inside a quoted packet (a field's second occurrence in a frame: tshark does
      not check an ICMP message quoted by an ICMP error);
    - want: {frame index: {field: [values in document order] | None (absent)}} with
      values as str, int (compared as numbers, hex accepted), ip_address, bool or a
      predicate; each field's occurrences must be exactly those. A frame's "_exempt"
      entry names checksum.status fields (and expert fields) whose verdict does not
      count, on top of auto_exempt's: tshark checks the TCP/UDP checksum of the
      truncated packet an ICMP error quotes over the bytes quoted and calls it bad, and
      cannot verify a fragment's.
    Expert infos of severity warning in the "sequence" group (a TCP RST, a zero window:
    events of the connection, not faults of the packet) do not count.
    Returns the decoded frames."""
    frames, experts = tshark_decode(pcap)
    recs = read_pcap(pcap)
    expect(len(recs) == len(frames), f"tshark read {len(frames)} frames from {what}, the file holds {len(recs)}")
    if n_frames is not None:
        expect(len(frames) == n_frames, f"tshark read {len(frames)} frames from {what}, want {n_frames}")
    errs = Errors(f"tshark on {what}")
    for j, (flat, exp) in enumerate(zip(frames, experts)):
        exempt = tuple((want or {}).get(j, {}).get("_exempt", ())) + auto_exempt(recs[j].data if j < len(recs) else b"")
        for sev, group, msg, field in exp:
            if sev & PI_SEVERITY_MASK == PI_WARN and group & PI_GROUP_MASK == PI_SEQUENCE:
                continue
            if sev & PI_SEVERITY_MASK >= PI_WARN and field not in exempt:
                errs.add(f"frame {j} ({tshark_values(flat, 'frame.protocols')}): expert "
                         f"{'error' if sev & PI_SEVERITY_MASK >= PI_ERROR else 'warning'} {field}: {msg}")
        seen = collections.Counter()
        for k, v in flat:
            if k.endswith(".checksum.status"):
                seen[k] += 1
                # unverified is fine inside a quoted packet (a later occurrence of the field)
                if v == "1" or (v == "2" and (k in allow_unverified or seen[k] > 1)) or k in exempt:
                    continue
                errs.add(f"frame {j}: {k} = {v} ({'bad' if v == '0' else 'not verified'})")
    for j, fields in (want or {}).items():
        if j >= len(frames):
            errs.add(f"frame {j}: tshark decoded only {len(frames)} frames")
            continue
        flat = frames[j]
        for field, vals in fields.items():
            if field == "_exempt":
                continue
            got = tshark_values(flat, field)
            vals = [] if vals is None else list(vals)
            if len(got) != len(vals) or not all(_tshark_same(g, w) for g, w in zip(got, vals)):
                errs.add(f"frame {j}: {field} = {got}, want {[str(w) if not callable(w) else '<pred>' for w in vals]}")
    errs.raise_if_any()
    return frames


def tshark_expectations(cfg, inp, r, res):
    """{OUT index: {field: values}} that tshark must decode from the OUT records of
    check_frames' outcomes: the frame's VLAN; for forwarded frames the outer header
    (IPIP: protocol 4 / next header 41, outer source and destination, TTL/hop limit 64,
    flow label) and the inner addresses and ports; for ICMP answers the type, code, MTU
    and the addresses of the answer and of the quoted packet."""
    topo = Topology(cfg)
    want = {}
    for o in res.values():
        if o.out is None:
            continue
        fin = L2(inp[o.i].data)
        client, vip = ip_src_dst(fin.ip)
        w = {}
        v4 = fin.etype == ETH_IPV4
        if o.kind == "fwd":
            hop_ip, vlan = topo.next_hop(o.server)
            w["vlan.id"] = [vlan] if vlan else None
            w["eth.dst"] = [mac_str(cfg.neighbors[hop_ip])]
            ipip = o.server.service.forward == "ipip"
            ic = icmp_of(inp[o.i].data)
            srcs, dsts = [client], [vip]
            if ic is not None:  # from a router (or the client) to the VIP; the quote: VIP -> client
                srcs, dsts = [client, o.flow.dst], [vip, o.flow.src]
            if ipip:
                srcs = [topo.outer_source(o.server.ip.version, o.fh)] + srcs
                dsts = [o.server.ip] + dsts
            chain = ip_chain(inp[o.i].data)  # the packet and the one its ICMP error quotes
            if v4:
                w["ip.src"], w["ip.dst"] = srcs, dsts
                w["ip.proto"] = ([PROTO_IPIP] if ipip else []) + [h[9] for h in chain]
                w["ip.ttl"] = ([64] if ipip else []) + [h[8] for h in chain]
                w["ip.id"] = ([struct.unpack_from("!H", fin.ip, 4)[0]] if ipip else []) + \
                    [struct.unpack_from("!H", h, 4)[0] for h in chain]
            else:
                w["ipv6.src"], w["ipv6.dst"] = srcs, dsts
                w["ipv6.nxt"] = ([PROTO_IPV6_IN] if ipip else []) + [h[6] for h in chain]
                w["ipv6.hlim"] = ([64] if ipip else []) + [h[7] for h in chain]
                w["ipv6.flow"] = ([o.fh & 0xFFFFF] if ipip else []) + \
                    [struct.unpack_from("!I", h, 0)[0] & 0xFFFFF for h in chain]
            if ic is None:
                f = o.flow
                l4 = "tcp" if f.proto == PROTO_TCP else "udp"
                if not f.fragment:
                    w[f"{l4}.srcport"], w[f"{l4}.dstport"] = [f.sport], [f.dport]
                elif first_fragment(fin.ip):
                    # no reassembly: tshark shows the ports of a first fragment (and
                    # cannot verify its checksum: auto_exempt)
                    w[f"{l4}.srcport"] = [struct.unpack_from("!H", fin.ip, l4_offset(fin.ip))[0]]
                    w[f"{l4}.dstport"] = [struct.unpack_from("!H", fin.ip, l4_offset(fin.ip) + 2)[0]]
                else:  # a later fragment is IP + data
                    w[f"{l4}.srcport"], w[f"{l4}.dstport"] = None, None
            else:
                key = "icmp" if v4 else "icmpv6"
                w[f"{key}.type"], w[f"{key}.code"] = [ic[1]], [ic[2]]
        elif o.kind == "too_big":
            w["vlan.id"] = [fin.vlan] if fin.vlan else None
            w["eth.dst"] = [mac_str(fin.src)]
            if v4:
                w["ip.src"], w["ip.dst"] = [vip, client], [client, vip]
                w["icmp.type"], w["icmp.code"], w["icmp.mtu"] = [3], [4], [topo.mtu - 20]
            else:
                w["ipv6.src"], w["ipv6.dst"] = [vip, client], [client, vip]
                w["icmpv6.type"], w["icmpv6.code"], w["icmpv6.mtu"] = [2], [0], [topo.mtu - 40]
        elif o.kind == "echo":
            w["vlan.id"] = [fin.vlan] if fin.vlan else None
            w["eth.dst"] = [mac_str(fin.src)]
            if v4:
                w["ip.src"], w["ip.dst"], w["ip.ttl"] = [vip], [client], [64]
                w["icmp.type"], w["icmp.code"] = [0], [0]
            else:
                w["ipv6.src"], w["ipv6.dst"], w["ipv6.hlim"] = [vip], [client], [64]
                w["icmpv6.type"], w["icmpv6.code"] = [129], [0]
        want[o.out] = w
    return want


def first_fragment(ip):
    """Whether an IP fragment is its datagram's first (offset 0)."""
    if ip[0] >> 4 == 4:
        return struct.unpack_from("!H", ip, 6)[0] & 0x1FFF == 0
    nxt, h = ip[6], 40
    while nxt in (0, 43, 60):
        nxt, h = ip[h], h + (ip[h + 1] + 1) * 8
    return nxt == 44 and struct.unpack_from("!H", ip, h + 2)[0] & 0xFFF8 == 0


def l4_offset(ip):
    """Where the transport header of an IP packet (or first fragment) starts."""
    if ip[0] >> 4 == 4:
        return (ip[0] & 0x0F) * 4
    nxt, h = ip[6], 40
    while nxt in (0, 43, 60, 44):
        nxt, h = ip[h], h + (8 if nxt == 44 else (ip[h + 1] + 1) * 8)
    return h


def auto_exempt(frame):
    """The checksum verdicts tshark cannot give for a frame, read from its bytes: the
    TCP/UDP checksum of a truncated packet quoted by an ICMP error (tshark checks it over
    the bytes quoted and calls it bad), and the transport checksum of an IP fragment
    (no reassembly: tshark says unverified, or bad for a quoted first fragment)."""
    if len(frame) < 14:
        return ()
    l4 = ("tcp.checksum.status", "udp.checksum.status", "tcp.checksum_bad.expert", "udp.checksum.bad")
    if quote_truncated(frame):
        return l4
    ip = L2(frame).ip
    for _ in range(2):  # the packet, then the one an IPIP header carries
        if len(ip) >= 20 and ip[0] >> 4 == 4:
            if struct.unpack_from("!H", ip, 6)[0] & 0x3FFF:
                return l4 + ("icmp.checksum.status",)
            if ip[9] != PROTO_IPIP:
                break
            ip = ip[(ip[0] & 0x0F) * 4:]
        elif len(ip) >= 40 and ip[0] >> 4 == 6:
            nxt, h = ip[6], 40
            while nxt in (0, 43, 60, 44) and h + 8 <= len(ip):
                if nxt == 44 and struct.unpack_from("!H", ip, h + 2)[0] & 0xFFF9:
                    return l4 + ("icmpv6.checksum.status",)
                nxt, h = ip[h], h + (8 if nxt == 44 else (ip[h + 1] + 1) * 8)
            if nxt != PROTO_IPV6_IN:
                break
            ip = ip[h:]
        else:
            break
    return ()


def quote_truncated(frame):
    """Whether the packet an ICMP error in `frame` (possibly inside IPIP) quotes is cut
    short of its own length."""
    ip = L2(frame).ip
    if ip and ip[0] >> 4 == 4 and len(ip) >= 20 and ip[9] == PROTO_IPIP:
        ip = ip[20:]
    elif ip and ip[0] >> 4 == 6 and len(ip) >= 40 and ip[6] == PROTO_IPV6_IN:
        ip = ip[40:]
    fake = b"\0" * 12 + (b"\x08\x00" if ip and ip[0] >> 4 == 4 else b"\x86\xdd") + ip
    ic = icmp_of(fake)
    if ic is None or not is_icmp_error(ic[0], ic[1]):
        return False
    q = ip[ic[3] + 8:]
    if ic[0] == 4:
        return len(q) < 20 or struct.unpack_from("!H", q, 2)[0] > len(q)
    return len(q) < 40 or 40 + struct.unpack_from("!H", q, 4)[0] > len(q)


def ip_chain(frame):
    """The IP headers tshark shows for a frame's packet: the packet's own, then (for an
    ICMP error) the quoted packet's (fixed part: 20 or 40 bytes)."""
    ip = L2(frame).ip
    ic = icmp_of(frame)
    if ic is None or not is_icmp_error(ic[0], ic[1]):
        return [ip]
    q = ip[ic[3] + 8:]
    return [ip, q] if len(q) >= (20 if ic[0] == 4 else 40) else [ip]


def pad_frame(frame, fill=b"\0"):
    """A frame padded to Ethernet's 60-byte minimum (without FCS) with `fill` repeated,
    as a NIC delivers short frames; longer frames unchanged."""
    frame = bytes(frame)
    if len(frame) >= 60:
        return frame
    n = 60 - len(frame)
    return frame + (fill * n)[:n]


def run_case_checks(case, work, lcores=None, tshark=True, allow_unverified=()):
    """The common part of the issue-3 cases: replays case/in.pcap with case/tern.yaml,
    checks every record against gen.frames() (check_frames), then has tshark read OUT
    and PUNT (check_tshark with tshark_expectations for OUT). Returns (cfg, inp, r,
    res, notes)."""
    cfg = load_config(case / "tern.yaml")
    inp = read_pcap(case / "in.pcap")
    exp = load_gen(case).frames()
    check_generated(inp, [x[2] for x in exp], case.name)
    r = replay(case / "tern.yaml", case / "in.pcap", work, lcores=lcores)
    res = check_frames(cfg, inp, r, exp, lcores=lcores or 1)
    kinds = collections.Counter(x[0] for x in exp)
    notes = [f"{len(inp)} in, {len(r.out)} out, {len(r.punt)} punted: " +
             ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + "; every OUT frame byte-exact"]
    if tshark:
        want = tshark_expectations(cfg, inp, r, res)
        check_tshark(r.out_path, "OUT", want, n_frames=len(r.out), allow_unverified=allow_unverified)
        check_tshark(r.punt_path, "PUNT", n_frames=len(r.punt))
        notes.append(f"tshark {tshark_version().split()[2]}: OUT and PUNT decode without warnings, checksums good, "
                     f"{sum(len(w) for w in want.values())} field expectations met")
    return cfg, inp, r, res, notes


def check_outer_sources(res, r, prefix):
    """The outer sources of the IPIP frames in OUT (read from the frames, not the model):
    each inside `prefix`, one per flow. Returns {flow: source}."""
    net = ipaddress.ip_network(prefix)
    per_flow = collections.defaultdict(set)
    errs = Errors("outer sources")
    for o in res.values():
        if o.server is None or o.server.service.forward != "ipip" or o.server.ip.version != net.version:
            continue
        src = ip_src_dst(L2(r.out[o.out].data).ip)[0]
        errs.check(src in net, f"input record {o.i} ({o.note}): outer source {src} outside {net}")
        per_flow[o.flow].add(src)
    for f, srcs in per_flow.items():
        errs.check(len(srcs) == 1, f"{flow_str(f)}: outer sources {sorted(map(str, srcs))}")
    errs.raise_if_any()
    return {f: next(iter(s)) for f, s in per_flow.items()}


def check_spread(per_flow, n_addresses, what="outer sources"):
    """Flows spread over n_addresses about uniformly: every address used, each within 5
    sigma of the mean (Binomial(n, 1/k)), chi-square below 2k + 40 (its mean is k - 1,
    its sd sqrt(2(k - 1)))."""
    counts = collections.Counter(per_flow.values())
    n, k = len(per_flow), n_addresses
    mean = n / k
    expect(len(counts) == k, f"{what}: {n} flows used {len(counts)} of {k} addresses")
    sd = math.sqrt(n * (1 / k) * (1 - 1 / k))
    lo, hi = min(counts.values()), max(counts.values())
    expect(mean - 5 * sd <= lo and hi <= mean + 5 * sd,
           f"{what} unevenly used over {n} flows: {lo}..{hi} per address, want {mean:.1f} +- {5 * sd:.1f}")
    chi2 = sum((counts.get(a, 0) - mean) ** 2 / mean for a in counts)
    expect(chi2 < 2 * k + 40, f"{what}: chi-square {chi2:.1f} over {k} addresses (want < {2 * k + 40})")
    return (f"{n} tunnelled flows, one outer source each, {len(counts)}/{k} addresses used, "
            f"{lo}..{hi} flows per address (mean {mean:.1f}), chi-square {chi2:.1f}")


def servers_used(cfg, res):
    """Every active server got packets; returns a note with packets per server."""
    by_srv = collections.Counter(str(o.server) for o in res.values() if o.server is not None)
    errs = Errors("servers used")
    for svc in cfg.services:
        for s in svc.active:
            errs.check(by_srv[str(s)] > 0, f"{s} got nothing")
    errs.raise_if_any()
    return "packets per server: " + ", ".join(f"{h} {c}" for h, c in sorted(by_srv.items()))


def check_lcores(case, work, cfg, inp, r1, lcores=2):
    """Replays again with `lcores` lcores (input spread by RSS as a NIC would): every
    record checks out the same way (check_frames), and OUT and PUNT hold the same
    frames as the one-lcore run (the outer sources and choices do not depend on the
    lcore)."""
    exp = load_gen(case).frames()
    r = replay(case / "tern.yaml", case / "in.pcap", work, tag=f"lcores{lcores}", lcores=lcores)
    check_frames(cfg, inp, r, exp, f"{lcores} lcores", lcores=lcores)
    for what, a, b in (("OUT", r1.out, r.out), ("PUNT", r1.punt, r.punt)):
        expect(sorted((x.ts_ns, x.data) for x in a) == sorted((x.ts_ns, x.data) for x in b),
               f"{what} with {lcores} lcores differs from {what} with one")
    per = [x.get("rx", 0) for x in r.stats["lcores"]]
    return f"{lcores} lcores (rx {per}): the same frames, byte for byte"
