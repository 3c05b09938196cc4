#pragma once
// Random identifiers in the legacy formats: UUID4 strings and 8-hex process ids (uuid4()[:8]).
#include <string>

namespace ksid::daemon {

std::string uuid4();
std::string short_process_id();

} // namespace ksid::daemon
