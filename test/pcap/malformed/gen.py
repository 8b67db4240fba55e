#!/usr/bin/python3
"""Generates malformed/in.pcap: one frame per way a frame can be malformed (each to
the port's MAC unless noted, each aimed at a VIP:port so that only the parser can
stop it), plus valid short frames with Ethernet padding that must be forwarded with
the padding intact.

frames() returns [(expectation, note, frame)] with expectation "out" | "punt" |
"drop:<reason>"; check.py uses it."""

import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
import ternpcap as tp  # noqa: E402
from scapy.all import IP, TCP, UDP, IPv6, IPv6ExtHdrHopByHop, Raw  # noqa: E402

PORT = tp.mac_bytes("02:00:00:00:00:01")
SRC = tp.mac_bytes(tp.ROUTER_MAC)
BCAST = b"\xff" * 6
VIP, DNS_VIP, VIP6 = "192.0.2.10", "192.0.2.53", "2001:db8:100::10"
C, C6 = "198.51.100.9", "2001:db8:c000::9"
PAD = 0xA5  # non-zero padding, so that dropping or zeroing it shows


def eth(payload, etype=0x0800, dst=PORT):
    return dst + SRC + struct.pack("!H", etype) + bytes(payload)


def pad60(frame):
    return frame + bytes([PAD]) * max(0, 60 - len(frame))


def fix_ip_checksum(ip):
    """Recomputes the IPv4 header checksum over the header as the IHL states (within ip)."""
    ip = bytearray(ip)
    ihl = min((ip[0] & 0x0F) * 4, len(ip))
    if ihl >= 12:
        ip[10:12] = b"\0\0"
        ip[10:12] = struct.pack("!H", tp.internet_checksum(bytes(ip[:ihl])))
    return bytes(ip)


def tcp4(sport, **kw):
    return bytes(IP(src=C, dst=VIP, id=sport, **kw) / TCP(sport=sport, dport=80, flags="S", seq=sport))


def patch(b, off, val):
    b = bytearray(b)
    b[off:off + len(val)] = val
    return bytes(b)


