// book_test.cpp: the book quotes the sources exactly, its links resolve, and
// every program has its place in the text.
//
// The first group checks the real book (book/ and chapters/ of this
// repository). The second group runs the same checks on the fixture
// repositories in tests/book/fixtures/: `good` must pass, and `broken` must
// produce exactly the problems listed here, so no check can silently stop
// finding anything.
#include "book_check.hpp"
#include "catch_compat.hpp"

#include <algorithm>
#include <sstream>
#include <tuple>

using namespace ioladder::book;

namespace {

const fs::path kRepo = IOLADDER_SOURCE_DIR;
const fs::path kFixtures = IOLADDER_BOOK_FIXTURES;

// One failed check per problem, each naming file, line and what differs.
void expect_none(const std::vector<Problem>& problems) {
    for (const auto& p : problems)
        FAIL_CHECK(p.text());
    if (problems.empty()) SUCCEED();
}

using Found = std::tuple<Kind, std::string, int>;

std::vector<Found> summarize(const std::vector<Problem>& problems) {
    std::vector<Found> out;
    for (const auto& p : problems)
        out.emplace_back(p.kind, p.file, p.line);
    std::sort(out.begin(), out.end());
    return out;
}

std::string describe(const std::vector<Problem>& problems) {
    std::ostringstream s;
    for (const auto& p : problems)
        s << "  [" << kind_name(p.kind) << "] " << p.text() << "\n";
    return s.str();
}

// The check found exactly these problems (kind, file, line), no more.
void expect_exactly(const std::vector<Problem>& problems, std::vector<Found> want) {
    std::sort(want.begin(), want.end());
    INFO("problems found:\n" << describe(problems));
    CHECK(summarize(problems) == want);
}

const Problem* find_kind(const std::vector<Problem>& ps, Kind k) {
    for (const auto& p : ps)
        if (p.kind == k) return &p;
    return nullptr;
}

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

const std::string kBrokenMd = "book/01-demo.md";
const std::string kMarkers = "chapters/01-demo/markers.hpp";

} // namespace

// ------------------------------------------------------------ the real book

TEST_CASE("every snippet in the book is the current text of its source region", "[book]") {
    expect_none(Checker(kRepo).snippets());
}

TEST_CASE("every trace in the book is the current generated trace file", "[book]") {
    expect_none(Checker(kRepo).traces());
}

TEST_CASE("every snippet and trace marker in the book is well formed and has its block", "[book]") {
    expect_none(Checker(kRepo).markers());
}

TEST_CASE("snippet markers in the chapter sources are balanced, unnested and unique", "[book]") {
    expect_none(Checker(kRepo).source_markers());
}

TEST_CASE("every relative link and anchor in the book resolves", "[book]") {
    expect_none(Checker(kRepo).links());
}

TEST_CASE(
    "every chapter program and exercise is named in its book chapter and every named .cpp exists",
    "[book]") {
    expect_none(Checker(kRepo).programs());
}

TEST_CASE("every book chapter is listed in SUMMARY.md, in order", "[book]") {
    expect_none(Checker(kRepo).summary());
}

// ------------------------------------------------------------ the checks themselves

TEST_CASE("the well-formed fixture book passes every check", "[book][fixture]") {
    Checker good(kFixtures / "good");
    auto problems = good.all();
    INFO(describe(problems));
    CHECK(problems.empty());
    // ...and the checks did look at something.
    CHECK(good.book_files().size() == 4);
}

TEST_CASE("a program named only in a later part of its chapter, book/<folder>-<part>.md, counts "
          "as named",
          "[book][fixture]") {
    Checker good(kFixtures / "good");
    REQUIRE(fs::exists(kFixtures / "good/chapters/01-demo/tuned_server.cpp"));
    std::string first, part;
    REQUIRE(read_file(kFixtures / "good/book/01-demo.md", first));
    REQUIRE(read_file(kFixtures / "good/book/01-demo-more.md", part));
    // The rule is what makes this pass: the first part never names it.
    CHECK(!contains(first, "tuned_server"));
    CHECK(contains(part, "tuned_server"));
    auto problems = good.programs();
    INFO(describe(problems));
    CHECK(problems.empty());
}

TEST_CASE("a snippet that differs from its region is reported with file, region and the "
          "first differing line",
          "[book][fixture]") {
    auto problems = Checker(kFixtures / "broken").snippets();
    const Problem* p = find_kind(problems, Kind::SnippetDiffers);
    REQUIRE(p != nullptr);
    INFO(p->text());
    CHECK(p->file == kBrokenMd);
    CHECK(p->line == 6);
    CHECK(contains(p->message, "region 'loop'"));
    CHECK(contains(p->message, "chapters/01-demo/demo_server.cpp:12-16"));
    CHECK(contains(p->message, "line 2 of the block"));
    CHECK(contains(p->message, "'    greet(); // edited by hand'"));
    CHECK(contains(p->message, "source: '    greet();'"));
    CHECK(contains(p->message, "cmake --build --preset book"));
}

