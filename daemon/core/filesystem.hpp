#pragma once
// Small file helpers with the durability rules of the design: state that must survive a crash is written
// to a temp file, fsynced and renamed; convenience files are renamed without fsync. Also: reading with a
// size limit that says why it failed, renaming a damaged file aside instead of losing it, and the
// directory lock that keeps a second daemon out of a working directory.
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

// Reads a file of at most max_bytes into `out`. Errors: no_such_file_or_directory when it is missing,
// file_too_large when it is larger, invalid_argument when it is a FIFO, socket or device (opened without
// blocking, never read), else the errno of open/read.
std::error_code read_file_limited(const std::string& path, std::size_t max_bytes, std::string& out);

// Renames `path` to "<path>.corrupt-<UTC time>" (with "-2", "-3"... if that exists; never replacing a
// file) and sets `kept_as` to the new name: for a file ksid cannot use but must not overwrite.
std::error_code keep_aside(const std::string& path, std::string& kept_as);

// Removes temp files a crash left behind in a directory (write_file_atomic's "<name>.tmp.<pid>.<n>").
// Returns how many were removed.
std::size_t remove_stale_temp_files(const std::string& directory);

// Appends one whole line with a single write(2) (O_APPEND), as the design asks for log lines.
// Appends to a regular file only (invalid_argument for a FIFO, socket or device); never blocks on opening.
std::error_code append_line(const std::string& path, std::string_view line_with_newline);

// An exclusive flock(2) on a directory, held while the object lives (the kernel drops it when the process
// ends, however it ends). The descriptor is O_CLOEXEC, so no child keeps the lock after ksid is gone.
class DirectoryLock {
public:
    enum class Outcome { acquired, held_elsewhere, failed };
    DirectoryLock() = default;
    ~DirectoryLock();
    DirectoryLock(const DirectoryLock&) = delete;
    DirectoryLock& operator=(const DirectoryLock&) = delete;

    // Never blocks. failed: the directory cannot be opened or locked (`ec`; e.g. NFS without local locks).
    Outcome try_acquire(const std::string& directory, std::error_code& ec);
    bool held() const { return fd_ >= 0; }
    // RELOAD_DAEMON: the old daemon passes its descriptor (the lock belongs to the open file, so both
    // hold it until the old one exits); the new one adopts what it inherited.
    int native() const { return fd_; }
    void adopt(int fd) { fd_ = fd; }

private:
    int fd_ = -1;
};

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
