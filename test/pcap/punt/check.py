#!/usr/bin/python3
"""punt: ARP, broadcast, multicast (IPv4, IPv6 ND to 33:33:..), IP to non-VIP addresses,
a VIP on an unconfigured port or with the other protocol, non-TCP/UDP to a VIP: all in
PUNT byte-identical with their timestamps and input order, none in OUT. Frames for
another unicast MAC appear nowhere and count as other_mac. The VIP frames among them
are forwarded (so an empty OUT cannot pass)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402


def check(case, work):
    cfg = tp.load_config(case / "tern.yaml")
    inp = tp.read_pcap(case / "in.pcap")
    exp = tp.load_gen(case).frames()
    tp.check_generated(inp, [x[2] for x in exp], case.name)
    # The test's own expectations must agree with the generic classifier (a test bug otherwise).
    for (want, note, frame) in exp:
        act, detail = tp.expected_action(cfg, frame)
        got = act if act != "drop" else f"drop:{detail}"
        tp.expect(got == want, f"test bug: gen.py says {want} for '{note}', classifier says {got}")

    r = tp.replay(case / "tern.yaml", case / "in.pcap", work)
    out_idx, punt_idx, drops = tp.check_expectations(inp, r, exp)
    tp.expect(drops == {"other_mac": 5}, f"test bug: drops {drops}")
    # Order, DR rewrite of the VIP frames, checksums, and the stats (other_mac = 5, rest 0).
    tp.check_run(cfg, inp, r)
    n_punt = sum(1 for x in exp if x[0] == "punt")
    return [f"{len(punt_idx)}/{n_punt} punted byte-identical, {len(out_idx)} VIP frames forwarded, "
            f"{drops['other_mac']} other_mac dropped"]


if __name__ == "__main__":
    tp.main(check)