TEST_CASE("a snippet naming a missing region or a missing file is reported", "[book][fixture]") {
    auto problems = Checker(kFixtures / "broken").snippets();
    expect_exactly(problems, {{Kind::SnippetDiffers, kBrokenMd, 6},
                              {Kind::MissingRegion, kBrokenMd, 15},
                              {Kind::MissingFile, kBrokenMd, 19}});
    const Problem* region = find_kind(problems, Kind::MissingRegion);
    REQUIRE(region != nullptr);
    CHECK(contains(region->message, "has no region 'no-such-region' (its regions: greet, loop)"));
    const Problem* file = find_kind(problems, Kind::MissingFile);
    REQUIRE(file != nullptr);
    CHECK(contains(file->message, "no such file chapters/01-demo/missing.cpp"));
}

TEST_CASE("a region name used twice in one source file is reported", "[book][fixture]") {
    auto problems = Checker(kFixtures / "broken").source_markers();
    const Problem* p = find_kind(problems, Kind::DuplicateRegion);
    REQUIRE(p != nullptr);
    CHECK(p->text() == kMarkers + ":4: region 'dup' appears twice (first at line 1)");
}

TEST_CASE("nested, unclosed, stray, empty and malformed source markers are reported",
          "[book][fixture]") {
    auto problems = Checker(kFixtures / "broken").source_markers();
    expect_exactly(problems, {{Kind::DuplicateRegion, kMarkers, 4},
                              {Kind::NestedRegion, kMarkers, 8},
                              {Kind::StrayEnd, kMarkers, 11},
                              {Kind::MalformedMarker, kMarkers, 12},
                              {Kind::EmptyRegion, kMarkers, 13},
                              {Kind::MalformedMarker, kMarkers, 15},
                              {Kind::UnclosedRegion, kMarkers, 16}});
    const Problem* nested = find_kind(problems, Kind::NestedRegion);
    REQUIRE(nested != nullptr);
    CHECK(contains(nested->message, "'inner' opens inside region 'outer' (opened at line 7)"));
}

TEST_CASE("a trace block that differs from its file, or names a missing file, is reported",
          "[book][fixture]") {
    auto problems = Checker(kFixtures / "broken").traces();
    expect_exactly(problems,
                   {{Kind::TraceDiffers, kBrokenMd, 23}, {Kind::MissingFile, kBrokenMd, 28}});
    const Problem* p = find_kind(problems, Kind::TraceDiffers);
    REQUIRE(p != nullptr);
    CHECK(contains(p->message, "book/traces/01-demo_server.txt"));
    CHECK(contains(p->message, "book:   (block ends)"));
    CHECK(contains(p->message, "block has 1 lines, file   has 2"));
}

TEST_CASE("a marker without a block, or one that does not parse, is reported", "[book][fixture]") {
    auto problems = Checker(kFixtures / "broken").markers();
    expect_exactly(problems, {{Kind::MarkerWithoutBlock, kBrokenMd, 32},
                              {Kind::MalformedBlockMarker, kBrokenMd, 36}});
}

TEST_CASE("broken relative links and anchors are reported and web links are not",
          "[book][fixture]") {
    auto problems = Checker(kFixtures / "broken").links();
    expect_exactly(problems, {{Kind::BrokenLink, kBrokenMd, 38},
                              {Kind::BrokenAnchor, kBrokenMd, 38},
                              {Kind::BrokenAnchor, kBrokenMd, 39}});
    const Problem* p = find_kind(problems, Kind::BrokenLink);
    REQUIRE(p != nullptr);
    CHECK(p->message == "link 'nowhere.md': no such file or folder book/nowhere.md");
}

TEST_CASE("a program or exercise its chapter never names, a named .cpp that does not exist and "
          "a chapter folder without a book chapter are reported",
          "[book][fixture]") {
    auto problems = Checker(kFixtures / "broken").programs();
    expect_exactly(problems, {{Kind::ChapterWithoutBook, "chapters/04-lonely", 0},
                              {Kind::ProgramNotInBook, kBrokenMd, 0},
                              {Kind::ProgramNotInBook, kBrokenMd, 0},
                              {Kind::ExerciseNotInBook, kBrokenMd, 0},
                              {Kind::BookNamesMissingFile, kBrokenMd, 41}});
    std::string unnamed;
    for (const auto& p : problems)
        if (p.kind == Kind::ProgramNotInBook) unnamed += p.message + "\n";
    INFO(unnamed);
    CHECK(contains(unnamed, "chapters/01-demo/quiet_server.cpp is never named"));
    // Named only in book/02-two.md: another chapter's file is not a part of 01.
    CHECK(contains(unnamed, "chapters/01-demo/misplaced_server.cpp is never named"));
    const Problem* q = find_kind(problems, Kind::BookNamesMissingFile);
    REQUIRE(q != nullptr);
    CHECK(contains(q->message, "names 'ghost.cpp'"));
    const Problem* x = find_kind(problems, Kind::ExerciseNotInBook);
    REQUIRE(x != nullptr);
    CHECK(contains(x->message, "exercise warmup (chapters/01-demo/exercises/warmup.hpp)"));
}

