#pragma once
// Random identifiers in the legacy formats: UUID4 strings and 8-hex process ids (uuid4()[:8]).
#include <string>

namespace ksid::daemon {

std::string uuid4();
std::string short_process_id();
// This process's random id (16 hex digits), for loop detection between ksid instances (X-Ksid-Hop).
const std::string& instance_id();

} // namespace ksid::daemon
