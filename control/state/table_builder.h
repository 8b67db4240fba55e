// Turns the desired state (the config, for now) into an immutable dataplane
// Table. Control thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "conf/config.h"
#include "control/state/next_hops.h"
#include "control/state/ring_cache.h"
#include "dataplane/table.h"
#include "dataplane/table_publisher.h"

namespace tern::ctl {

// Stable counter slots by name, so that per-service and per-server counters
// survive table swaps. A name keeps its slot for the life of the process.
class CounterSlots {
public:
    // Returns false when the slots are exhausted.
    bool service(const std::string& service, uint32_t& slot);
    bool server(const std::string& service, const std::string& host, uint32_t& slot);
    // The slots of a service's servers, in order, into `out`. Returns
    // servers.size(), or the index of the first server that found no slot. A
    // service listing the same hosts as at its previous call is answered from
    // that call's slots (a sequential compare instead of a hash look-up each).
    size_t servers(const std::string& service, const std::vector<conf::RealServer>& servers,
                   std::vector<uint32_t>& out);
    // The (service, host) of a server slot, if it was ever given out.
    std::optional<std::pair<std::string, std::string>> server_of(uint32_t slot) const;

private:
    std::unordered_map<std::string, uint32_t> services_;
    // Per service name, its servers' slots by host: a rebuild looks up every
    // server (100,000 for 1000 x 100), so hashed, and the service's name once
    // per server rather than compared at every level of a tree.
    std::unordered_map<std::string, std::unordered_map<std::string, uint32_t>> servers_;
    // (service, host) of each slot given out; the keys above (stable nodes).
    std::vector<std::pair<const std::string*, const std::string*>> by_slot_;
    struct Listed {
        std::vector<std::string> hosts;
        std::vector<uint32_t> slots;
    };
    std::unordered_map<std::string, Listed> last_listed_;  // by service, for servers()
};

// A server that takes new flows while its next hop's MAC is unknown: its
// share is dropped (no_neighbor) until the MAC is learned.
struct Unresolved {
    std::string service, host;
    conf::IpAddr server, hop;
    friend bool operator==(const Unresolved&, const Unresolved&) = default;
};

struct BuildResult {
    std::unique_ptr<dp::Table> table;  // null on error (the other fields are still filled)
    std::string error;
    std::vector<Unresolved> unresolved;
    std::set<PortHop> kernel_hops;  // next hops with no static MAC, on their port: for the kernel to resolve
};

// `down`: (service, host) pairs that health checks marked down: they take
// no new flows and lose their established ones. `rings`: the rings of the
// previous build, reused where a service's servers, weights and ring size
// did not change (and updated to this build's); without it every ring is
// generated, on as many threads as this thread's CPUs. `kernel`: what the
// kernel knows of next hops (tern run); null: the config alone (next_hops.h).
BuildResult build_table(const conf::Config& config, CounterSlots& slots, uint64_t generation,
                        const std::set<std::pair<std::string, std::string>>& down = {}, RingCache* rings = nullptr,
                        const KernelHops* kernel = nullptr);

// Builds the table for `config` (with the `down` servers) and publishes it:
// the one path every change takes, at start and after each event. Returns
// an error and publishes nothing on failure. Without `kernel`, servers whose
// MAC is unknown are warned about on stderr (once while it holds); with it,
// `result` (when given) gets them, and the next hops to keep resolved.
std::optional<std::string> build_and_publish(const conf::Config& config,
                                             const std::set<std::pair<std::string, std::string>>& down,
                                             CounterSlots& slots, RingCache& rings, uint64_t generation,
                                             dp::TablePublisher& publisher, BuildResult* result = nullptr,
                                             const KernelHops* kernel = nullptr);

// The entries of a service's Maglev ring: its table_size, or with `auto`
// (0) the ladder's size for the servers it lists now (dp::maglev_auto_size).
uint32_t ring_size(const conf::Service& service);

// The most servers one service's table can hold: fewer than its Maglev
// ring's entries (an explicit table_size; `auto` grows with the pool) and
// than the 16-bit server indexes a ring holds (dp::kNoBackend means none).
// Pool sources and the console's `add realserver` check it too.
size_t max_servers(const conf::Service& service);

// "table_size N" or "table_size auto", for messages about that limit.
std::string table_size_text(const conf::Service& service);

// Valid config that this build cannot serve (more servers than a ring or
// the counter slots hold, more services than the counter slots). Each
// error names the key; `tern check` prints them.
std::vector<conf::Error> unsupported(const conf::Config& config);

}  // namespace tern::ctl
