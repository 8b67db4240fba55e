#!/usr/bin/python3
"""sh: with scheduler sh every connection of one client (many source ports) goes to one
server, for IPv4 TCP, IPv4 UDP and IPv6 TCP services, and clients spread over the
servers by weight (never the drained s5). Contrast: on the maglev service with the same
servers the same clients' connections spread (so the sh result is not an accident of
the input)."""

import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402


def check(case, work):
    cfg = tp.load_config(case / "tern.yaml")
    inp = tp.read_pcap(case / "in.pcap")
    r = tp.replay(case / "tern.yaml", case / "in.pcap", work)
    out_idx, punt_idx, chosen = tp.check_run(cfg, inp, r)
    tp.expect(len(out_idx) == len(inp), f"{len(out_idx)} of {len(inp)} frames forwarded")
    tp.check_sticky(inp, chosen)

    # {service: {client: {server: connections}}}
    per = collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
    conns = set()
    for i, srv in chosen.items():
        f = tp.flow_of(inp[i].data)
        if f not in conns:
            conns.add(f)
            per[srv.service][f.src][srv] += 1

    notes = []
    for svc in cfg.services:
        clients = per[svc]
        tp.expect(clients, f"{svc.name}: no traffic forwarded")
        if svc.scheduler == "sh":
            errs = tp.Errors(f"{svc.name} (sh): one server per client")
            for c, servers in clients.items():
                errs.check(len(servers) == 1, f"client {c}: connections went to " +
                           ", ".join(f"{s.host} x{n}" for s, n in servers.items()))
            errs.raise_if_any()
            counts = collections.Counter(next(iter(s)) for s in clients.values())
            notes.append(f"{svc.name}: {len(clients)} clients each on one server; clients per server " +
                         tp.check_shares(counts, svc, "clients"))
        else:
            spread = sum(1 for servers in clients.values() if len(servers) > 1)
            # 6 connections on weights 1:1:2:1 all land on one server with probability
            # 3 * 0.2^6 + 0.4^6 < 0.5%: nearly every client must be spread.
            tp.expect(spread >= 0.9 * len(clients),
                      f"{svc.name} (maglev): only {spread} of {len(clients)} clients have their connections "
                      f"on more than one server; maglev must hash the ports too")
            notes.append(f"{svc.name}: {spread}/{len(clients)} clients spread over several servers")
    return notes


if __name__ == "__main__":
    tp.main(check)
