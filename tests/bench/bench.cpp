// bench.cpp: runs every registered echo server under the same loads and
// writes one table. The machine is noisy, so loads run in interleaved rounds
// (every server once per load, then again, ...) and the table reports the
// median and the spread; compare servers only within one run.
//
//   cmake --workflow --preset bench          (Release build, then this)
//   ioladder_bench --servers servers.txt --load echo_load --book book/measuring.md
//                  --csv book/bench/results.csv --svg book/bench/throughput.svg
//                  [--rounds 3] [--duration 1.5] [--only NAME,NAME...]
//                  [--only-load "tcp 64x16x64B"] [--counted 20000]
//
// Server CPU per echoed message: the server's user + system time for the
// whole timed run (wait4 when it is stopped) divided by every message echoed
// in that run, warm-up included ("server ns/msg"). It says what the server
// spends per message, which a throughput figure hides when the load generator
// or the machine is the bottleneck.
//
// System calls per echoed message come from a separate counted run: the
// server runs under `strace -f -c` while echo_load sends --counted messages
// with the same load shape; total calls / messages. strace slows the server
// down, so those runs are never timed.
#include "harness.hpp"
#include "strace.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/utsname.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace ioladder::test;
using namespace std::chrono_literals;

namespace {

struct Load {
    std::string proto;
    int conns, depth, size;
    int idle = 0; // extra connections that never send
    std::string name() const {
        std::string n = proto + " " + std::to_string(conns) + "x" + std::to_string(depth) + "x";
        n += size >= 1024 && size % 1024 == 0 ? std::to_string(size / 1024) + "KiB"
                                              : std::to_string(size) + "B";
        if (idle) n += " +" + std::to_string(idle) + " idle";
        return n;
    }
};

// The loads: latency-bound (1x1), many busy connections with pipelining
// (64x16), larger messages (16x4x4KiB), one busy client among 1000 idle ones
// (the cost of rescanning every descriptor per wakeup), and UDP.
const std::vector<Load> kLoads = {
    {"tcp", 1, 1, 64},       {"tcp", 64, 16, 64}, {"tcp", 16, 4, 4096},
    {"tcp", 1, 1, 64, 1000}, {"udp", 1, 1, 64},   {"udp", 8, 8, 512},
};

struct Options {
    std::string servers, load_bin, book, csv, svg;
    std::vector<std::string> only; // server names; empty means all
    std::string only_load;         // a load name such as "tcp 64x16x64B"; empty means all
    int rounds = 3;
    double duration = 1.5;
    long counted = 20000;
};

struct Sample {
    double rate = 0, p50 = 0, p99 = 0, load_cpu = 0, server_cpu = 0;
    long errors = 0, lost = 0;
    long messages = 0;    // echoed in the whole run, warm-up included
    double server_ns = 0; // server CPU per echoed message
};

struct Cell { // one server under one load
    ServerInfo server;
    Load load;
    std::vector<Sample> samples;
    std::string syscalls = "n/a";
};

[[noreturn]] void usage(const std::string& why) {
    std::fprintf(stderr, "ioladder_bench: %s\n", why.c_str());
    std::fprintf(stderr,
                 "usage: ioladder_bench --servers FILE --load ECHO_LOAD --book MD --csv CSV "
                 "--svg SVG [--rounds N] [--duration S] [--only NAME,...] [--only-load LOAD] "
                 "[--counted N]\n");
    std::exit(2);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (i + 1 >= argc) usage("missing value for " + a);
        std::string v = argv[++i];
        if (a == "--servers")
            o.servers = v;
        else if (a == "--load")
            o.load_bin = v;
        else if (a == "--book")
            o.book = v;
        else if (a == "--csv")
            o.csv = v;
        else if (a == "--svg")
            o.svg = v;
        else if (a == "--only") {
            std::istringstream names(v);
            for (std::string n; std::getline(names, n, ',');)
                if (!n.empty()) o.only.push_back(n);
        } else if (a == "--only-load")
            o.only_load = v;
        else if (a == "--rounds")
            o.rounds = std::stoi(v);
        else if (a == "--duration")
            o.duration = std::stod(v);
        else if (a == "--counted")
            o.counted = std::stol(v);
        else
            usage("unknown argument " + a);
    }
    if (o.servers.empty() || o.load_bin.empty() || o.book.empty() || o.csv.empty() || o.svg.empty())
        usage("--servers, --load, --book, --csv and --svg are required");
    if (o.rounds < 1 || o.duration <= 0) usage("--rounds >= 1 and --duration > 0");
    return o;
}

