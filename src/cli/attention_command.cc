// spsim attention: time the attention core of one layer (optionally with its projections) the way
// the ring-attention and USP libraries benchmark it: forward and forward+backward, iterations/s
// and TFLOP/s in the FlashAttention convention.
#include <cmath>
#include <cstdio>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "attention/attention_only.h"
#include "cli/commands.h"
#include "cli/flag_checks.h"
#include "spsim/engine.h"
#include "spsim/framework.h"
#include "spsim/error.h"
#include "spsim/limits.h"
#include "spsim/strategy.h"
#include "spsim/units.h"

namespace spsim::cli {

namespace {

struct AttentionOptions {
  std::string model, topology = "dgx-h100", engine = "analytic", strategy = "ulysses";
  std::vector<std::string> overrides;
  std::string seq = "128K", precision = "bf16", ring_variant = "zigzag", ring_comm = "p2p";
  std::string framework, attention_impl;  // "": the scheme's usual framework and its kernel
  int64_t heads = 32, kv_heads = 0, head_dim = 128, batch = 1, gpus = 8;
  std::string sliding_window = "0";
  int64_t tp = 1, ulysses = 1, ring = 1;
  bool no_causal = false, projections = false, no_kv_replication = false, json = false;
};

// 9 significant digits, as the run JSON does, so output is stable across compilers.
double tidy(double value) {
  if (value == 0 || !std::isfinite(value)) return value;
  const double scale = std::pow(10.0, 8 - static_cast<int>(std::floor(std::log10(std::fabs(value)))));
  return std::round(value * scale) / scale;
}

}  // namespace

void add_attention_command(CLI::App& app) {
  auto o = std::make_shared<AttentionOptions>();
  CLI::App* cmd = app.add_subcommand(
      "attention", "time only the attention of one layer (forward, forward+backward), as the "
                   "ring-attention / USP benchmarks report it");
  cmd->add_option("-m,--model", o->model, "take heads, KV heads and head dim from this model")
      ->group("Shape");
  cmd->add_option("--heads", o->heads, "query heads")
      ->transform(whole_number(1, kMaxHeads))->capture_default_str()->group("Shape");
  cmd->add_option("--kv-heads", o->kv_heads, "KV heads (default: --heads, MHA)")
      ->transform(whole_number(1, kMaxHeads))->group("Shape");
  cmd->add_option("--head-dim", o->head_dim, "head dimension")
      ->transform(whole_number(1, kMaxHeadDim))->capture_default_str()->group("Shape");
  cmd->add_option("-b,--batch", o->batch, "sequences")
      ->transform(whole_number(1, kMaxMicroBatchSize))->capture_default_str()->group("Shape");
  cmd->add_option("--seq,--seq-length", o->seq, "sequence length, K/M suffixes binary")
      ->capture_default_str()->group("Shape");
  cmd->add_flag("--no-causal", o->no_causal, "full (bidirectional) mask")->group("Shape");
  cmd->add_option("--sliding-window", o->sliding_window,
                  "a query attends to at most this many keys, the latest, K/M suffixes binary (0: the whole "
                  "causal prefix; with -m, the model's window when every layer has it)")
      ->group("Shape");
  cmd->add_flag("--projections", o->projections, "also time the QKV and output projections")
      ->group("Shape");
  cmd->add_option("--precision", o->precision, "bf16 | fp16 | fp8 | tf32 | fp32")
      ->capture_default_str()->group("Shape");
  cmd->add_option("-s,--strategy", o->strategy, "ulysses | ring | usp | megatron-sp | megatron-tp | colai-sp")
      ->capture_default_str()->group("Parallelism");
  cmd->add_option("-n,--gpus", o->gpus, "GPUs; the scheme's degree when -t/-u/-r are not given")
      ->transform(whole_number(1, kMaxGpus))->capture_default_str()->group("Parallelism");
  cmd->add_option("-t,--tp", o->tp, "tensor-parallel degree")
      ->transform(whole_number(1, kMaxDegree))->group("Parallelism");
  cmd->add_option("-u,--ulysses-degree", o->ulysses, "Ulysses degree")
      ->transform(whole_number(1, kMaxDegree))->group("Parallelism");
  cmd->add_option("-r,--ring-degree", o->ring, "ring degree")
      ->transform(whole_number(1, kMaxDegree))->group("Parallelism");
  cmd->add_option("--ring-variant", o->ring_variant, "basic | zigzag | stripe")
      ->capture_default_str()->group("Parallelism");
  cmd->add_option("--cp-comm-type,--ring-comm", o->ring_comm, "p2p | allgather")
      ->capture_default_str()->group("Parallelism");
  cmd->add_option("--framework", o->framework,
                  "megatron | nemo | deepspeed | fsdp (default: the scheme's usual one, as spsim run)")
      ->group("Plan");
  cmd->add_option("--attention-impl", o->attention_impl,
                  "cudnn | flash2 | triton (default: the framework's kernel; TE runs cuDNN on Hopper+, "
                  "DeepSpeed and FSDP flash-attn 2)")
      ->group("Plan");
  cmd->add_flag("--no-kv-replication", o->no_kv_replication,
                "ulysses: reject u > KV heads instead of replicating them")->group("Parallelism");
  cmd->add_option("-T,--topology", o->topology, "shipped topology name or path")
      ->capture_default_str()->group("Input");
  cmd->add_option("--set", o->overrides, "override a topology field (repeatable)")->group("Input");
  cmd->add_option("--engine", o->engine, "analytic | des")->capture_default_str()->group("Input");
  cmd->add_flag("--json", o->json, "print JSON instead of the table")->group("Output");
  cmd->footer(
      "Examples:\n"
      "  spsim attention -s ring -n 8 --heads 32 --head-dim 128 --seq 128K\n"
      "  spsim attention -s usp -u 4 -r 2 --heads 32 --kv-heads 8 --seq 256K --json");
  cmd->callback([o, cmd]() {
    AttentionShape shape;
    shape.heads = o->heads;
    shape.kv_heads = o->kv_heads;
    shape.head_dim = o->head_dim;
    if (!o->model.empty()) {
      const ModelSpec m = load_model(o->model);
      if (m.is_mla()) {
        // Q/K heads are nope + rope wide but V is v_head_dim: not one head_dim.
        throw InputError("--model", fmt::format("model \"{}\" has multi-head latent attention (Q/K heads of "
                                                "{}, V heads of {}): give --heads, --kv-heads and "
                                                "--head-dim instead of -m",
                                                m.name, m.head_dim, m.mla.v_head_dim));
      }
      if (cmd->count("--heads") == 0) shape.heads = m.num_attention_heads;
      if (cmd->count("--kv-heads") == 0) shape.kv_heads = m.num_key_value_heads;
      if (cmd->count("--head-dim") == 0) shape.head_dim = m.head_dim;
      // A model whose every layer is windowed (Mistral, Phi-3) times its windowed layer; one that
      // mixes windowed and global layers (Gemma-2/3) times a global layer unless told otherwise.
      if (cmd->count("--sliding-window") == 0 && m.sliding_window > 0) {
        if (m.sliding_window_layers == m.num_layers) {
          shape.sliding_window = m.sliding_window;
        } else {
          fmt::print(stderr,
                     "note: {} windows {} of its {} layers to {} keys; this times a global-attention layer "
                     "(--sliding-window {} times a windowed one)\n",
                     m.name, m.sliding_window_layers, m.num_layers, m.sliding_window, m.sliding_window);
        }
      }
    }
    if (cmd->count("--sliding-window") > 0) {
      shape.sliding_window = o->sliding_window == "0" ? 0 : parse_count(o->sliding_window, "--sliding-window");
    }
    shape.batch = o->batch;
    shape.seq = parse_count(o->seq, "--seq");
    shape.causal = !o->no_causal;
    shape.projections = o->projections;
    shape.precision = parse_precision(o->precision, "--precision");

    AttentionPlan plan;
    plan.strategy = o->strategy;
    make_strategy(plan.strategy);  // unknown names fail here, with a suggestion
    if (o->ring_variant != "basic" && o->ring_variant != "zigzag" && o->ring_variant != "stripe") {
      throw InputError("--ring-variant", fmt::format("must be basic, zigzag or stripe (got \"{}\")",
                                                     o->ring_variant));
    }
    if (o->ring_comm != "p2p" && o->ring_comm != "allgather") {
      throw InputError("--cp-comm-type", fmt::format("must be p2p or allgather (got \"{}\")", o->ring_comm));
    }
    plan.ring_variant = o->ring_variant;
    plan.ring_comm = o->ring_comm;
    plan.kv_replication = !o->no_kv_replication;
    if (!o->framework.empty()) find_framework(o->framework, "--framework");
    check_attention_impl(o->attention_impl, "--attention-impl");
    plan.framework = o->framework;
    plan.attention_impl = o->attention_impl;
    if (o->gpus < 1) throw InputError("--gpus", fmt::format("must be at least 1 (got {})", o->gpus));
    if (o->tp < 1 || o->ulysses < 1 || o->ring < 1) {
      throw InputError("--tp", "degrees -t, -u and -r must be at least 1");
    }
    const bool degrees_given =
        cmd->count("--tp") + cmd->count("--ulysses-degree") + cmd->count("--ring-degree") > 0;
    plan.tensor_parallel = o->tp;
    plan.ulysses_degree = o->ulysses;
    plan.ring_degree = o->ring;
    if (!degrees_given) {
      // The scheme's one degree takes every GPU: u or r, else t (tensor parallelism alone).
      const StrategyTraits& traits = strategy_traits(plan.strategy);
      const bool u = traits.uses_ulysses, r = traits.uses_ring;
      if (u != r) {
        (u ? plan.ulysses_degree : plan.ring_degree) = o->gpus;
      } else if (!u && traits.uses_tensor) {
        plan.tensor_parallel = o->gpus;
      } else if (o->gpus > 1) {
        throw InputError("--ulysses-degree", fmt::format("strategy {} needs its degrees; give -u and -r "
                                                         "(GPUs = u x r)", plan.strategy));
      }
    } else if (cmd->count("--gpus") > 0 && o->gpus != o->tp * o->ulysses * o->ring) {
      throw InputError("--gpus", fmt::format("must equal t x u x r = {} x {} x {} = {} (got {}); "
                                             "drop --gpus or change the degrees",
                                             o->tp, o->ulysses, o->ring, o->tp * o->ulysses * o->ring,
                                             o->gpus));
    }

    Topology topology = load_topology(o->topology);
    for (const auto& assignment : o->overrides) apply_override(topology, assignment);
    const int64_t gpus = plan.tensor_parallel * plan.ulysses_degree * plan.ring_degree;
    const int64_t per_node = topology.gpus_per_node;
    if (topology.max_nodes > 0 && gpus > per_node * topology.max_nodes) {
      throw InputError("--gpus", fmt::format("{} GPUs do not fit topology \"{}\" ({} x {}); use fewer",
                                             gpus, topology.name, topology.max_nodes, per_node));
    }
    if (gpus > per_node && gpus % per_node != 0) {
      throw InputError("--gpus", fmt::format("{} GPUs is not a whole number of {}-GPU nodes; use a "
                                             "multiple of {}", gpus, per_node, per_node));
    }
    const auto engine = make_engine(o->engine);
    const AttentionRun run = run_attention_only(shape, plan, topology, *engine);
    if (run.attention_impl == "standard" && !o->attention_impl.empty()) {
      throw InputError("--attention-impl", fmt::format("strategy {} runs the unfused standard attention kernel, "
                                                       "which no fused implementation replaces; drop "
                                                       "--attention-impl",
                                                       plan.strategy));
    }

    const double fwd_s = run.forward.step_time_s;
    const double fb_s = run.forward_backward.step_time_s;
    const double n = static_cast<double>(run.num_gpus);
    const double fb_flops = run.fwd_flops + run.bwd_flops;
    auto tflops = [](double flops, double s) { return s > 0 ? flops / s / 1e12 : 0.0; };
    if (o->json) {
      nlohmann::json out;
      out["spsim_version"] = SPSIM_VERSION;
      out["engine"] = run.forward.engine;
      out["topology"] = topology.name;
      out["shape"] = {{"heads", shape.heads},
                      {"kv_heads", shape.kv_heads == 0 ? shape.heads : shape.kv_heads},
                      {"head_dim", shape.head_dim},
                      {"batch", shape.batch},
                      {"seq_length", shape.seq},
                      {"causal", shape.causal},
                      {"sliding_window", shape.sliding_window},
                      {"projections", shape.projections},
                      {"precision", to_string(shape.precision)}};
      out["plan"] = {{"strategy", plan.strategy}, {"num_gpus", run.num_gpus},
                     {"tensor_model_parallel_size", plan.tensor_parallel},
                     {"ulysses_degree", plan.ulysses_degree}, {"ring_degree", plan.ring_degree},
                     {"ring_variant", plan.ring_variant}, {"ring_comm", plan.ring_comm},
                     {"framework", run.framework}, {"attention_impl", run.attention_impl}};
      out["flops_convention"] = "flash_attention: fwd 4*b*s^2*heads*d_head (/2 causal), bwd 2.5x fwd"
                                "; a sliding window counts its own w*s - w^2/2 query-key pairs";
      auto block = [&](const char* name, double s, double flops, double proj, double bytes) {
        nlohmann::json j;
        j["time_s"] = tidy(s);
        j["iterations_per_s"] = s > 0 ? tidy(1.0 / s) : 0.0;
        j["attention_flops"] = flops;
        j["attention_tflops"] = tidy(tflops(flops, s));
        j["attention_tflops_per_gpu"] = tidy(tflops(flops, s) / n);
        if (shape.projections) {
          j["projection_flops"] = proj;
          j["with_projections_tflops_per_gpu"] = tidy(tflops(flops + proj, s) / n);
        }
        j["comm_bytes_per_gpu"] = bytes;
        out[name] = j;
      };
      block("forward", fwd_s, run.fwd_flops, run.projection_fwd_flops, run.comm_fwd_bytes);
      block("forward_backward", fb_s, fb_flops, 3.0 * run.projection_fwd_flops,
            run.comm_fwd_bytes + run.comm_bwd_bytes);
      std::fputs((out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n").c_str(), stdout);
      return;
    }
    std::string text = fmt::format(
        "attention {} on {} GPUs of {} (t={} u={} r={}): heads {} kv {} d_head {} batch {} seq {} {}\n",
        plan.strategy, run.num_gpus, topology.name, plan.tensor_parallel, plan.ulysses_degree,
        plan.ring_degree, shape.heads, shape.kv_heads == 0 ? shape.heads : shape.kv_heads,
        shape.head_dim, shape.batch, format_count(shape.seq),
        shape.sliding_window > 0 ? fmt::format("causal, window {}", format_count(shape.sliding_window))
                                 : shape.causal ? "causal" : "full");
    // The kernel sets the answer more than the scheme does: say which one was timed.
    text += fmt::format("framework {}, attention kernel {}{}\n", run.framework, run.attention_impl,
                        o->attention_impl.empty() ? " (the framework's; --attention-impl to change)" : "");
    text += fmt::format("{:<18} {:>12} {:>10} {:>14} {:>16}\n", "pass", "time_ms", "iter/s",
                        "TFLOP/s total", "TFLOP/s per GPU");
    text += fmt::format("{:<18} {:>12.3f} {:>10.2f} {:>14.1f} {:>16.1f}\n", "forward", fwd_s * 1e3,
                        fwd_s > 0 ? 1 / fwd_s : 0.0, tflops(run.fwd_flops, fwd_s),
                        tflops(run.fwd_flops, fwd_s) / n);
    text += fmt::format("{:<18} {:>12.3f} {:>10.2f} {:>14.1f} {:>16.1f}\n", "forward+backward",
                        fb_s * 1e3, fb_s > 0 ? 1 / fb_s : 0.0, tflops(fb_flops, fb_s),
                        tflops(fb_flops, fb_s) / n);
    text += shape.sliding_window > 0
                ? "TFLOP/s: FlashAttention convention over the window's query-key pairs (w*s - w^2/2 of "
                  "s^2/2; bwd 2.5x)"
                : "TFLOP/s: FlashAttention convention (fwd 4*b*s^2*heads*d_head, /2 causal; bwd 2.5x)";
    text += shape.projections ? ", attention FLOP only (time includes the projections)\n" : "\n";
    std::fputs(text.c_str(), stdout);
  });
}

}  // namespace spsim::cli
