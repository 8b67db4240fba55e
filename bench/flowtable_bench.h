// tern_bench flowtable: the per-lcore flow table alone (dp::FlowTable), no
// EAL: inserts and lookups per second on one core at a given number of flows.
#pragma once

#include "bench/common.h"

namespace tern::bench {

int run_flowtable(const Args& args);

// tern_bench memlimit: what this machine's memory allows a lookup, the limit
// the pipeline's big-table figures are measured against. In a flow table's
// memory (dp::FlowMemory) of --mib MiB, for groups of G lookups (a burst's
// worth): ns per random line when G lines are asked for at once, and ns per
// lookup of the flow table's shape (G bucket lines asked for, then each
// bucket's entry line once its bucket is in, then the entries read).
int run_memlimit(const Args& args);

}  // namespace tern::bench