TEST_CASE("a chapter missing from SUMMARY.md or listed out of order is reported",
          "[book][fixture]") {
    auto problems = Checker(kFixtures / "broken").summary();
    expect_exactly(problems, {{Kind::ChapterNotInSummary, "book/SUMMARY.md", 0},
                              {Kind::SummaryOutOfOrder, "book/SUMMARY.md", 4}});
    const Problem* p = find_kind(problems, Kind::ChapterNotInSummary);
    REQUIRE(p != nullptr);
    CHECK(contains(p->message, "book/03-orphan.md is not listed"));
}

TEST_CASE("book_update rewrites a drifted block, inserts a missing one and is idempotent",
          "[book][fixture]") {
    const fs::path root = kFixtures / "good";
    const fs::path md = root / "book" / "01-demo.md";
    std::string good;
    REQUIRE(read_file(md, good));

    // Drift one snippet line and drop the greet block, keeping its marker.
    std::string drifted = good;
    auto at = drifted.find("    greet();\n");
    REQUIRE(at != std::string::npos);
    drifted.replace(at, 13, "    greet(); // edited\n");
    const std::string greet_block =
        "```cpp\nstatic void greet() {\n    std::puts(\"hello\");\n}\n```\n";
    at = drifted.find(greet_block);
    REQUIRE(at != std::string::npos);
    drifted.erase(at, greet_block.size());

    auto first = update_markdown(md, drifted, root);
    INFO(describe(first.problems));
    CHECK(first.problems.empty());
    CHECK(first.snippets == 2);
    CHECK(first.traces == 1);
    CHECK(first.changed == 2);
    CHECK(first.text == good);

    auto second = update_markdown(md, first.text, root);
    CHECK(second.changed == 0);
    CHECK(second.text == good);
}

TEST_CASE("book_update leaves a block it cannot resolve as it was and says why",
          "[book][fixture]") {
    const fs::path root = kFixtures / "broken";
    const fs::path md = root / "book" / "01-demo.md";
    std::string text;
    REQUIRE(read_file(md, text));
    auto res = update_markdown(md, text, root);
    CHECK(find_kind(res.problems, Kind::MissingRegion) != nullptr);
    CHECK(find_kind(res.problems, Kind::MissingFile) != nullptr);
    // The missing-region block is kept, the drifted one is fixed.
    CHECK(contains(res.text, "#no-such-region -->\n```cpp\n```\n"));
    CHECK(!contains(res.text, "edited by hand"));
}

// ------------------------------------------------------------ parsing details

TEST_CASE("dedent removes the common indentation and keeps blank lines", "[book][parse]") {
    CHECK(dedent({"    if (x) {", "        y();", "", "    }"}) ==
          std::vector<std::string>{"if (x) {", "    y();", "", "}"});
    CHECK(dedent({"  a", "   ", "    b"}) == std::vector<std::string>{"a", "", "  b"});
}

TEST_CASE("regions are the lines between their markers, in // and # comments", "[book][parse]") {
    auto r = parse_regions("x\n  // [snippet: a]\n  one\n  // [/snippet]\n# [snippet: b.2]\ntwo\n"
                           "#[/snippet]\n",
                           "f");
    CHECK(r.problems.empty());
    REQUIRE(r.find("a") != nullptr);
    CHECK(r.find("a")->lines == std::vector<std::string>{"  one"});
    CHECK(r.find("a")->first_line == 3);
    REQUIRE(r.find("b.2") != nullptr);
    CHECK(r.find("b.2")->lines == std::vector<std::string>{"two"});
}

TEST_CASE("heading anchors follow GitHub's rules", "[book][parse]") {
    CHECK(github_anchor("The idea: readiness") == "the-idea-readiness");
    CHECK(github_anchor("FD_SETSIZE, and why 1024?") == "fd_setsize-and-why-1024");
    CHECK(github_anchor("`select()` — the contract") == "select--the-contract");
    auto doc = parse_markdown("# A\n## A\n```\n# not a heading\n```\n### B ###\n", "f");
    CHECK(doc.anchors == std::vector<std::string>{"a", "a-1", "b"});
}

TEST_CASE("links inside code spans and fenced blocks are not links", "[book][parse]") {
    auto doc = parse_markdown("[a](x.md) `[b](y.md)` ``[c](`z`)``\n"
                              "```\n[d](w.md)\n```\n"
                              "[e]: <v.md>\n![img](pic.png \"title\")\n",
                              "f");
    std::vector<std::string> targets;
    for (const auto& l : doc.links)
        targets.push_back(l.target);
    CHECK(targets == std::vector<std::string>{"x.md", "v.md", "pic.png"});
}

TEST_CASE("a snippet block may use a longer fence and then contain shorter ones", "[book][parse]") {
    auto doc = parse_markdown("<!-- snippet: a.md#r -->\n````markdown\n```cpp\nx\n```\n````\n"
                              "after\n",
                              "f");
    REQUIRE(doc.blocks.size() == 1);
    CHECK(doc.blocks[0].lines == std::vector<std::string>{"```cpp", "x", "```"});
    CHECK(doc.blocks[0].fence_close == 6);
    CHECK(doc.problems.empty());
}
