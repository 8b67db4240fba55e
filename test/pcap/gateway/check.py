#!/usr/bin/python3
"""gateway: a config with gateway_v4 and neighbors but no subnets. Every frame is
forwarded, none dropped as no_neighbor; read from the frames themselves (not the
model): IPIP frames for far1/far2 (no neighbors entry) leave to the gateway's MAC
with the server as outer destination, near's to its own MAC, and the DR server's
to its own. check_frames also holds every frame to the model byte for byte."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402

GATEWAY_MAC = bytes.fromhex("00005e000101")
OWN = {"10.0.0.21": bytes.fromhex("020000000121"), "10.0.0.31": bytes.fromhex("020000000131")}


def check(case, work):
    cfg, inp, r, res, notes = tp.run_case_checks(case, work)
    errs = tp.Errors("gateway")
    errs.check(len(r.out) == len(inp), f"{len(r.out)} of {len(inp)} frames forwarded")
    by_dst = {}
    for rec in r.out:
        d = rec.data
        if d[12:14] != b"\x08\x00":
            errs.check(False, "a non-IPv4 frame in OUT")
            continue
        if d[23] == 4:  # IPIP: the outer destination is the server
            server = ".".join(str(b) for b in d[30:34])
        else:
            server = "dr"
        by_dst.setdefault(server, set()).add(d[0:6])
    for far in ("172.16.5.30", "172.16.7.40"):
        errs.check(by_dst.get(far) == {GATEWAY_MAC}, f"{far}: sent to {by_dst.get(far)}, want the gateway's MAC")
    errs.check(by_dst.get("10.0.0.21") == {OWN["10.0.0.21"]}, f"near: sent to {by_dst.get('10.0.0.21')}")
    errs.check(by_dst.get("dr") == {OWN["10.0.0.31"]}, f"DR: sent to {by_dst.get('dr')}")
    errs.raise_if_any()
    notes.append(tp.servers_used(cfg, res))
    return notes


if __name__ == "__main__":
    tp.main(check)
