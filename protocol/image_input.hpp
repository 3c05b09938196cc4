#pragma once
// Images a client sends (OpenAI `image_url` parts, Anthropic `image` blocks), sans I/O: validated into the
// image content blocks the claude CLI takes on stream-json input, which passes them to the API unchanged.
#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace ksid::protocol {

struct ImageInput {
    std::string media_type;    // image/jpeg, image/png, image/gif or image/webp (base64 images)
    std::string data;          // base64, as the client sent it
    std::string url;           // an http(s) URL instead (the API fetches it)
    std::size_t bytes = 0;     // decoded size of `data`
};

// "image/png" and the three others the API takes.
bool is_supported_image_type(std::string_view media_type);
// The decoded size of base64 text; nullopt when it is not valid base64 (RFC 4648, padding optional).
std::optional<std::size_t> base64_decoded_size(std::string_view text);

// An OpenAI image_url: a `data:<type>;base64,<data>` URL or an http(s) URL; nullopt with `why` otherwise.
std::optional<ImageInput> image_from_url(std::string_view url, std::string& why);
// An Anthropic image block's source: {"type":"base64","media_type","data"} or {"type":"url","url"}.
std::optional<ImageInput> image_from_source(const boost::json::object& source, std::string& why);

// {"type":"image","source":{...}} for the CLI's stream-json input.
boost::json::object image_block(const ImageInput& image);

} // namespace ksid::protocol
