// Precompiled header for the daemon library: the heavy, stable headers only.
#pragma once
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>
