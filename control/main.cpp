// tern: the command line. Each subcommand parses its options here and hands
// over to control/.
#include <fmt/format.h>

#include <boost/program_options.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "conf/config.h"
#include "control/config/config_load.h"
#include "control/config/config_warnings.h"
#include "control/config/monitor_spec.h"
#include "control/daemon/appliance.h"
#include "control/help_text.h"
#include "control/ops/console.h"
#include "control/replay/replay.h"
#include "importer/import_pybal.h"
#include "version.h"

namespace po = boost::program_options;
using namespace tern;

namespace {

using help::kUsage;

// Splits "a b -- c d" into ({a, b}, {c, d}).
void split_eal(int argc, char** argv, std::vector<std::string>& mine, std::vector<std::string>& eal) {
    bool after = false;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (!after && a == "--") {
            after = true;
            continue;
        }
        (after ? eal : mine).push_back(a);
    }
}

// A command's --help: its synopsis, what it does, its options, then more
// (EAL arguments, signals, exit status...).
struct Help {
    const char* synopsis;
    const char* about;
    const char* more = "";
};

bool parse(const std::vector<std::string>& args, po::options_description& desc, po::variables_map& vm,
           const char* command, const Help& help) {
    try {
        po::store(po::command_line_parser(args).options(desc).run(), vm);
        if (vm.count("help")) {
            std::cout << "usage: tern " << command << " " << help.synopsis << "\n\n"
                      << help.about << "\n"
                      << desc << help.more;
            std::exit(0);
        }
        po::notify(vm);
    } catch (const po::error& e) {
        fmt::print(stderr, "tern {}: {}\n{}", command, e.what(), kUsage);
        return false;
    }
    return true;
}

int cmd_check(const std::vector<std::string>& args) {
    std::string config;
    po::options_description desc("check options");
    desc.add_options()("help,h", "this help")("config,c", po::value(&config)->required(),
                                              "the YAML config to validate");
    po::variables_map vm;
    if (!parse(args, desc, vm, "check", {"--config FILE", help::kCheckAbout, help::kCheckMore})) return 2;
    conf::LoadResult r = ctl::load_config(config);
    const std::vector<conf::Error>& errors = r.errors;
    fmt::print(stderr, "{}", ctl::error_lines(errors));
    if (!errors.empty()) {
        fmt::print(stderr, "{}: {} error{}\n", config, errors.size(), errors.size() == 1 ? "" : "s");
        return 1;
    }
    for (const auto& w : ctl::config_warnings(*r.config, config)) fmt::print(stderr, "{}\n", w);
    size_t servers = 0;
    for (const auto& s : r.config->services) servers += s.realservers.size();
    fmt::print("{}: OK ({} services, {} real servers)\n", config, r.config->services.size(), servers);
    return 0;
}

int cmd_replay(const std::vector<std::string>& args, const std::vector<std::string>& eal) {
    ctl::ReplayOptions o;
    po::options_description desc("replay options");
    desc.add_options()("help,h", "this help")("config,c", po::value(&o.config)->required(),
                                              "the YAML config (its port is replaced by the pcap PMD)")(
        "in", po::value(&o.in)->required(), "input capture (Ethernet)")("out", po::value(&o.out)->required(),
                                                                        "where transmitted packets go")(
        "punt", po::value(&o.punt), "where packets for the kernel go")("lcores", po::value(&o.lcores)->default_value(1),
                                                                       "worker lcores (one RX/TX queue each)")(
        "stats", po::value(&o.stats), "write the counters as JSON here")(
        "events", po::value(&o.events), "control events at capture times (YAML list, see docs)");
    po::variables_map vm;
    const Help h{"--config FILE --in IN.pcap --out OUT.pcap [options] [-- EAL args]", help::kReplayAbout,
                 help::kReplayMore};
    if (!parse(args, desc, vm, "replay", h)) return 2;
    o.eal_args = eal;
    return ctl::run_replay(o);
}

