#include "protocol/legacy_reply.hpp"

#include <doctest/doctest.h>

using namespace ksid::protocol;

TEST_CASE("success replies have status, command, result in that order, on one line") {
    boost::json::object result{
        {"status", "healthy"}, {"message", "HEALTHY"}, {"uptime_info", "Daemon is running normally"}};
    CHECK(encode_success_reply("HEALTH_CHECK", result) ==
          "{\"status\": \"success\", \"command\": \"HEALTH_CHECK\", \"result\": {\"status\": \"healthy\", "
          "\"message\": "
          "\"HEALTHY\", \"uptime_info\": \"Daemon is running normally\"}}\n");
}

TEST_CASE("error replies: timestamp for all but INVALID_JSON") {
    CHECK(encode_error_reply("IDENTITY_NOT_FOUND", "Identity not found for agent nobody",
                             "2025-06-22T15:20:01.004211Z") ==
          "{\"status\": \"error\", \"error\": {\"code\": \"IDENTITY_NOT_FOUND\", \"message\": \"Identity not "
          "found for "
          "agent nobody\", \"timestamp\": \"2025-06-22T15:20:01.004211Z\"}}\n");
    CHECK(encode_error_reply("INVALID_JSON",
                             "All commands must be valid JSON: Expecting value: line 1 column 1 (char 0)",
                             std::nullopt) == "{\"status\": \"error\", \"error\": {\"code\": "
                                              "\"INVALID_JSON\", \"message\": \"All commands must be valid "
                                              "JSON: Expecting value: line 1 column 1 (char 0)\"}}\n");
}

TEST_CASE("newlines inside messages are escaped: a reply is always one line") {
    auto line = encode_error_reply("X", "a\nb", "t");
    CHECK(line.find('\n') == line.size() - 1);
}
