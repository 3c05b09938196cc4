#pragma once
// A whole HTTP response as the facade's handlers build it: status, content type, headers, body, and what
// the connection does after it. Plain data (no Asio, no Beast), so the pure parts of the facade (the error
// map, request planning) and their fuzz target use it without the rest.
#include <string>
#include <utility>
#include <vector>

namespace ksid::facade {

// Which API's shapes a response takes (errors, model lists).
enum class ApiDialect { openai, anthropic };

struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    bool close = false; // close the connection after it
    bool sent = false;  // the handler wrote it itself (a stream); `status` says what it was
    std::string reason; // an error response: its message, for the access log line

    void set(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
};

} // namespace ksid::facade
