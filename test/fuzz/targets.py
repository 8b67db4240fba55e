"""The fuzz targets (test/fuzz/meson.build builds NAME_run_corpus and, in a
-Dfuzzing=true build, NAME_fuzz for each): what each parses, the largest
input libFuzzer makes for it, and how many seeded mutations of each corpus
file the any-compiler run (test/fuzz/run) feeds it. Read by test/fuzz/run
and scripts/fuzz."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "test" / "fuzz" / "corpus"

# name: (what it parses, max_len, mutations per corpus file)
TARGETS = {
    "bgp": ("BGP messages and streams (bgp/message)", 4200, 3000),
    "dataplane": ("a burst of frames through Worker::classify_burst", 49152, 300),
    "config": ("the YAML config (load_checked_string)", 8192, 100),
    "pool": ("PyBal pool files and conftool values (conf/pool_file)", 4096, 2000),
    "import": ("pybal.conf and a pool file (tern import-pybal)", 8192, 300),
    "etcd": ("etcd v2/v3 answers (control/sources/etcd_answer)", 4096, 2000),
    "http": ("HTTP responses to the health client's GET (ProxyFetch)", 4096, 100),
    "dns": ("DNS replies (health/dns_wire, DNSQuery)", 1024, 5000),
    "console": ("console bytes through rte_cmdline to the commands", 1024, 100),
}


def names(requested):
    """The targets asked for (all when none), or SystemExit naming a bad one."""
    for n in requested:
        if n not in TARGETS:
            raise SystemExit(f"unknown fuzz target '{n}'; have: {' '.join(TARGETS)}")
    return list(requested) or list(TARGETS)
