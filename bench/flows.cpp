#include "bench/flows.h"

#include <new>

#include "dataplane/rte.h"

namespace tern::bench {

#if TERN_BENCH_HAS_FLOW_TABLE
// Memory per flow: its entry and its share of the bucket line.
size_t flow_entry_bytes() { return dp::FlowTable::bytes_for(1024) / 1024; }

bool LaneFlows::attach(dp::WorkerConfig& wc, size_t capacity, int socket, dp::LcoreCounters& counters) {
    // As tern run (control/daemon/lcores.cpp): EAL hugepages when it has
    // them, else transparent huge pages (dp::FlowMemory).
    void* mem = nullptr;
    if (rte_eal_has_hugepages()) {
        memory_ = rte_zmalloc_socket("bench_flows", dp::FlowTable::bytes_for(capacity), 64, socket);
        mem = memory_;
    } else {
        try {
            heap_ = new dp::FlowMemory(capacity);
            mem = static_cast<dp::FlowMemory*>(heap_)->data();
        } catch (const std::bad_alloc&) {
        }
    }
    if (mem == nullptr) return false;
    auto* t = new dp::FlowTable(mem, capacity, dp::FlowTimeouts{}, dp::release_flow_counts, &counters);
    table_ = t;
    wc.flows = t;
    return true;
}

LaneFlows::~LaneFlows() {
    delete static_cast<dp::FlowTable*>(table_);
    rte_free(memory_);
    delete static_cast<dp::FlowMemory*>(heap_);
}

size_t LaneFlows::evictions() const { return table_ ? static_cast<dp::FlowTable*>(table_)->evictions() : 0; }
size_t LaneFlows::size() const { return table_ ? static_cast<dp::FlowTable*>(table_)->size() : 0; }
#else
size_t flow_entry_bytes() { return 0; }
bool LaneFlows::attach(dp::WorkerConfig&, size_t, int, dp::LcoreCounters&) { return true; }
LaneFlows::~LaneFlows() = default;
size_t LaneFlows::evictions() const { return 0; }
size_t LaneFlows::size() const { return 0; }
#endif

}  // namespace tern::bench
