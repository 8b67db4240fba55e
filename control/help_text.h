// The words of `tern --help` and `tern <command> --help` besides the
// options themselves: what each command does, the EAL's arguments, lcores,
// signals, files and exit statuses. dist/gen_docs.py builds the man page
// and the bash completion from this output, so what is said here is said
// there too.
#pragma once

namespace tern::help {

inline constexpr const char* kUsage =
    "usage: tern <command> [options]\n"
    "\n"
    "Tern is a layer-4 load balancer on DPDK: it forwards the packets routers send to\n"
    "its VIPs to real servers (direct routing or IPIP), checks the servers' health as\n"
    "PyBal does, announces the VIPs over BGP, and hands everything else to the kernel.\n"
    "\n"
    "commands:\n"
    "  run     --config FILE [--interactive] [-- EAL args]   the appliance\n"
    "  replay  --config FILE --in IN.pcap --out OUT.pcap [--punt PUNT.pcap]\n"
    "          [--lcores N] [--stats FILE] [--events FILE] [-- EAL args]\n"
    "                                                         the dataplane over pcap files\n"
    "  check   --config FILE                                  validate a config\n"
    "  console [--socket PATH | --config FILE]                attach to a running tern's console\n"
    "  import-pybal --conf pybal.conf [--pools DIR] [--out FILE] [...]  a PyBal config to tern.yaml\n"
    "\n"
    "`tern <command> --help` describes a command's options; `tern run --help` also the\n"
    "EAL arguments, lcores and signals. `tern --version` prints the build (its git\n"
    "description).\n";

inline constexpr const char* kRunAbout =
    "Runs the load balancer on the config's port: opens the port and a kernel interface\n"
    "(tern-<port name>) for everything that is not for a VIP (ARP, ND, BGP, SSH, ping),\n"
    "starts the health checks and pool sources, builds the forwarding table, starts the\n"
    "worker lcores, then announces the VIPs over BGP. Runs until SIGTERM or SIGINT.\n";

inline constexpr const char* kRunMore =
    "\n"
    "EAL arguments:\n"
    "  Everything after `--` goes to DPDK's rte_eal_init() unchanged, for example\n"
    "    tern run --config /etc/tern/tern.yaml -- -l 0-2 --main-lcore 0 --in-memory\n"
    "  Given any, tern adds only the port's device to them (-a PCI-ADDRESS, or\n"
    "  --no-pci --vdev VDEV): lcores, memory and the file prefix are then yours.\n"
    "  Given none, tern passes:\n"
    "    -l MAIN,LCORES --main-lcore MAIN  with dataplane.lcores (and dataplane.main_lcore,\n"
    "                      default the lowest CPU not in dataplane.lcores): one worker\n"
    "                      pinned to each CPU of dataplane.lcores;\n"
    "    --lcores (0-1)@(CPUS)  without dataplane.lcores: one worker, floating with the\n"
    "                      main lcore over the CPUs tern may run on;\n"
    "    --file-prefix tern-NODE  node.name: DPDK's run-time files go to\n"
    "                      /var/run/dpdk/tern-NODE, so two balancers on one host, or a\n"
    "                      test beside a balancer, do not collide;\n"
    "    --in-memory       when 512 MiB of free 2 MiB hugepages and a hugetlbfs mount\n"
    "                      are there (scripts/setup-host reserves them): hugepage memory,\n"
    "                      no files left in hugetlbfs;\n"
    "    --no-huge -m MB --no-shconf  otherwise, with a warning in the log: ordinary\n"
    "                      memory, slower, and enough for virtual devices (net_tap,\n"
    "                      net_af_packet, net_pcap) but not for most NICs' DMA;\n"
    "    --iova-mode va    when every port is a virtual device: no physical addresses,\n"
    "                      which memory mapped after the capability drop could not get.\n"
    "  The EAL's own log lines go through tern's log (below), at their own levels.\n"
    "\n"
    "lcores:\n"
    "  The EAL's main lcore is the control thread: health checks, pool sources, BGP,\n"
    "  the HTTP API, the console, reloads. Every other lcore is a worker polling one\n"
    "  RX/TX queue pair of the port (its NIC must have as many queues; RSS spreads the\n"
    "  flows), so tern needs at least two lcores. Workers never block: give them\n"
    "  CPUs of their own (isolcpus) and keep the main lcore off them.\n"
    "\n"
    "signals:\n"
    "  SIGHUP   reload the config file: services, pools, monitors, BGP settings and\n"
    "           more apply live; the log names each change and any key that needs a\n"
    "           restart (systemctl reload tern).\n"
    "  SIGTERM  drain, then stop: with a bgp section, withdraw the routes, send CEASE,\n"
    "           forward for bgp.drain_time seconds (default 5) while routers move the VIPs\n"
    "           elsewhere, then stop the workers and close the port (systemctl stop).\n"
    "           A second SIGTERM or SIGINT ends the drain at once.\n"
    "  SIGINT   the same as SIGTERM (Ctrl-C).\n"
    "\n"
    "privileges:\n"
    "  Once started, tern keeps only cap_net_admin, cap_net_bind_service, cap_setuid,\n"
    "  cap_setgid and cap_kill (effective, permitted and bounding sets, every thread)\n"
    "  and sets no_new_privs; the log says what was kept. --keep-privileges keeps\n"
    "  everything (debugging). RunCommand's commands run as their `user` (nobody).\n"
    "\n"
    "log:\n"
    "  One line per event on stderr (log.level: debug, info, warning, error). Under\n"
    "  systemd (JOURNAL_STREAM names stderr) each line starts with its syslog priority\n"
    "  (<3> error, <4> warning, <6> info, <7> debug) and journald adds the time;\n"
    "  elsewhere with an ISO-8601 local time, and errors and warnings say so. Start-up\n"
    "  errors (the config, the EAL, the port) are log lines at priority error.\n"
    "\n"
    "exit status:\n"
    "  0 stopped on a signal; 1 could not start (EAL, port, kernel interface, BGP\n"
    "  listener of a passive peer); 2 bad arguments or config.\n"
    "\n"
    "files:\n"
    "  /etc/tern/tern.yaml    the config (`tern check` validates it; conf/REFERENCE.md)\n"
    "  /run/tern/tern.sock    the console's socket (console.socket)\n"
    "  /var/run/dpdk/tern-NODE  DPDK's run-time directory, removed at stop\n";

inline constexpr const char* kReplayAbout =
    "Runs the dataplane of `tern run` over capture files instead of a NIC: frames of\n"
    "--in go through the config's services as if they arrived on its port; frames sent\n"
    "to servers go to --out, frames for the kernel to --punt. The config's port device\n"
    "is replaced by DPDK's pcap PMD; there are no health checks, pool sources or BGP.\n";

inline constexpr const char* kReplayMore =
    "\n"
    "EAL arguments:\n"
    "  tern passes --lcores (0-N)@(CPUS) --no-pci --no-telemetry --log-level *:warning\n"
    "  --file-prefix tern-replay-PID and the pcap devices; everything after `--` is\n"
    "  added, and replaces the default memory options (--no-huge -m MB --no-shconf).\n"
    "\n"
    "exit status:\n"
    "  0 replayed; 1 a failure while replaying; 2 bad arguments, config or capture.\n";

inline constexpr const char* kCheckAbout =
    "Validates a config without touching the machine: prints every problem at once as\n"
    "file:line:column: key.path: message, or `FILE: OK (N services, M real servers)`.\n";

inline constexpr const char* kCheckMore =
    "\n"
    "exit status:\n"
    "  0 valid; 1 invalid; 2 bad arguments.\n";

inline constexpr const char* kConsoleAbout =
    "Attaches to a running `tern run`'s console on its UNIX socket (root only): show\n"
    "services, pools, stats and ports, pool and depool servers, capture packets.\n"
    "`help` lists the commands; Ctrl-D or `quit` leaves (the balancer keeps running).\n";

inline constexpr const char* kImportAbout =
    "Converts a PyBal config (pybal.conf, INI) and its pool files into a tern.yaml:\n"
    "services, monitors, BGP settings; what cannot be carried over is reported on\n"
    "stderr, one line each.\n";

}  // namespace tern::help
