// catch_compat.hpp: one include for Catch2 2.13 (Debian 12) and Catch2 3.x.
//
// IOLADDER_SKIP(reason) ends the current test case as *skipped*: Catch2 3 has
// SKIP(); with Catch2 2 we print "SKIPPED: <reason>" and return, and CTest's
// SKIP_REGULAR_EXPRESSION (set by ioladder_catch_tests) reports the skip.
// Use it only at the top level of a TEST_CASE body (it returns).
#pragma once

#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#define IOLADDER_SKIP(reason)                                                                      \
    do {                                                                                           \
        WARN("SKIPPED: " << (reason));                                                             \
        SKIP("SKIPPED: " << (reason));                                                             \
    } while (0)
#else
#include <catch2/catch.hpp>
#define IOLADDER_SKIP(reason)                                                                      \
    do {                                                                                           \
        WARN("SKIPPED: " << (reason));                                                             \
        return;                                                                                    \
    } while (0)
#endif
