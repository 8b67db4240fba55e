#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets other than BGP (make_bgp.py):
test/fuzz/corpus/TARGET/ for dataplane, config, pool, import, etcd, http,
dns and console. Inputs are real ones where the repository has them (the
pcap tests' frames and configs, conf/example.yaml, the PyBal example and its
pool files) and otherwise written out in the exact shape the real programs
send (etcd's v2 and v3 answers, nginx's responses, DNS replies built with
scapy). Deterministic: running it again writes the same files; the
regression inputs of crashes found (crash-*) stay.
Usage: test/fuzz/corpus/make_corpus.py"""

import json
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "test" / "fuzz" / "corpus"


def write(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def fresh(target):
    """Removes what this script wrote before; keeps regression inputs (crash-*)."""
    d = OUT / target
    if d.is_dir():
        for f in d.iterdir():
            if not f.name.startswith("crash-"):
                f.unlink()


# --- dataplane: bursts of frames, [length: 2 bytes][frame] each.
def burst(frames):
    return b"".join(struct.pack(">H", len(f)) + f for f in frames[:32])


def pcap_frames(path):
    """The frames of a classic pcap file (either byte order)."""
    data = path.read_bytes()
    magic = data[:4]
    order = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    frames, at = [], 24
    while at + 16 <= len(data):
        _, _, incl, _ = struct.unpack(order + "IIII", data[at:at + 16])
        frames.append(data[at + 16:at + 16 + incl])
        at += 16 + incl
    return frames


def dataplane():
    fresh("dataplane")
    # The fuzz target's own table (dataplane_fuzz.cpp): frames that reach each service.
    from scapy.all import Ether, IP, IPv6, TCP, UDP, ICMP, ICMPv6EchoRequest, ICMPv6PacketTooBig, Dot1Q, raw
    mac = "02:00:00:00:00:01"
    gw = "00:00:5e:00:01:01"
    cl4, cl6 = "198.51.100.7", "2001:db8:ff::7"

    def e(p):
        return raw(Ether(dst=mac, src=gw) / p)

    own = {
        "syn-dr": [e(IP(src=cl4, dst="192.0.2.1") / TCP(sport=1000 + i, dport=80, flags="S")) for i in range(8)],
        "flow-rr": [e(IP(src=cl4, dst="192.0.2.1") / TCP(sport=2000, dport=443, flags=f))
                    for f in ("S", "A", "PA", "FA", "R")],
        "udp-ipip": [e(IP(src=cl4, dst="192.0.2.53") / UDP(sport=5353 + i, dport=53) / (b"\x12\x34" + b"\0" * 10))
                     for i in range(4)],
        "v6-ipip": [e(IPv6(src=cl6, dst="2001:db8:100::10") / TCP(sport=3000 + i, dport=443, flags="S"))
                    for i in range(4)],
        "v6-dr": [e(IPv6(src=cl6, dst="2001:db8:100::20") / TCP(sport=3100, dport=80, flags="S"))],
        "echo": [e(IP(src=cl4, dst="192.0.2.1") / ICMP(type=8, id=1, seq=1) / b"ping"),
                 e(IPv6(src=cl6, dst="2001:db8:100::10") / ICMPv6EchoRequest(id=1, seq=1))],
        "frag": [e(IP(src=cl4, dst="192.0.2.53", flags="MF", id=7) / UDP(sport=1, dport=53) / (b"x" * 40)),
                 e(IP(src=cl4, dst="192.0.2.53", frag=6, id=7, proto=17) / (b"y" * 20))],
        "too-big": [e(IP(src=cl4, dst="192.0.2.1") / TCP(sport=4000, dport=80, flags="PA") / (b"z" * 1460))],
        "ptb6": [e(IPv6(src="2001:db8:ff::1", dst="2001:db8:100::10") / ICMPv6PacketTooBig(mtu=1280) /
                   IPv6(src="2001:db8:100::10", dst=cl6) / TCP(sport=443, dport=3000))],
        "vlan": [raw(Ether(dst=mac, src=gw) / Dot1Q(vlan=10) / IP(src=cl4, dst="192.0.2.1") / TCP(dport=80))],
        "drained-other": [e(IP(src=cl4, dst="192.0.2.9") / TCP(dport=80, flags="S")),
                          e(IP(src=cl4, dst="192.0.2.1") / TCP(dport=22, flags="S")),
                          e(IP(src=cl4, dst="10.0.0.10") / TCP(dport=179, flags="S"))],
    }
    for name, frames in own.items():
        write("dataplane", name, burst(frames))
    # The pcap tests' frames, as they arrive in `tern replay`: the first 32 of each.
    for p in sorted((ROOT / "test" / "pcap").glob("*/in.pcap")):
        write("dataplane", "pcap-" + p.parent.name, burst(pcap_frames(p)))


# --- config: conf/example.yaml and the pcap tests' configs.
def config():
    fresh("config")
    write("config", "example.yaml", (ROOT / "conf" / "example.yaml").read_bytes())
    for p in sorted((ROOT / "test" / "pcap").glob("*/tern.yaml")):
        write("config", p.parent.name + ".yaml", p.read_bytes())


# --- pool: PyBal pool files (both forms) and conftool values.
def pool():
    fresh("pool")
    src = ROOT / "test" / "integration" / "ops" / "pybal_example" / "pools"
    for p in sorted(src.iterdir()):
        write("pool", "pybal-" + p.name, p.read_bytes())
    write("pool", "text-https", (ROOT / "conf" / "pools" / "text-https").read_bytes())
    write("pool", "mixed-quotes", "{ \"host\": \"cp1003.eqiad.wmnet\", 'weight': 0, 'enabled': False }\n"
          "  # a comment\n\n{'host':'cp1004','weight':65535,'enabled':True,}\n")
    write("pool", "json-defaults", json.dumps({"cp1001": {}, "cp1002": {"weight": 3}, "cp1003": {"enabled": False}}))
    write("pool", "conftool-yes", '{"pooled": "yes", "weight": 10}')
    write("pool", "conftool-no", '{"pooled": "no", "weight": 0}')
    write("pool", "conftool-inactive", '{"pooled": "inactive"}')


# --- import: the PyBal example and variations on its options.
def importer():
    fresh("import")
    ex = ROOT / "test" / "integration" / "ops" / "pybal_example"
    conf = (ex / "pybal.conf").read_text()
    pool_text = (ex / "pools" / "text-https").read_text()
    write("import", "pybal-example", conf)
    write("import", "pybal-example-pool", conf + "\n#pool\n" + pool_text)
    write("import", "services", """[DEFAULT]
