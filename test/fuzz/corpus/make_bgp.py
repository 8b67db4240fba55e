#!/usr/bin/python3
"""Writes the BGP seed corpus (test/fuzz/corpus/bgp/) from byte layouts spelled out
here (RFC 4271, 4760, 5492, 6793, 8092, 2918), independent of the encoder under test.
Each file: one byte that picks the read size (0xff: 256), then the message(s).
Usage: make_bgp.py [DIR]"""
import socket
import struct
import sys
from pathlib import Path
out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "bgp"
out.mkdir(parents=True, exist_ok=True)
def msg(t, body): return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), t) + body
def attr(flags, t, v):
    return bytes([flags | (0x10 if len(v) > 255 else 0), t]) + (struct.pack("!H", len(v)) if len(v) > 255 else bytes([len(v)])) + v
def cap(code, v): return bytes([code, len(v)]) + v
caps = cap(1, struct.pack("!HBB", 1, 0, 1)) + cap(1, struct.pack("!HBB", 2, 0, 1)) + cap(2, b"") + cap(65, struct.pack("!I", 4200000000))
params = bytes([2, len(caps)]) + caps
open_ = msg(1, struct.pack("!BHH4sB", 4, 23456, 90, socket.inet_aton("10.99.0.2"), len(params)) + params)
as_path = attr(0x40, 2, bytes([2, 2]) + struct.pack("!II", 64600, 64600))
common = attr(0x40, 1, b"\x00") + as_path + attr(0x80, 4, struct.pack("!I", 100)) + \
    attr(0xc0, 8, struct.pack("!I", (14907 << 16) | 7)) + attr(0xc0, 32, struct.pack("!III", 64600, 1, 2))
mp = struct.pack("!HBB", 2, 1, 16) + socket.inet_pton(socket.AF_INET6, "fd99::2") + b"\x00" + \
    bytes([128]) + socket.inet_pton(socket.AF_INET6, "2001:db8:100::10") + bytes([64]) + socket.inet_pton(socket.AF_INET6, "2001:db8:200::")[:8]
attrs6 = common + attr(0x80, 14, mp)
update6 = msg(2, struct.pack("!H", 0) + struct.pack("!H", len(attrs6)) + attrs6)
attrs4 = common + attr(0x40, 3, socket.inet_aton("10.99.0.2"))
nlri4 = bytes([32]) + socket.inet_aton("198.51.100.10") + bytes([24]) + socket.inet_aton("198.51.100.0")[:3]
update4 = msg(2, struct.pack("!H", 0) + struct.pack("!H", len(attrs4)) + attrs4 + nlri4)
wd4 = bytes([32]) + socket.inet_aton("198.51.100.11")
unreach = attr(0x80, 15, struct.pack("!HB", 2, 1) + bytes([128]) + socket.inet_pton(socket.AF_INET6, "2001:db8:100::10"))
withdraw = msg(2, struct.pack("!H", len(wd4)) + wd4 + struct.pack("!H", len(unreach)) + unreach)
keepalive = msg(4, b"")
notification = msg(3, bytes([6, 2]) + b"\x05bye!!")
refresh = msg(5, struct.pack("!HBB", 2, 0, 1))
seeds = {"open": open_, "update-mp-reach": update6, "update-ipv4": update4, "update-withdraw": withdraw,
         "keepalive": keepalive, "notification": notification, "route-refresh": refresh}
for name, m in seeds.items():
    (out / name).write_bytes(b"\xff" + m)  # one read for the whole message
(out / "stream-small-reads").write_bytes(b"\x06" + open_ + keepalive + update6 + update4 + refresh + withdraw + notification)
