#include "control/replay/pcap_io.h"

#include <pcap/pcap.h>

#include <fmt/format.h>
#include <algorithm>
#include <memory>

#include "dataplane/packet.h"
#include "dataplane/port.h"
#include "dataplane/rss.h"
#include "dataplane/rte.h"

namespace tern::ctl {
namespace {

struct PcapCloser {
    void operator()(pcap_t* p) const { pcap_close(p); }
};
struct DumperCloser {
    void operator()(pcap_dumper_t* d) const { pcap_dump_close(d); }
};
using PcapPtr = std::unique_ptr<pcap_t, PcapCloser>;
using DumperPtr = std::unique_ptr<pcap_dumper_t, DumperCloser>;

PcapPtr open_read(const std::string& path, std::string& error) {
    char err[PCAP_ERRBUF_SIZE];
    PcapPtr p(pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, err));
    if (!p) {
        error = fmt::format("{}: {}", path, err);
    } else if (pcap_datalink(p.get()) != DLT_EN10MB) {
        error = fmt::format("{}: link type {} is not Ethernet", path, pcap_datalink(p.get()));
        p.reset();
    }
    return p;
}

DumperPtr open_write(const std::string& path, std::string& error) {
    PcapPtr dead(pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_MICRO));
    DumperPtr d(pcap_dump_open(dead.get(), path.c_str()));
    if (!d) error = fmt::format("{}: {}", path, pcap_geterr(dead.get()));
    return d;
}

// The queue a NIC would pick with Tern's key and redirection table
// (RssLayout::replay: 128 entries, entry i -> queue i % n).
unsigned rss_queue(const uint8_t* data, uint32_t len, const dp::Steering& steering) {
    if (len < 14) return 0;
    // Pass the frame's own destination as the port MAC: RSS ignores MACs.
    const dp::Parsed p = dp::parse_frame(data, len, len, data);
    if (p.action != dp::Action::lookup) return 0;
    return steering.owner(p.key);
}

}  // namespace

SplitResult split_capture(const std::string& in, const std::vector<std::string>& outs) {
    SplitResult r;
    r.per_queue.assign(std::max<size_t>(outs.size(), 1), 0);
    PcapPtr p = open_read(in, r.error);
    if (!p) return r;
    std::vector<DumperPtr> dumpers;
    for (const auto& o : outs) {
        dumpers.push_back(open_write(o, r.error));
        if (!dumpers.back()) return r;
    }
    dp::Steering steering;
    steering.rss = dp::RssLayout::replay(static_cast<uint16_t>(std::max<size_t>(outs.size(), 1)));
    pcap_pkthdr* hdr = nullptr;
    const u_char* data = nullptr;
    int rc;
    while ((rc = pcap_next_ex(p.get(), &hdr, &data)) == 1) {
        const unsigned q = outs.size() > 1 ? rss_queue(data, hdr->caplen, steering) : 0;
        ++r.per_queue[q];
        if (!dumpers.empty()) pcap_dump(reinterpret_cast<u_char*>(dumpers[q].get()), hdr, data);
    }
    if (rc == PCAP_ERROR) r.error = fmt::format("{}: {}", in, pcap_geterr(p.get()));
    return r;
}

std::optional<std::string> merge_captures(const std::vector<std::string>& ins,
                                          const std::vector<std::vector<uint64_t>>& stamps, const std::string& out) {
    struct Rec {
        uint64_t ts;
        size_t queue;
        size_t index;
        uint32_t len;
        std::vector<u_char> data;
    };
    std::vector<Rec> recs;
    std::string error;
    for (size_t q = 0; q < ins.size(); ++q) {
        PcapPtr p = open_read(ins[q], error);
        if (!p) return error;
        pcap_pkthdr* hdr = nullptr;
        const u_char* data = nullptr;
        size_t j = 0;
        while (pcap_next_ex(p.get(), &hdr, &data) == 1) {
            if (j >= stamps[q].size()) {
                return fmt::format("{}: more packets than were transmitted ({})", ins[q], stamps[q].size());
            }
            recs.push_back({stamps[q][j], q, j, hdr->len, std::vector<u_char>(data, data + hdr->caplen)});
            ++j;
        }
        if (j != stamps[q].size()) {
            return fmt::format("{}: {} packets written, {} transmitted", ins[q], j, stamps[q].size());
        }
    }
    std::stable_sort(recs.begin(), recs.end(), [](const Rec& a, const Rec& b) {
        return std::tie(a.ts, a.queue, a.index) < std::tie(b.ts, b.queue, b.index);
    });
    DumperPtr d = open_write(out, error);
    if (!d) return error;
    for (const auto& r : recs) {
        pcap_pkthdr h{};
        h.ts.tv_sec = static_cast<time_t>(r.ts / 1000000);
        h.ts.tv_usec = static_cast<suseconds_t>(r.ts % 1000000);
        h.caplen = static_cast<uint32_t>(r.data.size());
        h.len = r.len;
        pcap_dump(reinterpret_cast<u_char*>(d.get()), &h, r.data.data());
    }
    if (pcap_dump_flush(d.get()) != 0) return fmt::format("{}: write failed", out);
    return std::nullopt;
}

}  // namespace tern::ctl
