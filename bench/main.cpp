// tern_bench: the benchmark harness of issue 8. Measures the real dataplane
// code (dp::Worker, ctl::build_table, dp::generate_ring) and prints JSON;
// scripts/bench runs every mode, compares with testpmd and writes
// docs/bench/. Usage: tern_bench <mode> [--option value ...] [-- EAL args]
#include <fmt/format.h>

#include <string>

#include "bench/common.h"
#include "bench/flowtable_bench.h"
#include "bench/maglev_bench.h"
#include "bench/pipeline.h"
#include "bench/pmd.h"
#include "bench/traffic.h"

using namespace tern::bench;

namespace {

constexpr const char* kUsage =
    "usage: tern_bench <mode> [options] [-- EAL args]\n"
    "  pipeline [--case NAME] [--lcores 1,2] [--runs 5] [--seconds 1] [--flows 4096]\n"
    "           [--bursts N] [--no-huge]      classify_burst on recycled mbufs\n"
    "  pmd      --pcap FILE [--lcores N] [--windows 5] [--seconds 1] [--no-huge]\n"
    "           [--rebuilds R --vips V --servers S [--ring-threads N] [--table-size M (0: auto)]]\n"
    "           Worker::run on net_pcap -> net_null;\n"
    "           with --rebuilds: R rebuilds after one weight change in one service, then R after\n"
    "           one weight change in every service, each built, published and reclaimed\n"
    "  maglev   [--size M (default: auto per server count)] [--servers 10,100,1000] [--runs 5]\n"
    "           [--batch 200 --threads 2]\n"
    "  flowtable [--flows 1000000,10000000]   the flow table alone: inserts, lookups per second\n"
    "  memlimit [--mib 128] [--groups 1,8,16,32,64]   ns per random line / per bucket+entry lookup\n"
    "           when a group of G is asked for at once: the memory's limit for big tables\n"
    "  pcap     --out FILE [--case dr] [--flows 4096] [--vips 8]   write the case's frames\n"
    "  cases                                    list the cases\n";

int write_case_pcap(const Args& args) {
    const CaseInfo* ci = find_case(args.get("case", "dr"));
    const std::string out = args.get("out", "");
    if (ci == nullptr || out.empty()) {
        fmt::print(stderr, "pcap: --out FILE and a known --case are required\n");
        return 2;
    }
    Shape shape;
    shape.vips = static_cast<uint32_t>(args.num("vips", 8));
    shape.servers = 1;
    const tern::conf::Config config = case_config(ci->id, shape);
    const auto frames = make_frames(ci->id, config, static_cast<uint32_t>(args.num("flows", 4096)), 1);
    const std::string err = write_pcap(out, frames);
    if (!err.empty()) {
        fmt::print(stderr, "pcap: {}\n", err);
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
    const std::string mode = argv[1];
    Args args;
    std::string error;
    if (!args.parse(argc, argv, 2, error)) {
        fmt::print(stderr, "tern_bench: {}\n{}", error, kUsage);
        return 2;
    }
    try {
        if (mode == "pipeline") return run_pipeline(args);
        if (mode == "pmd") return run_pmd(args);
        if (mode == "maglev") return run_maglev(args);
        if (mode == "flowtable") return run_flowtable(args);
        if (mode == "memlimit") return run_memlimit(args);
        if (mode == "pcap") return write_case_pcap(args);
        if (mode == "cases") {
            for (const auto& c : cases()) fmt::print("{:10} {}\n", c.name, c.what);
            return 0;
        }
    } catch (const std::exception& e) {  // bad numbers on the command line
        fmt::print(stderr, "tern_bench {}: {}\n", mode, e.what());
        return 2;
    }
    fmt::print(stderr, "tern_bench: unknown mode '{}'\n{}", mode, kUsage);
    return 2;
}
