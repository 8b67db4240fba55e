// A small HTTP/1.1 server on the control thread's io_context (Boost.Beast):
// GET only, bounded requests, keep-alive, idle connections closed after 30 s.
// What it answers is up to the handler; control's API (PyBal's /pools,
// /alerts, and /metrics) is in api.h.
#pragma once

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <string>

#include "conf/config.h"

namespace tern::ctl {

struct HttpResponse {
    int status = 200;
    std::string content_type = "text/plain";
    std::string body;
};

struct HttpRequest {
    std::string target;  // path and query, as sent
    std::string accept;  // the Accept header ("" when absent)
};

class HttpServer {
public:
    using Handler = std::function<HttpResponse(const HttpRequest&)>;
    HttpServer(boost::asio::io_context& io, Handler handler);
    ~HttpServer();
    // Starts accepting; returns an error naming the address on failure.
    std::string listen(const conf::IpAddr& address, uint16_t port);
    // The port actually bound (when 0 was asked for).
    uint16_t port() const;
    void stop();

    struct State;

private:
    std::shared_ptr<State> state_;
};

}  // namespace tern::ctl
