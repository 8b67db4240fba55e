// Console lines under fuzzing: the bytes an operator's session sends
// (control/ops/console.cpp), through DPDK's rte_cmdline (line editing,
// escape sequences, history, TAB and '?') and the table generated from the
// command descriptors (cmdline_table.h), to the command registry and the
// commands themselves, acting on a daemon without a dataplane (a control
// state of its own). No EAL: the commands see no ports. Checked besides
// "no crash, nothing thrown" (ASan/UBSan):
// - each line's words reach the registry; an answer ends with a newline;
// - a refused line leaves the pools as they were (effective config unchanged);
// - the registry answers the same words the same way on a fresh daemon
//   (commands depend on the words and the state, nothing else).
#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include <cmdline.h>

#include "control/ops/cmdline_table.h"
#include "control/ops/console_commands.h"
#include "control/ops/operable.h"
#include "control/state/control_state.h"
#include "test/fuzz/fuzz_check.h"

namespace {
using namespace tern;

void require(bool ok, const char* what) { tern::fuzz::require(ok, "console_fuzz", what); }

const conf::Config& config() {
    static const conf::Config c = [] {
        auto r = conf::load_string(
            "node: {name: a, ipv4: 10.0.0.1}\nports: [{name: p, device: net_null0}]\n"
            "neighbors: [{ip: 10.0.0.21, mac: '02:00:00:00:00:21'}, {ip: 10.0.0.22, mac: '02:00:00:00:00:22'}]\n"
            "services:\n"
            "  - name: web\n    vip: 192.0.2.1\n    port: 80\n    realservers:\n"
            "      - {host: rs1, ip: 10.0.0.21, weight: 3}\n      - {host: rs2, ip: 10.0.0.22}\n"
            "  - name: dns\n    vip: 192.0.2.2\n    port: 53\n    protocol: udp\n    scheduler: wrr\n"
            "    realservers:\n      - {host: rs1, ip: 10.0.0.21}\n      - {host: ns3, ip: 10.0.0.22, weight: 0}\n",
            "fuzz.yaml");
        require(r.config.has_value(), "the fuzz target's config loads");
        return *r.config;
    }();
    return c;
}

// A daemon without a dataplane: its own control state, canned answers.
class Target final : public ctl::Operable {
public:
    Target() { require(!state_.apply(config(), 0), "the control state takes the config"); }
    ctl::ControlState& state() override { return state_; }
    conf::Config effective_config() override {
        require(!state_.publish(0), "the state publishes");
        return state_.effective();
    }
    ctl::Stats stats() override { return {}; }
    double uptime() const override { return 1; }
    std::optional<ctl::Stats> rate_base(const std::string&, const ctl::Stats&, double& seconds) override {
        seconds = 0;
        return std::nullopt;
    }
    const bgp::Speaker* speaker() const override { return nullptr; }
    std::string flows(size_t max) override { return "flows " + std::to_string(max) + "\n"; }
    std::string connections(size_t max) override { return "connections " + std::to_string(max) + "\n"; }
    std::string reload() override { return "reloaded"; }
    const std::string& config_path() const override { return path_; }
    ctl::Capture* capture() override { return nullptr; }

private:
    boost::asio::io_context io_;
    ctl::ControlState state_{io_, [](conf::LogLevel, const std::string&) {}, nullptr, {.pool_sources = false}};
    std::string path_ = "/nonexistent/tern.yaml";
};

std::string pools_text(Target& t) {
    std::string out;
    for (const auto& s : t.effective_config().services) {
        out += s.name + ":";
        for (const auto& rs : s.realservers) {
            out += " " + rs.host + "/" + std::to_string(rs.weight) + (rs.enabled ? "+" : "-");
        }
        out += "\n";
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Target target;
    const ctl::CommandRegistry& commands = ctl::console_commands();
    std::vector<std::pair<std::vector<std::string>, ctl::CommandResult>> ran;
    ctl::CmdlineTable table{commands,
                            [&](cmdline* cl, const std::vector<std::string>& words) {
                                const std::string before = pools_text(target);
                                ctl::CommandResult r = commands.run(target, words);
                                require(r.out.empty() || r.out.back() == '\n', "an answer ends with a newline");
                                if (!r.ok) require(pools_text(target) == before, "a refused line changes nothing");
                                if (r.quit) cmdline_quit(cl);
                                ran.emplace_back(words, std::move(r));
                            },
                            [&](ctl::Token::Names kind) {
                                std::vector<std::string> names;
                                for (const auto& [name, pool] : target.state().pools().services()) {
                                    if (kind == ctl::Token::Names::service) {
                                        names.push_back(name);
                                    } else {
                                        for (const auto& [h, s] : pool.servers()) names.push_back(h);
                                    }
                                }
                                return names;
                            }};
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const int out = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    require(in >= 0 && out >= 0, "/dev/null opens");
    cmdline* cl = cmdline_new(table.context(), "tern> ", in, out);
    require(cl != nullptr, "cmdline_new");
    cmdline_in(cl, reinterpret_cast<const char*>(data), static_cast<int>(size));
    cmdline_free(cl);  // closes both

    // The same words, line by line, straight to the registry of a fresh daemon.
    Target fresh;
    for (const auto& [words, r] : ran) {
        const ctl::CommandResult again = commands.run(fresh, words);
        require(again.ok == r.ok && again.out == r.out && again.quit == r.quit,
                "the registry answers the same words the same way");
    }
    return 0;
}
