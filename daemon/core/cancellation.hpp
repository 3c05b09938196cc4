#pragma once
// A cancellation token for one unit of work (a turn: a child process or an upstream call). Whoever runs
// the work installs what cancel() must do; whoever owns it (the job queue, shutdown) calls cancel() with
// the reason. Safe to call before, during and after the work; the first reason wins.
#include "daemon/core/error.hpp"

#include <chrono>
#include <functional>
#include <optional>

namespace ksid::daemon {

class CancellationToken {
public:
    // grace: at most this long between SIGTERM and SIGKILL for a child (shutdown keeps its deadline).
    void cancel(errc reason = errc::cancelled,
                std::optional<std::chrono::milliseconds> grace = std::nullopt) {
        if (cancelled_) return;
        cancelled_ = true;
        reason_ = reason;
        grace_ = grace;
        if (on_cancel_) on_cancel_();
    }
    bool cancelled() const { return cancelled_; }
    errc reason() const { return reason_; }
    std::optional<std::chrono::milliseconds> grace() const { return grace_; }
    // What cancel() must do for the work now running; nullptr removes it.
    void set_cancel_handler(std::function<void()> handler) { on_cancel_ = std::move(handler); }

private:
    bool cancelled_ = false;
    errc reason_ = errc::cancelled;
    std::optional<std::chrono::milliseconds> grace_;
    std::function<void()> on_cancel_;
};

// Removes a token's cancel handler when the scope that installed it ends (also when a coroutine frame
// is destroyed while it waits).
class CancelHandlerScope {
public:
    CancelHandlerScope(CancellationToken& token, std::function<void()> handler) : token_(token) {
        token_.set_cancel_handler(std::move(handler));
    }
    ~CancelHandlerScope() { token_.set_cancel_handler(nullptr); }
    CancelHandlerScope(const CancelHandlerScope&) = delete;
    CancelHandlerScope& operator=(const CancelHandlerScope&) = delete;

private:
    CancellationToken& token_;
};

} // namespace ksid::daemon
