#pragma once

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

namespace pgdual::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
template <class T = void>
using Awaitable = asio::awaitable<T>;
using asio::use_awaitable;
using namespace asio::experimental::awaitable_operators;

}  // namespace pgdual::proxy
