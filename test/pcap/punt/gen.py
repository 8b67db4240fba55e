#!/usr/bin/python3
"""Generates punt/in.pcap: frames for the kernel (ARP, broadcast, multicast, IPv6 ND,
IP to non-VIP addresses, a VIP on another port or protocol, non-TCP/UDP to a VIP),
frames for another unicast MAC (dropped: other_mac) and a few VIP frames (forwarded).

frames() returns [(expectation, note, frame)] with expectation "out" | "punt" |
"drop:<reason>"; check.py uses it."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
import ternpcap as tp  # noqa: E402
from scapy.all import (ARP, ICMP, IP, TCP, UDP, Ether, GRE, IPv6, ICMPv6EchoRequest,  # noqa: E402
                       ICMPv6ND_NS, ICMPv6ND_NA, ICMPv6ND_RA, ICMPv6NDOptSrcLLAddr, IPv6ExtHdrHopByHop,
                       RouterAlert, ICMPv6MLReport2, Raw)

PORT = "02:00:00:00:00:01"
OTHER = "02:00:00:00:00:02"
R = tp.ROUTER_MAC
BCAST = "ff:ff:ff:ff:ff:ff"
VIP, DNS_VIP, VIP6 = "192.0.2.10", "192.0.2.53", "2001:db8:100::10"
NODE, NODE6 = "10.0.0.10", "2001:db8:0:1::10"
C, C6 = "198.51.100.7", "2001:db8:c000::7"


def e(dst=PORT, src=R, **kw):
    return Ether(dst=dst, src=src, **kw)


def frames():
    f = []

    def add(exp, note, pkt):
        f.append((exp, note, bytes(pkt)))

    add("out", "TCP SYN to VIP:80", e() / IP(src=C, dst=VIP, id=1) / TCP(sport=40001, dport=80, flags="S"))
    # ARP
    add("punt", "ARP request (broadcast) for the node", e(BCAST, type=0x0806) /
        ARP(op=1, hwsrc=R, psrc="10.0.0.1", hwdst="00:00:00:00:00:00", pdst=NODE))
    add("punt", "ARP reply to the port", e(type=0x0806) / ARP(op=2, hwsrc=R, psrc="10.0.0.1", hwdst=PORT, pdst=NODE))
    add("punt", "ARP request unicast to the port", e(type=0x0806) /
        ARP(op=1, hwsrc=R, psrc="10.0.0.1", hwdst=PORT, pdst=NODE))
    add("punt", "gratuitous ARP (broadcast)", e(BCAST, src="02:00:00:00:01:21", type=0x0806) /
        ARP(op=1, hwsrc="02:00:00:00:01:21", psrc="10.0.0.21", hwdst="00:00:00:00:00:00", pdst="10.0.0.21"))
    add("punt", "ARP request for a VIP (broadcast)", e(BCAST, type=0x0806) /
        ARP(op=1, hwsrc=R, psrc="10.0.0.1", hwdst="00:00:00:00:00:00", pdst=VIP))
    # broadcast / multicast IPv4
    add("punt", "DHCP discover (broadcast)", e(BCAST, src="02:00:00:00:99:99") /
        IP(src="0.0.0.0", dst="255.255.255.255", id=2) / UDP(sport=68, dport=67) / Raw(b"\x01\x01\x06\x00" + b"\0" * 40))
    add("punt", "subnet broadcast UDP", e(BCAST) / IP(src="10.0.0.1", dst="10.0.0.255", id=3) /
        UDP(sport=137, dport=137) / Raw(b"nbns"))
    add("punt", "OSPF hello (multicast 224.0.0.5)", e("01:00:5e:00:00:05") /
        IP(src="10.0.0.1", dst="224.0.0.5", proto=89, ttl=1, id=4) / Raw(b"\x02\x01\x00\x2c" + b"\0" * 40))
    add("punt", "mDNS (multicast 224.0.0.251)", e("01:00:5e:00:00:fb") /
        IP(src="10.0.0.1", dst="224.0.0.251", ttl=255, id=5) / UDP(sport=5353, dport=5353) / Raw(b"\0" * 12))
    add("punt", "VRRP (multicast 224.0.0.18)", e("01:00:5e:00:00:12") /
        IP(src="10.0.0.2", dst="224.0.0.18", proto=112, ttl=255, id=6) / Raw(b"\x21\x01\x64\x01\x00\x01\xba\x52" + b"\xc0\x00\x02\x0a"))
    # IPv6 ND and multicast
    add("punt", "IPv6 ND neighbour solicitation (33:33:ff:00:00:10)", e("33:33:ff:00:00:10") /
        IPv6(src="fe80::1", dst="ff02::1:ff00:10", hlim=255) / ICMPv6ND_NS(tgt=NODE6) / ICMPv6NDOptSrcLLAddr(lladdr=R))
    add("punt", "IPv6 router advertisement (33:33:00:00:00:01)", e("33:33:00:00:00:01") /
        IPv6(src="fe80::1", dst="ff02::1", hlim=255) / ICMPv6ND_RA() / ICMPv6NDOptSrcLLAddr(lladdr=R))
    add("punt", "MLDv2 report with hop-by-hop router alert (33:33:00:00:00:16)", e("33:33:00:00:00:16") /
        IPv6(src="fe80::1", dst="ff02::16", hlim=1) / IPv6ExtHdrHopByHop(options=[RouterAlert()]) / ICMPv6MLReport2())
    add("punt", "IPv6 ND neighbour advertisement to the port", e() /
        IPv6(src="fe80::1", dst="fe80::2", hlim=255) / ICMPv6ND_NA(tgt="fe80::1", R=1, S=1))
    # broadcast / multicast frames carrying VIP traffic are still the kernel's
    add("punt", "broadcast frame with UDP to VIP:53", e(BCAST) / IP(src=C, dst=DNS_VIP, id=7) /
        UDP(sport=40002, dport=53) / Raw(b"q" * 12))
    add("punt", "multicast frame with TCP to VIP:80", e("01:00:5e:00:00:01") / IP(src=C, dst=VIP, id=8) /
        TCP(sport=40003, dport=80, flags="S"))
    add("punt", "IPv6 multicast frame with TCP to VIP6:443", e("33:33:00:00:00:01") /
        IPv6(src=C6, dst=VIP6) / TCP(sport=40004, dport=443, flags="S"))
    add("punt", "LLDP (01:80:c2:00:00:0e)", e("01:80:c2:00:00:0e", type=0x88CC) / Raw(b"\x02\x07\x04" + b"\x00" * 40))
    add("punt", "unknown EtherType 0x88b5 to the port", e(type=0x88B5) / Raw(b"experimental" * 4))
    # IP for the node or other non-VIP addresses
    add("punt", "SSH SYN to the node", e() / IP(src=C, dst=NODE, id=9) / TCP(sport=40005, dport=22, flags="S"))
    add("punt", "BGP to the node", e() / IP(src="10.0.0.1", dst=NODE, ttl=1, id=10) /
        TCP(sport=179, dport=40006, flags="PA") / Raw(b"\xff" * 16 + b"\x00\x13\x04"))
    add("punt", "ICMP echo to the node", e() / IP(src="10.0.0.1", dst=NODE, id=11) / ICMP(id=1, seq=1) / Raw(b"ping"))
    add("punt", "UDP to the node (SNMP)", e() / IP(src="10.0.0.1", dst=NODE, id=12) / UDP(sport=40007, dport=161) / Raw(b"snmp"))
    add("punt", "TCP to a non-VIP address next to the VIP", e() / IP(src=C, dst="192.0.2.11", id=13) /
        TCP(sport=40008, dport=80, flags="S"))
    add("punt", "IPv6 SSH to the node", e() / IPv6(src=C6, dst=NODE6) / TCP(sport=40009, dport=22, flags="S"))
    add("punt", "IPv6 TCP to a non-VIP address", e() / IPv6(src=C6, dst="2001:db8:100::11") / TCP(sport=40010, dport=443, flags="S"))
    # a VIP on a port it does not serve
    add("punt", "TCP to VIP:8080", e() / IP(src=C, dst=VIP, id=14) / TCP(sport=40011, dport=8080, flags="S"))
    add("punt", "TCP to VIP:443 (only :80 configured)", e() / IP(src=C, dst=VIP, id=15) / TCP(sport=40012, dport=443, flags="S"))
    add("punt", "UDP to DNS VIP:5353", e() / IP(src=C, dst=DNS_VIP, id=16) / UDP(sport=40013, dport=5353) / Raw(b"q" * 12))
    add("punt", "TCP to VIP:79 (one below the service port)", e() / IP(src=C, dst=VIP, id=17) / TCP(sport=40014, dport=79, flags="S"))
    add("punt", "IPv6 TCP to VIP6:80", e() / IPv6(src=C6, dst=VIP6) / TCP(sport=40015, dport=80, flags="S"))
    # a VIP:port with the other protocol, or neither TCP nor UDP
    add("punt", "UDP to VIP:80 (service is TCP)", e() / IP(src=C, dst=VIP, id=18) / UDP(sport=40016, dport=80) / Raw(b"u80"))
    add("punt", "TCP to DNS VIP:53 (service is UDP)", e() / IP(src=C, dst=DNS_VIP, id=19) / TCP(sport=40017, dport=53, flags="S"))
    add("punt", "IPv6 UDP to VIP6:443 (service is TCP)", e() / IPv6(src=C6, dst=VIP6) / UDP(sport=40018, dport=443) / Raw(b"quic"))
    add("punt", "ICMP echo to the VIP", e() / IP(src=C, dst=VIP, id=20) / ICMP(id=2, seq=1) / Raw(b"ping"))
    add("punt", "GRE to the VIP", e() / IP(src=C, dst=VIP, id=21) / GRE() / IP(src="10.9.9.9", dst="10.8.8.8") / Raw(b"x"))
    add("punt", "ICMPv6 echo to VIP6", e() / IPv6(src=C6, dst=VIP6) / ICMPv6EchoRequest(id=3, seq=1))
    # unicast frames for another MAC: nowhere
    add("drop:other_mac", "TCP to VIP:80 for another MAC", e(OTHER) / IP(src=C, dst=VIP, id=22) / TCP(sport=40019, dport=80, flags="S"))
    add("drop:other_mac", "ARP reply for another MAC", e(OTHER, type=0x0806) /
        ARP(op=2, hwsrc=R, psrc="10.0.0.1", hwdst=OTHER, pdst="10.0.0.99"))
    add("drop:other_mac", "IPv6 TCP to VIP6 for another MAC", e(OTHER) / IPv6(src=C6, dst=VIP6) / TCP(sport=40020, dport=443, flags="S"))
    add("drop:other_mac", "ICMP to the node for another MAC", e("02:00:00:00:01:21") /
        IP(src="10.0.0.1", dst=NODE, id=23) / ICMP(id=4, seq=1))
    add("drop:other_mac", "UDP to DNS VIP for a MAC one bit off the port's", e("02:00:00:00:00:03") /
        IP(src=C, dst=DNS_VIP, id=24) / UDP(sport=40021, dport=53) / Raw(b"q" * 12))
    # more VIP traffic that must be forwarded
    add("out", "UDP to DNS VIP:53", e() / IP(src=C, dst=DNS_VIP, id=25) / UDP(sport=40022, dport=53) / Raw(b"q" * 12))
    add("out", "IPv6 TCP SYN to VIP6:443", e() / IPv6(src=C6, dst=VIP6) / TCP(sport=40023, dport=443, flags="S"))
    add("out", "TCP data to VIP:80", e() / IP(src=C, dst=VIP, id=26) / TCP(sport=40001, dport=80, flags="PA", seq=1) / Raw(b"GET / HTTP/1.0\r\n\r\n"))
    tp.assert_unique([x[2] for x in f], "punt")
    return f


def main():
    n = tp.write_frames(HERE / "in.pcap", [x[2] for x in frames()], step_us=1000)
    print(f"wrote {HERE / 'in.pcap'}: {n} frames")


if __name__ == "__main__":
    main()
