#include <cmath>
#include <cstdint>
#include <map>

#include "report/layer_timing.h"
#include "report/tidy.h"
#include "spsim/report.h"

namespace spsim {

namespace {

using detail::tidy;

// Byte counts are whole numbers: print them exactly, so a user can check them by hand. Past 2^53
// a double holds no exact integer anyway, and past 2^63 llround is undefined (a 1G-token
// micro-batch printed -9223372036854775808): those stay doubles.
nlohmann::json whole_bytes(double value) {
  if (std::fabs(value) < 9007199254740992.0) return std::llround(value);
  return value;
}

// What one layer sends: the collectives of the layer segments that run in the last micro-batch
// (it has every kind, gradient reduction included), keyed "<category>/<collective>". Layers of
// two kinds (full recompute of part of a chunk: two layer_bwd segments) count by their share.
nlohmann::json comm_bytes_per_layer(const TaskGraph& graph) {
  auto counted = [](const Segment& segment) {
    return std::string_view(segment.name).rfind("layer", 0) == 0 && segment.when != When::kAllButLastMicroBatch;
  };
  std::map<std::string, int64_t> layers;  // per segment name
  for (const auto& segment : graph.segments) {
    if (counted(segment)) layers[segment.name] += segment.repeat;
  }
  std::map<std::string, std::pair<double, double>> bytes;  // forward, backward
  for (const auto& segment : graph.segments) {
    if (!counted(segment)) continue;
    const int64_t all = layers[segment.name];
    const double share = all > 0 ? static_cast<double>(segment.repeat) / static_cast<double>(all) : 1.0;
    for (const auto& task : segment.tasks) {
      if (task.kind != TaskKind::kCollective) continue;
      auto& entry = bytes[std::string(to_string(task.category)) + "/" + to_string(task.comm)];
      (task.phase == Phase::kForward ? entry.first : entry.second) += share * task.bytes;
    }
  }
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, value] : bytes) {
    out[key] = {{"forward_bytes", whole_bytes(value.first)}, {"backward_bytes", whole_bytes(value.second)}};
  }
  return out;
}

}  // namespace

nlohmann::json to_json(const RunReport& report) {
  const auto& job = report.lowered.job;
  const auto& result = report.result;
  const auto& memory = report.lowered.memory;
  const double step = result.step_time_s;
  const double gpus = static_cast<double>(job.num_gpus);
  auto per_gpu_tflops = [&](double flops) { return step > 0 ? tidy(flops / step / gpus / 1e12) : 0.0; };

  nlohmann::json out;
  out["spsim_version"] = SPSIM_VERSION;
  out["engine"] = result.engine;
  out["model"] = {{"name", report.model.name}, {"params", report.model.total_params()}};
  out["topology"] = {{"name", report.topology.name}, {"gpu", report.topology.gpu.name},
                     {"provenance", report.topology.provenance}};
  out["config"] = job_to_json(job);
  out["step_time_s"] = tidy(step);
  out["tokens_per_s"] = tidy(report.tokens_per_s);
  out["tflops_per_gpu"] = {{"model", per_gpu_tflops(report.flops.model)},
                           {"megatron_deepspeed", per_gpu_tflops(report.flops.megatron_deepspeed)},
                           {"nemo", per_gpu_tflops(report.flops.nemo)},
                           {"causal_halved", per_gpu_tflops(report.flops.causal_halved)},
                           {"hardware", per_gpu_tflops(report.flops.hardware)}};
  const double peak = report.topology.gpu.peak(job.precision);
  out["mfu"] = step > 0 && peak > 0 ? tidy(report.flops.model / step / gpus / peak) : 0.0;
  out["memory"] = {{"params", whole_bytes(memory.params)},
                   {"grads", whole_bytes(memory.grads)},
                   {"optimizer", whole_bytes(memory.optimizer)},
                   {"activations", whole_bytes(memory.activations)},
                   {"buffers", whole_bytes(memory.buffers)},
                   {"reserve", whole_bytes(memory.reserve)},
                   {"peak", whole_bytes(memory.peak())},
                   {"capacity", whole_bytes(report.topology.gpu.hbm_bytes)},
                   {"largest_term", memory.largest_term()}};
  if (memory.host > 0) {
    // --offload: what this GPU's rank keeps in host memory, against its share of the node's.
    out["memory"]["host"] = whole_bytes(memory.host);
    out["memory"]["host_capacity"] = whole_bytes(report.topology.host.memory_bytes_per_rank());
  }
  out["fits_in_memory"] = report.fits_in_memory;
  if (job.seq_dist) {
    const VarlenBalance v = job_varlen_balance(job);
    int64_t ranks = 1;
    const TokenSplit split = token_split(job, &ranks);
    out["varlen"] = {{"source", job.seq_dist->source},
                     {"documents", v.documents},
                     {"samples", v.samples},
                     {"mean_document_tokens", tidy(v.mean_doc_length)},
                     {"token_split", to_string(split)},
                     {"split_ranks", ranks},
                     {"attention_work_fraction", tidy(v.work_fraction)},
                     {"cp_imbalance", tidy(v.imbalance)},
                     {"attention_flop_scale",
                      job.attention_kernel == AttentionKernel::kFlash ? tidy(v.work_scale) : 1.0}};
  }
  nlohmann::json comm = nlohmann::json::object();
  nlohmann::json exposed = nlohmann::json::object();
  double exposed_total = 0;
  for (int c = 1; c < kNumCategories; ++c) {
    const char* name = to_string(static_cast<Category>(c));
    comm[name] = tidy(result.comm_s[c]);
    exposed[name] = tidy(result.exposed_s[c]);
    exposed_total += result.exposed_s[c];
  }
  out["breakdown"] = {{"compute_s", tidy(result.compute_s)},
                      {"comm_s", comm},
                      {"exposed_comm_s", exposed},
                      {"exposed_comm_total_s", tidy(exposed_total)},
                      {"bubble_s", tidy(result.bubble_s)}};
  out["comm_bytes_per_layer"] = comm_bytes_per_layer(report.lowered.graph);
  out["per_layer"] = layer_timing_json(report);
  if (!result.extra.empty()) out["engine_details"] = result.extra;
  return out;
}

}  // namespace spsim
