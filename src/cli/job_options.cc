#include "cli/job_options.h"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <optional>

#include <fmt/format.h>

#include "cli/flag_checks.h"
#include "common/divisors.h"
#include "common/json_reader.h"
#include "model/check_costed.h"
#include "spsim/error.h"
#include "spsim/framework.h"
#include "spsim/limits.h"
#include "spsim/long_context.h"
#include "spsim/strategy.h"
#include "spsim/units.h"

namespace spsim::cli {

void add_job_options(CLI::App* cmd, JobOptions& o, bool multi) {
  o.command = cmd;
  cmd->add_option("--config", o.config_path,
                  "experiment JSON: {\"model\", \"topology\", \"engine\", \"overrides\", \"job\": {...}};"
                  " flags given on the command line override it")
      ->group("Input");
  cmd->add_option("-m,--model", o.model, "shipped model name (spsim list models) or a path to a "
                  "model JSON / HuggingFace config.json")->capture_default_str()->group("Input");
  cmd->add_option("-T,--topology", o.topology, "shipped topology name (spsim list topologies) or a path")
      ->capture_default_str()->group("Input");
  cmd->add_option("--set", o.overrides, "override a topology field, e.g. --set gpu.gemm_efficiency=0.8 "
                  "(repeatable)")->group("Input");
  cmd->add_option("--engine", o.engine, "analytic (closed form) or des (SimGrid discrete-event)")
      ->capture_default_str()->group("Input");
  auto* strategy = cmd->add_option("-s,--strategy", o.strategies,
                                   "ulysses (--cp-comm-type a2a), megatron-sp, megatron-tp, ring (p2p), "
                                   "usp (a2a+p2p); comma list or 'all'")
                       ->group("Parallelism");
  auto* gpus = cmd->add_option("-n,--gpus", o.gpus, "number of GPUs (comma list allowed)")
                   ->group("Parallelism");
  auto* seq = cmd->add_option("--seq,--seq-length", o.seq,
                              "sequence length in tokens, K/M suffixes binary (128K = 131072)")
                  ->group("Parallelism");
  if (!multi) {
    strategy->expected(1);
    gpus->expected(1);
    seq->expected(1);
  }
  const CLI::Validator degree = whole_number(1, kMaxDegree);
  cmd->add_option("-t,--tp,--tensor-model-parallel-size", o.tp, "tensor-parallel degree t")
      ->transform(degree)->group("Parallelism");
  cmd->add_option("-u,--ulysses-degree", o.ulysses, "Ulysses (all-to-all) degree u")
      ->transform(degree)->group("Parallelism");
  cmd->add_option("-r,--ring-degree", o.ring, "ring (P2P) degree r")->transform(degree)->group("Parallelism");
  cmd->add_option("--cp,--context-parallel-size", o.cp,
                  "sequence-parallel degree of the chosen scheme (ulysses: u, ring: r)")
      ->transform(degree)->group("Parallelism");
  cmd->add_option("--dp,--data-parallel-size", o.dp, "data-parallel degree (default: what is left)")
      ->transform(whole_number(1, kMaxGpus))->group("Parallelism");
  cmd->add_option("--pp,--pipeline-model-parallel-size", o.pp,
                  "pipeline stages p (1F1B; layers split per --framework; give --gbs for micro-batches)")
      ->transform(whole_number(1, kMaxPipelineStages))->group("Parallelism");
  cmd->add_option("--vpp,--virtual-pipeline-model-parallel-size", o.vpp,
                  "model chunks per stage v (interleaved 1F1B; micro-batches % p == 0)")
      ->transform(whole_number(1, kMaxPipelineStages))->group("Parallelism");
  cmd->add_option("--decoder-first-pipeline-num-layers", o.first_stage_layers,
                  "megatron/nemo: layers on the first stage (the rest split evenly)")
      ->transform(whole_number(0, kMaxLayers))->group("Parallelism");
  cmd->add_option("--decoder-last-pipeline-num-layers", o.last_stage_layers,
                  "megatron/nemo: layers on the last stage (the rest split evenly)")
      ->transform(whole_number(0, kMaxLayers))->group("Parallelism");
  cmd->add_flag("--account-for-embedding-in-pipeline-split", o.embedding_in_pipeline_split,
                "megatron/nemo: the embedding counts as one layer of the first chunk")
      ->group("Parallelism");
  cmd->add_flag("--account-for-loss-in-pipeline-split", o.loss_in_pipeline_split,
                "megatron/nemo: the loss counts as one layer of the last chunk")
      ->group("Parallelism");
  cmd->add_option("--zero,--zero-stage", o.zero_stage, "ZeRO stage 0-3")
      ->transform(whole_number(0, 3))->group("Parallelism");
  cmd->add_flag("--no-sequence-parallel", o.no_sequence_parallel,
                "megatron: plain TP with all-reduces instead of AG/RS")->group("Parallelism");
  cmd->add_option("--ring-variant", o.ring_variant, "causal load balance: basic | zigzag | stripe")
      ->capture_default_str()->group("Parallelism");
  cmd->add_option("--cp-comm-type,--ring-comm", o.ring_comm,
                  "ring K/V exchange: p2p (overlapped) | allgather (Llama-3 style)")
      ->capture_default_str()->group("Parallelism");
  cmd->add_flag("--no-kv-replication", o.no_kv_replication,
                "ulysses: reject u > KV heads instead of replicating KV heads (yunchang)")->group("Parallelism");
  cmd->add_flag("--ulysses-overlap", o.ulysses_overlap,
                "ulysses: overlap backward all-to-alls with compute (DeepSpeed sp_stream)")->group("Parallelism");
  cmd->add_option("--framework", o.framework,
                  "megatron | nemo | deepspeed | fsdp: gradient dtype, kernels, loss, rules "
                  "(default: ulysses/colai-sp deepspeed, others and mixture-of-experts models megatron)")
      ->group("Training");
  cmd->add_option("--fp8-recipe", o.fp8_recipe, "delayed | current FP8 scaling (default: the framework's)")
      ->group("Training");
  cmd->add_option("--attention-impl", o.attention_impl,
                  "cudnn | flash2 | triton attention kernels (default: the framework's; TE on A100 runs "
                  "flash2; triton: FlashAttention's Triton kernel, LLM Foundry's attn_impl: triton, "
                  "A100/H100 only)")
      ->group("Training");
  cmd->add_option("--elementwise-impl", o.elementwise_impl,
                  "fused | eager norm, activation, RoPE and residual kernels (default: the framework's; "
                  "fused: TE/Liger kernels or torch.compile, e.g. torchtitan's compile.enable; eager: "
                  "PyTorch eager ops)")
      ->group("Training");
  cmd->add_option("--backward-prefetch", o.backward_prefetch,
                  "ZeRO-3/FSDP backward: pre (the next layer's parameters are gathered while this layer "
                  "computes, ahead of its gradient reduce-scatter: FSDP2, FSDP1 BACKWARD_PRE, Megatron-FSDP) "
                  "| post (once its gradients are computed: FSDP1 BACKWARD_POST, Composer's default; DeepSpeed "
                  "ZeRO-3's on-demand fetch) | sync (after everything before it: DeepSpeed ZeRO-3 of 2021, "
                  "which synchronized the device before every gather) (default: the framework's)")
      ->group("Training");
  cmd->add_option("--mbs,--micro-batch-size", o.micro_batch_size, "sequences per micro-batch")
      ->transform(whole_number(1, kMaxMicroBatchSize))->capture_default_str()->group("Training");
  cmd->add_option("--gbs,--global-batch-size", o.global_batch_size,
                  "sequences per step (run default: one micro-batch per DP rank; sweep and "
                  "max-context --best: one fixed batch for every plan)")
      ->transform(whole_number(0, kMaxGlobalBatchSize))->group("Training");
  cmd->add_option("--tokens-per-step", o.tokens_per_step,
                  "tokens per optimizer step, K/M/G binary (4M): the global batch is this / "
                  "seq-length sequences; instead of --gbs")->group("Training");
  cmd->add_option("--recompute,--recompute-granularity", o.recompute, "none | selective | full | op (torchtitan's op-level selective AC, --framework fsdp) | full:N (full recompute of the first N layers of every model chunk: Megatron's --recompute-method block --recompute-num-layers N)")
      ->capture_default_str()->group("Training");
  cmd->add_option("--precision", o.precision, "bf16 | fp16 | fp8 | tf32 | fp32")
      ->capture_default_str()->group("Training");
  cmd->add_option("--attention-kernel", o.attention_kernel,
                  "flash (no s^2 activations) | standard (keeps the score matrix)")
      ->capture_default_str()->group("Training");
  cmd->add_flag("--no-causal", o.no_causal, "full (bidirectional) attention mask")->group("Training");
  cmd->add_option("--seq-dist", o.seq_dist,
                  "variable-length batch: a file of document lengths (one per line) packed into "
                  "--seq samples with per-document masks; reports each plan's CP load imbalance")
      ->group("Training");
  cmd->add_option("--loss", o.loss,
                  "standard (all logits, the framework's loss) | fused (Liger fused linear cross "
                  "entropy) | chunked[:N] (torchtitan ChunkedLossWrapper / DeepSpeed "
                  "TiledFusedLogitsLoss, N chunks, default 8)")
      ->capture_default_str()->group("Long context");
  cmd->add_option("--tiled-mlp", o.tiled_mlp,
                  "off | auto | N: the MLP in N sequence tiles (ALST / DeepSpeed TiledMLP; auto = "
                  "ceil(tokens / hidden)); the backward re-runs each tile's forward")
      ->capture_default_str()->group("Long context");
  cmd->add_option("--offload", o.offload,
                  "none, or a comma list of optimizer, params, activations: to host memory. optimizer: "
                  "DeepSpeed's offload_optimizer (states and the Adam step on the CPUs); params: ZeRO-3's "
                  "offload_param (16-bit partitions, copied in before each gather); activations: "
                  "full recompute's checkpoints (ALST's activation_checkpoint_cpu_offload), copied out and back")
      ->capture_default_str()->group("Long context");
  cmd->add_option("--framework-reserve-gib", o.reserve_gib,
                  "memory kept by CUDA context, NCCL and the allocator (default 3 GiB)")
      ->check(finite_number(0, kMaxReserveGib))->group("Training");
  add_launch_import_options(cmd, o.launch);
}

namespace {

bool given(const JobOptions& o, const char* flag) { return o.command != nullptr && o.command->count(flag) > 0; }

struct FileSetup {
  std::string model, topology, engine;
  std::vector<std::string> overrides;
  JobConfig job;
  bool has_job = false;
};

FileSetup parse_config(const std::string& text, const std::string& path) {
  const auto json = detail::parse_json(text, path);
  detail::ObjectReader in(json, path);
  FileSetup setup;
  setup.model = in.string("model", "");
  setup.topology = in.string("topology", "");
  setup.engine = in.string("engine", "");
  in.ignore("description");
  in.ignore("reference");    // experiments/*.json: where the setup comes from
  in.ignore("format_version");
  in.ignore("sweep");        // read by `spsim sweep` (src/cli/sweep_command.cc)
  if (in.has("overrides")) {
    const auto& list = in.raw("overrides");
    if (!list.is_array()) in.fail("overrides", "expected a list of \"key=value\" strings");
    for (const auto& item : list) {
      if (!item.is_string()) in.fail("overrides", "expected a list of \"key=value\" strings");
      setup.overrides.push_back(item.get<std::string>());
    }
  }
  if (in.has("job")) {
    setup.job = job_from_json(in.raw("job"), path + ": /job");
    setup.has_job = true;
  }
  in.finish();
  return setup;
}

FileSetup read_config(const std::string& path) { return parse_config(detail::read_file(path), path); }

}  // namespace

void check_experiment(const std::string& text, const std::string& path) { parse_config(text, path); }

void default_degrees(const ModelSpec& model, const Topology& topology, JobConfig& job,
                     bool degree_given, std::string* failure) {
  if (degree_given) return;
  const int64_t t = job.tensor_parallel;
  const int64_t p = job.pipeline_parallel;
  if (job.num_gpus % (t * p) != 0) return;  // the strategy reports the divisibility error
  const int64_t room = job.data_parallel > 0 ? job.num_gpus / (t * p * job.data_parallel)
                                             : job.num_gpus / (t * p);
  const auto strategy = make_strategy(job.strategy);
  const StrategyTraits& traits = strategy->traits();
  if (!traits.cli_picks_degrees) return;  // the plug-in derives its own degree
  if (!traits.uses_tensor && !traits.uses_ulysses && !traits.uses_ring) return;  // dp: none
  std::string first_error;  // of the largest candidate
  auto legal = [&](JobConfig& candidate) {
    try {
      strategy->check(model, candidate);
      return true;
    } catch (const InputError& e) {
      if (first_error.empty()) first_error = e.full();
      return false;
    }
  };
  // Candidate degrees, largest first.
  std::vector<int64_t> candidates = detail::divisors(room);
  std::reverse(candidates.begin(), candidates.end());
  const int64_t node = std::max<int64_t>(1, topology.gpus_per_node);
  if (traits.uses_ulysses && traits.uses_ring) {
    // USP is a hybrid only with u > 1 and r > 1 (u = 1 is ring, r = 1 Ulysses): the largest
    // legal u x r (the sequence split over the most ranks, as for the other schemes), then the
    // largest u within a node (Ulysses inside the node, ring across); data parallelism takes the
    // rest, so uneven GPU counts (72, 96, 144) still get a hybrid when the rules allow one.
    std::vector<std::pair<int64_t, int64_t>> pairs;  // (u, r)
    for (int64_t u = 2; u * t <= node && u <= room; ++u) {
      for (int64_t r = 2; u * r <= room; ++r) {
        if (room % (u * r) != 0) continue;
        if (job.data_parallel > 0 && u * r != room) continue;
        pairs.emplace_back(u, r);
      }
    }
    std::stable_sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) {
      return a.first * a.second != b.first * b.second ? a.first * a.second > b.first * b.second
                                                      : a.first > b.first;
    });
    for (const auto& [u, r] : pairs) {
      JobConfig candidate = job;
      candidate.ulysses_degree = u;
      candidate.ring_degree = r;
      if (legal(candidate)) {
        job = candidate;
        return;
      }
    }
    // No hybrid is legal: fall back to one degree (the plan then is Ulysses' or ring's, and the
    // run table says so).
  }
  std::optional<JobConfig> largest;  // the first candidate tried, for the error when none is legal
  for (int64_t d : candidates) {
    JobConfig candidate = job;
    if (traits.uses_ulysses && traits.uses_ring) {
      // USP: Ulysses inside the node (contiguous ranks), ring across: u as large as legal within
      // a node, r the rest of the room.
      if (d * t > node) continue;
      candidate.ulysses_degree = d;
      candidate.ring_degree = room / d;
      if (candidate.ring_degree < 2 && room > 1 && d != room) continue;
    } else if (traits.uses_ulysses) {
      candidate.ulysses_degree = d;
    } else if (traits.uses_ring) {
      candidate.ring_degree = d;
    } else {
      // Tensor parallelism alone (Megatron): within the NVLink domain.
      if (d > node || d < 2) continue;
      candidate.tensor_parallel = d;
    }
    if (legal(candidate)) {
      job = candidate;
      return;
    }
    if (!largest) largest = candidate;
  }
  // None is legal: keep the largest tried, so a later error names degrees spsim chose rather than
  // the 1s the user never gave, and say so.
  if (!largest) return;
  job = *largest;
  if (failure != nullptr) {
    *failure = fmt::format("no {} degrees are legal for {} GPUs: the largest spsim tried (t{} u{} r{}) "
                           "fails with \"{}\", and so do the smaller ones; give the degrees (-t, -u, -r) "
                           "or another GPU count", job.strategy, job.num_gpus, job.tensor_parallel,
                           job.ulysses_degree, job.ring_degree, first_error);
  }
}

