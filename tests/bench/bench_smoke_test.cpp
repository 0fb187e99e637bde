// The bench machinery, run for a fraction of a second on one server: it must
// finish and write well-formed output. No figure is judged here; speed is
// never a test.
#include "catch_compat.hpp"
#include "harness.hpp"
#include "strace.hpp"

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

using namespace ioladder::test;
using namespace std::chrono_literals;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream f(path);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::stringstream in(s);
    for (std::string part; std::getline(in, part, sep);)
        out.push_back(part);
    return out;
}

} // namespace

TEST_CASE("the bench writes a table region, a CSV and an SVG for one server", "[bench]") {
    std::string md = temp_path("bench-smoke") + ".md", csv = temp_path("bench-smoke") + ".csv",
                svg = temp_path("bench-smoke") + ".svg";
    {
        std::ofstream f(md);
        f << "# Measuring\n\nbefore\n<!-- bench:begin -->\nold table\n<!-- bench:end -->\nafter\n";
    }
    auto run =
        run_program({IOLADDER_BENCH, "--servers", server_list_path(), "--load", IOLADDER_ECHO_LOAD,
                     "--book", md, "--csv", csv, "--svg", svg, "--only", "echo_udp_select",
                     "--rounds", "2", "--duration", "0.2", "--counted", "2000"},
                    60s);
    INFO("stdout:\n" << run.out << "\nstderr:\n" << run.err);
    REQUIRE(run.exit_code == 0);

    // The Markdown region was replaced, the text around it kept.
    std::string text = slurp(md);
    CHECK(text.find("old table") == std::string::npos);
    CHECK(text.find("before\n<!-- bench:begin -->\n") != std::string::npos);
    CHECK(text.find("<!-- bench:end -->\nafter\n") != std::string::npos);
    CHECK(text.find("| echo_udp_select | udp 1x1x64B | ") != std::string::npos);
    CHECK(text.find("| echo_udp_select | udp 8x8x512B | ") != std::string::npos);

    // The table has a server CPU per message column, a number above zero (its
    // size is not judged).
    const std::string head = "| syscalls/msg | server ns/msg | server CPU s |";
    CHECK(text.find(head) != std::string::npos);
    auto row = text.substr(text.find("| echo_udp_select | udp 1x1x64B | "));
    auto cells = split(row.substr(0, row.find('\n')), '|'); // "", " server ", " load ", ...
    REQUIRE(cells.size() >= 10);
    CHECK(std::stod(cells[8]) > 0);

    // CSV: the header, then one row per round and load, every row the same width.
    auto lines = split(slurp(csv), '\n');
    REQUIRE(lines.size() == 1 + 2 * 2);
    auto header = split(lines[0], ',');
    REQUIRE(header.size() == 19);
    CHECK(header[9] == "msgs_per_s");
    CHECK(header[16] == "messages");
    CHECK(header[17] == "server_ns_per_msg");
    for (size_t i = 1; i < lines.size(); ++i) {
        auto cols = split(lines[i] + ",", ','); // a trailing empty field still counts
        INFO(lines[i]);
        CHECK(cols.size() == header.size());
        CHECK(cols[0] == "echo_udp_select");
        CHECK(std::stod(cols[9]) > 0);   // something was echoed
        CHECK(std::stol(cols[12]) == 0); // errors: every byte came back intact
        CHECK(std::stol(cols[16]) > 0);  // messages echoed in the run
        CHECK(std::stod(cols[17]) > 0);  // server CPU per message
    }
    if (strace_available().ok) CHECK(!split(lines[1] + ",", ',')[18].empty());

    // SVG: one document, a bar and a label per server and load.
    std::string pic = slurp(svg);
    CHECK(pic.rfind("<svg xmlns='http://www.w3.org/2000/svg'", 0) == 0);
    CHECK(pic.find("</svg>") == pic.size() - 7);
    size_t bars = 0;
    for (size_t at = 0; (at = pic.find("<rect x=", at)) != std::string::npos; ++at)
        ++bars;
    CHECK(bars == 2);

    for (const auto& f : {md, csv, svg})
        std::remove(f.c_str());
}

TEST_CASE("the bench runs only the named servers under the named load, into a new file",
          "[bench]") {
    std::string md = temp_path("bench-pair") + ".md", csv = temp_path("bench-pair") + ".csv",
                svg = temp_path("bench-pair") + ".svg";
    std::remove(md.c_str()); // a scratch run writes a file holding only the table
    auto run = run_program({IOLADDER_BENCH,
                            "--servers",
                            server_list_path(),
                            "--load",
                            IOLADDER_ECHO_LOAD,
                            "--book",
                            md,
                            "--csv",
                            csv,
                            "--svg",
                            svg,
                            "--only",
                            "echo_tcp_select,echo_tcp_poll",
                            "--only-load",
                            "tcp 1x1x64B",
                            "--rounds",
                            "2",
                            "--duration",
                            "0.2",
                            "--counted",
                            "200"},
                           60s);
    INFO("stdout:\n" << run.out << "\nstderr:\n" << run.err);
    REQUIRE(run.exit_code == 0);
    auto lines = split(slurp(csv), '\n');
    REQUIRE(lines.size() == 1 + 2 * 2); // two servers, one load, two rounds
    for (size_t i = 1; i < lines.size(); ++i) {
        auto cols = split(lines[i], ',');
        INFO(lines[i]);
        CHECK((cols[0] == "echo_tcp_select" || cols[0] == "echo_tcp_poll"));
        CHECK(cols[2] == "tcp 1x1x64B");
    }
    std::string text = slurp(md);
    CHECK(text.rfind("<!-- bench:begin -->\n", 0) == 0);
    CHECK(text.find("| echo_tcp_poll | tcp 1x1x64B | ") != std::string::npos);

    // A load that does not exist is refused at once, before any round runs.
    auto none =
        run_program({IOLADDER_BENCH, "--servers", server_list_path(), "--load", IOLADDER_ECHO_LOAD,
                     "--book", md, "--csv", csv, "--svg", svg, "--only-load", "tcp 9x9x9B"},
                    10s);
    CHECK(none.exit_code == 2);
    CHECK_THAT(none.err, contains_text("no registered server matches"));

    for (const auto& f : {md, csv, svg})
        std::remove(f.c_str());
}
