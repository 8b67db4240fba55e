// Drives a libFuzzer entry point without libFuzzer (any compiler): every file
// of a corpus directory, then N seeded random mutations of each (bit flips,
// byte changes, truncation, insertion, removal and copies of runs, and
// changes to 16-bit length fields, the BGP header's in particular), through
// LLVMFuzzerTestOneInput. Linked into each target's NAME_run_corpus
// (test/fuzz/meson.build). A failed check aborts.
//   NAME_run_corpus DIR [--mutations N] [--seed S]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using Bytes = std::vector<uint8_t>;

// The input being run, for the abort handler: it writes the input to
// run_corpus-crash-PID in the working directory and names the file and
// corpus file on stderr, so that a failure becomes a corpus file.
const Bytes* g_input = nullptr;
std::string g_from;

void on_abort(int) {
    char name[64];
    const int len = std::snprintf(name, sizeof(name), "run_corpus-crash-%d", static_cast<int>(::getpid()));
    const int fd = ::open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0 && g_input != nullptr) {
        ssize_t ignored = ::write(fd, g_input->data(), g_input->size());
        (void)ignored;
        ::close(fd);
    }
    const std::string msg = "run_corpus: the input (a mutation of " + g_from + ") is in " +
                            std::string(name, static_cast<size_t>(len)) + "\n";
    ssize_t ignored = ::write(2, msg.data(), msg.size());
    (void)ignored;
    std::signal(SIGABRT, SIG_DFL);
    std::raise(SIGABRT);
}

Bytes mutate(Bytes b, std::mt19937_64& rng) {
    auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
    const int edits = 1 + static_cast<int>(pick(4));
    for (int e = 0; e < edits; ++e) {
        switch (pick(8)) {
            case 0:  // flip a bit
                if (!b.empty()) b[pick(b.size())] ^= static_cast<uint8_t>(1u << pick(8));
                break;
            case 1:  // a random byte
                if (!b.empty()) b[pick(b.size())] = static_cast<uint8_t>(pick(256));
                break;
            case 2:  // truncate
                if (!b.empty()) b.resize(pick(b.size()));
                break;
            case 3:  // insert random bytes
                b.insert(b.begin() + static_cast<std::ptrdiff_t>(pick(b.size() + 1)), pick(16) + 1,
                         static_cast<uint8_t>(pick(256)));
                break;
            case 4:  // remove a run
                if (!b.empty()) {
                    const size_t at = pick(b.size());
                    b.erase(b.begin() + static_cast<std::ptrdiff_t>(at),
                            b.begin() + static_cast<std::ptrdiff_t>(std::min(b.size(), at + pick(16) + 1)));
                }
                break;
            case 5:  // a length field: the header's (input offset 17, after the read-size byte) or any
                if (b.size() > 18) {
                    const size_t at = pick(2) ? 17 : pick(b.size() - 1);
                    const int delta = static_cast<int>(pick(9)) - 4;
                    const unsigned v = static_cast<unsigned>(b[at] << 8 | b[at + 1]) + static_cast<unsigned>(delta);
                    b[at] = static_cast<uint8_t>(v >> 8);
                    b[at + 1] = static_cast<uint8_t>(v);
                }
                break;
            case 6:  // the BGP header's message type
                if (b.size() > 19) b[19] = static_cast<uint8_t>(pick(7));
                break;
            case 7:  // a copy of a run elsewhere (text formats repeat their keys)
                if (!b.empty()) {
                    const size_t from = pick(b.size());
                    const Bytes run(b.begin() + static_cast<std::ptrdiff_t>(from),
                                    b.begin() + static_cast<std::ptrdiff_t>(std::min(b.size(), from + pick(32) + 1)));
                    b.insert(b.begin() + static_cast<std::ptrdiff_t>(pick(b.size() + 1)), run.begin(), run.end());
                }
                break;
        }
    }
    return b;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: run_corpus DIR [--mutations N] [--seed S]\n");
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    unsigned long mutations = 1000;
    unsigned long long seed = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        const std::string k = argv[i];
        if (k == "--mutations") {
            mutations = std::stoul(argv[i + 1]);
        } else if (k == "--seed") {
            seed = std::stoull(argv[i + 1]);
        } else {
            std::fprintf(stderr, "run_corpus: unknown option %s\n", k.c_str());
            return 2;
        }
    }
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        if (e.is_regular_file()) files.push_back(e.path());
    }
    if (ec || files.empty()) {
        std::fprintf(stderr, "run_corpus: no files in %s%s%s\n", dir.c_str(), ec ? ": " : "",
                     ec ? ec.message().c_str() : "");
        return 2;
    }
    std::sort(files.begin(), files.end());
    std::mt19937_64 rng(seed);
    std::signal(SIGABRT, on_abort);
    unsigned long long inputs = 0;
    for (const auto& f : files) {
        std::ifstream in(f, std::ios::binary);
        const Bytes seed_bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        g_from = f.string();
        g_input = &seed_bytes;
        LLVMFuzzerTestOneInput(seed_bytes.data(), seed_bytes.size());
        ++inputs;
        for (unsigned long i = 0; i < mutations; ++i) {
            const Bytes m = mutate(seed_bytes, rng);
            g_input = &m;
            LLVMFuzzerTestOneInput(m.data(), m.size());
            ++inputs;
        }
    }
    g_input = nullptr;
    std::printf("run_corpus: %zu files, %llu inputs (seed %llu), every check held\n", files.size(), inputs, seed);
    return 0;
}
