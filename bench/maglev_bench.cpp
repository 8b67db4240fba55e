#include "bench/maglev_bench.h"

#include <fmt/format.h>

#include <chrono>
#include <string>
#include <vector>

#include "control/state/ring_cache.h"
#include "dataplane/maglev.h"

namespace tern::bench {

int run_maglev(const Args& args) {
    // --size 0 (the default): each ring the size `table_size: auto` gives its servers.
    const uint32_t fixed = static_cast<uint32_t>(args.num("size", 0));
    const int runs = static_cast<int>(args.num("runs", 5));
    std::vector<uint32_t> counts;
    const std::string list = args.get("servers", "10,100,1000");
    for (size_t pos = 0; pos < list.size();) {
        size_t comma = list.find(',', pos);
        if (comma == std::string::npos) comma = list.size();
        counts.push_back(static_cast<uint32_t>(std::stoul(list.substr(pos, comma - pos))));
        pos = comma + 1;
    }
    const auto size_for = [&](uint32_t servers) { return fixed != 0 ? fixed : dp::maglev_auto_size(servers); };
    std::string json = fmt::format("{{\"mode\": \"maglev\", \"size\": {}, \"results\": [", fixed);
    for (size_t i = 0; i < counts.size(); ++i) {
        const uint32_t size = size_for(counts[i]);
        std::vector<std::string> ids;
        for (uint32_t k = 0; k < counts[i]; ++k) ids.push_back(fmt::format("cp{:04}.eqiad.wmnet", k));
        std::vector<dp::MaglevBackend> backends;
        for (uint32_t k = 0; k < counts[i]; ++k) backends.push_back({ids[k], 10 + (k % 3) * 5});
        std::vector<double> ms;
        size_t check = 0;
        for (int r = 0; r < runs; ++r) {
            const auto t0 = std::chrono::steady_clock::now();
            std::vector<uint16_t> ring = dp::generate_ring(backends, size);
            ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
            check += ring[0];
        }
        json += fmt::format("{}{{\"servers\": {}, \"size\": {}, \"runs_ms\": {}, \"ms\": {:.3f}, \"check\": {}}}",
                            i ? ", " : "", counts[i], size, jnums(ms), median(ms), check);
        fmt::print(stderr, "maglev M={} servers={}: {:.2f} ms\n", size, counts[i], median(ms));
    }
    json += "]";
    // A batch of distinct rings (100 servers each, every ring its own window
    // of 1000 hosts, as in bench/traffic.cpp) through ctl::generate_rings on
    // 1, 2, ... threads: what a rebuild where every ring changed costs, and
    // how it scales. Median of `runs`.
    const uint32_t batch = static_cast<uint32_t>(args.num("batch", 200));
    const unsigned max_threads = static_cast<unsigned>(args.num("threads", 2));
    if (batch > 0) {
        const uint32_t size = size_for(100);
        std::vector<std::string> hosts;
        for (uint32_t h = 0; h < 1000; ++h) hosts.push_back(fmt::format("cp{:04}", h));
        std::vector<ctl::RingInput> inputs(batch);
        std::vector<const ctl::RingInput*> ptrs;
        for (uint32_t i = 0; i < batch; ++i) {
            inputs[i].size = size;
            for (uint32_t k = 0; k < 100; ++k) {
                const uint32_t h = (i * 7 + k) % 1000;
                inputs[i].backends.push_back({hosts[h], 10 + (h % 3) * 5});
            }
            ptrs.push_back(&inputs[i]);
        }
        json += ", \"batch\": [";
        for (unsigned t = 1; t <= max_threads; ++t) {
            std::vector<double> ms;
            for (int r = 0; r < runs; ++r) {
                const auto t0 = std::chrono::steady_clock::now();
                const auto rings = ctl::generate_rings(ptrs, t);
                ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
            }
            json += fmt::format(
                "{}{{\"rings\": {}, \"servers\": 100, \"size\": {}, \"threads\": {}, \"runs_ms\": {}, "
                "\"ms\": {:.2f}}}",
                t > 1 ? ", " : "", batch, size, t, jnums(ms), median(ms));
            fmt::print(stderr, "maglev M={} {} rings x 100 servers on {} thread(s): {:.1f} ms\n", size, batch, t,
                       median(ms));
        }
        json += "]";
    }
    fmt::print("{}}}\n", json);
    return 0;
}

}  // namespace tern::bench
