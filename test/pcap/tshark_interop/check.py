#!/usr/bin/python3
"""tshark_interop: a dissector nobody here wrote reads every output pcap.

For every other case directory with a tern.yaml and an in.pcap whose check does not run
tshark itself (the cases of issue 3 do, through ternpcap.run_case_checks), replays it and has
tshark (Debian's) read OUT and PUNT: no malformed packet, no expert warning or error,
every IPv4 header, TCP, UDP, ICMP and ICMPv6 checksum good (verified with
ip/tcp/udp.check_checksum on; only a fragment's transport checksum, which cannot be
verified without reassembly, or one inside a quoted packet may stay unverified). The
cases of issue 3 also compare tshark's decoded fields (IPIP / IPv6-in-IPv6, VLAN ids,
ICMP type, code and MTU, inner and outer addresses) with their expectations
(ternpcap.check_tshark with tshark_expectations). Without tshark this case FAILS."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402


def check(case, work):
    tp.tshark_binary()  # fails (does not skip) without tshark
    notes = [tp.tshark_version()]
    cases = sorted(d for d in case.parent.iterdir()
                   if d.is_dir() and d != case and (d / "tern.yaml").is_file() and (d / "in.pcap").is_file())
    tp.expect(len(cases) >= 10, f"only {len(cases)} cases found next to {case}")
    # The cases of issue 3 run tshark themselves, with field expectations.
    own = [d for d in cases if "run_case_checks" in (d / "check.py").read_text()]
    cases = [d for d in cases if d not in own]
    errs = tp.Errors("tshark over every case's output")
    total = 0
    for d in cases:
        try:
            r = tp.replay(d / "tern.yaml", d / "in.pcap", work, tag=d.name)
            for what, path, recs in (("OUT", r.out_path, r.out), ("PUNT", r.punt_path, r.punt)):
                tp.check_tshark(path, f"{d.name} {what}", n_frames=len(recs))
                total += len(recs)
        except tp.CheckFailed as e:
            errs.add(str(e))
    errs.raise_if_any()
    notes.append(f"{len(cases)} cases, {total} frames in OUT and PUNT: no malformed packet, no warning, "
                 f"checksums good ({', '.join(x.name for x in cases)}); with their own tshark step: "
                 f"{', '.join(x.name for x in own)}")
    return notes


if __name__ == "__main__":
    tp.main(check)
