// UDP: PyBal's udp.py. Every interval an empty datagram goes to the server
// over a connected UDP socket; the kernel turns an ICMP port unreachable in
// answer into ECONNREFUSED on that socket. Such an error sets the server down
// at once; a check sets it up again once no error came for icmp-timeout.
// Replies are ignored: many UDP services answer nothing to an empty datagram.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <optional>

#include "health/monitor.h"
#include "health/monitor_kind.h"

namespace tern::health {
namespace {

namespace asio = boost::asio;
using udp = asio::ip::udp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

class Udp final : public Monitor {
public:
    Udp(asio::io_context& io, const MonitorSpec& spec, Target target, Report report)
        : Monitor(io, spec, std::move(target), std::move(report)), socket_(io), timer_(io) {}

    // The first verdict comes at the first check, one interval from now (as
    // PyBal's). A datagram sent now lets that verdict know of an ICMP
    // unreachable already: PyBal's first check says up before its own
    // datagram is answered, so a closed port flaps up, then down.
    void start() override {
        if (open()) send();
        schedule();
    }

protected:
    void on_stop() override {
        error_code ignored;
        socket_.close(ignored);
        timer_.cancel();
    }

private:
    std::string peer() const {
        return target_.ip.is_v4() ? fmt::format("{}:{}", target_.ip.to_string(), target_.port)
                                  : fmt::format("[{}]:{}", target_.ip.to_string(), target_.port);
    }

    // Opens and connects the socket if it is not; false (and why, in
    // open_error_) when that fails. Connecting a UDP socket only sets its peer.
    bool open() {
        if (socket_.is_open()) return true;
        const udp::endpoint ep(target_.ip, target_.port);
        error_code ec;
        socket_.open(ep.protocol(), ec);
        if (!ec) socket_.connect(ep, ec);
        if (ec) {
            error_code ignored;
            socket_.close(ignored);
            open_error_ = fmt::format("cannot open a UDP socket to {}: {}", peer(), ec.message());
            log(open_error_);
            return false;
        }
        receive();
        return true;
    }

    void schedule() {
        after(timer_, spec_.interval, [this] { check(); });
    }

    void check() {
        schedule();
        if (!open()) {
            result(false, open_error_);
            return;
        }
        if (!receiving_) receive();
        send();
        const double since =
            last_unreachable_ ? std::chrono::duration<double>(Clock::now() - *last_unreachable_).count() : 0;
        if (!last_unreachable_ || since > icmp_timeout_) {
            result(true, last_unreachable_ ? fmt::format("no ICMP unreachable for {:.1f} s", since)
                                           : std::string("no ICMP unreachable"));
        } else if (!up().has_value()) {
            // Only the first verdict: afterwards an unreachable reports itself.
            result(false, fmt::format("{} {:.1f} s ago", unreachable_reason_, since));
        }
    }

    void send() {
        socket_.async_send(asio::buffer(buf_.data(), 0), guard([this](const error_code& ec, size_t) {
                               if (ec && ec != asio::error::operation_aborted) unreachable(ec);
                           }));
    }

    // Kept posted: the kernel reports the ICMP error on the next receive.
    void receive() {
        receiving_ = true;
        socket_.async_receive(asio::buffer(buf_), guard([this](const error_code& ec, size_t) {
                                  receiving_ = false;
                                  if (ec == asio::error::operation_aborted) return;
                                  if (!ec) {
                                      receive();  // a reply: nothing to learn from it
                                      return;
                                  }
                                  if (unreachable(ec)) {
                                      receive();
                                  } else {
                                      // Left for the next check to post again, so a lasting error
                                      // cannot spin this thread.
                                      log(fmt::format("receiving from {}: {}", peer(), ec.message()));
                                  }
                              }));
    }

    // Connection refused is the ICMP port unreachable; network and host
    // unreachable come from ICMP or the local stack. Any other send error
    // counts as well (the datagram did not go). True if `ec` counted.
    bool unreachable(const error_code& ec) {
        const bool icmp = ec == asio::error::connection_refused || ec == asio::error::host_unreachable ||
                          ec == asio::error::network_unreachable;
        last_unreachable_ = Clock::now();
        unreachable_reason_ = icmp ? fmt::format("ICMP destination unreachable ({})", ec.message()) : ec.message();
        log(fmt::format("{}: {}", peer(), unreachable_reason_));
        // Before the first check only remembered: the first verdict is the check's.
        if (up().has_value()) result(false, unreachable_reason_);
        return icmp;
    }

    // Up again this long after the last ICMP unreachable (the table below).
    const double icmp_timeout_ = spec_.get<double>("icmp-timeout");
    udp::socket socket_;
    asio::steady_timer timer_;
    std::array<char, 512> buf_{};  // replies are read and dropped; longer ones are cut
    bool receiving_ = false;
    std::optional<Clock::time_point> last_unreachable_;
    std::string unreachable_reason_;
    std::string open_error_;
};

}  // namespace

namespace {

std::unique_ptr<Monitor> make(boost::asio::io_context& io, const MonitorSpec& spec, Target target, Report report) {
    return std::make_unique<Udp>(io, spec, std::move(target), std::move(report));
}

}  // namespace

const MonitorKind& udp_kind() {
    using T = OptionType;
    static const MonitorKind kKind{
        "UDP",
        {
            {"interval", T::real, 0.01, 86400, 10.0},
            {"icmp-timeout", T::real, 0.01, 86400, 20.0},
        },
        nullptr,
        make,
    };
    return kKind;
}

}  // namespace tern::health
