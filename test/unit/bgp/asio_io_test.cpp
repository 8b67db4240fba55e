// The Boost.Asio transport over real loopback sockets: GTSM on the listening side.
#include "bgp/asio_io.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>

using namespace tern::bgp;

namespace {

// Connects to 127.0.0.1:port sending with `ttl`; returns the socket (or -1).
int connect_with_ttl(uint16_t port, int ttl) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

}  // namespace

TEST_CASE("bgp asio transport: a GTSM peer's connection is accepted only when its SYN had TTL >= 254", "[bgp]") {
    boost::asio::io_context io;
    AsioTransport transport(io);
    SocketOptions gtsm;
    gtsm.ttl_security = true;
    int accepted = 0;
    // A port of our own in a range the kernel does not hand out as ephemeral.
    uint16_t port = 0;
    std::string err = "not tried";
    for (uint16_t p = static_cast<uint16_t>(20000 + getpid() % 5000); p < 30000 && !err.empty(); p += 97) {
        err = transport.listen(*Address::parse("127.0.0.1"), p, {{*Address::parse("127.0.0.1"), gtsm}},
                               [&](std::unique_ptr<Connection>) { ++accepted; });
        port = p;
    }
    REQUIRE(err.empty());

    const int low = connect_with_ttl(port, 64);  // the kernel completes the handshake either way
    REQUIRE(low >= 0);
    io.run_for(std::chrono::milliseconds(200));
    CHECK(accepted == 0);
    char c = 0;
    CHECK(read(low, &c, 1) == 0);  // closed by us
    close(low);

    const int high = connect_with_ttl(port, 255);
    REQUIRE(high >= 0);
    io.run_for(std::chrono::milliseconds(200));
    CHECK(accepted == 1);
    close(high);
}
