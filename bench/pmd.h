// Through real PMDs: dp::Worker::run, the lcore loop of `tern run`, on
// DPDK's pcap PMD replaying a capture forever (infinite_rx=1) and
// transmitting into its drop queue, with net_null (no-rx=1) as the
// exception path. The same vdevs as the testpmd comparison (scripts/bench).
#pragma once

#include "bench/common.h"

namespace tern::bench {

// `tern_bench pmd --pcap FILE [--lcores N] [--windows W] [--seconds S]`:
// Mpps per window of S seconds after a warm-up, on N worker lcores.
// With `--rebuilds R`: the config is --vips x 2 services of --servers each;
// while the lcores forward, control rebuilds and publishes the whole table R
// times; reports build, publish and grace-period times and packets lost.
// Prints JSON on stdout.
int run_pmd(const Args& args);

}  // namespace tern::bench
