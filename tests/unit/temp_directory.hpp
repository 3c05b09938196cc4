#pragma once
// A fresh directory under the system temp directory, removed with everything in it at the end of a test.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>
#include <vector>

namespace ksid::test {

struct TempDirectory {
    explicit TempDirectory(const std::string& prefix)
        : path(std::filesystem::temp_directory_path() /
               (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++))) {
        std::filesystem::create_directories(path);
    }
    ~TempDirectory() { std::filesystem::remove_all(path); }
    TempDirectory(const TempDirectory&) = delete;
    TempDirectory& operator=(const TempDirectory&) = delete;

    std::string operator/(const std::string& name) const { return (path / name).string(); }

    void write(const std::string& name, const std::string& content) const {
        std::ofstream(path / name, std::ios::binary) << content;
    }
    std::string read(const std::string& name) const {
        std::ifstream in(path / name, std::ios::binary);
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }
    // The names in the directory that start with `prefix`.
    std::vector<std::string> names_starting_with(const std::string& prefix) const {
        std::vector<std::string> names;
        for (const auto& entry : std::filesystem::directory_iterator(path))
            if (entry.path().filename().string().starts_with(prefix))
                names.push_back(entry.path().filename());
        return names;
    }

    static inline int counter = 0;
    std::filesystem::path path;
};

} // namespace ksid::test
