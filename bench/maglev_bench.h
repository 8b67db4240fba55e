// Control-side cost: Maglev ring generation (dp::generate_ring, the function
// ctl::build_table calls per service). Pure computation, no EAL.
#pragma once

#include "bench/common.h"

namespace tern::bench {

// `tern_bench maglev [--size M] [--servers 10,100,1000] [--runs N]`: median
// build time per server count. Prints JSON on stdout.
int run_maglev(const Args& args);

}  // namespace tern::bench