BaseSetup resolve_base(const JobOptions& o) {
  FileSetup file;
  if (!o.config_path.empty()) file = read_config(o.config_path);
  // A launch script or config stands where a --config job would (launch_options.h).
  const auto imported = read_launch_import(o.launch, [&o](const char* flag) { return given(o, flag); });
  if (imported) {
    file.job = imported->job;
    file.has_job = true;
  }
  const std::string model_name = given(o, "--model") || file.model.empty() ? o.model : file.model;
  const std::string topology_name =
      given(o, "--topology") || file.topology.empty() ? o.topology : file.topology;
  BaseSetup out;
  out.engine = given(o, "--engine") || file.engine.empty() ? o.engine : file.engine;
  out.model = imported && imported->model && !given(o, "--model") ? *imported->model : load_model(model_name);
  check_costed(out.model, "--model");
  if (imported) out.notes = imported->notes;
  out.topology = load_topology(topology_name);
  for (const auto& assignment : file.overrides) apply_override(out.topology, assignment);
  for (const auto& assignment : o.overrides) apply_override(out.topology, assignment);

  JobConfig& base = out.job;
  base = file.has_job ? file.job : JobConfig{};
  const bool from_file = file.has_job;
  out.from_file = from_file;
  auto pick = [&](const char* flag, auto flag_value, auto& field) {
    if (given(o, flag) || !from_file) field = flag_value;
  };
  pick("--mbs", o.micro_batch_size, base.micro_batch_size);
  pick("--gbs", o.global_batch_size, base.global_batch_size);
  pick("--tp", o.tp, base.tensor_parallel);
  pick("--ulysses-degree", o.ulysses, base.ulysses_degree);
  pick("--ring-degree", o.ring, base.ring_degree);
  pick("--dp", o.dp, base.data_parallel);
  pick("--pp", o.pp, base.pipeline_parallel);
  pick("--vpp", o.vpp, base.virtual_pipeline_stages);
  pick("--decoder-first-pipeline-num-layers", o.first_stage_layers, base.first_stage_layers);
  pick("--decoder-last-pipeline-num-layers", o.last_stage_layers, base.last_stage_layers);
  pick("--account-for-embedding-in-pipeline-split", o.embedding_in_pipeline_split,
       base.embedding_in_pipeline_split);
  pick("--account-for-loss-in-pipeline-split", o.loss_in_pipeline_split, base.loss_in_pipeline_split);
  pick("--zero", o.zero_stage, base.zero_stage);
  pick("--no-sequence-parallel", !o.no_sequence_parallel, base.sequence_parallel);
  pick("--ring-variant", o.ring_variant, base.ring_variant);
  pick("--cp-comm-type", o.ring_comm, base.ring_comm);
  pick("--no-kv-replication", !o.no_kv_replication, base.ulysses_kv_replication);
  pick("--ulysses-overlap", o.ulysses_overlap, base.ulysses_overlap);
  pick("--no-causal", !o.no_causal, base.causal);
  pick("--framework", o.framework, base.framework);
  pick("--fp8-recipe", o.fp8_recipe, base.fp8_recipe);
  pick("--attention-impl", o.attention_impl, base.attention_impl);
  pick("--elementwise-impl", o.elementwise_impl, base.elementwise_impl);
  pick("--backward-prefetch", o.backward_prefetch, base.backward_prefetch);
  if (!base.backward_prefetch.empty() && base.backward_prefetch != "pre" && base.backward_prefetch != "post" &&
      base.backward_prefetch != "sync") {
    throw InputError("--backward-prefetch",
                     fmt::format("must be pre, post or sync (got \"{}\")", base.backward_prefetch));
  }
  if (!base.elementwise_impl.empty() && base.elementwise_impl != "fused" && base.elementwise_impl != "eager") {
    throw InputError("--elementwise-impl", fmt::format("must be fused or eager (got \"{}\")", base.elementwise_impl));
  }
  check_attention_impl(base.attention_impl, "--attention-impl");
  if (!base.framework.empty()) find_framework(base.framework, "--framework");
  if (!base.fp8_recipe.empty() && base.fp8_recipe != "delayed" && base.fp8_recipe != "current") {
    throw InputError("--fp8-recipe", fmt::format("must be delayed or current (got \"{}\")", base.fp8_recipe));
  }
  if (given(o, "--recompute") || !from_file) set_recompute(base, o.recompute, "--recompute");
  if (given(o, "--precision") || !from_file) base.precision = parse_precision(o.precision, "--precision");
  if (given(o, "--attention-kernel") || !from_file) {
    if (o.attention_kernel == "flash") {
      base.attention_kernel = AttentionKernel::kFlash;
    } else if (o.attention_kernel == "standard") {
      base.attention_kernel = AttentionKernel::kStandard;
    } else {
      throw InputError("--attention-kernel", fmt::format("must be flash or standard (got \"{}\")", o.attention_kernel));
    }
  }
  if (given(o, "--seq-dist")) {
    base.seq_dist = std::make_shared<const SequenceDistribution>(
        load_sequence_distribution(o.seq_dist, "--seq-dist"));
  }
  if (given(o, "--loss") || !from_file) base.loss = to_string(parse_loss(o.loss, "--loss"));
  if (given(o, "--tiled-mlp") || !from_file) base.tiled_mlp = parse_tiled_mlp(o.tiled_mlp, "--tiled-mlp");
  if (given(o, "--offload") || !from_file) set_offload(base, o.offload, "--offload");
  if (o.reserve_gib >= 0) base.framework_reserve_bytes = o.reserve_gib * kGiB;
  if (!from_file && o.reserve_gib < 0) base.framework_reserve_bytes = kDefaultFrameworkReserveBytes;
  if (base.ring_variant != "basic" && base.ring_variant != "zigzag" && base.ring_variant != "stripe") {
    throw InputError("--ring-variant",
                     fmt::format("must be basic, zigzag or stripe (got \"{}\")", base.ring_variant));
  }
  if (base.ring_comm != "p2p" && base.ring_comm != "allgather") {
    throw InputError("--cp-comm-type", fmt::format("must be p2p or allgather (got \"{}\")", base.ring_comm));
  }
  if (base.zero_stage < 0 || base.zero_stage > 3) {
    throw InputError("--zero-stage", fmt::format("must be 0, 1, 2 or 3 (got {})", base.zero_stage));
  }
  if (base.micro_batch_size < 1) throw InputError("--micro-batch-size", "must be at least 1");
  if (base.tensor_parallel < 1) throw InputError("--tensor-model-parallel-size", "must be at least 1");
  if (base.ulysses_degree < 1) throw InputError("--ulysses-degree", "must be at least 1");
  if (base.ring_degree < 1) throw InputError("--ring-degree", "must be at least 1");
  if (base.data_parallel < 0) throw InputError("--data-parallel-size", "must be at least 1");
  if (base.pipeline_parallel < 1) throw InputError("--pipeline-model-parallel-size", "must be at least 1");
  if (base.virtual_pipeline_stages < 1) {
    throw InputError("--virtual-pipeline-model-parallel-size", "must be at least 1");
  }
  if (base.global_batch_size < 0) throw InputError("--global-batch-size", "must be positive");
  if (!o.tokens_per_step.empty()) {
    if (given(o, "--gbs")) {
      throw InputError("--tokens-per-step", "give either --tokens-per-step or --gbs, not both (the "
                                            "global batch is tokens per step / seq-length)");
    }
    out.tokens_per_step = parse_count(o.tokens_per_step, "--tokens-per-step");
    base.global_batch_size = 0;
  }

  out.strategies =
      given(o, "--strategy") || !from_file ? expand_strategies(split_list(o.strategies, "--strategy"))
                                           : std::vector<std::string>{base.strategy};
  for (const auto& strategy : out.strategies) make_strategy(strategy);  // unknown names fail here
  if (given(o, "--strategy") || !from_file) {
    out.strategies =
        applicable_strategies(split_list(o.strategies, "--strategy"), out.model, &out.notes, base.ring_comm);
  }
  return out;
}

