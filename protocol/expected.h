#pragma once

#include <system_error>

#include <tl/expected.hpp>

namespace pgdual {

/// The project's result type. C++20 has no std::expected; tl::expected (Debian's
/// libexpected-dev) has the same interface, so switching later is one line here.
template <class T, class E = std::error_code>
using Expected = tl::expected<T, E>;

using tl::unexpected;

}  // namespace pgdual
