#pragma once
// Small file helpers with the durability rules of the design: state that must survive a crash is written
// to a temp file, fsynced and renamed; convenience files are renamed without fsync.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace ksid::daemon {

enum class Durability {
    rename_only, // atomic replace; may be lost (not torn) in a power cut
    fsync,       // atomic replace that survives a crash: file and directory are fsynced
};

std::error_code write_file_atomic(const std::string& path, std::string_view content,
                                  Durability durability = Durability::fsync);

// Creates the directory and its parents; fine if it exists.
std::error_code ensure_directory(const std::string& path);

// Reads a file of at most max_bytes; nullopt if it is missing, unreadable or larger.
std::optional<std::string> read_small_file(const std::string& path, std::size_t max_bytes = 1 << 20);

// Removes temp files a crash left behind in a directory (write_file_atomic's "<name>.tmp.<pid>.<n>").
// Returns how many were removed.
std::size_t remove_stale_temp_files(const std::string& directory);

// Appends one whole line with a single write(2) (O_APPEND), as the design asks for log lines.
std::error_code append_line(const std::string& path, std::string_view line_with_newline);

// An append-only log kept open between lines (the message bus writes one line per message). Reopened when
// the file was removed (CLEANUP logs), so lines never go to a deleted file.
class AppendLog {
public:
    explicit AppendLog(std::string path) : path_(std::move(path)) {}
    ~AppendLog();
    AppendLog(const AppendLog&) = delete;
    AppendLog& operator=(const AppendLog&) = delete;
    std::error_code append(std::string_view line_with_newline);

private:
    std::string path_;
    int fd_ = -1;
};

} // namespace ksid::daemon
