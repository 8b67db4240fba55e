// IdleConnection: keeps one TCP connection open to the server and calls the
// server down when a connect fails or the connection is lost uncleanly, as
// PyBal's idleconnection.py does. A clean close by the server (an idle
// timeout, a graceful restart) gets one fast reconnect before anything is
// reported. Between failures it reconnects with Twisted's
// ReconnectingClientFactory back-off, which is what PyBal runs on.
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <cerrno>
#include <cstring>
#include <random>

#include "health/monitor.h"
#include "health/monitor_kind.h"

namespace tern::health {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// ReconnectingClientFactory's constants: the first retry comes after about
// e seconds, each next one e times later, give or take 12 %.
constexpr double kInitialDelay = 1.0;
constexpr double kFactor = 2.7182818284590451;
constexpr double kJitter = 0.11962656472;
// An ordinary connect attempt may take the current back-off delay, but at
// least 5 s (a lost SYN is resent after 1 s, then 3 s) and at most 30 s
// (Twisted's connectTCP default, PyBal's only limit). A server that drops
// SYNs is thus down 5 s after start, not 30 s.
constexpr double kMinConnectTimeout = 5;
constexpr double kMaxConnectTimeout = 30;

class IdleConnection final : public Monitor {
public:
    IdleConnection(asio::io_context& io, const MonitorSpec& spec, Target target, Report report)
        : Monitor(io, spec, std::move(target), std::move(report)),
          socket_(io),
          connect_timer_(io),
          retry_timer_(io),
          rng_(std::random_device{}()) {}

    // PyBal connects at once, without waiting an interval.
    void start() override { connect(false); }

protected:
    void on_stop() override {
        close();
        retry_timer_.cancel();
    }

private:
    std::string peer() const {
        return target_.ip.is_v4() ? fmt::format("{}:{}", target_.ip.to_string(), target_.port)
                                  : fmt::format("[{}]:{}", target_.ip.to_string(), target_.port);
    }

    // Closes the socket and makes every handler still queued for it a no-op.
    void close() {
        ++attempt_;
        connecting_ = false;
        error_code ignored;
        socket_.close(ignored);
        connect_timer_.cancel();
    }

    // `clean`: the fast reconnect after a clean close, within
    // timeout-clean-reconnect; its failure is the first the verdict hears of.
    void connect(bool clean) {
        close();
        const uint64_t attempt = attempt_;
        const tcp::endpoint ep(target_.ip, target_.port);
        error_code ec;
        socket_.open(ep.protocol(), ec);
        if (ec) {
            failed(clean, fmt::format("cannot open a socket: {}", ec.message()));
            return;
        }
        connecting_ = true;
        socket_.async_connect(ep, guard([this, attempt, clean](const error_code& ec) {
                                  if (attempt != attempt_ || !connecting_) return;
                                  connecting_ = false;
                                  connect_timer_.cancel();
                                  if (ec) {
                                      failed(clean, ec.message());
                                  } else {
                                      connected();
                                  }
                              }));
        const double timeout =
            clean ? timeout_clean_reconnect_ : std::clamp(delay_, kMinConnectTimeout, kMaxConnectTimeout);
        after(connect_timer_, timeout, [this, attempt, clean, timeout] {
            // The connect may have completed with this expiry already queued.
            if (attempt != attempt_ || !connecting_) return;
            failed(clean, fmt::format("no answer within {:g} s", timeout));
        });
    }

    void connected() {
        if (keepalive_) set_keepalive();
        delay_ = kInitialDelay;
        log(fmt::format("connection to {} established", peer()));
        result(true, fmt::format("connected to {}", peer()));
        read();
    }

    // Lets the kernel notice a server that vanished without a word.
    void set_keepalive() {
        const int fd = socket_.native_handle();
        auto set = [fd](int level, int name, int value) {
            return ::setsockopt(fd, level, name, &value, sizeof value) == 0;
        };
        if (!set(SOL_SOCKET, SO_KEEPALIVE, 1) || !set(IPPROTO_TCP, TCP_KEEPIDLE, static_cast<int>(keepalive_idle_)) ||
            !set(IPPROTO_TCP, TCP_KEEPCNT, static_cast<int>(keepalive_retries_)) ||
            !set(IPPROTO_TCP, TCP_KEEPINTVL, static_cast<int>(keepalive_interval_))) {
            log(fmt::format("cannot set TCP keepalive on the connection to {}: {}", peer(), std::strerror(errno)));
        }
    }

    // Waits for the connection's end; whatever the server sends is dropped.
    void read() {
        const uint64_t attempt = attempt_;
        socket_.async_read_some(
            asio::buffer(buf_), guard([this, attempt](const error_code& ec, size_t) {
                if (attempt != attempt_) return;
                if (!ec) {
                    read();
                } else if (ec == asio::error::eof) {
                    log(fmt::format("connection to {} closed cleanly by the server; reconnecting at once", peer()));
                    connect(true);
                } else {
                    close();
                    log(fmt::format("connection to {} lost: {}", peer(), ec.message()));
                    result(false, ec.message());
                    retry();
                }
            }));
    }

    void failed(bool clean, const std::string& error) {
        close();
        const std::string reason = clean ? "clean close, reconnect failed: " + error : error;
        log(fmt::format("connection to {} failed: {}", peer(), reason));
        result(false, reason);
        retry();
    }

    void retry() {
        delay_ = std::min(delay_ * kFactor, max_delay_);
        std::normal_distribution<double> jittered(delay_, delay_ * kJitter);
        const double wait = std::max(0.0, jittered(rng_));
        log(fmt::format("reconnecting to {} in {:.1f} s", peer(), wait));
        after(retry_timer_, wait, [this] { connect(false); });
    }

    // The options (the table below).
    const double timeout_clean_reconnect_ = spec_.get<double>("timeout-clean-reconnect");
    const double max_delay_ = spec_.get<double>("max-delay");
    const bool keepalive_ = spec_.get<bool>("keepalive");
    const uint64_t keepalive_retries_ = spec_.get<uint64_t>("keepalive-retries");
    const uint64_t keepalive_idle_ = spec_.get<uint64_t>("keepalive-idle");
    const uint64_t keepalive_interval_ = spec_.get<uint64_t>("keepalive-interval");
    tcp::socket socket_;
    asio::steady_timer connect_timer_;
    asio::steady_timer retry_timer_;
    std::array<char, 4096> buf_{};
    uint64_t attempt_ = 0;     // bumped on close: handlers of an older socket ignore themselves
    bool connecting_ = false;  // a connect is in flight (its timeout still matters)
    double delay_ = kInitialDelay;
    std::mt19937_64 rng_;
};

}  // namespace

namespace {

std::unique_ptr<Monitor> make(boost::asio::io_context& io, const MonitorSpec& spec, Target target, Report report) {
    return std::make_unique<IdleConnection>(io, spec, std::move(target), std::move(report));
}

}  // namespace

const MonitorKind& idle_connection_kind() {
    using T = OptionType;
    static const MonitorKind kKind{
        "IdleConnection",
        {
            {"timeout-clean-reconnect", T::real, 0.01, 3600, 3.0},  // a clean close gets one reconnect within this
            {"max-delay", T::real, 0.1, 86400, 300.0},              // reconnect back-off cap
            {"keepalive", T::boolean, 0, 0, true},
            {"keepalive-retries", T::uint, 1, 127, uint64_t{3}},
            {"keepalive-idle", T::uint, 1, 32767, uint64_t{10}},
            {"keepalive-interval", T::uint, 1, 32767, uint64_t{30}},
        },
        nullptr,
        make,
    };
    return kKind;
}

}  // namespace tern::health
