// Addresses, prefixes, MACs and names of the config's value types.
#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "conf/config.h"

namespace tern::conf {

bool IpAddr::is_v4() const { return family == AF_INET; }
bool IpAddr::is_v6() const { return family == AF_INET6; }

std::string IpAddr::str() const {
    if (family == 0) return "";
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(family, bytes.data(), buf, sizeof(buf));
    return buf;
}

std::optional<IpAddr> IpAddr::parse(const std::string& text) {
    IpAddr a;
    if (inet_pton(AF_INET, text.c_str(), a.bytes.data()) == 1) {
        a.family = AF_INET;
        return a;
    }
    a.bytes = {};
    if (inet_pton(AF_INET6, text.c_str(), a.bytes.data()) == 1) {
        a.family = AF_INET6;
        return a;
    }
    return std::nullopt;
}

std::string Prefix::str() const { return fmt::format("{}/{}", addr.str(), length); }

bool Prefix::contains(const IpAddr& ip) const {
    if (ip.family != addr.family) return false;
    int bits = length;
    for (size_t i = 0; bits > 0; ++i, bits -= 8) {
        const uint8_t mask = bits >= 8 ? 0xFF : static_cast<uint8_t>(0xFF << (8 - bits));
        if ((ip.bytes[i] & mask) != (addr.bytes[i] & mask)) return false;
    }
    return true;
}

std::optional<Prefix> Prefix::parse(const std::string& text) {
    const auto slash = text.find('/');
    if (slash == std::string::npos || slash + 1 >= text.size()) return std::nullopt;
    auto a = IpAddr::parse(text.substr(0, slash));
    if (!a) return std::nullopt;
    const std::string len = text.substr(slash + 1);
    if (len.size() > 3 || !std::all_of(len.begin(), len.end(), ::isdigit)) return std::nullopt;
    const int n = std::stoi(len);
    const int max = a->is_v4() ? 32 : 128;
    if (n > max) return std::nullopt;
    Prefix p{*a, n};
    // Host bits must be zero: "10.0.0.1/24" is almost always a typo.
    for (int bit = n; bit < max; ++bit) {
        if (a->bytes[bit / 8] & (0x80 >> (bit % 8))) return std::nullopt;
    }
    return p;
}

std::string mac_str(const MacAddr& m) {
    return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
}

std::optional<MacAddr> parse_mac(const std::string& text) {
    if (text.size() != 17) return std::nullopt;
    MacAddr m;
    for (size_t i = 0; i < 6; ++i) {
        const char a = text[i * 3], b = text[i * 3 + 1];
        if (!std::isxdigit(static_cast<unsigned char>(a)) || !std::isxdigit(static_cast<unsigned char>(b))) {
            return std::nullopt;
        }
        if (i < 5 && text[i * 3 + 2] != ':') return std::nullopt;
        m[i] = static_cast<uint8_t>(std::stoi(text.substr(i * 3, 2), nullptr, 16));
    }
    return m;
}

bool Port::device_is_pci() const {
    // Domain:bus:device.function ("0000:3b:00.0") or bus:device.function ("3b:00.0").
    auto hex = [](const std::string& s, size_t from, size_t n) {
        if (from + n > s.size()) return false;
        for (size_t i = from; i < from + n; ++i) {
            if (!std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
        }
        return true;
    };
    const std::string& d = device;
    if (d.size() == 12)
        return hex(d, 0, 4) && d[4] == ':' && hex(d, 5, 2) && d[7] == ':' && hex(d, 8, 2) && d[10] == '.' &&
               hex(d, 11, 1);
    if (d.size() == 7) return hex(d, 0, 2) && d[2] == ':' && hex(d, 3, 2) && d[5] == '.' && hex(d, 6, 1);
    return false;
}

const char* to_string(Protocol p) { return p == Protocol::tcp ? "tcp" : "udp"; }

const char* to_string(Scheduler s) {
    switch (s) {
        case Scheduler::maglev: return "maglev";
        case Scheduler::sh: return "sh";
        case Scheduler::wrr: return "wrr";
        case Scheduler::rr: return "rr";
        case Scheduler::wlc: return "wlc";
    }
    return "?";
}

const char* to_string(LogLevel l) {
    switch (l) {
        case LogLevel::debug: return "debug";
        case LogLevel::info: return "info";
        case LogLevel::warning: return "warning";
        case LogLevel::error: return "error";
    }
    return "?";
}

const char* to_string(Forward f) {
    switch (f) {
        case Forward::dr: return "dr";
        case Forward::ipip: return "ipip";
    }
    return "?";
}

std::string Error::str() const {
    if (line == 0) return fmt::format("{}: {}: {}", file, path, message);
    return fmt::format("{}:{}:{}: {}: {}", file, line, column, path, message);
}

}  // namespace tern::conf
