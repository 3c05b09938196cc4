#pragma once
// Where turns run. The cli backend spawns `claude`; the upstream (API shim) backend lands later. The job
// queue calls run() once per turn, with a control the queue uses to cancel it.
#include "daemon/claude/run_types.hpp"
#include "daemon/process/child_process.hpp"

#include <boost/asio/awaitable.hpp>

#include <memory>

namespace ksid::daemon {

class ClaudeBackend {
public:
    virtual ~ClaudeBackend() = default;
    virtual boost::asio::awaitable<TurnResult> run(const TurnRequest& request,
                                                   std::shared_ptr<ChildControl> control) = 0;
    virtual std::string_view name() const = 0;
};

} // namespace ksid::daemon