// "key=value key=value" -> map
std::map<std::string, std::string> fields(const std::string& line) {
    std::map<std::string, std::string> out;
    std::istringstream in(line);
    std::string kv;
    while (in >> kv) {
        if (auto eq = kv.find('='); eq != std::string::npos)
            out[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    return out;
}

std::vector<std::string> load_args(const Options& o, const Load& l, uint16_t port) {
    return {o.load_bin,
            "--port",
            std::to_string(port),
            "--proto",
            l.proto,
            "--conns",
            std::to_string(l.conns),
            "--depth",
            std::to_string(l.depth),
            "--size",
            std::to_string(l.size),
            "--idle",
            std::to_string(l.idle)};
}

Sample timed_run(const Options& o, const Cell& cell) {
    auto server = ServerProcess::start(cell.server);
    auto args = load_args(o, cell.load, server.port());
    args.insert(args.end(), {"--duration", std::to_string(o.duration), "--warmup", "0.3"});
    auto run =
        run_program(args, std::chrono::milliseconds(static_cast<long>(o.duration * 1000) + 10000));
    Sample s;
    int code = server.stop();
    auto f = fields(run.out);
    if (!f.count("msgs_per_s") || !f.count("total") || code != 0) {
        throw std::runtime_error(cell.server.name + " under " + cell.load.name() +
                                 ": echo_load exit " + std::to_string(run.exit_code) +
                                 ", server exit " + std::to_string(code) + ": " + run.err);
    }
    s.rate = std::stod(f["msgs_per_s"]);
    s.p50 = std::stod(f["p50_us"]);
    s.p99 = std::stod(f["p99_us"]);
    s.load_cpu = std::stod(f["cpu_s"]);
    s.errors = std::stol(f["errors"]);
    s.lost = std::stol(f["lost"]);
    // From wait4 at stop(): microseconds, where /proc/PID/stat counts in
    // clock ticks (10 ms), too coarse for a few hundred ns per message.
    s.server_cpu = server.cpu_seconds();
    s.messages = std::stol(f["total"]);
    s.server_ns = s.messages > 0 ? s.server_cpu * 1e9 / static_cast<double>(s.messages) : 0;
    return s;
}

// Total system calls of the server while echo_load sends `counted` messages.
std::string counted_run(const Options& o, const Cell& cell) {
    std::string summary = temp_path("bench-strace-c");
    StartOptions so;
    so.wrapper = {"strace", "-f", "-c", "-o", summary};
    auto server = ServerProcess::start(cell.server, so);
    auto args = load_args(o, cell.load, server.port());
    args.insert(args.end(), {"--messages", std::to_string(o.counted), "--loss-ms", "1000"});
    auto run = run_program(args, 120s);
    server.stop(10s);
    auto f = fields(run.out);
    std::ifstream in(summary);
    std::string line;
    long total = -1;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::vector<std::string> cols;
        for (std::string c; ls >> c;)
            cols.push_back(c);
        // "100.00 0.001 3 31 2 total": calls is the 4th column (errors may be absent)
        if (!cols.empty() && cols.back() == "total" && cols.size() >= 5) total = std::stol(cols[3]);
    }
    std::remove(summary.c_str());
    long echoed = f.count("echoed") ? std::stol(f["echoed"]) : 0;
    if (total < 0 || echoed <= 0) return "n/a (counted run failed)";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f",
                  static_cast<double>(total) / static_cast<double>(echoed));
    return buf;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

template <typename F>
std::vector<double> each(const Cell& c, F f) {
    std::vector<double> v;
    for (const Sample& s : c.samples)
        v.push_back(f(s));
    return v;
}

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

std::string machine_text(const Options& o) {
    utsname un{};
    uname(&un);
    std::ifstream cpu("/proc/cpuinfo");
    std::string line, model = "unknown CPU";
    while (std::getline(cpu, line)) {
        if (line.rfind("model name", 0) == 0) {
            model = line.substr(line.find(':') + 2);
            break;
        }
    }
    char date[32];
    time_t now = time(nullptr);
    strftime(date, sizeof date, "%Y-%m-%d", gmtime(&now));
    return std::string(date) + ", " + model + ", " +
           std::to_string(std::thread::hardware_concurrency()) + " cores, " + un.sysname + " " +
           un.release + "; " + std::to_string(o.rounds) + " interleaved rounds of " +
           fmt("%.1f", o.duration) + " s per server and load";
}

std::string markdown(const Options& o, const std::vector<Cell>& cells) {
    std::ostringstream md;
    md << "Measured " << machine_text(o) << ".\n\n";
    md << "| server | load | msg/s (median) | spread (min–max) | p50 µs | p99 µs | syscalls/msg | "
          "server ns/msg | server CPU s | load CPU s |\n";
    md << "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n";
    for (const Cell& c : cells) {
        auto rates = each(c, [](const Sample& s) { return s.rate; });
        md << "| " << c.server.label() << " | " << c.load.name() << " | "
           << fmt("%.0f", median(rates)) << " | "
           << fmt("%.0f", *std::min_element(rates.begin(), rates.end())) << "–"
           << fmt("%.0f", *std::max_element(rates.begin(), rates.end())) << " | "
           << fmt("%.0f", median(each(c, [](const Sample& s) { return s.p50; }))) << " | "
           << fmt("%.0f", median(each(c, [](const Sample& s) { return s.p99; }))) << " | "
           << c.syscalls << " | "
           << fmt("%.0f", median(each(c, [](const Sample& s) { return s.server_ns; }))) << " | "
           << fmt("%.2f", median(each(c, [](const Sample& s) { return s.server_cpu; }))) << " | "
           << fmt("%.2f", median(each(c, [](const Sample& s) { return s.load_cpu; }))) << " |\n";
    }
    return md.str();
}

std::string csv(const std::vector<Cell>& cells) {
    std::ostringstream out;
    out << "server,chapter,load,proto,conns,depth,size,idle,round,msgs_per_s,p50_us,p99_us,errors,"
           "lost,server_cpu_s,load_cpu_s,messages,server_ns_per_msg,syscalls_per_msg\n";
    for (const Cell& c : cells) {
        for (size_t r = 0; r < c.samples.size(); ++r) {
            const Sample& s = c.samples[r];
            out << c.server.name << "," << c.server.chapter << "," << c.load.name() << ","
                << c.load.proto << "," << c.load.conns << "," << c.load.depth << "," << c.load.size
                << "," << c.load.idle << "," << r + 1 << "," << fmt("%.0f", s.rate) << ","
                << fmt("%.0f", s.p50) << "," << fmt("%.0f", s.p99) << "," << s.errors << ","
                << s.lost << "," << fmt("%.3f", s.server_cpu) << "," << fmt("%.3f", s.load_cpu)
                << "," << s.messages << "," << fmt("%.0f", s.server_ns) << ","
                << (c.syscalls.rfind("n/a", 0) == 0 ? "" : c.syscalls) << "\n";
        }
    }
    return out.str();
}

// Hand-written SVG: one panel per load, one horizontal bar per server, each
// panel scaled to its own fastest server (loads differ by 10x and more). Each
// bar is labelled with its median rate and server ns per message, the same
// medians as the table.
std::string svg(const std::vector<Cell>& cells) {
    const int width = 760, label_w = 170, bar_h = 18, gap = 4, head = 26;
    const char* colors[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                            "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
    std::map<std::string, int> color_of;
    std::ostringstream body;
    int y = 10;
    for (const Load& l : kLoads) {
        std::vector<const Cell*> row;
        for (const Cell& c : cells) {
            if (c.load.name() == l.name()) row.push_back(&c);
        }
        if (row.empty()) continue;
        double top = 1;
        for (auto* c : row)
            top = std::max(top, median(each(*c, [](const Sample& s) { return s.rate; })));
        body << "<text x='0' y='" << y + 16 << "' font-weight='bold'>" << l.name()
             << " (messages/s; server CPU ns per message; medians)</text>\n";
        y += head;
        for (auto* c : row) {
            int ci =
                color_of.emplace(c->server.name, static_cast<int>(color_of.size())).first->second;
            double rate = median(each(*c, [](const Sample& s) { return s.rate; }));
            double ns = median(each(*c, [](const Sample& s) { return s.server_ns; }));
            int w = static_cast<int>((width - label_w - 140) * rate / top);
            body << "<text x='0' y='" << y + 13 << "'>" << c->server.name << "</text>"
                 << "<rect x='" << label_w << "' y='" << y << "' width='" << std::max(w, 1)
                 << "' height='" << bar_h << "' fill='" << colors[ci % 10] << "'/>"
                 << "<text x='" << label_w + w + 6 << "' y='" << y + 13 << "'>" << fmt("%.0f", rate)
                 << ", " << fmt("%.0f", ns) << " ns/msg</text>\n";
            y += bar_h + gap;
        }
        y += 10;
    }
    std::ostringstream out;
    out << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << y
        << "' font-family='sans-serif' font-size='12'>\n"
        << "<rect width='100%' height='100%' fill='white'/>\n"
        << body.str() << "</svg>\n";
    return out.str();
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream f(path);
    f << text;
    if (!f) throw std::runtime_error("cannot write " + path);
}

// Replaces what lies between the bench markers in the book chapter.
// The table goes between the markers of an existing file (the book), or into
// a new file that holds only the table (a scratch run). Checked before the
// rounds start, so a wrong path fails at once, not minutes later.
const std::string kBegin = "<!-- bench:begin -->", kEnd = "<!-- bench:end -->";

std::string book_text(const std::string& path) {
    std::ifstream in(path);
    if (!in) return kBegin + "\n" + kEnd + "\n";
    std::string text((std::istreambuf_iterator<char>(in)), {});
    auto b = text.find(kBegin), e = text.find(kEnd);
    if (b == std::string::npos || e == std::string::npos || e < b)
        throw std::runtime_error(path + ": no '" + kBegin + "' ... '" + kEnd + "' region to fill");
    return text;
}

void write_book_region(const std::string& path, const std::string& table) {
    std::string text = book_text(path);
    auto b = text.find(kBegin), e = text.find(kEnd);
    text = text.substr(0, b + kBegin.size()) + "\n" + table + text.substr(e);
    write_file(path, text);
}

} // namespace

int main(int argc, char** argv) {
    Options o = parse(argc, argv);
    std::vector<Cell> cells;
    try {
        for (const ServerInfo& s : load_server_list(o.servers)) {
            if (!o.only.empty() && std::find(o.only.begin(), o.only.end(), s.name) == o.only.end())
                continue;
            if (Availability a = server_available(s); !a.ok) {
                std::printf("skipped %s: %s\n", s.name.c_str(), a.reason.c_str());
                continue;
            }
            for (const Load& l : kLoads) {
                if (!o.only_load.empty() && l.name() != o.only_load) continue;
                if (l.proto == s.proto) cells.push_back(Cell{s, l, {}, "n/a"});
            }
        }
        if (cells.empty()) usage("no registered server matches --only and --only-load");
        book_text(o.book);
        // Interleaved rounds: A B C ... A B C ..., so a slow minute on a noisy
        // machine hurts every server a little instead of one server a lot.
        for (int round = 1; round <= o.rounds; ++round) {
            for (const Load& l : kLoads) {
                for (Cell& c : cells) {
                    if (c.load.name() != l.name()) continue;
                    c.samples.push_back(timed_run(o, c));
                    std::printf("round %d  %-20s %-16s %10.0f msg/s  p99 %6.0f us\n", round,
                                c.server.name.c_str(), l.name().c_str(), c.samples.back().rate,
                                c.samples.back().p99);
                    std::fflush(stdout);
                }
            }
        }
        Availability strace = strace_available();
        for (Cell& c : cells) {
            c.syscalls = strace.ok ? counted_run(o, c) : "n/a (" + strace.reason + ")";
        }
        std::string table = markdown(o, cells);
        write_file(o.csv, csv(cells));
        write_file(o.svg, svg(cells));
        write_book_region(o.book, table);
        std::printf("\n%s\nwrote %s, %s and the table in %s\n", table.c_str(), o.csv.c_str(),
                    o.svg.c_str(), o.book.c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ioladder_bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
