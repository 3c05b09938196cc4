#include "protocol/image_input.hpp"

#include "protocol/json_parse.hpp"

namespace ksid::protocol {
namespace json = boost::json;

namespace {

bool is_base64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

bool is_http_url(std::string_view url) {
    return (url.starts_with("https://") || url.starts_with("http://")) && url.size() <= 8192 &&
           url.find_first_of(" \t\r\n") == std::string_view::npos;
}

std::optional<ImageInput> base64_image(std::string_view media_type, std::string_view data, std::string& why) {
    if (!is_supported_image_type(media_type)) {
        why = "image media type '" + std::string(media_type.substr(0, 64)) +
              "' is not supported (image/jpeg, image/png, image/gif, image/webp)";
        return std::nullopt;
    }
    const auto bytes = base64_decoded_size(data);
    if (!bytes || *bytes == 0) {
        why = "image data is not valid base64";
        return std::nullopt;
    }
    return ImageInput{std::string(media_type), std::string(data), {}, *bytes};
}

} // namespace

bool is_supported_image_type(std::string_view t) {
    return t == "image/jpeg" || t == "image/png" || t == "image/gif" || t == "image/webp";
}

std::optional<std::size_t> base64_decoded_size(std::string_view text) {
    std::size_t padding = 0;
    while (!text.empty() && text.back() == '=' && padding < 2) {
        text.remove_suffix(1);
        ++padding;
    }
    for (char c : text)
        if (!is_base64_char(c)) return std::nullopt;
    if (text.size() % 4 == 1) return std::nullopt;
    if (padding && (text.size() + padding) % 4 != 0) return std::nullopt;
    return text.size() / 4 * 3 + (text.size() % 4 == 0 ? 0 : text.size() % 4 - 1);
}

std::optional<ImageInput> image_from_url(std::string_view url, std::string& why) {
    if (url.starts_with("data:")) {
        const auto comma = url.find(',');
        const auto header = url.substr(5, comma == std::string_view::npos ? 0 : comma - 5);
        if (comma == std::string_view::npos || !header.ends_with(";base64")) {
            why = "data URLs must be base64 (data:<media type>;base64,<data>)";
            return std::nullopt;
        }
        return base64_image(header.substr(0, header.size() - 7), url.substr(comma + 1), why);
    }
    if (!is_http_url(url)) {
        why = "image URLs must be data: or http(s) URLs";
        return std::nullopt;
    }
    return ImageInput{{}, {}, std::string(url), 0};
}

std::optional<ImageInput> image_from_source(const json::object& source, std::string& why) {
    const auto type = string_at(source, "type");
    if (type == "base64") return base64_image(string_at(source, "media_type"), string_at(source, "data"), why);
    if (type == "url") {
        const auto url = string_at(source, "url");
        if (!is_http_url(url)) {
            why = "image URLs must be http(s) URLs";
            return std::nullopt;
        }
        return ImageInput{{}, {}, std::string(url), 0};
    }
    why = "image sources are base64 or url";
    return std::nullopt;
}

json::object image_block(const ImageInput& image) {
    json::object source = image.url.empty()
                              ? json::object{{"type", "base64"}, {"media_type", image.media_type}, {"data", image.data}}
                              : json::object{{"type", "url"}, {"url", image.url}};
    return {{"type", "image"}, {"source", std::move(source)}};
}

} // namespace ksid::protocol
