#pragma once
// What ksid writes to a persistent `claude --input-format stream-json` process (claude-cli.md "Persistent
// processes"), sans I/O: one user turn per line, and the in-band interrupt control request. Each turn is
// answered by stream-json events ending with a `result` line; an interrupt by a `control_response` (and the
// interrupted turn's `result`, which must be read before the next turn is written).
#include "protocol/image_input.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace ksid::protocol {

// {"type":"user","message":{"role":"user","content":"..."},"parent_tool_use_id":null,"session_id":"default"}\n
// With images the content is blocks: the prompt's text, then an image block each.
std::string stream_input_user_line(std::string_view prompt, const std::vector<ImageInput>& images = {});

// {"type":"control_request","request_id":"<id>","request":{"subtype":"interrupt"}}\n
std::string stream_input_interrupt_line(std::string_view request_id);

} // namespace ksid::protocol
