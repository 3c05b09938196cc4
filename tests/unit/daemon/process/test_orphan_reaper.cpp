// Which re-parented processes the orphan reaper kills (daemon/process/orphan_reaper).
#include "daemon/process/orphan_reaper.hpp"

#include <doctest/doctest.h>

using ksid::daemon::Orphan;
using ksid::daemon::orphan_must_go;

TEST_CASE("a re-parented process goes when its run has ended, and only then") {
    const Orphan of_run{100, false, 7};
    CHECK(orphan_must_go(of_run, /*live*/ false, /*children*/ true, /*shutdown*/ false));
    CHECK_FALSE(orphan_must_go(of_run, true, true, false)); // its run is still going
    CHECK(orphan_must_go(of_run, true, true, true));        // shutdown: everything goes
    const Orphan unmarked{101, false, std::nullopt};        // it cleared its environment
    CHECK_FALSE(orphan_must_go(unmarked, false, true, false));
    CHECK(orphan_must_go(unmarked, false, false, false)); // no run could own it
    const Orphan zombie{102, true, std::nullopt};         // reaped, never killed
    CHECK_FALSE(orphan_must_go(zombie, false, false, true));
}
