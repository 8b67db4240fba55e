// UDP: PyBal's check of a UDP service. An empty datagram to the server each
// interval on a connected socket; an ICMP port unreachable (seen by Linux as
// ECONNREFUSED on the socket) is down; up again once icmp-timeout passes
// without one. The up verdict waits a moment after each send, so that the
// answer to that very datagram is not missed (PyBal judges right away and
// can say up then down on a closed port).
#include <fmt/format.h>

#include <array>
#include <boost/asio/ip/udp.hpp>
#include <chrono>

#include "health/monitor.h"

namespace tern::health {
namespace {

namespace asio = boost::asio;
using udp = asio::ip::udp;

class Udp final : public Monitor {
public:
    Udp(asio::io_context& io, const conf::Monitor& spec, Target target, Report report)
        : Monitor(io, spec, std::move(target), std::move(report)), socket_(io), timer_(io), judge_(io) {}

    void start() override {
        boost::system::error_code ec;
        const udp::endpoint ep(asio::ip::make_address(target_.ip.str(), ec), target_.port);
        if (!ec) socket_.open(ep.protocol(), ec);
        if (!ec) socket_.connect(ep, ec);  // a connected socket hears the ICMP errors
        if (ec) {
            // Checked again each interval.
            open_error_ = fmt::format("cannot open a UDP socket to {}:{}: {}", target_.ip.str(), target_.port, ec.message());
        } else {
            receive();
        }
        after(timer_, spec_.interval, [this] { check(); });
    }

private:
    void on_stop() override {
        boost::system::error_code ec;
        timer_.cancel();
        judge_.cancel();
        socket_.close(ec);
    }

    double now() const {
        return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    }

    void receive() {
        socket_.async_receive(asio::buffer(buf_), guard([this](const boost::system::error_code& err, size_t) {
            if (err == asio::error::operation_aborted) return;
            if (err == asio::error::connection_refused) refused();
            // Replies are ignored; any other error is seen again on the next send.
            receive();
        }));
    }

    void refused() {
        last_refused_ = now();
        const std::string why = fmt::format("ICMP destination unreachable from {}:{}", target_.ip.str(), target_.port);
        log(why);
        result(false, why);
    }

    void check() {
        after(timer_, spec_.interval, [this] { check(); });
        if (!open_error_.empty()) {
            result(false, open_error_);
            return;
        }
        boost::system::error_code ec;
        socket_.send(asio::buffer(buf_.data(), 0), 0, ec);
        if (ec == asio::error::connection_refused) {
            refused();
            return;
        }
        if (ec && ec != asio::error::would_block) {
            result(false, fmt::format("send to {}:{}: {}", target_.ip.str(), target_.port, ec.message()));
            return;
        }
        // Judge once an ICMP answer to this datagram would be back.
        after(judge_, std::min(0.5, spec_.interval / 2), [this] {
            const double quiet = now() - last_refused_;
            if (quiet > spec_.icmp_timeout) {
                result(true, fmt::format("no ICMP unreachable from {}:{} for {:.0f} s", target_.ip.str(), target_.port,
                                         std::min(quiet, 1e9)));
            }
        });
    }

    udp::socket socket_;
    asio::steady_timer timer_;  // the next check
    asio::steady_timer judge_;  // the verdict after a send
    std::array<char, 512> buf_{};
    double last_refused_ = -1e18;
    std::string open_error_;
};

}  // namespace

std::unique_ptr<Monitor> make_udp(boost::asio::io_context& io, const conf::Monitor& spec, Target target, Report report) {
    return std::make_unique<Udp>(io, spec, std::move(target), std::move(report));
}

}  // namespace tern::health
