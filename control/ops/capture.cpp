// rte_pcapng and rte_bpf_convert are still experimental in DPDK 22.11.
#define ALLOW_EXPERIMENTAL_API 1

#include "control/ops/capture.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <atomic>
#include <deque>

#include "dataplane/rte.h"

#pragma GCC diagnostic push
#if defined(__clang__)  // clang calls it -Wdeprecated-volatile (the fuzz build, docs/fuzzing.md)
#pragma GCC diagnostic ignored "-Wdeprecated-volatile"
#else
#pragma GCC diagnostic ignored "-Wvolatile"
#endif
#include <rte_bpf.h>
#include <rte_pcapng.h>
#include <rte_ring.h>
#pragma GCC diagnostic pop

namespace tern::ctl {

namespace {

constexpr unsigned kRingSize = 16384;
constexpr unsigned kPoolSize = 8191;  // x snaplen: ~20 MB at 1522 bytes

struct Shared {
    std::atomic<bool> on{false};
    rte_ring* ring = nullptr;
    rte_mempool* pool = nullptr;
    rte_bpf* filter = nullptr;
    uint32_t snaplen = 0;
    std::atomic<uint64_t> matched{0};  // packets that passed the filter
    std::atomic<uint64_t> lost{0};     // ring or pool full
};

// One port and direction's callback context; lives as long as the Capture
// (an lcore may still be inside the callback just after it is removed).
struct Hook {
    uint16_t port_id = 0;
    uint16_t queue = 0;
    bool rx = true;
    const rte_eth_rxtx_callback* cb = nullptr;
    Shared* shared = nullptr;
};

}  // namespace

struct Capture::State {
    std::vector<CapturePort> ports;
    Shared shared;
    std::deque<Hook> hooks;  // stable addresses: the callbacks' contexts
    rte_pcapng_t* file = nullptr;
    std::string path, port, filter;
    uint64_t count = 0, written = 0;
    uint32_t default_snaplen = 1522;
    bool running = false;
};

namespace {

void take(Shared& s, uint16_t port, uint16_t queue, rte_mbuf** pkts, uint16_t n, rte_pcapng_direction dir) {
    if (!s.on.load(std::memory_order_relaxed) || n == 0) return;
    uint64_t rc[64];
    rte_mbuf* copies[64];
    for (uint16_t off = 0; off < n; off += 64) {
        const uint16_t m = std::min<uint16_t>(64, static_cast<uint16_t>(n - off));
        if (s.filter) rte_bpf_exec_burst(s.filter, reinterpret_cast<void**>(pkts + off), rc, m);
        unsigned k = 0;
        const uint64_t now = rte_get_tsc_cycles();
        for (uint16_t i = 0; i < m; ++i) {
            if (s.filter && rc[i] == 0) continue;
            rte_mbuf* c = rte_pcapng_copy(port, queue, pkts[off + i], s.pool, s.snaplen, now, dir);
            if (c == nullptr) {
                s.lost.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            copies[k++] = c;
        }
        if (k == 0) continue;
        s.matched.fetch_add(k, std::memory_order_relaxed);
        const unsigned q = rte_ring_mp_enqueue_burst(s.ring, reinterpret_cast<void**>(copies), k, nullptr);
        if (q < k) {
            s.lost.fetch_add(k - q, std::memory_order_relaxed);
            rte_pktmbuf_free_bulk(copies + q, k - q);
        }
    }
}

uint16_t on_rx(uint16_t port, uint16_t queue, rte_mbuf** pkts, uint16_t n, uint16_t, void* arg) {
    take(*static_cast<Hook*>(arg)->shared, port, queue, pkts, n, RTE_PCAPNG_DIRECTION_IN);
    return n;
}

uint16_t on_tx(uint16_t port, uint16_t queue, rte_mbuf** pkts, uint16_t n, void* arg) {
    take(*static_cast<Hook*>(arg)->shared, port, queue, pkts, n, RTE_PCAPNG_DIRECTION_OUT);
    return n;
}

}  // namespace

Capture::Capture(std::vector<CapturePort> ports, uint32_t snaplen) : state_(std::make_unique<State>()) {
    state_->ports = std::move(ports);
    state_->default_snaplen = snaplen;
}

Capture::~Capture() {
    stop();
    auto& s = state_->shared;
    if (s.ring) rte_ring_free(s.ring);
    if (s.pool) rte_mempool_free(s.pool);
}

bool Capture::running() const { return state_->running; }

std::string Capture::start(const std::string& port, const std::string& path, uint64_t count, uint32_t snaplen,
                           const std::string& filter) {
    auto& st = *state_;
    if (st.running) return fmt::format("a capture into {} is running; 'capture stop' first", st.path);
    std::vector<const CapturePort*> chosen;
    std::string names;
    for (const auto& p : st.ports) {
        names += (names.empty() ? "" : ", ") + p.name;
        if (port == "all" || p.name == port) chosen.push_back(&p);
    }
    if (chosen.empty()) return fmt::format("no port named '{}' (ports: {}, or all)", port, names);
    if (snaplen == 0) snaplen = st.default_snaplen;
    if (snaplen < 64 || snaplen > 65535) return fmt::format("snaplen {} is not between 64 and 65535", snaplen);
    // The filter, compiled by libpcap for Ethernet and converted to DPDK BPF.
    rte_bpf* bpf = nullptr;
    if (!filter.empty()) {
        pcap_t* dead = pcap_open_dead(DLT_EN10MB, static_cast<int>(snaplen));
        bpf_program prog{};
        if (pcap_compile(dead, &prog, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
            std::string err = fmt::format("filter '{}': {}", filter, pcap_geterr(dead));
            pcap_close(dead);
            return err;
        }
        rte_bpf_prm* prm = rte_bpf_convert(&prog);
        pcap_freecode(&prog);
        pcap_close(dead);
        if (prm == nullptr)
            return fmt::format("filter '{}': cannot convert to DPDK BPF: {}", filter, rte_strerror(rte_errno));
        bpf = rte_bpf_load(prm);
        rte_free(prm);
        if (bpf == nullptr) return fmt::format("filter '{}': cannot load: {}", filter, rte_strerror(rte_errno));
    }
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (bpf) rte_bpf_destroy(bpf);
        return fmt::format("{}: {}", path, std::strerror(errno));
    }
    rte_pcapng_t* file = rte_pcapng_fdopen(fd, nullptr, nullptr, "tern", filter.empty() ? nullptr : filter.c_str());
    if (file == nullptr) {
        ::close(fd);
        if (bpf) rte_bpf_destroy(bpf);
        return fmt::format("{}: cannot start a pcapng file: {}", path, rte_strerror(rte_errno));
    }
    auto& sh = st.shared;
    const uint32_t room = rte_pcapng_mbuf_size(snaplen);
    if (sh.pool == nullptr || sh.snaplen < snaplen) {
        // Created once (names are global in DPDK); a larger snaplen gets a new pool.
        if (sh.pool) rte_mempool_free(sh.pool);
        static unsigned generation = 0;
        sh.pool = rte_pktmbuf_pool_create(fmt::format("tern_cap{}", generation++).c_str(), kPoolSize, 256, 0,
                                          static_cast<uint16_t>(std::min<uint32_t>(room, 65535)), SOCKET_ID_ANY);
    }
    if (sh.ring == nullptr) sh.ring = rte_ring_create("tern_capture", kRingSize, SOCKET_ID_ANY, RING_F_SC_DEQ);
    if (sh.pool == nullptr || sh.ring == nullptr) {
        rte_pcapng_close(file);
        if (bpf) rte_bpf_destroy(bpf);
        return fmt::format("cannot allocate the capture buffers: {}", rte_strerror(rte_errno));
    }
    if (sh.filter) rte_bpf_destroy(sh.filter);
    sh.filter = bpf;
    sh.snaplen = snaplen;
    sh.matched = 0;
    sh.lost = 0;
    for (const auto* p : chosen) {
        for (uint16_t q = 0; q < p->queues; ++q) {
            for (bool rx : {true, false}) {
                Hook& h = st.hooks.emplace_back();
                h.port_id = p->port_id;
                h.queue = q;
                h.rx = rx;
                h.shared = &sh;
                h.cb = rx ? rte_eth_add_rx_callback(p->port_id, q, on_rx, &h)
                          : rte_eth_add_tx_callback(p->port_id, q, on_tx, &h);
            }
        }
    }
    st.file = file;
    st.path = path;
    st.port = port;
    st.filter = filter;
    st.count = count;
    st.written = 0;
    st.running = true;
    sh.on.store(true);
    return "";
}

void Capture::poll() {
    auto& st = *state_;
    auto& sh = st.shared;
    if (sh.ring == nullptr) return;
    rte_mbuf* pkts[256];
    for (;;) {
        const unsigned n = rte_ring_sc_dequeue_burst(sh.ring, reinterpret_cast<void**>(pkts), 256, nullptr);
        if (n == 0) break;
        unsigned keep = n;
        if (st.running && st.count && st.written + n > st.count) keep = static_cast<unsigned>(st.count - st.written);
        if (!st.running) keep = 0;
        if (keep > 0 && st.file) {
            rte_pcapng_write_packets(st.file, pkts, static_cast<uint16_t>(keep));
            st.written += keep;
        }
        rte_pktmbuf_free_bulk(pkts, n);
        if (st.running && st.count && st.written >= st.count) {
            stop();
            break;
        }
    }
}

std::string Capture::stop() {
    auto& st = *state_;
    if (!st.running) return "no capture is running";
    auto& sh = st.shared;
    sh.on.store(false);
    for (auto& h : st.hooks) {
        if (h.cb == nullptr) continue;
        if (h.rx) {
            rte_eth_remove_rx_callback(h.port_id, h.queue, h.cb);
        } else {
            rte_eth_remove_tx_callback(h.port_id, h.queue, h.cb);
        }
        h.cb = nullptr;  // ethdev's callback memory stays: an lcore may be in it still
    }
    st.running = false;
    // What the lcores queued before they saw `on` drop.
    rte_mbuf* pkts[256];
    for (;;) {
        const unsigned n = rte_ring_sc_dequeue_burst(sh.ring, reinterpret_cast<void**>(pkts), 256, nullptr);
        if (n == 0) break;
        unsigned keep =
            st.count ? static_cast<unsigned>(std::min<uint64_t>(n, st.count - std::min(st.count, st.written))) : n;
        if (keep) {
            rte_pcapng_write_packets(st.file, pkts, static_cast<uint16_t>(keep));
            st.written += keep;
        }
        rte_pktmbuf_free_bulk(pkts, n);
    }
    rte_pcapng_close(st.file);
    st.file = nullptr;
    return fmt::format("capture of {} into {} stopped: {} packets written, {} lost", st.port, st.path, st.written,
                       sh.lost.load());
}

std::string Capture::status() const {
    const auto& st = *state_;
    if (!st.running) return "no capture is running";
    return fmt::format("capturing {} into {}{}: {} packets written{}, {} lost", st.port, st.path,
                       st.filter.empty() ? "" : fmt::format(" (filter '{}')", st.filter), st.written,
                       st.count ? fmt::format(" of {}", st.count) : "", st.shared.lost.load());
}

}  // namespace tern::ctl
