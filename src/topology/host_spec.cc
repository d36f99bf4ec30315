// The host block of a topology (CPU memory and the GPU-host link) that offloads are timed from.
#include <string>

#include <fmt/format.h>

#include "spsim/error.h"
#include "spsim/topology.h"

namespace spsim {

void throw_no_host_block(const std::string& topology_name) {
  throw InputError("topology", fmt::format("topology \"{}\" has no \"host\" block (link and CPU memory), so "
                                           "what this plan offloads cannot be timed; add one (topologies/"
                                           "dgx-h100.json shows it) or drop the offload",
                                           topology_name));
}

}  // namespace spsim
