// DNSQuery: asks the server (its IP, port 53, UDP) for one of `hostnames`
// every `interval` and calls it up when it answers (PyBal's dnsquery.py).
// Any answer counts, with or without records; NXDOMAIN too unless
// `fail-on-nxdomain`. PyBal picks a name and A or AAAA at random; we go
// round the names, each as A then AAAA, so every pair is asked in turn.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/ip/udp.hpp>
#include <random>

#include "health/dns_wire.h"
#include "health/monitor.h"
#include "health/monitor_kind.h"

namespace tern::health {

namespace {

namespace asio = boost::asio;
using asio::ip::udp;

constexpr uint16_t kDnsPort = 53;

// The addresses among `answers` of `type`, for the log: "192.0.2.1 192.0.2.2".
std::string addresses(const std::vector<dns::Record>& answers, uint16_t type) {
    std::string out;
    for (const auto& r : answers) {
        if (r.type != type || r.cls != dns::kClassIN) continue;
        char text[INET6_ADDRSTRLEN] = {};
        if (type == dns::kTypeA && r.data.size() == 4) {
            inet_ntop(AF_INET, r.data.data(), text, sizeof text);
        } else if (type == dns::kTypeAAAA && r.data.size() == 16) {
            inet_ntop(AF_INET6, r.data.data(), text, sizeof text);
        } else {
            continue;
        }
        if (!out.empty()) out += ' ';
        out += text;
    }
    return out;
}

class DnsQuery final : public Monitor {
public:
    DnsQuery(asio::io_context& io, const MonitorSpec& spec, Target target, Report report)
        : Monitor(io, spec, std::move(target), std::move(report)),
          timer_(io),
          deadline_(io),
          socket_(io),
          rng_(std::random_device{}()) {}

    void start() override { schedule(); }

private:
    void on_stop() override {
        timer_.cancel();
        deadline_.cancel();
        boost::system::error_code ignored;
        socket_.close(ignored);
    }

    void schedule() {
        after(timer_, spec_.interval, [this] { check(); });
    }

    void check() {
        ++query_;
        started_ = std::chrono::steady_clock::now();
        if (hostnames_.empty()) {
            finish(false, "no hostnames to query");
            return;
        }
        name_ = hostnames_[(turn_ / 2) % hostnames_.size()];
        type_ = turn_ % 2 == 0 ? dns::kTypeA : dns::kTypeAAAA;
        ++turn_;
        id_ = static_cast<uint16_t>(rng_());
        std::string error;
        auto query = dns::encode_query(id_, name_, type_, error);
        if (!query) {
            finish(false, "cannot query: " + error);
            return;
        }
        query_bytes_ = std::move(*query);
        // A new socket, so a new source port, per query: late replies to an
        // earlier query never reach this one. Connected, so the kernel drops
        // datagrams from anyone but the server and reports ICMP unreachable.
        const udp::endpoint server(target_.ip, kDnsPort);
        boost::system::error_code ec;
        socket_.open(server.protocol(), ec);
        if (!ec) socket_.connect(server, ec);
        if (ec) {
            finish(false,
                   fmt::format("cannot query {}: {}{}", server.address().to_string(), ec.message(), query_text()));
            return;
        }
        after(deadline_, spec_.timeout, [this, q = query_] {
            if (q == query_) finish(false, "DNS query timeout" + query_text());
        });
        socket_.async_send(asio::buffer(query_bytes_),
                           guard([this, q = query_](const boost::system::error_code& ec, size_t) {
                               if (q != query_) return;
                               if (ec) {
                                   failed(ec);
                                   return;
                               }
                               receive();
                           }));
    }

    void receive() {
        socket_.async_receive(asio::buffer(reply_),
                              guard([this, q = query_](const boost::system::error_code& ec, size_t n) {
                                  if (q != query_) return;
                                  if (ec) {
                                      failed(ec);
                                      return;
                                  }
                                  std::string error;
                                  auto reply = dns::decode_reply(std::span<const uint8_t>(reply_.data(), n), error);
                                  // Someone else's datagram, or garbage: keep waiting for ours.
                                  if (!reply || reply->id != id_ || reply->opcode != 0 || reply->qtype != type_ ||
                                      reply->qclass != dns::kClassIN || !dns::same_name(reply->qname, name_)) {
                                      receive();
                                      return;
                                  }
                                  answered(*reply);
                              }));
    }

    void answered(const dns::Reply& reply) {
        const std::string asked = fmt::format("{} {}", name_, dns::type_name(type_));
        switch (reply.rcode) {
            case dns::kNoError: {
                // A truncated reply (TC) would be retried over TCP by a resolver;
                // for a health check it already shows the server answering.
                const std::string found = addresses(reply.answers, type_);
                finish(true, fmt::format("{} {}{}", asked, found.empty() ? "(no records)" : found,
                                         reply.truncated ? " (truncated)" : ""));
                return;
            }
            case dns::kNxDomain: finish(!fail_on_nxdomain_, fmt::format("{} NXDOMAIN", name_)); return;
            case dns::kServFail: finish(false, "DNS server error" + query_text()); return;
            case dns::kRefused: finish(false, "DNS query refused" + query_text()); return;
            default: finish(false, fmt::format("DNS error {}{}", dns::rcode_name(reply.rcode), query_text()));
        }
    }

    void failed(const boost::system::error_code& ec) {
        if (ec == asio::error::connection_refused) {
            finish(false, "DNS server unreachable (ICMP port unreachable)" + query_text());
        } else {
            finish(false, fmt::format("DNS query failed: {}{}", ec.message(), query_text()));
        }
    }

    std::string query_text() const { return fmt::format(", query: {} {}", name_, dns::type_name(type_)); }

    void finish(bool ok, const std::string& reason) {
        ++query_;  // whatever of this query is still on its way is ignored
        deadline_.cancel();
        boost::system::error_code ignored;
        socket_.close(ignored);
        const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
        if (!ok) log(fmt::format("DNS query failed, {:.3f} s: {}", took, reason));
        result(ok, reason, took);
        if (active()) schedule();
    }

    asio::steady_timer timer_;     // the next query
    asio::steady_timer deadline_;  // the query in flight's timeout
    udp::socket socket_;
    std::mt19937 rng_;
    uint64_t query_ = 0;  // tells this query's completions from an earlier one's
    uint64_t turn_ = 0;   // which name and type to ask next
    std::string name_;
    // The options (the table below).
    const std::vector<std::string> hostnames_ = spec_.get<std::vector<std::string>>("hostnames");
    const bool fail_on_nxdomain_ = spec_.get<bool>("fail-on-nxdomain");
    uint16_t type_ = 0;
    uint16_t id_ = 0;
    std::vector<uint8_t> query_bytes_;
    std::array<uint8_t, 4096> reply_{};
    std::chrono::steady_clock::time_point started_;
};

}  // namespace

namespace {

std::unique_ptr<Monitor> make(boost::asio::io_context& io, const MonitorSpec& spec, Target target, Report report) {
    return std::make_unique<DnsQuery>(io, spec, std::move(target), std::move(report));
}

}  // namespace

const MonitorKind& dns_query_kind() {
    using T = OptionType;
    static const MonitorKind kKind{
        "DNSQuery",
        {
            {"hostnames", T::str_list, 0, 0, std::vector<std::string>{}, true},
            {"fail-on-nxdomain", T::boolean, 0, 0, false},
            {"interval", T::real, 0.01, 86400, 10.0},
            {"timeout", T::real, 0.01, 3600, 5.0},
        },
        nullptr,
        make,
    };
    return kKind;
}

}  // namespace tern::health
