// What every fuzz target shares: a check that aborts (libFuzzer and
// run_corpus both report an abort as a crash, with the input that caused it).
#pragma once

#include <cstdio>
#include <cstdlib>

namespace tern::fuzz {

inline void require(bool ok, const char* target, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "%s: check failed: %s\n", target, what);
    std::abort();
}

}  // namespace tern::fuzz
