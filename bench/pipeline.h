// Pipeline cost: pre-built 64-byte frames in real mbufs, recycled through
// dp::Worker::classify_burst (the per-burst function the lcores run) against
// a real table from ctl::build_table. No PMD: RX and TX are left out (see
// docs/bench/README.md); the PMD case (bench/pmd.h) measures them.
#pragma once

#include <string>

#include "bench/common.h"

namespace tern::bench {

// `tern_bench pipeline`: every case (or --case NAME), --runs N of --seconds S
// each on --lcores 1[,2] worker lcores; or, with --bursts N, a fixed number
// of bursts on one lcore and no timing (for callgrind). Prints JSON on stdout.
int run_pipeline(const Args& args);

}  // namespace tern::bench
