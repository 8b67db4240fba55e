// tern_bench flowtable: the per-lcore flow table alone (dp::FlowTable), no
// EAL: inserts and lookups per second on one core at a given number of flows.
#pragma once

#include "bench/common.h"

namespace tern::bench {

int run_flowtable(const Args& args);

}  // namespace tern::bench
