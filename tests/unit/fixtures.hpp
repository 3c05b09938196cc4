#pragma once
// Reads a recorded claude CLI fixture (tests/fixtures/claude-cli/).
#include <fstream>
#include <sstream>
#include <string>

inline std::string read_cli_fixture(const char* name) {
    std::ifstream in(std::string(KSID_FIXTURES_DIR) + "/" + name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}
