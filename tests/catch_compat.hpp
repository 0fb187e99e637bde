// catch_compat.hpp: one include for Catch2 2.13 (Debian 12) and Catch2 3.x.
//
// The test files use what both versions spell the same way, plus these three
// things, which differ and are hidden here:
//
// IOLADDER_SKIP(reason) ends the current test case as *skipped*: Catch2 3 has
// SKIP() (the program then exits 4, which catch_discover_tests turns into
// CTest's SKIP_RETURN_CODE); with Catch2 2 we print "SKIPPED: <reason>" and
// return, and CTest's SKIP_REGULAR_EXPRESSION (set by ioladder_catch_tests)
// reports the skip. Use it only at the top level of a test case's body (under
// Catch2 2 it returns).
//
// ioladder::test::contains_text(s) is the string matcher "contains s", for
// CHECK_THAT and CHECK_THROWS_WITH: Catch::Contains in Catch2 2,
// Catch::Matchers::ContainsSubstring in Catch2 3.
//
// ioladder::test::register_test_case(name, tags, body) adds a test case at
// run time, for a suite generated from a list read when the program starts
// (the fault-injection suite makes its cases from the registered servers).
// Call it during static initialisation, before Catch2's main() lists or runs
// the tests. It uses Catch::AutoReg, the registrar behind TEST_CASE, which
// takes its invoker as a raw pointer in Catch2 2 and a unique_ptr in 3.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <utility>

#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#define IOLADDER_SKIP(reason)                                                                      \
    do {                                                                                           \
        WARN("SKIPPED: " << (reason));                                                             \
        SKIP("SKIPPED: " << (reason));                                                             \
    } while (0)
namespace ioladder::test {
inline auto contains_text(const std::string& text) {
    return Catch::Matchers::ContainsSubstring(text);
}
inline auto owned_invoker(Catch::ITestInvoker* invoker) {
    return Catch::Detail::unique_ptr<Catch::ITestInvoker>(invoker);
}
} // namespace ioladder::test
#else
#include <catch2/catch.hpp>
#define IOLADDER_SKIP(reason)                                                                      \
    do {                                                                                           \
        WARN("SKIPPED: " << (reason));                                                             \
        return;                                                                                    \
    } while (0)
namespace ioladder::test {
inline auto contains_text(const std::string& text) {
    return Catch::Matchers::Contains(text);
}
inline Catch::ITestInvoker* owned_invoker(Catch::ITestInvoker* invoker) {
    return invoker; // the registry takes ownership
}
} // namespace ioladder::test
#endif

namespace ioladder::test {

class FunctionInvoker : public Catch::ITestInvoker {
  public:
    explicit FunctionInvoker(std::function<void()> body) : body_(std::move(body)) {}
    void invoke() const override { body_(); }

  private:
    std::function<void()> body_;
};

// Catch2 copies the name and the tags; they need not outlive the call. A
// failure report points at the caller's line.
inline void register_test_case(const std::string& name, const std::string& tags,
                               std::function<void()> body, const char* file = __builtin_FILE(),
                               int line = __builtin_LINE()) {
    [[maybe_unused]] Catch::AutoReg registered(
        owned_invoker(new FunctionInvoker(std::move(body))),
        Catch::SourceLineInfo(file, static_cast<std::size_t>(line)), Catch::StringRef(),
        Catch::NameAndTags{name, tags});
}

} // namespace ioladder::test
