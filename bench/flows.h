// The per-lcore flow table for a benchmark lane, when this build has one
// (dataplane/flow_table.h): the one place the harness depends on its API.
// Control thread only (allocates).
#pragma once

#include <cstddef>
#include <cstdint>

#include "dataplane/counters.h"
#include "dataplane/worker.h"

#if __has_include("dataplane/flow_table.h")
#include "dataplane/flow_table.h"
#define TERN_BENCH_HAS_FLOW_TABLE 1
#else
#define TERN_BENCH_HAS_FLOW_TABLE 0
#endif

namespace tern::bench {

// Bytes per flow-table entry, 0 without a flow table.
size_t flow_entry_bytes();

// Gives `wc` a zeroed flow table of `capacity` entries (a power of two) on
// `socket`, releasing into `counters`. Returns false when it cannot allocate;
// does nothing (true) when this build has no flow table.
class LaneFlows {
public:
    bool attach(dp::WorkerConfig& wc, size_t capacity, int socket, dp::LcoreCounters& counters);
    ~LaneFlows();
    size_t evictions() const;
    size_t size() const;

private:
    void* memory_ = nullptr;  // rte_zmalloc'd (EAL hugepages)
    void* heap_ = nullptr;    // else a dp::FlowMemory
    void* table_ = nullptr;
};

}  // namespace tern::bench