std::vector<std::string> applicable_strategies(const std::vector<std::string>& asked, const ModelSpec& model,
                                               std::vector<std::string>* notes, const std::string& ring_comm) {
  std::vector<std::string> all = expand_strategies(asked);
  if (std::find(asked.begin(), asked.end(), "all") == asked.end()) return all;
  std::vector<std::string> kept, by_kind, by_window;
  std::string reason;
  for (auto& strategy : all) {
    const StrategyTraits& traits = strategy_traits(strategy);
    const std::string kind = applicability(traits, model);
    const std::string window = kind.empty() ? window_applicability(traits, model, ring_comm) : "";
    if ((kind.empty() && window.empty()) || std::find(asked.begin(), asked.end(), strategy) != asked.end()) {
      kept.push_back(strategy);
      continue;
    }
    (kind.empty() ? by_window : by_kind).push_back(strategy);
    if (reason.empty()) reason = kind.empty() ? window : kind;
  }
  if (kept.empty()) throw InputError("--strategy", reason);
  auto names = [](const std::vector<std::string>& list) {
    std::string out;
    for (const auto& n : list) out += (out.empty() ? "" : ", ") + n;
    return out;
  };
  if (!by_kind.empty() && notes != nullptr) {
    const bool linear = model.linear_attention_layers > 0;
    notes->push_back(fmt::format("--strategy all leaves out {}: {}", names(by_kind),
                                 linear ? fmt::format("they model softmax attention only and model \"{}\" has {} "
                                                      "linear-attention layers", model.name, model.linear_attention_layers)
                                        : fmt::format("they need linear-attention layers and model \"{}\" has "
                                                      "none", model.name)));
  }
  if (!by_window.empty() && notes != nullptr) {
    notes->push_back(fmt::format("--strategy all leaves out {}: model \"{}\" has sliding-window attention and their "
                                 "rings pass K,V step by step, which no framework runs with a window (use ulysses, "
                                 "or ring --cp-comm-type allgather)",
                                 names(by_window), model.name));
  }
  return kept;
}

