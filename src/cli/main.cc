// spsim command line: one verb per concern (src/cli/cli.cc). Every error is one line on stderr;
// exit 2 for bad input, 3 for a bug in spsim.
#include <fmt/format.h>

#include "cli/commands.h"

int main(int argc, char** argv) {
  return spsim::cli::run_cli(argc, argv, fmt::format("spsim {} ({})", SPSIM_VERSION, SPSIM_GIT_COMMIT));
}
