// Small helpers shared by the benchmark modes: option parsing, EAL start-up,
// medians, JSON text. Control thread only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tern::bench {

// "--key value" pairs and bare "--flag"s, then "--" and EAL arguments.
class Args {
public:
    // Returns false (and sets error) on a malformed command line.
    bool parse(int argc, char** argv, int first, std::string& error);
    std::string get(const std::string& key, const std::string& def) const;
    double num(const std::string& key, double def) const;
    bool flag(const std::string& key) const { return values_.count(key) != 0; }
    const std::vector<std::string>& eal() const { return eal_; }

private:
    std::map<std::string, std::string> values_;
    std::vector<std::string> eal_;
};

// Starts the EAL with `workers` worker lcores (lcore 0 on CPU 0, workers
// pinned round-robin from CPU 1), hugepages with --in-memory when free and
// `no_huge` is false, --no-huge otherwise, plus `extra` (vdevs). Returns an
// error or "". `memory` is what it says: "hugepages" or "no-huge".
std::string start_eal(unsigned workers, bool no_huge, const std::vector<std::string>& extra, std::string& memory);

double median(std::vector<double> v);

// JSON text helpers: a quoted, escaped string; a number list.
std::string jstr(const std::string& s);
std::string jnums(const std::vector<double>& v);

// The main thread waits for the launched workers without spinning (it may
// share a CPU with one of them), then collects them.
void wait_workers_sleeping();

}  // namespace tern::bench