int64_t global_batch_for(const BaseSetup& base, int64_t seq) {
  if (base.tokens_per_step <= 0) return base.job.global_batch_size;
  if (seq > base.tokens_per_step || base.tokens_per_step % seq != 0) {
    throw InputError("--tokens-per-step",
                     fmt::format("{} tokens per step is not a whole number of sequences of {} "
                                 "tokens; use a multiple of every --seq (e.g. {})",
                                 format_count(base.tokens_per_step), format_count(seq),
                                 format_count(seq * std::max<int64_t>(1, base.tokens_per_step / seq))));
  }
  return base.tokens_per_step / seq;
}

int64_t default_global_batch(const std::vector<int64_t>& gpu_counts) {
  constexpr int64_t kMaxDefaultBatch = int64_t{1} << 20;
  int64_t batch = 1;
  for (int64_t n : gpu_counts) {
    batch = std::lcm(batch, std::max<int64_t>(1, n));
    if (batch > kMaxDefaultBatch) {
      throw InputError("--gbs", fmt::format("the GPU counts have no small common multiple (over {} "
                                            "sequences), so no default batch serves them all; give "
                                            "--gbs or --tokens-per-step",
                                            kMaxDefaultBatch));
    }
  }
  return batch;
}

bool batch_given(const JobOptions& o, const BaseSetup& base) {
  return base.tokens_per_step > 0 || base.job.global_batch_size > 0 || given(o, "--gbs");
}

