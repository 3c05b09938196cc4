#pragma once
// `ksid keys add|list|revoke|set` and `ksid usage`: the usage database (usage.database, in the working
// directory the daemon runs in) managed from the command line, whether the daemon runs or not. A running
// daemon sees a key change within a second (it polls the database's keys version).
#include <string>
#include <vector>

namespace ksid::app {

// True when args[0] names one of these commands.
bool is_admin_command(const std::vector<std::string>& args);
// Runs it; the process exit status (0, 1 on failure, 2 on a bad command line).
int run_admin_command(const std::vector<std::string>& args);

} // namespace ksid::app
