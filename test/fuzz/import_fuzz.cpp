// `tern import-pybal` under fuzzing: a pybal.conf (Python 2 ConfigParser INI,
// Python literals in its options) and a pool file, both from the input: the
// text after a line "#pool" is every pool file's text (else a fixed one).
// DNS answers every host with an address made from its name. Checked besides
// "no crash, nothing thrown" (ASan/UBSan):
// - a failed import says why, with the file and line;
// - what imports is a config `tern check` accepts: the YAML loads without
//   errors (whatever PyBal allowed that Tern does not is reported, not written).
#include <arpa/inet.h>

#include <cstdint>
#include <functional>
#include <string>

#include "control/config/monitor_spec.h"
#include "importer/import_pybal.h"
#include "test/fuzz/fuzz_check.h"

namespace {
using namespace tern;

void require(bool ok, const char* what) { tern::fuzz::require(ok, "import_fuzz", what); }

const char* kPool =
    "{ 'host': 'cp1001.eqiad.wmnet', 'weight': 10, 'enabled': True }\n"
    "{ 'host': 'cp1002.eqiad.wmnet', 'weight': 0, 'enabled': False }\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string conf(reinterpret_cast<const char*>(data), size);
    std::string pool = kPool;
    if (const size_t at = conf.find("\n#pool\n"); at != std::string::npos) {
        pool = conf.substr(at + 7);
        conf.resize(at + 1);
    }
    importer::ImportOptions o;
    o.node_name = "lb1001";
    o.node_ipv4 = "10.64.0.10";
    o.device = "0000:3b:00.0";
    o.generated_at = "2026-01-01T00:00:00Z";
    o.read_file = [&pool](const std::string&, std::string&) -> std::optional<std::string> { return pool; };
    o.resolve = [](const std::string& host, int family) -> std::optional<std::string> {
        const size_t h = std::hash<std::string>{}(host);
        if (h % 7 == 0) return std::nullopt;  // some names do not resolve
        if (family == AF_INET) return "10.64." + std::to_string(h % 250) + "." + std::to_string(1 + h / 250 % 250);
        return "2620:0:861:" + std::to_string(h % 100) + "::" + std::to_string(1 + h / 100 % 9000);
    };
    const importer::ImportResult r = importer::import_pybal(conf, "pybal.conf", o);
    if (!r.ok) {
        require(r.error.rfind("pybal.conf", 0) == 0, "a failed import names the file");
        return 0;
    }
    const conf::LoadResult l = ctl::load_checked_string(r.yaml, "generated.yaml");
    if (!l.config) {
        for (const auto& e : l.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
        std::fprintf(stderr, "--- generated:\n");
        std::fwrite(r.yaml.data(), 1, r.yaml.size(), stderr);  // all of it, NUL bytes included
    }
    require(l.config.has_value(), "the generated config loads");
    return 0;
}