JobConfig setup_job(const JobOptions& o, const BaseSetup& base, const std::string& strategy,
                    int64_t gpus, int64_t seq, bool degrees_fixed, std::string* failure) {
  JobConfig job = base.job;
  job.strategy = strategy;
  job.num_gpus = gpus;
  job.global_batch_size = global_batch_for(base, seq);
  if (degrees_fixed) {
    job.seq_length = seq;
    return job;
  }
  // The scheme's own degrees, when the command picks them (see StrategyTraits).
  const StrategyTraits& traits = strategy_traits(strategy);
  const bool own_u = traits.cli_picks_degrees && traits.uses_ulysses;
  const bool own_r = traits.cli_picks_degrees && traits.uses_ring;
  const bool tensor_only =
      traits.cli_picks_degrees && traits.uses_tensor && !traits.uses_ulysses && !traits.uses_ring;
  if (base.strategies.size() > 1) {
    // Side by side, each scheme takes only the degrees that belong to it (t applies to every
    // scheme that takes one).
    if (!own_u) job.ulysses_degree = 1;
    if (!own_r) job.ring_degree = 1;
    if (traits.cli_picks_degrees && !traits.uses_tensor) job.tensor_parallel = 1;
  }
  job.seq_length = seq;
  bool degree_given = given(o, "--ulysses-degree") || given(o, "--ring-degree") ||
                      (base.from_file && !given(o, "--strategy"));
  if (tensor_only) degree_given = given(o, "--tp") || (base.from_file && !given(o, "--strategy"));
  if (o.cp > 0) {
    // --context-parallel-size is the scheme's one sequence-parallel degree (u or r).
    if (own_u && !own_r) job.ulysses_degree = o.cp;
    else if (own_r && !own_u) job.ring_degree = o.cp;
    else throw InputError("--cp", fmt::format("--context-parallel-size means u for ulysses and r "
                                              "for ring; for {} give -u/-r or -t", strategy));
    degree_given = true;
  }
  if (given(o, "--dp") && !degree_given) {
    // Data parallelism fixed: the sequence-parallel degree is what is left.
    const int64_t room = gpus / std::max<int64_t>(1, job.tensor_parallel * job.pipeline_parallel * job.data_parallel);
    if (own_u && !own_r) { job.ulysses_degree = room; degree_given = true; }
    if (own_r && !own_u) { job.ring_degree = room; degree_given = true; }
  }
  default_degrees(base.model, base.topology, job, degree_given, failure);
  return job;
}