int cmd_run(const std::vector<std::string>& args, const std::vector<std::string>& eal) {
    ctl::RunOptions o;
    po::options_description desc("run options");
    desc.add_options()("help,h", "this help")("config,c", po::value(&o.config)->required(), "the YAML config")(
        "interactive,i", po::bool_switch(&o.interactive), "a console on this terminal")(
        "keep-privileges", po::bool_switch(&o.keep_privileges),
        "keep every capability after start-up (debugging; see Privileges below)");
    po::variables_map vm;
    if (!parse(args, desc, vm, "run",
               {"--config FILE [--interactive] [--keep-privileges] [-- EAL args]", help::kRunAbout, help::kRunMore}))
        return 2;
    o.eal_args = eal;
    return ctl::run_appliance(o);
}

int cmd_console(const std::vector<std::string>& args) {
    std::string socket, config;
    po::options_description desc("console options");
    desc.add_options()("help,h", "this help")(
        "socket,s", po::value(&socket),
        "the console socket (default: the config's console.socket, else /run/tern/tern.sock)")(
        "config,c", po::value(&config), "take the socket path from this config");
    po::variables_map vm;
    if (!parse(args, desc, vm, "console", {"[--socket PATH | --config FILE]", help::kConsoleAbout})) return 2;
    if (socket.empty() && !config.empty()) {
        conf::LoadResult r = ctl::load_checked_file(config);
        if (!r.config) {
            for (const auto& e : r.errors) fmt::print(stderr, "{}\n", e.str());
            return 2;
        }
        socket = r.config->console.socket;
    }
    if (socket.empty()) socket = conf::Console{}.socket;
    return ctl::console_client(socket);
}

int cmd_import_pybal(const std::vector<std::string>& args) {
    std::string conf_path, out;
    importer::ImportOptions o;
    po::options_description desc("import-pybal options");
    desc.add_options()("help,h", "this help")("conf,c", po::value(&conf_path)->required(), "PyBal's pybal.conf")(
        "pools", po::value(&o.pools_dir), "read the services' file:// pool files from here, by base name")(
        "out,o", po::value(&out), "write the YAML here (default: standard output)")(
        "node-name", po::value(&o.node_name), "node.name (default: this host's name)")(
        "node-ipv4", po::value(&o.node_ipv4), "node.ipv4 (default: bgp-nexthop-ipv4)")(
        "device", po::value(&o.device), "ports[0].device, a PCI address or vdev (default: a placeholder)");
    po::variables_map vm;
    if (!parse(args, desc, vm, "import-pybal", {"--conf pybal.conf [options]", help::kImportAbout})) return 2;
    if (!o.node_ipv4.empty() && !conf::IpAddr::parse(o.node_ipv4).value_or(conf::IpAddr{}).is_v4()) {
        fmt::print(stderr, "tern import-pybal: --node-ipv4 '{}' is not an IPv4 address\n", o.node_ipv4);
        return 2;
    }
    importer::ImportResult r = importer::import_pybal_file(conf_path, o);
    if (!r.ok) {
        fmt::print(stderr, "{}\n", r.error);
        return 1;
    }
    for (const auto& rep : r.reports) fmt::print(stderr, "{}\n", rep.str());
    if (out.empty()) {
        fmt::print("{}", r.yaml);
        return 0;
    }
    std::FILE* f = std::fopen(out.c_str(), "w");
    bool ok = f != nullptr && std::fwrite(r.yaml.data(), 1, r.yaml.size(), f) == r.yaml.size();
    if (f != nullptr) ok = std::fclose(f) == 0 && ok;
    if (!ok) {
        fmt::print(stderr, "{}: cannot write: {}\n", out, std::strerror(errno));
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        fmt::print(stderr, "{}", kUsage);
        return 2;
    }
    const std::string command = argv[1];
    std::vector<std::string> args, eal;
    split_eal(argc, argv, args, eal);
    if (command == "check") return cmd_check(args);
    if (command == "replay") return cmd_replay(args, eal);
    if (command == "run") return cmd_run(args, eal);
    if (command == "console") return cmd_console(args);
    if (command == "import-pybal") return cmd_import_pybal(args);
    if (command == "--version" || command == "version") {
        fmt::print("tern {}\n", kVersion);
        return 0;
    }
    if (command == "-h" || command == "--help" || command == "help") {
        fmt::print("{}", kUsage);
        return 0;
    }
    fmt::print(stderr, "tern: unknown command '{}'\n{}", command, kUsage);
    return 2;
}
