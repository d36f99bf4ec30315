// spsim command line: one verb per concern (src/cli/cli.cc). Every error is one line on stderr;
// exit 2 for bad input, 3 for a bug in spsim.
#include <malloc.h>

#include <fmt/format.h>

#include "cli/commands.h"

int main(int argc, char** argv) {
  // Searches (--best, max-context --best) lower and free one plan after another. glibc gives the
  // top of the heap back to the kernel after each large free and takes it again for the next
  // plan: max-context --best at 1,048,576 GPUs spent 2.9 s of its 4.8 s in page faults (12,000
  // brk calls). Keeping up to 512 MiB of freed heap makes it 1.6 s; outputs are unchanged.
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  mallopt(M_TOP_PAD, 64 << 20);
  return spsim::cli::run_cli(argc, argv, fmt::format("spsim {} ({})", SPSIM_VERSION, SPSIM_GIT_COMMIT));
}
