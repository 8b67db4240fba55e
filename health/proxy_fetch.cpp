// ProxyFetch: GETs a URL from the server itself, as PyBal does: the
// connection goes to the server's address and the service's port, the URL's
// host is only the Host header (and the TLS SNI), redirects are not
// followed, and the status code decides. One check every `interval` seconds
// after the previous ended; one URL per check in turn, or all of them with
// check_all (up while failures <= max_failures).
#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <exception>

#include "health/http_client.h"
#include "health/monitor.h"
#include "health/monitor_kind.h"

namespace tern::health {

namespace {

// The status line decides; the body only has to arrive, and no more than
// this much of it is waited for.
constexpr size_t kBodyRead = 64 * 1024;

class ProxyFetch final : public Monitor {
public:
    ProxyFetch(boost::asio::io_context& io, const MonitorSpec& spec, Target target, Report report)
        : Monitor(io, spec, std::move(target), std::move(report)), to_(target_.ip, target_.port), timer_(io) {
        bool tls = false;
        for (const auto& text : url_texts_) {
            Url u{text, {}, {}};
            u.url = parse_http_url(text, &u.error);
            tls = tls || (u.url && u.url->tls);
            urls_.push_back(std::move(u));
        }
        if (tls) {
            try {
                tls_ = tls_client_context(verify_tls_, ca_file_, &tls_error_);
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
        if (check_all_) {
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
        std::string refused = !u.url ? u.error : u.url->tls && !tls_ ? tls_error_ : std::string();
        if (refused.empty()) {
            HttpOptions opt;
            opt.timeout = spec_.timeout;
            opt.read_body = kBodyRead;
            opt.tls = tls_;
            opt.verify_host = verify_tls_;
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
        const auto& ok_codes = http_status_;
        const bool ok = r.ok && std::find(ok_codes.begin(), ok_codes.end(), r.status) != ok_codes.end();
        const std::string what = r.ok ? fmt::format("{} {}", r.status, r.reason) : r.error;
        note_duration({{"result", ok ? "successful" : "failed"}, {"url", url}}, r.duration_s);
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
        const bool up = failures_ <= (check_all_ ? max_failures_ : 0);
        std::string reason;
        if (check_all_ && urls_.size() > 1) {
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

    // The options (the table below).
    const std::vector<std::string> url_texts_ = spec_.get<std::vector<std::string>>("url");
    const std::vector<uint64_t> http_status_ = spec_.get<std::vector<uint64_t>>("http_status");
    const bool check_all_ = spec_.get<bool>("check_all");
    const uint64_t max_failures_ = spec_.get<uint64_t>("max_failures");
    const std::string ca_file_ = spec_.get<std::string>("ca-file");
    // A configured CA is there to be used: it turns verification on.
    const bool verify_tls_ = spec_.get<bool>("verify-tls") || !ca_file_.empty();
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

namespace {

std::vector<std::string> check_urls(const OptionValue& v) {
    std::vector<std::string> out;
    for (const auto& u : std::get<std::vector<std::string>>(v)) {
        const bool http = u.rfind("http://", 0) == 0, https = u.rfind("https://", 0) == 0;
        const size_t host_at = http ? 7 : 8;
        if ((!http && !https) || u.size() <= host_at || u[host_at] == '/') {
            out.push_back(fmt::format("'{}' is not an http:// or https:// URL with a host", u));
        }
    }
    return out;
}

// Tern's timeout covers a whole check, which must end within the interval.
std::vector<std::string> check_spec(const MonitorSpec& spec) {
    if (spec.timeout <= spec.interval) return {};
    return {fmt::format("timeout {} s is longer than interval {} s", spec.timeout, spec.interval)};
}

std::unique_ptr<Monitor> make(boost::asio::io_context& io, const MonitorSpec& spec, Target target, Report report) {
    return std::make_unique<ProxyFetch>(io, spec, std::move(target), std::move(report));
}

}  // namespace

const MonitorKind& proxy_fetch_kind() {
    using T = OptionType;
    static const MonitorKind kKind{
        "ProxyFetch",
        {
            {"url", T::str_list, 0, 0, std::vector<std::string>{}, true, check_urls},  // http(s)://; host = Host header
            {"interval", T::real, 0.01, 86400, 10.0},
            {"timeout", T::real, 0.01, 3600, 5.0},
            {"http_status", T::uint_list, 100, 599, std::vector<uint64_t>{200}},
            {"check_all", T::boolean, 0, 0, false},           // every URL each time (else one, in turn)
            {"max_failures", T::uint, 0, 1000, uint64_t{0}},  // with check_all: failures tolerated
            {"verify-tls", T::boolean, 0, 0, false},          // verify the server's certificate and name
            {"ca-file", T::str, 0, 0, std::string()},         // CA bundle; given: verified; empty: the system's
        },
        check_spec,
        make,
    };
    return kKind;
}

}  // namespace tern::health