std::vector<Setup> resolve_setups(const JobOptions& o) {
  const BaseSetup base = resolve_base(o);
  const bool from_file = base.from_file;
  std::vector<int64_t> gpu_counts;
  if (given(o, "--gpus") || !from_file) {
    for (const auto& g : split_list(o.gpus, "--gpus")) gpu_counts.push_back(parse_count(g, "--gpus", kMaxGpus));
  } else {
    gpu_counts.push_back(base.job.num_gpus);
  }
  std::vector<int64_t> seqs;
  if (given(o, "--seq") || !from_file) {
    for (const auto& s : split_list(o.seq, "--seq")) seqs.push_back(parse_count(s, "--seq"));
  } else {
    seqs.push_back(base.job.seq_length);
  }

  std::vector<Setup> setups;
  for (const auto& strategy : base.strategies) {
    for (int64_t gpus : gpu_counts) {
      for (int64_t seq : seqs) {
        std::string failure;
        setups.push_back(Setup{base.model, base.topology, setup_job(o, base, strategy, gpus, seq, false, &failure),
                               base.engine, base.notes});
        if (!failure.empty()) throw InputError("--gpus", failure);
      }
    }
  }
  return setups;
}

std::vector<std::string> unmodelled_warnings(const ModelSpec& model, const Topology& topology,
                                             const std::string& engine, int64_t max_gpus) {
  std::vector<std::string> out = model.warnings;
  // The analytic engine prices collectives from per-GPU link rates: the leaf/spine fabric behind
  // the NICs (uplink oversubscription, which leaf each NIC sits on) exists only in the DES's
  // routed cluster. Inside one node there is no fabric, so nothing is ignored.
  const bool multi_node = topology.gpus_per_node > 0 && max_gpus > topology.gpus_per_node;
  if (!multi_node || engine == "des") return out;
  std::string fields;
  if (topology.oversubscription > 1.0) fields = fmt::format("network.oversubscription {}", topology.oversubscription);
  if (!topology.rail_optimized) {
    fields += std::string(fields.empty() ? "" : " and ") + "network.rail_optimized false";
  }
  if (!fields.empty()) {
    out.push_back(fmt::format("{}: {} is modelled by the des engine only; the {} engine assumes a "
                              "non-blocking, rail-optimized fabric, so inter-node collectives may be "
                              "slower than shown: check the plan with --engine des (which simulates up to "
                              "its work limit, README \"Limits and errors\": at large GPU counts, a "
                              "smaller job with the same per-node shape)",
                              topology.name, fields, engine));
  }
  return out;
}

void print_warnings(const std::vector<std::string>& warnings) {
  std::vector<std::string> seen;
  for (const auto& w : warnings) {
    if (std::find(seen.begin(), seen.end(), w) != seen.end()) continue;
    seen.push_back(w);
    std::fprintf(stderr, "spsim: warning: %s\n", w.c_str());
  }
}

std::vector<std::string> unmodelled_warnings(const std::vector<Setup>& setups) {
  std::vector<std::string> all;
  for (const auto& setup : setups) {
    for (auto& w : unmodelled_warnings(setup.model, setup.topology, setup.engine, setup.job.num_gpus)) {
      all.push_back(std::move(w));
    }
  }
  return all;
}

void warn_unmodelled(const std::vector<Setup>& setups) { print_warnings(unmodelled_warnings(setups)); }

Setup resolve_one_setup(const JobOptions& o, const std::string& command) {
  std::vector<Setup> setups = resolve_setups(o);
  if (setups.size() != 1) {
    throw InputError("--strategy", fmt::format("{} takes one configuration, got {} (strategies x GPU counts "
                                               "x sequence lengths); give one of each, e.g. -s ring --gpus 8",
                                               command, setups.size()));
  }
  return std::move(setups.front());
}

}  // namespace spsim::cli
