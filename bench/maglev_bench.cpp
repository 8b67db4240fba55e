#include "bench/maglev_bench.h"

#include <fmt/format.h>

#include <chrono>
#include <string>
#include <vector>

#include "dataplane/maglev.h"

namespace tern::bench {

int run_maglev(const Args& args) {
    const uint32_t size = static_cast<uint32_t>(args.num("size", dp::kMaglevDefaultSize));
    const int runs = static_cast<int>(args.num("runs", 5));
    std::vector<uint32_t> counts;
    const std::string list = args.get("servers", "10,100,1000");
    for (size_t pos = 0; pos < list.size();) {
        size_t comma = list.find(',', pos);
        if (comma == std::string::npos) comma = list.size();
        counts.push_back(static_cast<uint32_t>(std::stoul(list.substr(pos, comma - pos))));
        pos = comma + 1;
    }
    std::string json = fmt::format("{{\"mode\": \"maglev\", \"size\": {}, \"results\": [", size);
    for (size_t i = 0; i < counts.size(); ++i) {
        std::vector<std::string> ids;
        for (uint32_t k = 0; k < counts[i]; ++k) ids.push_back(fmt::format("cp{:04}.eqiad.wmnet", k));
        std::vector<dp::MaglevBackend> backends;
        for (uint32_t k = 0; k < counts[i]; ++k) backends.push_back({ids[k], 10 + (k % 3) * 5});
        std::vector<double> ms;
        size_t check = 0;
        for (int r = 0; r < runs; ++r) {
            const auto t0 = std::chrono::steady_clock::now();
            std::vector<uint16_t> ring = dp::generate_ring(backends, size);
            ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                             .count());
            check += ring[0];
        }
        json += fmt::format("{}{{\"servers\": {}, \"runs_ms\": {}, \"ms\": {:.3f}, \"check\": {}}}",
                            i ? ", " : "", counts[i], jnums(ms), median(ms), check);
        fmt::print(stderr, "maglev M={} servers={}: {:.2f} ms\n", size, counts[i], median(ms));
    }
    fmt::print("{}]}}\n", json);
    return 0;
}

}  // namespace tern::bench
