#include "daemon/core/filesystem.hpp"

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ksid::daemon {

namespace {

std::error_code last_error() {
    return {errno, std::system_category()};
}

std::error_code write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return last_error();
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

std::string parent_of(const std::string& path) {
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

} // namespace

std::error_code write_file_atomic(const std::string& path, std::string_view content, Durability durability) {
    // Atomic: the worker thread writes state files too (blocking_worker.hpp).
    static std::atomic<unsigned long> counter{0};
    const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(++counter);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return last_error();
    std::error_code ec = write_all(fd, content);
    if (!ec && durability == Durability::fsync && ::fsync(fd) != 0) ec = last_error();
    if (::close(fd) != 0 && !ec) ec = last_error();
    if (!ec && ::rename(tmp.c_str(), path.c_str()) != 0) ec = last_error();
    if (ec) {
        ::unlink(tmp.c_str());
        return ec;
    }
    if (durability == Durability::fsync) {
        const int dfd = ::open(parent_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            ::fsync(dfd);
            ::close(dfd);
        }
    }
    return {};
}

std::error_code ensure_directory(const std::string& path) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return ec;
    if (!std::filesystem::is_directory(path, ec)) return std::make_error_code(std::errc::not_a_directory);
    return {};
}

std::optional<std::string> read_small_file(const std::string& path, std::size_t max_bytes) {
    std::string out;
    if (read_file_limited(path, max_bytes, out)) return std::nullopt;
    return out;
}

std::error_code read_file_limited(const std::string& path, std::size_t max_bytes, std::string& out) {
    out.clear();
    // Non-blocking: opening a FIFO must not wait for a writer (that hung the event loop).
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return last_error();
    std::error_code ec;
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        ec = last_error();
        ::close(fd);
        return ec;
    }
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) { // a FIFO, socket or device: never read
        ::close(fd);
        return std::make_error_code(std::errc::invalid_argument);
    }
    if (S_ISREG(st.st_mode) && static_cast<std::uintmax_t>(st.st_size) > max_bytes) {
        ::close(fd); // too large, known without reading it
        return std::make_error_code(std::errc::file_too_large);
    }
    char buf[16384];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) ec = last_error();
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > max_bytes) {
            ec = std::make_error_code(std::errc::file_too_large);
            break;
        }
    }
    ::close(fd);
    if (ec) out.clear();
    return ec;
}

std::error_code keep_aside(const std::string& path, std::string& kept_as) {
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    ::gmtime_r(&now, &utc);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
    const std::string base = path + ".corrupt-" + stamp;
    for (int attempt = 1; attempt <= 100; ++attempt) {
        const std::string target = attempt == 1 ? base : base + "-" + std::to_string(attempt);
        // RENAME_NOREPLACE: an earlier file kept aside in the same second is never replaced. Filesystems
        // without it (EINVAL) get a check first; the directory lock keeps other ksids out meanwhile.
        int r = ::renameat2(AT_FDCWD, path.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE);
        if (r != 0 && errno == EINVAL) {
            struct stat st {};
            if (::lstat(target.c_str(), &st) == 0) continue;
            r = ::rename(path.c_str(), target.c_str());
        }
        if (r == 0) {
            kept_as = target;
            return {};
        }
        if (errno != EEXIST) return last_error();
    }
    return std::make_error_code(std::errc::file_exists);
}

std::size_t remove_stale_temp_files(const std::string& directory) {
    std::size_t removed = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(directory, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        const auto name = it->path().filename().string();
        const auto pos = name.find(".tmp.");
        if (pos == std::string::npos || pos == 0) continue;
        const auto suffix = name.substr(pos + 5); // "<pid>.<n>"
        if (suffix.empty() || suffix.find_first_not_of("0123456789.") != std::string::npos) continue;
        if (::unlink(it->path().c_str()) == 0) ++removed;
    }
    return removed;
}

namespace {

// A log file opened for appending: never blocks (a FIFO without a reader would wait forever) and is only
// used when it is a regular file. -1 with `ec` set otherwise.
int open_for_append(const std::string& path, std::error_code& ec) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd < 0) {
        ec = last_error();
        return -1;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0)
        ec = last_error();
    else if (!S_ISREG(st.st_mode))
        ec = std::make_error_code(std::errc::invalid_argument);
    else
        return fd;
    ::close(fd);
    return -1;
}

} // namespace

std::error_code append_line(const std::string& path, std::string_view line) {
    std::error_code ec;
    const int fd = open_for_append(path, ec);
    if (fd < 0) return ec;
    ec = write_all(fd, line);
    ::close(fd);
    return ec;
}

DirectoryLock::~DirectoryLock() {
    if (fd_ >= 0) ::close(fd_);
}

DirectoryLock::Outcome DirectoryLock::try_acquire(const std::string& directory, std::error_code& ec) {
    if (fd_ >= 0) return Outcome::acquired;
    const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        ec = last_error();
        return Outcome::failed;
    }
    int r;
    do
        r = ::flock(fd, LOCK_EX | LOCK_NB);
    while (r != 0 && errno == EINTR);
    if (r != 0) {
        const bool held_elsewhere = errno == EWOULDBLOCK;
        ec = last_error();
        ::close(fd);
        return held_elsewhere ? Outcome::held_elsewhere : Outcome::failed;
    }
    fd_ = fd;
    return Outcome::acquired;
}

AppendLog::~AppendLog() {
    if (fd_ >= 0) ::close(fd_);
}

std::error_code AppendLog::append(std::string_view line) {
    struct stat st {};
    if (fd_ >= 0 && (::fstat(fd_, &st) != 0 || st.st_nlink == 0)) {
        ::close(fd_);
        fd_ = -1;
    }
    if (fd_ < 0) {
        std::error_code ec;
        fd_ = open_for_append(path_, ec);
        if (fd_ < 0) return ec;
    }
    return write_all(fd_, line);
}

} // namespace ksid::daemon
