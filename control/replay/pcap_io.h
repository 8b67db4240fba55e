// pcap file helpers for `tern replay`: spreading a capture over RX queues
// the way a NIC's RSS would, and merging per-queue TX captures into one
// file in a deterministic order. Control thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tern::ctl {

// Counts the packets of `in`; with more than one queue, writes queue q's
// share to outs[q], chosen by Toeplitz hashing (dp::kRssKey) over the
// addresses and ports, as a NIC's default redirection table would.
// Returns the number of packets per queue, or an error.
struct SplitResult {
    std::vector<uint64_t> per_queue;
    std::string error;
};
SplitResult split_capture(const std::string& in, const std::vector<std::string>& outs);

// Merges per-queue captures into `out`. Record j of ins[q] gets timestamp
// stamps[q][j] (microseconds; the input packet's time); records are ordered
// by (timestamp, queue, j). Returns an error message or nullopt.
std::optional<std::string> merge_captures(const std::vector<std::string>& ins,
                                          const std::vector<std::vector<uint64_t>>& stamps, const std::string& out);

}  // namespace tern::ctl
