// enum_names.hpp: teach Catch2 the names of the exercises' status enums, so
// a failed check prints `Recv::truncated == Recv::datagram`, not `1 == 0`.
//
//   IOLADDER_ENUM_NAMES(ioladder::ch01::Recv, datagram, truncated, none, failed)
//
// lists every enumerator, in any order; a value not listed prints as a number.
// Use it at namespace scope, after including the exercise's header.
#pragma once

#include "catch_compat.hpp"

#include <initializer_list>
#include <string>
#include <string_view>

namespace ioladder::test {

// The name of `value` among `names` (comma-separated, as the macro wrote them).
template <typename E>
std::string enum_name(E value, std::string_view type, std::string_view names,
                      std::initializer_list<E> values) {
    std::size_t colons = type.rfind("::");
    if (colons != std::string_view::npos) type.remove_prefix(colons + 2);
    for (E v : values) {
        std::size_t end = names.find(',');
        std::string_view name = names.substr(0, end);
        while (!name.empty() && name.front() == ' ')
            name.remove_prefix(1);
        if (v == value) return std::string(type) + "::" + std::string(name);
        names.remove_prefix(end == std::string_view::npos ? names.size() : end + 1);
    }
    return std::string(type) + "(" + std::to_string(static_cast<long long>(value)) + ")";
}

} // namespace ioladder::test

// E::a, E::b, ... for up to eight enumerators.
#define IOLADDER_EV1_(E, a) E::a
#define IOLADDER_EV2_(E, a, ...) E::a, IOLADDER_EV1_(E, __VA_ARGS__)
#define IOLADDER_EV3_(E, a, ...) E::a, IOLADDER_EV2_(E, __VA_ARGS__)
#define IOLADDER_EV4_(E, a, ...) E::a, IOLADDER_EV3_(E, __VA_ARGS__)
#define IOLADDER_EV5_(E, a, ...) E::a, IOLADDER_EV4_(E, __VA_ARGS__)
#define IOLADDER_EV6_(E, a, ...) E::a, IOLADDER_EV5_(E, __VA_ARGS__)
#define IOLADDER_EV7_(E, a, ...) E::a, IOLADDER_EV6_(E, __VA_ARGS__)
#define IOLADDER_EV8_(E, a, ...) E::a, IOLADDER_EV7_(E, __VA_ARGS__)
#define IOLADDER_EV_PICK_(_1, _2, _3, _4, _5, _6, _7, _8, name, ...) name
#define IOLADDER_ENUM_VALUES_(E, ...)                                                              \
    IOLADDER_EV_PICK_(__VA_ARGS__, IOLADDER_EV8_, IOLADDER_EV7_, IOLADDER_EV6_, IOLADDER_EV5_,     \
                      IOLADDER_EV4_, IOLADDER_EV3_, IOLADDER_EV2_, IOLADDER_EV1_)                  \
    (E, __VA_ARGS__)
#define IOLADDER_ENUM_NAMES(Enum, ...)                                                             \
    namespace Catch {                                                                              \
    template <>                                                                                    \
    struct StringMaker<Enum> {                                                                     \
        static std::string convert(Enum value) {                                                   \
            using E = Enum;                                                                        \
            return ::ioladder::test::enum_name<E>(value, #Enum, #__VA_ARGS__,                      \
                                                  {IOLADDER_ENUM_VALUES_(E, __VA_ARGS__)});        \
        }                                                                                          \
    };                                                                                             \
    }
