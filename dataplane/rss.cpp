#include "dataplane/rss.h"

#include <algorithm>
#include <string>

#include "dataplane/port.h"
#include "dataplane/rte.h"

namespace tern::dp {

uint32_t rss_hash(const FlowKey& k) {
    uint32_t tuple[9];
    uint32_t n = 0;
    const unsigned words = k.family == 4 ? 1 : 4;
    for (unsigned i = 0; i < words; ++i) {
        uint32_t w;
        std::memcpy(&w, k.src + 4 * i, 4);
        tuple[n++] = rte_be_to_cpu_32(w);
    }
    for (unsigned i = 0; i < words; ++i) {
        uint32_t w;
        std::memcpy(&w, k.dst + 4 * i, 4);
        tuple[n++] = rte_be_to_cpu_32(w);
    }
    if (!k.fragment && (k.proto == kProtoTcp || k.proto == kProtoUdp)) {
        tuple[n++] = (uint32_t{rte_be_to_cpu_16(k.sport)} << 16) | rte_be_to_cpu_16(k.dport);
    }
    return rte_softrss(tuple, n, kRssKey);
}

RssLayout RssLayout::replay(uint16_t queues) {
    RssLayout r;
    r.queues = queues;
    r.toeplitz = true;
    r.reta.resize(128);
    for (size_t i = 0; i < r.reta.size(); ++i) r.reta[i] = static_cast<uint16_t>(i % queues);
    return r;
}

RssLayout RssLayout::common(const std::vector<RssLayout>& ports) {
    if (ports.empty()) return RssLayout{};
    RssLayout r = ports[0];
    const auto modular = [](const RssLayout& l) {
        if (l.reta.empty() || l.reta.size() % l.queues != 0) return false;
        for (size_t i = 0; i < l.reta.size(); ++i) {
            if (l.reta[i] != i % l.queues) return false;
        }
        return true;
    };
    const bool all_modular = std::all_of(ports.begin(), ports.end(), modular);
    for (const RssLayout& l : ports) {
        const bool same = l.toeplitz && l.queues == r.queues && (l.reta == r.reta || all_modular);
        if (!same) {
            r.toeplitz = false;
            r.reta.clear();
        }
    }
    return r;
}

std::string RssLayout::describe() const {
    if (queues <= 1) return "one queue";
    if (toeplitz) {
        return "Toeplitz RSS over " + std::to_string(queues) + " queues, " + std::to_string(reta.size()) +
               "-entry redirection table";
    }
    return std::to_string(queues) +
           " queues spread by the device (not Toeplitz with Tern's key and table): ICMP errors are offered to "
           "each lcore in turn";
}

}  // namespace tern::dp