scheduler = wrr

[text_80]
protocol = tcp
ip = 10.2.2.1
port = 80
config = file:///etc/pybal/pools/text
depool-threshold = .6
monitors = [ "ProxyFetch", 'IdleConnection' ]
proxyfetch.url = [ 'http://en.wikipedia.org/wiki/Special:BlankPage', "https://x.org/" ]
idleconnection.timeout-clean-reconnect = 3
idleconnection.max-delay = 300

[dns_53_udp]
protocol = udp
ip = 10.3.0.1
port = 53
scheduler = sh
config = etcd://conf1001.eqiad.wmnet:2379/conftool/v1/pools/eqiad/dnsbox/recdns
monitors = [ "DNSQuery" ]
dnsquery.hostnames = [ 'en.wikipedia.org', 'www.google.com' ]
dnsquery.fail-on-nxdomain = no
""")
    write("import", "runcommand", """[api_443]
protocol = tcp
ip = 2620:0:861:ed1a::1
port = 443
config = http://config-master.wikimedia.org/pybal/eqiad/api-https
monitors = [ 'RunCommand' ]
runcommand.command = /usr/local/bin/check-api
runcommand.arguments = [ '--host', server.host, '--port', str(server.port), server.lvsservice.name + '-x' ]
runcommand.timeout = 10
interp = %(scheduler)s
  continued line ; a comment
