// Topology files (parse_topology), a write/read round trip of what was accepted, and a --set
// override taken from the input's last line.
#include "fuzz_util.h"
#include "spsim/topology.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = spsim::fuzz::text_of(data, size);
  spsim::fuzz::expect_input_errors_only([&] {
    spsim::Topology topology = spsim::parse_topology(text, "fuzz.json");
    const spsim::Topology again = spsim::parse_topology(spsim::topology_to_json(topology), "fuzz.json");
    if (!(again == topology)) __builtin_trap();  // files spsim writes read back the same
    const size_t newline = text.rfind('\n');
    spsim::apply_override(topology, newline == std::string::npos ? text : text.substr(newline + 1));
  });
  return 0;
}
