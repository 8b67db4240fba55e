#include "control/state/control_state.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

namespace tern::ctl {

ControlState::ControlState(boost::asio::io_context& io, Pools::Log log, dp::TablePublisher* publisher, Options options)
    : pools_(io, log, options.pool_sources),
      state_(conf::Config{}),
      publisher_(publisher),
      rings_(options.ring_threads),
      log_(std::move(log)) {}

std::optional<std::string> ControlState::apply(const conf::Config& config, uint64_t now_s) {
    if (auto err = pools_.apply(config)) return err;
    // The first config, too: a reload of the empty one has nothing to drain.
    state_.reload(config, now_s);
    return std::nullopt;
}

std::optional<std::string> ControlState::set_enabled(const std::string& service, const std::string& host,
                                                     bool enabled) {
    return pools_.set_enabled(service, host, enabled);
}

std::optional<std::string> ControlState::set_weight(const std::string& service, const std::string& host,
                                                    uint32_t weight) {
    return pools_.set_weight(service, host, weight);
}

std::optional<std::string> ControlState::add_server(const std::string& service, const conf::RealServer& server) {
    return pools_.add_server(service, server);
}

std::optional<std::string> ControlState::del_server(const std::string& service, const std::string& host) {
    return pools_.del_server(service, host);
}

std::optional<std::string> ControlState::set_down(const std::string& service, const std::string& host, bool down) {
    return pools_.set_down(service, host, down);
}

void ControlState::expire(uint64_t now_s) { state_.expire(now_s); }

std::optional<std::string> ControlState::publish(uint64_t now_s) {
    if (pools_seen_ != pools_.version()) {
        pools_seen_ = pools_.version();
        pools_.fill(state_, now_s);
    }
    const std::optional<uint64_t> kernel_now = kernel_ ? std::optional(kernel_->version()) : std::nullopt;
    if (state_seen_ == state_.changes() && kernel_seen_ == kernel_now) return std::nullopt;
    state_seen_ = state_.changes();
    kernel_seen_ = kernel_now;
    if (publisher_ == nullptr) return std::nullopt;
    if (!publisher_->ok()) return std::string("RCU allocation failed");
    // Every table a new generation: flow entries keep their next hop per generation.
    BuildResult built;
    const auto start = std::chrono::steady_clock::now();
    if (auto err = build_and_publish(state_.effective(), state_.down(), slots_, rings_, ++generation_, *publisher_,
                                     &built, kernel_)) {
        return err;
    }
    publish_times_.add(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (kernel_) {
        kernel_->keep_resolved(built.kernel_hops);
        note_unresolved(std::move(built.unresolved));
    }
    return std::nullopt;
}

void PublishTimes::add(double seconds) {
    size_t i = 0;
    while (i < kBounds.size() && seconds > kBounds[i]) ++i;
    ++counts[i];
    sum += seconds;
    ++count;
}

// Logs each pooled server whose MAC became unknown or known again.
void ControlState::note_unresolved(std::vector<Unresolved> now) {
    auto has = [](const std::vector<Unresolved>& list, const Unresolved& u) {
        return std::find(list.begin(), list.end(), u) != list.end();
    };
    for (const auto& u : now) {
        if (has(unresolved_, u)) continue;
        log_(conf::LogLevel::warning,
             fmt::format("service {}: server {} ({}) is pooled but the MAC of its next hop {} is not known yet; its "
                         "packets are dropped (no_neighbor) until the kernel resolves it",
                         u.service, u.host, u.server.str(), u.hop.str()));
    }
    for (const auto& u : unresolved_) {
        if (has(now, u)) continue;
        log_(conf::LogLevel::info,
             fmt::format("service {}: server {} ({}): no longer waiting for the MAC of next hop {}", u.service, u.host,
                         u.server.str(), u.hop.str()));
    }
    unresolved_ = std::move(now);
}

}  // namespace tern::ctl