def frames():
    f = []

    def add(exp, note, frame):
        f.append((exp, note, bytes(frame)))

    good = tcp4(1000)  # 40-byte IPv4 TCP SYN to VIP:80
    add("out", "valid TCP SYN to VIP:80 (control)", eth(good) + bytes([PAD]) * 6)

    # truncated Ethernet
    add("drop:truncated_ether", "1-byte frame", PORT[:1])
    add("drop:truncated_ether", "10-byte frame", PORT + SRC[:4])
    add("drop:truncated_ether", "13-byte frame", PORT + SRC + b"\x08")
    add("drop:truncated_ether", "13-byte broadcast frame", BCAST + SRC + b"\x08")
    add("drop:truncated_ether", "802.1Q frame cut inside the tag (16 bytes)", PORT + SRC + b"\x81\x00\x00\x64")

    # truncated IPv4/IPv6 fixed header
    add("drop:truncated_ip", "IPv4 EtherType, 10 bytes of IP", eth(good[:10]))
    add("drop:truncated_ip", "IPv4 EtherType, 19 bytes of IP", eth(good[:19]))
    add("drop:truncated_ip", "IPv4 EtherType, no IP at all", eth(b""))
    v6 = bytes(IPv6(src=C6, dst=VIP6) / TCP(sport=2000, dport=443, flags="S"))
    add("drop:truncated_ip", "IPv6 EtherType, 30 bytes of IP", eth(v6[:30], 0x86DD))
    add("drop:truncated_ip", "IPv6 EtherType, 39 bytes of IP", eth(v6[:39], 0x86DD))

    # version field disagrees with the EtherType
    add("drop:bad_ip_version", "IPv4 EtherType, version 6", eth(fix_ip_checksum(patch(tcp4(1001), 0, b"\x65"))))
    add("drop:bad_ip_version", "IPv4 EtherType, version 0", eth(fix_ip_checksum(patch(tcp4(1002), 0, b"\x05"))))
    add("drop:bad_ip_version", "IPv6 EtherType carrying an IPv4 packet (padded)",
        pad60(eth(tcp4(1003) + b"\0" * 20, 0x86DD)))
    add("drop:bad_ip_version", "IPv4 EtherType, version 6, broadcast frame",
        eth(fix_ip_checksum(patch(tcp4(1004), 0, b"\x65")), dst=BCAST))

    # IHL
    add("drop:bad_ihl", "IPv4 IHL 4", eth(fix_ip_checksum(patch(tcp4(1005), 0, b"\x44"))))
    add("drop:bad_ihl", "IPv4 IHL 0", eth(fix_ip_checksum(patch(tcp4(1006), 0, b"\x40"))))
    add("drop:bad_ihl", "IPv4 IHL 15 (60 bytes) in a 40-byte IP packet",
        eth(fix_ip_checksum(patch(tcp4(1007), 0, b"\x4f"))))
    add("drop:bad_ihl", "IPv4 IHL 6 in a frame with 20 bytes of IP", eth(fix_ip_checksum(patch(tcp4(1008)[:20], 0, b"\x46"))))

    # total / payload length
    p = tcp4(1009)
    add("drop:bad_ip_length", "IPv4 total length 41 in a 54-byte frame (one beyond)",
        eth(fix_ip_checksum(patch(p, 2, struct.pack("!H", len(p) + 1)))))
    p = tcp4(1010)
    add("drop:bad_ip_length", "IPv4 total length 1000 in a 60-byte padded frame",
        pad60(eth(fix_ip_checksum(patch(p, 2, struct.pack("!H", 1000))))))
    p = tcp4(1011)
    add("drop:bad_ip_length", "IPv4 total length 19 (< header)", eth(fix_ip_checksum(patch(p, 2, struct.pack("!H", 19)))))
    p = tcp4(1012)
    add("drop:bad_ip_length", "IPv4 total length 0", eth(fix_ip_checksum(patch(p, 2, b"\0\0"))))
    v6b = bytes(IPv6(src=C6, dst=VIP6) / TCP(sport=2001, dport=443, flags="S"))
    add("drop:bad_ip_length", "IPv6 payload length 21 with 20 bytes of payload",
        eth(patch(v6b, 4, struct.pack("!H", 21)), 0x86DD))
    v6b = bytes(IPv6(src=C6, dst=VIP6) / TCP(sport=2002, dport=443, flags="S"))
    add("drop:bad_ip_length", "IPv6 payload length 0 (jumbogram)", eth(patch(v6b, 4, b"\0\0"), 0x86DD))

    # L4 header does not fit in the IP packet
    p = bytes(IP(src=C, dst=VIP, id=1013, len=30, proto=6) / Raw(bytes(TCP(sport=1013, dport=80, flags="S"))[:10]))
    add("drop:truncated_l4", "TCP to VIP:80 with 10 bytes of TCP header, frame padded to 60", pad60(eth(p)))
    t = bytearray(bytes(TCP(sport=1014, dport=80, flags="S")))
    t[12] = 0x40  # data offset 4 (< 5)
    p = bytes(IP(src=C, dst=VIP, id=1014, proto=6) / Raw(bytes(t)))
    add("drop:truncated_l4", "TCP to VIP:80 with data offset 4", pad60(eth(p)))
    t = bytearray(bytes(TCP(sport=1015, dport=80, flags="S")))
    t[12] = 0xF0  # data offset 15 (60 bytes) in a 20-byte segment
    p = bytes(IP(src=C, dst=VIP, id=1015, proto=6) / Raw(bytes(t)))
    add("drop:truncated_l4", "TCP to VIP:80 with data offset 15 in a 20-byte segment, padded", pad60(eth(p)) + bytes([PAD]) * 40)
    p = bytes(IP(src=C, dst=DNS_VIP, id=1016, proto=17) / Raw(bytes(UDP(sport=1016, dport=53))[:4]))
    add("drop:truncated_l4", "UDP to VIP:53 with 4 bytes of UDP header, padded", pad60(eth(p)))
    p = bytes(IPv6(src=C6, dst=VIP6, nh=6) / Raw(bytes(TCP(sport=2003, dport=443, flags="S"))[:12]))
    add("drop:truncated_l4", "IPv6 TCP to VIP6:443 with 12 bytes of TCP header", eth(p, 0x86DD))

    # IPv6 extension headers
    p = bytes(IPv6(src=C6, dst=VIP6, nh=0) / Raw(b"\x06\x00\x01\x02"))
    add("drop:bad_ipv6_ext", "IPv6 hop-by-hop header cut at 4 bytes", pad60(eth(p, 0x86DD)))
    hbh = bytearray(bytes(IPv6ExtHdrHopByHop(nh=6)))
    hbh[1] = 2  # says 24 bytes; 8 are there
    p = bytes(IPv6(src=C6, dst=VIP6, nh=0) / Raw(bytes(hbh)))
    add("drop:bad_ipv6_ext", "IPv6 hop-by-hop header longer than the packet", eth(p, 0x86DD))

    # valid short frames: forwarded with their Ethernet padding
    p = bytes(IP(src=C, dst=DNS_VIP, id=1017) / UDP(sport=1017, dport=53) / Raw(b"abcd"))
    add("out", "32-byte UDP datagram to VIP:53, frame padded to 60", pad60(eth(p)))
    p = tcp4(1018, flags="DF", ttl=3)
    add("out", "40-byte TCP SYN to VIP:80, frame padded to 60", pad60(eth(p)))
    p = bytes(IP(src=C, dst=DNS_VIP, id=1019) / UDP(sport=1019, dport=53))
    add("out", "empty UDP datagram to VIP:53 in a 78-byte frame (36-byte trailer)", eth(p) + bytes([PAD, 0x5A]) * 18)
    # and a short valid frame for the kernel keeps its padding too
    p = bytes(IP(src=C, dst="10.0.0.10", id=1020) / UDP(sport=1020, dport=161) / Raw(b"x"))
    add("punt", "29-byte UDP to the node, padded to 60", pad60(eth(p)))
    tp.assert_unique([x[2] for x in f], "malformed")
    return f


def main():
    n = tp.write_frames(HERE / "in.pcap", [x[2] for x in frames()], step_us=1000)
    print(f"wrote {HERE / 'in.pcap'}: {n} frames")


if __name__ == "__main__":
    main()
