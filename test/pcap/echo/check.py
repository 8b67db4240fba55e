#!/usr/bin/python3
"""echo: echo requests to a VIP.

Run 1 (answer_vip_echo: true): every echo request to a VIP (IPv4 to a TCP or a UDP
service's VIP, IPv6) is answered byte for byte as computed here: back to the sender's
MAC from the port's, on the VLAN it came on; IP source and destination swapped, TTL/hop
limit 64, type 0 / 129, checksums valid; ID, TOS, DF, options, identifier, sequence and
payload unchanged (Ethernet padding kept or dropped). Echo requests to the node or a
non-VIP, broadcast ones, echo replies and fragments are punted; the stats count
echo_replies. tshark decodes the replies (type, addresses, TTL) with good checksums.
Run 2 (answer_vip_echo: false): the same requests are punted byte-identical.
Run 3 (answer on, icmp_rate_limit 0): they are dropped as icmp_rate_limited."""

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402


def variant(case, work, name, **dp):
    d = yaml.safe_load((case / "tern.yaml").read_text())
    d["dataplane"] = dict(d.get("dataplane") or {}, **dp)
    p = work / f"{name}.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    return p


def check(case, work):
    cfg, inp, r, res, notes = tp.run_case_checks(case, work)
    n = sum(1 for o in res.values() if o.kind == "echo")
    tp.expect(n == 60, f"test bug: {n} echo requests")
    notes.append(f"answer_vip_echo on: {n} echo requests answered")
    exp = tp.load_gen(case).frames()

    y = variant(case, work, "off", answer_vip_echo=False)
    r2 = tp.replay(y, case / "in.pcap", work, tag="off")
    tp.check_frames(tp.load_config(y), inp, r2, [("punt" if k == "echo" else k, m, f) for k, m, f in exp],
                    "answer_vip_echo off")
    notes.append(f"answer_vip_echo off: all {n} punted byte-identical")

    y = variant(case, work, "limit0", icmp_rate_limit=0)
    r3 = tp.replay(y, case / "in.pcap", work, tag="limit0")
    tp.check_frames(tp.load_config(y), inp, r3,
                    [("drop:icmp_rate_limited" if k == "echo" else k, m, f) for k, m, f in exp], "icmp_rate_limit 0")
    notes.append(f"icmp_rate_limit 0: all {n} dropped as icmp_rate_limited")
    return notes


if __name__ == "__main__":
    tp.main(check)