""")


# --- etcd: answers as etcd 3.4 sends them (v2 keys API, v3 JSON gateway).
def etcd():
    fresh("etcd")
    d = "/conftool/v1/pools/eqiad/text/nginx"

    def node(host, value, idx):
        return {"key": f"{d}/{host}", "value": value, "modifiedIndex": idx, "createdIndex": idx}

    yes = json.dumps({"pooled": "yes", "weight": 10})
    no = json.dumps({"pooled": "no", "weight": 3})
    listing = {"action": "get", "node": {"key": d, "dir": True, "nodes": [
        node("cp1001.eqiad.wmnet", yes, 8), node("cp1002.eqiad.wmnet", no, 9),
        node("cp1003.eqiad.wmnet", json.dumps({"pooled": "inactive"}), 10)], "modifiedIndex": 7, "createdIndex": 7}}
    # First byte: kind (low 3 bits) and status index (bits 3-5: 0 -> 200, 5 -> 404, 4 -> 400, 6 -> 500).
    write("etcd", "v2-read", bytes([0]) + json.dumps(listing).encode())
    write("etcd", "v2-read-404", bytes([0 | 5 << 3]) + json.dumps(
        {"errorCode": 100, "message": "Key not found", "cause": d, "index": 12}).encode())
    write("etcd", "v2-event-set", bytes([1]) + json.dumps(
        {"action": "set", "node": node("cp1001.eqiad.wmnet", no, 13),
         "prevNode": node("cp1001.eqiad.wmnet", yes, 8)}).encode())
    write("etcd", "v2-event-delete", bytes([1]) + json.dumps(
        {"action": "delete", "node": {"key": f"{d}/cp1002.eqiad.wmnet", "modifiedIndex": 14, "createdIndex": 9},
         "prevNode": node("cp1002.eqiad.wmnet", no, 9)}).encode())
    write("etcd", "v2-event-outdated", bytes([1 | 4 << 3]) + json.dumps(
        {"errorCode": 401, "message": "The event in requested index is outdated and cleared",
         "cause": "the requested history has been cleared [1008/7]", "index": 2007}).encode())
    write("etcd", "v2-event-idle", bytes([1]))
    write("etcd", "v2-event-dir", bytes([1]) + json.dumps(
        {"action": "update", "node": {"key": d, "dir": True, "modifiedIndex": 15, "createdIndex": 7}}).encode())

    def b64(s):
        import base64
        return base64.b64encode(s.encode()).decode()

    header = {"cluster_id": "14841639068965178418", "member_id": "10276657743932975437", "revision": "21",
              "raft_term": "2"}

    def kv(host, value, rev):
        return {"key": b64(f"{d}/{host}"), "create_revision": "4", "mod_revision": str(rev), "version": "2",
                "value": b64(value)}

    write("etcd", "v3-range", bytes([2]) + json.dumps(
        {"header": header, "kvs": [kv("cp1001.eqiad.wmnet", yes, 5), kv("cp1002.eqiad.wmnet", no, 6)],
         "count": "2"}).encode())
    write("etcd", "v3-range-empty", bytes([2]) + json.dumps({"header": header}).encode())
    created = json.dumps({"result": {"header": header, "created": True}})
    events = json.dumps({"result": {"header": header, "events": [
        {"kv": kv("cp1001.eqiad.wmnet", no, 22)},
        {"type": "DELETE", "kv": {"key": b64(f"{d}/cp1002.eqiad.wmnet"), "mod_revision": "23"}}]}})
    compacted = json.dumps({"result": {"header": header, "compact_revision": "19", "canceled": True}})
    write("etcd", "v3-watch", bytes([3]) + (created + "\n" + events + "\n").encode())
    write("etcd", "v3-watch-compacted", bytes([3]) + (created + "\n" + compacted + "\n").encode())
    write("etcd", "v3-watch-error", bytes([3]) + json.dumps(
        {"error": {"grpc_code": 14, "http_code": 503, "message": "etcdserver: no leader",
                   "http_status": "Service Unavailable"}}).encode())
    write("etcd", "index", bytes([4]) + b"2007")
    write("etcd", "base64", bytes([5]) + b64(f"{d}/cp1001.eqiad.wmnet").encode())


# --- http: responses as nginx, etcd and Apache send them.
def http():
    fresh("http")
    date = "Date: Thu, 03 Dec 2026 18:00:00 GMT\r\n"
    body = "<!DOCTYPE html>\n<html><head><title>Blank</title></head><body></body></html>\n"
    # First byte: read_body (bits 0-1), keep_body (bits 2-3), keep headers (bit 4).
    write("http", "nginx-200", bytes([0x04]) + (
        "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n" + date + "Content-Type: text/html\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n" + body).encode())
    write("http", "nginx-301", bytes([0x10]) + (
        "HTTP/1.1 301 Moved Permanently\r\nServer: nginx/1.22.1\r\n" + date +
        "Content-Type: text/html\r\nContent-Length: 169\r\nConnection: close\r\n"
        "Location: https://en.wikipedia.org/wiki/Special:BlankPage\r\n\r\n" +
        "<html>\r\n<head><title>301 Moved Permanently</title></head>\r\n<body>\r\n"
        "<center><h1>301 Moved Permanently</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n"
        "</body>\r\n</html>\r\n").encode())
    write("http", "nginx-404", bytes([0x00]) + (
        "HTTP/1.1 404 Not Found\r\nServer: nginx/1.22.1\r\n" + date +
        "Content-Type: text/html\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").encode())
    write("http", "chunked", bytes([0x05]) + (
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
        "7\r\nMozilla\r\n9\r\nDeveloper\r\n7\r\nNetwork\r\n0\r\n\r\n").encode())
    write("http", "http10-eof", bytes([0x0d]) + (
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + "pooled\n" * 40).encode())
    write("http", "etcd-v2", bytes([0x14]) + (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Etcd-Cluster-Id: cdf818194e3a8c32\r\n"
        "X-Etcd-Index: 2007\r\nX-Raft-Index: 2100\r\nX-Raft-Term: 2\r\n" + date +
        "Content-Length: 56\r\n\r\n" + '{"action":"get","node":{"key":"/d","dir":true}}' + " " * 8).encode())
    write("http", "503-no-reason", bytes([0x01]) + b"HTTP/1.1 503 \r\nRetry-After: 5\r\nContent-Length: 12\r\n\r\nunavailable\n")
    write("http", "truncated", bytes([0x01]) + ("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + "a" * 300).encode())


# --- dns: replies DNSQuery gets, built with scapy (compressed names).
def dns():
    fresh("dns")
    from scapy.all import DNS, DNSQR, DNSRR, raw
    q = DNSQR(qname="en.wikipedia.org", qtype="A")
    write("dns", "a", raw(DNS(id=0x1234, qr=1, rd=1, ra=1, qd=q,
                                an=DNSRR(rrname="en.wikipedia.org", type="A", ttl=300, rdata="208.80.154.224"))))
    write("dns", "cname-a", raw(DNS(id=0x0001, qr=1, rd=1, ra=1, qd=DNSQR(qname="www.wikipedia.org", qtype="A"),
                                      an=DNSRR(rrname="www.wikipedia.org", type="CNAME", ttl=86400,
                                               rdata="dyna.wikimedia.org") /
                                      DNSRR(rrname="dyna.wikimedia.org", type="A", ttl=600, rdata="208.80.154.224"))))
    write("dns", "aaaa", raw(DNS(id=7, qr=1, rd=1, ra=1, qd=DNSQR(qname="en.wikipedia.org", qtype="AAAA"),
                                   an=DNSRR(rrname="en.wikipedia.org", type="AAAA", ttl=300,
                                            rdata="2620:0:861:ed1a::1"))))
    write("dns", "nxdomain", raw(DNS(id=8, qr=1, rd=1, ra=1, rcode=3, qd=DNSQR(qname="nope.example.org"))))
    write("dns", "servfail", raw(DNS(id=9, qr=1, rd=1, rcode=2, qd=DNSQR(qname="www.google.com"))))
    write("dns", "truncated", raw(DNS(id=10, qr=1, tc=1, rd=1, qd=DNSQR(qname="big.example.org"),
                                        an=DNSRR(rrname="big.example.org", type="A", rdata="192.0.2.1")))[:-6])
    write("dns", "root", raw(DNS(id=11, qr=1, qd=DNSQR(qname=".", qtype="NS"))))
    # Hand-written compression: answer name a pointer to the question's (0xc00c).
    hdr = struct.pack(">HHHHHH", 0xbeef, 0x8180, 1, 2, 0, 0)
    qn = b"\x03www\x07example\x03org\x00"
    rr = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 10])
    rr2 = b"\x03foo\xc0\x10" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 11])
    write("dns", "pointers", hdr + qn + struct.pack(">HH", 1, 1) + rr + rr2)


# --- console: what an operator types, with the line editor's keys.
def console():
    fresh("console")
    lines = {
        "show": "show pools\nshow services\nshow service web\nshow config\nshow stats\nshow bgp\n",
        "overrides": "set weight web rs1 7\ndepool rs2\npool rs2 web\nconfirm pool web\nshow pools\n",
        "realservers": "add realserver web rs3 10.0.0.23 4\ndel realserver web rs1\nadd realserver dns x ::1\n",
        "mistyped": "show servicez\nset weight web rs9 7\nset weight web rs1 70000\nfrobnicate now\n",
        "help": "help\nshow stats service\nshow services rate\nshow flows\nshow connections\nshow alerts\n",
        "tab-help": "set weight w\t rs\t2 9\nshow ?\nsh\t po\t\n",
        "editing": "show pols\x1b[D\x1b[Do\n\x1b[A\nsho\x08\x08how pools\x01\x05\n",
        "ports-capture": "show port info all\nshow port stats all\nclear port stats all\ncapture stop\nshow capture\n",
        "quit": "reload\ndebug stall lcore 1 5\nquit\nshow pools\n",
    }
    for name, text in lines.items():
        write("console", name, text)


def main():
    dataplane()
    config()
    pool()
    importer()
    etcd()
    http()
    dns()
    console()
    for t in ("dataplane", "config", "pool", "import", "etcd", "http", "dns", "console"):
        files = list((OUT / t).iterdir())
        print(f"{t}: {len(files)} files, {sum(f.stat().st_size for f in files)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
