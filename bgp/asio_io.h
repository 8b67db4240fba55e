// The real clock and TCP transport over Boost.Asio, with TCP MD5 signatures
// (RFC 2385, Linux TCP_MD5SIG) and GTSM (RFC 5082) per peer. Everything runs on
// the thread that runs the io_context (the control thread).
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>

#include "bgp/io.h"

namespace tern::bgp {

class AsioClock : public Clock {
public:
    explicit AsioClock(boost::asio::io_context& io) : io_(io) {}
    TimePoint now() const override;
    std::unique_ptr<Timer> timer(std::function<void()> fire) override;

private:
    boost::asio::io_context& io_;
};

class AsioTransport : public Transport {
public:
    explicit AsioTransport(boost::asio::io_context& io);
    ~AsioTransport() override;
    std::unique_ptr<ConnectAttempt> connect(const Address& remote, uint16_t port, const SocketOptions& opts,
                                            Connected done) override;
    std::string listen(const Address& local, uint16_t port, const std::vector<std::pair<Address, SocketOptions>>& peers,
                       Accepted accepted) override;
    void unlisten() override;
    // Connections not yet fully closed (closing ones flush what was sent first):
    // run the io_context until this is 0 to be sure a CEASE went out.
    size_t open_connections() const;
    // Unsent bytes a connection may queue before it is cut (default 4 MB);
    // applies to every connection, from their next send().
    void set_max_unsent(size_t bytes);

    struct Shared;

private:
    boost::asio::io_context& io_;
    std::shared_ptr<Shared> shared_;
};

}  // namespace tern::bgp
