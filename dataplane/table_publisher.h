// Publishes immutable tables to the lcores with one pointer swap and frees
// the old ones after every registered lcore has reported a quiescent state
// (DPDK's rte_rcu_qsbr). publish/reclaim/synchronize: control thread only.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "dataplane/table.h"

struct rte_rcu_qsbr;

namespace tern::dp {

class TablePublisher {
public:
    // max_threads: highest lcore id + 1 that may register as a reader.
    explicit TablePublisher(uint32_t max_threads);
    ~TablePublisher();
    TablePublisher(const TablePublisher&) = delete;
    TablePublisher& operator=(const TablePublisher&) = delete;

    bool ok() const { return qsbr_ != nullptr; }
    rte_rcu_qsbr* qsbr() const { return qsbr_; }
    // What lcores read, once per loop iteration (acquire).
    const std::atomic<const Table*>& current() const { return current_; }

    // Swaps in `table`; the previous one is retired until the grace period ends.
    void publish(std::unique_ptr<Table> table);
    // Frees retired tables whose grace period has ended; never blocks.
    size_t reclaim();
    // Blocks until every retired table can be freed, then frees them.
    void synchronize();
    size_t retired() const { return retired_.size(); }

private:
    struct Retired {
        uint64_t token;
        std::unique_ptr<Table> table;
    };
    rte_rcu_qsbr* qsbr_ = nullptr;
    std::atomic<const Table*> current_{nullptr};
    std::unique_ptr<Table> owned_;  // the table current_ points to
    std::deque<Retired> retired_;
};

}  // namespace tern::dp
