#!/usr/bin/python3
"""malformed: truncated Ethernet/802.1Q, truncated IPv4/IPv6 headers, wrong IP version,
bad IHL, IP lengths beyond the frame or below the header, truncated TCP/UDP headers,
truncated IPv6 extension headers: none leaves (neither OUT nor PUNT), each is counted
under its reason in the stats. Valid short frames with Ethernet padding (or a trailer)
are forwarded (or punted) with the padding intact."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402


def check(case, work):
    cfg = tp.load_config(case / "tern.yaml")
    inp = tp.read_pcap(case / "in.pcap")
    exp = tp.load_gen(case).frames()
    tp.check_generated(inp, [x[2] for x in exp], case.name)
    r = tp.replay(case / "tern.yaml", case / "in.pcap", work)

    out_idx, punt_idx, drops = tp.check_expectations(inp, r, exp)
    want_reasons = {"truncated_ether", "truncated_ip", "bad_ip_version", "bad_ihl", "bad_ip_length",
                    "truncated_l4", "bad_ipv6_ext"}
    tp.expect(set(drops) == want_reasons, f"test bug: reasons covered {sorted(drops)}")
    tp.check_in_order(out_idx, "OUT")
    tp.check_in_order(punt_idx, "PUNT")
    chosen = tp.check_dr(cfg, inp, r.out, out_idx)
    tp.check_checksums(r.out, "OUT")

    # Padding: the forwarded short frames keep their length and trailing bytes (match() already
    # compared everything after the MACs; this states it on its own).
    errs = tp.Errors("Ethernet padding")
    padded = 0
    for j, i in enumerate(out_idx + punt_idx):
        rec = (r.out + r.punt)[j]
        fin = inp[i].data
        ip_len = len(fin) - 14
        if fin[12:14] == b"\x08\x00":
            ip_len = int.from_bytes(fin[16:18], "big")
        if 14 + ip_len < len(fin):
            padded += 1
            errs.check(len(rec.data) == len(fin) and rec.data[14 + ip_len:] == fin[14 + ip_len:],
                       f"input record {i}: {len(fin) - 14 - ip_len} bytes of padding became "
                       f"{rec.data[14 + ip_len:].hex() or 'nothing'} (frame {len(fin)} -> {len(rec.data)} bytes)")
    errs.raise_if_any()
    tp.expect(padded == 5, f"test bug: {padded} padded frames delivered, expected 5")

    tp.check_stats(r.stats, cfg, inp, r.out, r.punt, drops, tp.out_servers_by_out_index(out_idx, chosen))
    return [f"{sum(drops.values())} malformed frames dropped: " +
            ", ".join(f"{k} {v}" for k, v in sorted(drops.items())),
            f"{len(out_idx)} forwarded and {len(punt_idx)} punted with padding intact"]


if __name__ == "__main__":
    tp.main(check)
