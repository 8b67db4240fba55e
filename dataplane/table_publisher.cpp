#include "dataplane/table_publisher.h"

#include "dataplane/rte.h"

namespace tern::dp {

TablePublisher::TablePublisher(uint32_t max_threads) {
    const size_t sz = rte_rcu_qsbr_get_memsize(max_threads);
    auto* q = static_cast<rte_rcu_qsbr*>(rte_zmalloc("tern_qsbr", sz, RTE_CACHE_LINE_SIZE));
    if (q != nullptr && rte_rcu_qsbr_init(q, max_threads) == 0) {
        qsbr_ = q;
    } else {
        rte_free(q);
    }
}

TablePublisher::~TablePublisher() {
    current_.store(nullptr, std::memory_order_release);
    retired_.clear();
    owned_.reset();
    rte_free(qsbr_);
}

void TablePublisher::publish(std::unique_ptr<Table> table) {
    // Release: the table's contents are visible before its address.
    current_.store(table.get(), std::memory_order_release);
    if (owned_) {
        // Readers that loaded the old pointer report quiescence only after
        // they stop using it; the token covers every such reader.
        const uint64_t token = rte_rcu_qsbr_start(qsbr_);
        retired_.push_back({token, std::move(owned_)});
    }
    owned_ = std::move(table);
}

size_t TablePublisher::reclaim() {
    size_t n = 0;
    while (!retired_.empty() && rte_rcu_qsbr_check(qsbr_, retired_.front().token, false) == 1) {
        retired_.pop_front();
        ++n;
    }
    return n;
}

void TablePublisher::synchronize() {
    while (!retired_.empty()) {
        rte_rcu_qsbr_check(qsbr_, retired_.front().token, true);
        retired_.pop_front();
    }
}

}  // namespace tern::dp
