#!/usr/bin/python3
"""Explains a `tern replay` run for someone who has not read Tern's source: where the
frames went, what the kernel got and why, each server's share of new connections
next to its weight, and what ActiveConn/InActConn mean in a one-way replay.

  example_summary.py CONFIG IN.pcap PUNT.pcap STATS.json

scripts/run-example prints it after replaying conf/example.pcap. Standard library and
PyYAML only."""

import collections
import ipaddress
import json
import struct
import sys

import yaml


def read_pcap(path):
    """The frames of a classic pcap file (any byte order, micro- or nanoseconds)."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        sys.exit(f"{path}: not a pcap file")
    frames, off = [], 24
    while off + 16 <= len(data):
        caplen = struct.unpack_from(end + "I", data, off + 8)[0]
        frames.append(data[off + 16:off + 16 + caplen])
        off += 16 + caplen
    return frames


class Site:
    def __init__(self, config):
        node = config["node"]
        self.node = {ipaddress.ip_address(node["ipv4"])}
        if node.get("ipv6"):
            self.node.add(ipaddress.ip_address(node["ipv6"]))
        self.services = config.get("services") or []
        self.vips = {ipaddress.ip_address(s["vip"]) for s in self.services}
        self.vlans = {}
        for port in config["ports"]:
            for v in port.get("vlans") or []:
                for net in v.get("subnets") or []:
                    self.vlans[ipaddress.ip_network(net)] = v["id"]
        bgp = config.get("bgp") or {}
        self.bgp_port = int(bgp.get("listen_port", 179))

    def vlan_of(self, ip):
        ip = ipaddress.ip_address(ip)
        best = None
        for net, vid in self.vlans.items():
            if ip.version == net.version and ip in net and (best is None or net.prefixlen > best[0]):
                best = (net.prefixlen, vid)
        return best[1] if best else None


def kernel_class(site, frame):
    """Why a punted frame went to the kernel, in words."""
    etype, off = struct.unpack_from("!H", frame, 12)[0], 14
    if etype == 0x8100:
        etype, off = struct.unpack_from("!H", frame, 16)[0], 18
    if etype == 0x0806:
        return "ARP", "address resolution: the routers ask for the node's MAC (the kernel answers)"
    if etype not in (0x0800, 0x86DD):
        return "other", f"EtherType 0x{etype:04x}: not IP"
    ip = frame[off:]
    if etype == 0x0800:
        proto, l4 = ip[9], ip[(ip[0] & 15) * 4:]
        dst = ipaddress.ip_address(ip[16:20])
    else:
        proto, l4 = ip[6], ip[40:]
        dst = ipaddress.ip_address(ip[24:40])
    if proto == 58 and l4 and 133 <= l4[0] <= 137:
        return "ND", "IPv6 neighbour discovery: the IPv6 ARP (the kernel answers)"
    ports = struct.unpack_from("!HH", l4) if proto in (6, 17) and len(l4) >= 4 else None
    if proto == 6 and ports and site.bgp_port in ports:
        return "BGP", "the routers' BGP sessions with the node (tern's BGP speaker runs over the kernel's TCP)"
    if proto in (1, 58):
        echo = l4 and l4[0] in ((8, 0) if proto == 1 else (128, 129))
        kind = "ping" if echo else "ICMP"
        if dst in site.vips:
            return f"{kind} to a VIP", "ICMP to a VIP is the kernel's (dataplane.answer_vip_echo: false)"
        return f"{kind} to the node", "to the node's own address"
    if dst in site.vips:
        name = {6: "TCP", 17: "UDP"}.get(proto, f"protocol {proto}")
        port = f":{ports[1]}" if ports else ""
        return f"{name} to a VIP port no service has ({port})", "no service for this VIP:port:protocol"
    if proto == 6 and ports and ports[1] == 22 and dst in site.node:
        return "SSH to the node", "to the node's own address (the operators' SSH)"
    if dst in site.node:
        return "other to the node", "to the node's own address"
    return "other", "not for a VIP"


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    config_path, in_path, punt_path, stats_path = sys.argv[1:]
    with open(config_path) as f:
        site = Site(yaml.safe_load(f))
    with open(stats_path) as f:
        st = json.load(f)
    n_in = len(read_pcap(in_path))
    punted = read_pcap(punt_path)
    t = st["totals"]
    p = print

    p("")
    p("What happened")
    p(f"  {n_in} frames came in from the routers, as a NIC would have received them.")
    p(f"  {t['tx']} were for a service (a VIP, port and protocol in the config) and went to one of")
    p("  its real servers: direct routing rewrites the destination MAC only, the server")
    p("  answers the client itself.", )
    tagged = {}
    for s in site.services:
        for r in s.get("realservers") or []:
            if site.vlan_of(r["ip"]):
                tagged.setdefault(site.vlan_of(r["ip"]), set()).add(s["name"])
    for vid, names in sorted(tagged.items()):
        p(f"  Frames to the servers of {', '.join(sorted(names))} left tagged with VLAN {vid}, their subnet's.")
    p(f"  {t['punt']} went to the kernel (in `tern run`, the tern-<port> interface), because they")
    p("  were not for a service:")
    classes = collections.Counter()
    why = {}
    for fr in punted:
        name, reason = kernel_class(site, fr)
        classes[name] += 1
        why[name] = reason
    width = max((len(str(n)) for n in classes.values()), default=1)
    for name, n in classes.most_common():
        p(f"    {n:>{width}} {name}: {why[name]}")
    if t["dropped"]:
        p(f"  {t['dropped']} were dropped: " +
          ", ".join(f"{n} {r}" for r, n in st["drops"].items() if n) + " (conf/STATS.md says why)")
    else:
        p("  None was dropped.")

    p("")
    p("New connections per server, next to its weight")
    p("  A service spreads new connections over its enabled servers in proportion to their")
    p("  weights; a connection then stays on its server (the flow table). Connections = the")
    p("  flows each server got (ActiveConn + InActConn below); share = of its service's.")
    for svc in st["services"]:
        conns = {s["host"]: s["active_conns"] + s["inactive_conns"] for s in svc["servers"]}
        total = sum(conns.values())
        wsum = sum(s["weight"] for s in svc["servers"] if s["enabled"])
        vip = f"[{svc['vip']}]" if ":" in svc["vip"] else svc["vip"]
        p(f"  {svc['name']} {vip}:{svc['port']}/{svc['protocol']} ({svc['scheduler']}): {total} connections, "
          f"{svc['packets']} packets")
        hw = max(len(s["host"]) for s in svc["servers"]) if svc["servers"] else 0
        for s in svc["servers"]:
            if not s["enabled"] or s["weight"] == 0:
                want = "disabled: no new connections" if not s["enabled"] else "weight 0: no new connections"
                p(f"    {s['host']:<{hw}}  weight {s['weight']:<3} {want:<31} {conns[s['host']]} connections")
                continue
            share = f"{100 * s['weight'] / wsum:.1f}%"
            got = f"{100 * conns[s['host']] / total:.1f}%" if total else "-"
            p(f"    {s['host']:<{hw}}  weight {s['weight']:<3} (share {share:>5})  got {conns[s['host']]:>4} "
              f"connections ({got:>5})   ActiveConn {s['active_conns']:<4} InActConn {s['inactive_conns']}")

    active = sum(s["active_conns"] for svc in st["services"] for s in svc["servers"])
    inactive = sum(s["inactive_conns"] for svc in st["services"] for s in svc["servers"])
    p("")
    p("ActiveConn and InActConn (as ipvsadm shows them)")
    p("  Tern sees each connection one way only: clients' packets come through it, servers")
    p("  answer clients directly. Like IPVS in DR mode it follows TCP from the client's")
    p("  packets: after the client's ACK a connection is ESTABLISHED, counted in ActiveConn;")
    p("  after its FIN, or before its ACK, and for UDP, it is counted in InActConn, until")
    p("  its timeout (flows.timeouts) ends it.")
    if active == 0:
        p(f"  Here ActiveConn is 0: every TCP connection in the capture ended with its FIN (all")
        p(f"  {inactive} flows are InActConn).")
    else:
        p(f"  Here {active} connections were still open when the capture ended (ActiveConn); the")
        p(f"  {inactive} others had ended with a FIN or are UDP (InActConn).")


if __name__ == "__main__":
    main()
