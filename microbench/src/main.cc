// spsim-microbench: measures what spsim's topology files need (collective alpha/busbw, GEMM and
// memory efficiency) and writes one JSON that `spsim calibrate --microbench` reads.
// Exit codes: 0 ok, 1 bad arguments, 2 no CUDA device, 3 a CUDA/NCCL/cuBLASLt failure.
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench.h"
#include "calibrate/calibrate_files.h"
#include "calibrate/microbench_plan.h"
#include "calibrate/sdpa_graph.h"
#include "common/atomic_write.h"
#include "spsim/model.h"
#include "spsim/report.h"
#include "device.h"
#include "spsim/error.h"

int main(int argc, char** argv) {
  using namespace spsim;
  detail::MicrobenchArgs args;
  try {
    args = detail::parse_microbench_args(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const InputError& e) {
    fmt::print(stderr, "spsim-microbench: {}\n", e.full());
    return 1;
  }
  if (args.help) {
    fmt::print("{}", detail::microbench_usage());
    return 0;
  }
  // Plan the model's shapes before looking for a device, so that a bad --model / --tp / --dtypes
  // is reported as such (exit 1) on any machine, not hidden behind "no CUDA device".
  try {
    if (args.subcommand == "gemm" || args.subcommand == "attention") {
      const ModelSpec model = load_model(args.model);
      for (int64_t tp : args.tp) {
        for (int64_t tokens : args.tokens) detail::gemm_shapes(model, tp, tokens);
      }
      if (args.subcommand == "attention") {
        std::vector<std::string> skipped;
        detail::attention_plan(detail::attention_shapes(model, args.tp, args.seq), args.dtypes, &skipped);
      }
    }
  } catch (const InputError& e) {
    fmt::print(stderr, "spsim-microbench: {}\n", e.full());
    return 1;
  }
  if (microbench::cuda_device_count() == 0) {
    fmt::print(stderr, "no CUDA device found: run this on a GPU node\n");
    return 2;
  }
  microbench::Layout layout;
  try {
    layout = microbench::make_layout(&argc, &argv);
    MicrobenchResults results;
    if (args.subcommand == "collectives") results.collectives = microbench::run_collectives(layout, args);
    if (args.subcommand == "gemm") results.gemm = microbench::run_gemm(layout, args);
    if (args.subcommand == "attention") results.attention = microbench::run_attention(layout, args);
    if (args.subcommand == "memory") results.memory = microbench::run_memory(layout, args);
    if (layout.process_rank == 0) {
      write_file_atomically(args.output,
                            write_microbench_json(microbench::provenance(layout, argc, argv), results));
      fmt::print("wrote {}\n", args.output);
    }
  } catch (const InputError& e) {
    fmt::print(stderr, "spsim-microbench: {}\n", e.full());
    microbench::abort_layout(layout, 1);
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "spsim-microbench: {}\n", e.what());
    microbench::abort_layout(layout, 3);
    return 3;
  }
  microbench::finalize_layout(layout);
  return 0;
}
