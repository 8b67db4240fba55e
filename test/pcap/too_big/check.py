#!/usr/bin/python3
"""too_big: port MTU 1400, IPIP services.

Run 1 (tern.yaml, default rate limit): IPv4 with DF whose IP total + 20 > 1400, and IPv6
whose total + 40 > 1400, are answered byte for byte as computed here: out of the port to
the frame's source MAC (two routers) from the port's MAC, on the VLAN the frame came on
(untagged, 200, 7); IP from the VIP to the client, TTL/hop limit 64; IPv4 TOS 0xC0,
ICMP 3/4 with next-hop MTU 1380 quoting the first 548 bytes of the packet (576 bytes in
all); IPv6 ICMPv6 2/0 with MTU 1360 quoting the first 1232 bytes (1280 in all); valid
checksums. The same sizes without DF are dropped (too_big_no_df); 1380 (v4) and 1360
(v6) still fit and are tunnelled, as are the flows' small packets. The stats count
too_big_sent.
Run 2 (icmp_rate_limit 0): every answer is dropped as icmp_rate_limited.
Run 3 (icmp_rate_limit 5): the first 5 are answered, the rest (but a few the bucket may
refill during the run) dropped as icmp_rate_limited.
tshark decodes the answers (type, code, MTU, addresses of the answer and of the quote)."""

import struct
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402


def explicit(inp, r, res):
    """The quoted packet and the MTU, stated on their own (the byte-exact comparison
    covers them too)."""
    errs = tp.Errors("too-big answers")
    n = 0
    for o in res.values():
        if o.kind != "too_big":
            continue
        n += 1
        fin, fout = tp.L2(inp[o.i].data), tp.L2(r.out[o.out].data)
        client, vip = tp.ip_src_dst(fin.ip)
        ip = fout.ip
        errs.check(tp.ip_src_dst(ip) == (vip, client), f"record {o.i}: answer {tp.ip_src_dst(ip)}")
        if fin.etype == tp.ETH_IPV4:
            ihl = (ip[0] & 0x0F) * 4
            icmp = ip[ihl:]
            errs.check(len(ip) <= 576, f"record {o.i}: ICMP datagram of {len(ip)} bytes > 576")
            errs.check((icmp[0], icmp[1]) == (3, 4), f"record {o.i}: type/code {icmp[0]}/{icmp[1]}")
            errs.check(struct.unpack_from("!H", icmp, 6)[0] == 1380, f"record {o.i}: MTU {icmp[6:8].hex()}")
            errs.check(ip[1] == 0xC0 and ip[8] == 64, f"record {o.i}: TOS {ip[1]:#x} TTL {ip[8]}")
            errs.check(icmp[8:] == fin.ip[:548], f"record {o.i}: the quote is not the packet's first 548 bytes")
        else:
            icmp = ip[40:]
            errs.check(len(ip) <= 1280, f"record {o.i}: ICMPv6 packet of {len(ip)} bytes > 1280")
            errs.check((icmp[0], icmp[1]) == (2, 0), f"record {o.i}: type/code {icmp[0]}/{icmp[1]}")
            errs.check(struct.unpack_from("!I", icmp, 4)[0] == 1360, f"record {o.i}: MTU {icmp[4:8].hex()}")
            errs.check(ip[7] == 64, f"record {o.i}: hop limit {ip[7]}")
            errs.check(icmp[8:] == fin.ip[:1232], f"record {o.i}: the quote is not the packet's first 1232 bytes")
            errs.check(tp.icmp6_checksum_ok(ip), f"record {o.i}: bad ICMPv6 checksum")
        errs.check(fout.dst == fin.src and fout.vlan == fin.vlan,
                   f"record {o.i}: to {tp.mac_str(fout.dst)} VLAN {fout.vlan}, the frame came from "
                   f"{tp.mac_str(fin.src)} on VLAN {fin.vlan}")
    errs.raise_if_any()
    return n


def variant(case, work, name, limit):
    d = yaml.safe_load((case / "tern.yaml").read_text())
    d["dataplane"] = {"icmp_rate_limit": limit}
    p = work / f"{name}.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    return p


def check(case, work):
    cfg, inp, r, res, notes = tp.run_case_checks(case, work)
    n = explicit(inp, r, res)
    drops = sum(1 for o in res.values() if o.kind == "drop:too_big_no_df")
    tp.expect(n >= 35 and drops >= 4, f"test bug: {n} too-big answers, {drops} no-DF drops")
    notes.append(f"{n} too-big answers: MTU 1380 / 1360, quotes of 548 / 1232 bytes, from the VIP; "
                 f"{drops} without DF dropped (too_big_no_df)")
    exp = tp.load_gen(case).frames()

    # Run 2: no ICMP at all.
    y = variant(case, work, "limit0", 0)
    r0 = tp.replay(y, case / "in.pcap", work, tag="limit0")
    exp0 = [("drop:icmp_rate_limited" if k == "too_big" else k, note, f) for k, note, f in exp]
    tp.check_frames(tp.load_config(y), inp, r0, exp0, "icmp_rate_limit 0")
    notes.append(f"icmp_rate_limit 0: all {n} answers dropped as icmp_rate_limited")

    # Run 3: 5 per second; the replay takes well under a second, so about 5 answers.
    y = variant(case, work, "limit5", 5)
    t0 = time.monotonic()
    r5 = tp.replay(y, case / "in.pcap", work, tag="limit5")
    secs = time.monotonic() - t0
    sent = {i for i in tp.match_by_time(inp, r5.out, "OUT")}
    big = [i for i, x in enumerate(exp) if x[0] == "too_big"]
    tp.expect(all(i in sent for i in big[:5]), f"icmp_rate_limit 5: the first 5 too-big packets "
              f"{big[:5]} were not all answered")
    exp5 = [(("too_big" if i in sent else "drop:icmp_rate_limited") if k == "too_big" else k, note, f)
            for i, (k, note, f) in enumerate(exp)]
    tp.check_frames(tp.load_config(y), inp, r5, exp5, "icmp_rate_limit 5")
    answered = sum(1 for i in big if i in sent)
    slack = int(5 * secs) + 1  # tokens the bucket may have refilled while tern ran
    tp.expect(answered <= 5 + slack, f"icmp_rate_limit 5: {answered} of {len(big)} answered in a "
              f"{secs:.1f} s run (want at most {5 + slack})")
    notes.append(f"icmp_rate_limit 5: {answered} of {len(big)} answered, the rest icmp_rate_limited")
    return notes


if __name__ == "__main__":
    tp.main(check)
