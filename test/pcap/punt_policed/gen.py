#!/usr/bin/python3
"""Generates punt_policed/in.pcap: two seconds of a flood at the node address
(UDP from a client, one frame a millisecond: class other, budget 100/s,
burst 10) mixed with what must pass: BGP from the peer, HTTP replies from
the real server, ARP, every 20 ms; a burst of 300 frames from the server's
address in 30 ms (class trusted: 1000/s, depth 100) that must not cost BGP
anything; and VIP traffic, forwarded whatever the exception path does.

frames() returns [(ts_us, class, note, frame)], class one of arp_nd, bgp,
trusted, other, or "out" (forwarded); check.py uses it."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
import ternpcap as tp  # noqa: E402
from scapy.all import ARP, IP, TCP, UDP, Ether, Raw  # noqa: E402

PORT = "02:00:00:00:00:01"
R = tp.ROUTER_MAC
BCAST = "ff:ff:ff:ff:ff:ff"
VIP, NODE = "192.0.2.10", "10.0.0.10"
PEER, SERVER, GATEWAY = "10.0.0.2", "10.0.0.21", "10.0.0.1"
C = "198.51.100.7"


def frames():
    f = []

    def add(t_us, cls, note, pkt):
        f.append((tp.T0_US + t_us, cls, note, bytes(pkt)))

    for ms in range(2000):
        t = ms * 1000
        add(t, "other", "UDP flood to the node", Ether(dst=PORT, src=R) / IP(src=C, dst=NODE, id=ms & 0xFFFF) /
            UDP(sport=10000 + ms, dport=9) / Raw(b"flood"))
        if ms % 20 == 5:
            add(t + 100, "bgp", "BGP keepalive from the peer", Ether(dst=PORT, src=R) /
                IP(src=PEER, dst=NODE, ttl=1, id=ms) / TCP(sport=179, dport=40000, flags="PA", seq=ms) /
                Raw(b"\xff" * 16 + b"\x00\x13\x04"))
            add(t + 200, "trusted", "HTTP reply from the server", Ether(dst=PORT, src="02:00:00:00:01:21") /
                IP(src=SERVER, dst=NODE, id=ms) / TCP(sport=80, dport=41000, flags="A", seq=ms))
        if ms % 100 == 7:
            add(t + 300, "arp_nd", "ARP request for the node", Ether(dst=BCAST, src=R, type=0x0806) /
                ARP(op=1, hwsrc=R, psrc=f"10.0.0.{100 + ms // 100}", hwdst="00:00:00:00:00:00", pdst=NODE))
            add(t + 400, "trusted", "SSH from the gateway's address", Ether(dst=PORT, src=R) /
                IP(src=GATEWAY, dst=NODE, id=ms) / TCP(sport=50000 + ms, dport=22, flags="S"))
            add(t + 500, "out", "TCP SYN to VIP:80", Ether(dst=PORT, src=R) / IP(src=C, dst=VIP, id=ms) /
                TCP(sport=30000 + ms, dport=80, flags="S"))
        if ms % 100 == 50:
            add(t + 600, "trusted", "the peer to a port that is not BGP's", Ether(dst=PORT, src=R) /
                IP(src=PEER, dst=NODE, id=ms) / TCP(sport=40001, dport=22, flags="S"))
            add(t + 700, "other", "port 179 from a stranger", Ether(dst=PORT, src=R) /
                IP(src=C, dst=NODE, id=ms) / TCP(sport=40002 + ms, dport=179, flags="S"))
    # A burst forging the server's address: 300 frames in 30 ms at 1.2 s.
    for i in range(300):
        add(1_200_000 + i * 100 + 50, "trusted", "burst from the server's address", Ether(dst=PORT, src=R) /
            IP(src=SERVER, dst=NODE, id=i) / UDP(sport=20000 + i, dport=9) / Raw(b"forged"))
    f.sort(key=lambda x: x[0])
    tp.assert_unique([x[3] for x in f], "punt_policed")
    return f


def main():
    recs = [(t, fr) for t, _, _, fr in frames()]
    tp.write_pcap(HERE / "in.pcap", recs)
    print(f"wrote {HERE / 'in.pcap'}: {len(recs)} frames")


if __name__ == "__main__":
    main()
