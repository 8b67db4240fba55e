// IdleConnection: a TCP connection held open to the server. A clean close
// (the server's idle timeout, a restart) gets one fast reconnect, which must
// succeed within timeout-clean-reconnect; a reset, a keepalive timeout or a
// failed connect is down at once. Reconnects back off like Twisted's
// ReconnectingClientFactory (PyBal's): x e per failure, a little jitter,
// capped at max-delay, back to 1 s once connected.
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <cmath>
#include <random>

#include "health/monitor.h"

namespace tern::health {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr double kInitialDelay = 1.0;
constexpr double kFactor = 2.7182818284590451;  // Twisted's
constexpr double kJitter = 0.11962656472;        // Twisted's
// A connect with no answer (SYNs dropped) fails after this: Twisted's
// default connect timeout, which PyBal uses.
constexpr double kConnectTimeout = 30;

class IdleConnection final : public Monitor {
public:
    IdleConnection(asio::io_context& io, const conf::Monitor& spec, Target target, Report report)
        : Monitor(io, spec, std::move(target), std::move(report)), socket_(io), timer_(io), deadline_(io),
          rng_(std::random_device{}()) {
        boost::system::error_code ec;
        endpoint_ = tcp::endpoint(asio::ip::make_address(target_.ip.str(), ec), target_.port);
    }

    void start() override { connect(false); }

private:
    void on_stop() override {
        boost::system::error_code ec;
        timer_.cancel();
        deadline_.cancel();
        socket_.close(ec);
    }

    std::string where() const { return fmt::format("{}:{}", target_.ip.str(), target_.port); }

    // `fast`: the one reconnect after a clean close.
    void connect(bool fast) {
        boost::system::error_code ec;
        socket_.close(ec);
        socket_ = tcp::socket(io_);
        const double limit = fast ? spec_.timeout_clean_reconnect : kConnectTimeout;
        after(deadline_, limit, [this] {
            boost::system::error_code ignored;
            socket_.close(ignored);  // the connect completes with operation_aborted
            timed_out_ = true;
        });
        timed_out_ = false;
        socket_.async_connect(endpoint_, guard([this, fast, limit](const boost::system::error_code& err) {
            deadline_.cancel();
            if (err) {
                const std::string why = timed_out_ ? fmt::format("no answer within {} s", limit) : err.message();
                failed(fast ? fmt::format("clean close, reconnect to {} failed: {}", where(), why)
                            : fmt::format("connect to {}: {}", where(), why));
                return;
            }
            connected();
        }));
    }

    void connected() {
        if (spec_.keepalive) {
            const int fd = socket_.native_handle();
            const int on = 1;
            const int idle = static_cast<int>(spec_.keepalive_idle), cnt = static_cast<int>(spec_.keepalive_retries),
                      intvl = static_cast<int>(spec_.keepalive_interval);
            setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
        }
        delay_ = kInitialDelay;
        log(fmt::format("connection to {} established", where()));
        result(true, fmt::format("connection to {} established", where()));
        read();
    }

    void read() {
        // Whatever the server says is read and dropped: the connection is the check.
        socket_.async_read_some(asio::buffer(buf_), guard([this](const boost::system::error_code& err, size_t) {
            if (!err) {
                read();
                return;
            }
            if (err == asio::error::eof) {
                // Closed cleanly (idle timeout?): one fast reconnect decides.
                log(fmt::format("connection to {} closed cleanly; reconnecting", where()));
                connect(true);
                return;
            }
            failed(fmt::format("connection to {} lost: {}", where(), err.message()));
        }));
    }

    void failed(const std::string& why) {
        boost::system::error_code ec;
        socket_.close(ec);
        log(why);
        result(false, why);
        // Back off: x e, jittered, at most max-delay.
        delay_ = std::min(delay_ * kFactor, spec_.max_delay);
        std::normal_distribution<double> jitter(delay_, delay_ * kJitter);
        const double wait = std::clamp(jitter(rng_), 0.01, spec_.max_delay);
        after(timer_, wait, [this] { connect(false); });
    }

    tcp::socket socket_;
    asio::steady_timer timer_;     // the next reconnect
    asio::steady_timer deadline_;  // of the connect in flight
    tcp::endpoint endpoint_;
    std::array<char, 512> buf_{};
    double delay_ = kInitialDelay;
    bool timed_out_ = false;
    std::mt19937 rng_;
};

}  // namespace

std::unique_ptr<Monitor> make_idle_connection(boost::asio::io_context& io, const conf::Monitor& spec, Target target,
                                              Report report) {
    return std::make_unique<IdleConnection>(io, spec, std::move(target), std::move(report));
}

}  // namespace tern::health
