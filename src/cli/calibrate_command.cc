// Placeholder until the calibration importer lands.
#include "cli/commands.h"
#include "spsim/error.h"

namespace spsim::cli {

void add_calibrate_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("calibrate", "fit link parameters from nccl-tests logs (not built yet)");
  cmd->callback([]() { throw InputError("calibrate", "not built yet"); });
}

}  // namespace spsim::cli
