// Catch2 2.x is header-only: exactly one translation unit provides main().
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
