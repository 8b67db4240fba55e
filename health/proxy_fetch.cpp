// ProxyFetch: GETs a URL from the server itself, as PyBal does: the
// connection goes to the server's address and the service's port, the URL's
// host is only the Host header (and the TLS SNI), redirects are not
// followed, and the status code decides. One check every `interval` seconds
// after the previous ended; one URL per check in turn, or all of them with
// check_all (up while failures <= max_failures).
#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <chrono>
#include <exception>

#include "health/http_client.h"
#include "health/monitor.h"

namespace tern::health {

namespace {

// The status line decides; the body only has to arrive, and no more than
// this much of it is waited for.
constexpr size_t kBodyRead = 64 * 1024;

class ProxyFetch final : public Monitor {
public:
    ProxyFetch(boost::asio::io_context& io, const conf::Monitor& spec, Target target, Report report)
        : Monitor(io, spec, std::move(target), std::move(report)),
          to_(to_asio(target_.ip), target_.port),
          timer_(io) {
        bool tls = false;
        for (const auto& text : spec_.url) {
            Url u{text, {}, {}};
            u.url = parse_http_url(text, &u.error);
            tls = tls || (u.url && u.url->tls);
            urls_.push_back(std::move(u));
        }
        if (tls) {
            try {
                tls_ = tls_client_context(spec_.verify_tls, spec_.ca_file, &tls_error_);
            } catch (const std::exception& e) {
                tls_error_ = fmt::format("cannot make a TLS context: {}", e.what());
            }
        }
    }

    ~ProxyFetch() override { cancel_fetches(); }

    void start() override {
        if (urls_.empty()) return;  // the config requires a URL
        after(timer_, spec_.interval, [this] { check(); });
    }

protected:
    void on_stop() override {
        timer_.cancel();
        cancel_fetches();
    }

private:
    struct Url {
        std::string text;
        std::optional<HttpUrl> url;
        std::string error;  // why `url` is empty
    };

    void check() {
        outcomes_.clear();
        failures_ = 0;
        check_start_ = std::chrono::steady_clock::now();
        if (spec_.check_all) {
            pending_ = urls_.size();
            for (size_t i = 0; i < urls_.size(); ++i) fetch(i);
        } else {
            pending_ = 1;
            fetch(next_);
            next_ = (next_ + 1) % urls_.size();
        }
    }

    void fetch(size_t i) {
        const Url& u = urls_[i];
        std::string refused = !u.url                ? u.error
                              : u.url->tls && !tls_ ? tls_error_
                                                    : std::string();
        if (refused.empty()) {
            HttpOptions opt;
            opt.timeout = spec_.timeout;
            opt.read_body = kBodyRead;
            opt.tls = tls_;
            opt.verify_host = spec_.verify_tls;
            try {
                inflight_.push_back(
                    http_get(io_, to_, *u.url, opt, guard([this, i](const HttpResponse& r) { fetched(i, r); })));
                return;
            } catch (const std::exception& e) {  // no socket or SSL object to be had
                refused = fmt::format("cannot start the request: {}", e.what());
            }
        }
        // Through the io_context like any outcome, so that check() never
        // reports from inside its own loop.
        HttpResponse r;
        r.error = std::move(refused);
        boost::asio::post(io_, guard([this, i, r] { fetched(i, r); }));
    }

    void fetched(size_t i, const HttpResponse& r) {
        const std::string& url = urls_[i].text;
        const auto& ok_codes = spec_.http_status;
        const bool ok = r.ok && std::find(ok_codes.begin(), ok_codes.end(), r.status) != ok_codes.end();
        const std::string what = r.ok ? fmt::format("{} {}", r.status, r.reason) : r.error;
        if (!ok) {
            ++failures_;
            log(fmt::format("fetch {} failed after {:.3f} s: {}", url, r.duration_s, what));
        }
        // Name the URL only when there is a choice of them.
        outcomes_.push_back(urls_.size() > 1 ? fmt::format("{}: {}", url, what) : what);
        if (--pending_ > 0) return;
        finish_check();
    }

    void finish_check() {
        for (auto& f : inflight_) f->cancel();
        inflight_.clear();
        const double duration = std::chrono::duration<double>(std::chrono::steady_clock::now() - check_start_).count();
        const bool up = failures_ <= (spec_.check_all ? spec_.max_failures : 0);
        std::string reason;
        if (spec_.check_all && urls_.size() > 1) {
            reason = fmt::format("{} of {} URLs failed", failures_, urls_.size());
        }
        for (const auto& o : outcomes_) reason += (reason.empty() ? "" : "; ") + o;
        outcomes_.clear();
        after(timer_, spec_.interval, [this] { check(); });
        // Last: the report may stop or destroy this monitor.
        result(up, reason, duration);
    }

    void cancel_fetches() {
        for (auto& f : inflight_) f->cancel();
        inflight_.clear();
    }

    std::vector<Url> urls_;
    boost::asio::ip::tcp::endpoint to_;
    std::shared_ptr<boost::asio::ssl::context> tls_;
    std::string tls_error_;
    boost::asio::steady_timer timer_;
    size_t next_ = 0;  // the URL of the next check, without check_all
    // The check in progress.
    std::vector<std::shared_ptr<HttpGet>> inflight_;
    std::vector<std::string> outcomes_;
    size_t pending_ = 0;
    uint32_t failures_ = 0;
    std::chrono::steady_clock::time_point check_start_;
};

}  // namespace

std::unique_ptr<Monitor> make_proxy_fetch(boost::asio::io_context& io, const conf::Monitor& spec, Target target,
                                          Report report) {
    return std::make_unique<ProxyFetch>(io, spec, std::move(target), std::move(report));
}

}  // namespace tern::health
