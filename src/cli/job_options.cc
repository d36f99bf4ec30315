#include "cli/job_options.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/json_reader.h"
#include "spsim/error.h"
#include "spsim/framework.h"
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
                       ->delimiter(',')->group("Parallelism");
  auto* gpus = cmd->add_option("-n,--gpus", o.gpus, "number of GPUs (comma list allowed)")
                   ->delimiter(',')->group("Parallelism");
  auto* seq = cmd->add_option("--seq,--seq-length", o.seq,
                              "sequence length in tokens, K/M suffixes binary (128K = 131072)")
                  ->delimiter(',')->group("Parallelism");
  if (!multi) {
    strategy->expected(1);
    gpus->expected(1);
    seq->expected(1);
  }
  cmd->add_option("-t,--tp,--tensor-model-parallel-size", o.tp, "tensor-parallel degree t")->group("Parallelism");
  cmd->add_option("-u,--ulysses-degree", o.ulysses, "Ulysses (all-to-all) degree u")->group("Parallelism");
  cmd->add_option("-r,--ring-degree", o.ring, "ring (P2P) degree r")->group("Parallelism");
  cmd->add_option("--cp,--context-parallel-size", o.cp,
                  "sequence-parallel degree of the chosen scheme (ulysses: u, ring: r)")->group("Parallelism");
  cmd->add_option("--dp,--data-parallel-size", o.dp, "data-parallel degree (default: what is left)")
      ->group("Parallelism");
  cmd->add_option("--pp,--pipeline-model-parallel-size", o.pp,
                  "pipeline stages p (1F1B; layers split per --framework; give --gbs for micro-batches)")
      ->group("Parallelism");
  cmd->add_option("--vpp,--virtual-pipeline-model-parallel-size", o.vpp,
                  "model chunks per stage v (interleaved 1F1B; p v | layers, micro-batches % p == 0)")
      ->group("Parallelism");
  cmd->add_option("--decoder-first-pipeline-num-layers", o.first_stage_layers,
                  "megatron/nemo: layers on the first stage (the rest split evenly)")
      ->group("Parallelism");
  cmd->add_option("--decoder-last-pipeline-num-layers", o.last_stage_layers,
                  "megatron/nemo: layers on the last stage (the rest split evenly)")
      ->group("Parallelism");
  cmd->add_flag("--account-for-embedding-in-pipeline-split", o.embedding_in_pipeline_split,
                "megatron/nemo: the embedding counts as one layer of the first chunk")
      ->group("Parallelism");
  cmd->add_flag("--account-for-loss-in-pipeline-split", o.loss_in_pipeline_split,
                "megatron/nemo: the loss counts as one layer of the last chunk")
      ->group("Parallelism");
  cmd->add_option("--zero,--zero-stage", o.zero_stage, "ZeRO stage 0-3")->group("Parallelism");
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
                  "(default: ulysses/colai-sp deepspeed, others megatron)")
      ->group("Training");
  cmd->add_option("--fp8-recipe", o.fp8_recipe, "delayed | current FP8 scaling (default: the framework's)")
      ->group("Training");
  cmd->add_option("--attention-impl", o.attention_impl,
                  "cudnn | flash2 attention kernels (default: the framework's; TE on A100 runs flash2)")
      ->group("Training");
  cmd->add_option("--mbs,--micro-batch-size", o.micro_batch_size, "sequences per micro-batch")
      ->capture_default_str()->group("Training");
  cmd->add_option("--gbs,--global-batch-size", o.global_batch_size,
                  "sequences per step (default: one micro-batch per DP rank)")->group("Training");
  cmd->add_option("--recompute,--recompute-granularity", o.recompute, "none | selective | full")
      ->capture_default_str()->group("Training");
  cmd->add_option("--precision", o.precision, "bf16 | fp16 | fp8 | tf32 | fp32")
      ->capture_default_str()->group("Training");
  cmd->add_option("--attention-kernel", o.attention_kernel,
                  "flash (no s^2 activations) | standard (keeps the score matrix)")
      ->capture_default_str()->group("Training");
  cmd->add_flag("--no-causal", o.no_causal, "full (bidirectional) attention mask")->group("Training");
  cmd->add_option("--framework-reserve-gib", o.reserve_gib,
                  "memory kept by CUDA context, NCCL and the allocator (default 3 GiB)")->group("Training");
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

FileSetup read_config(const std::string& path) {
  const auto json = detail::parse_json(detail::read_file(path), path);
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

}  // namespace

void default_degrees(const ModelSpec& model, const Topology& topology, JobConfig& job,
                     bool degree_given) {
  if (degree_given) return;
  const int64_t t = job.tensor_parallel;
  const int64_t p = job.pipeline_parallel;
  if (job.num_gpus % (t * p) != 0) return;  // the strategy reports the divisibility error
  const int64_t room = job.data_parallel > 0 ? job.num_gpus / (t * p * job.data_parallel)
                                             : job.num_gpus / (t * p);
  const auto strategy = make_strategy(job.strategy);
  const StrategyTraits& traits = strategy->traits();
  if (!traits.cli_picks_degrees) return;  // the plug-in derives its own degree
  auto legal = [&](JobConfig& candidate) {
    try {
      strategy->check(model, candidate);
      return true;
    } catch (const InputError&) {
      return false;
    }
  };
  // Candidate degrees, largest first.
  std::vector<int64_t> candidates;
  for (int64_t d = room; d >= 1; --d) {
    if (room % d == 0) candidates.push_back(d);
  }
  const int64_t node = std::max<int64_t>(1, topology.gpus_per_node);
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
  if (!base.attention_impl.empty() && base.attention_impl != "cudnn" && base.attention_impl != "flash2") {
    throw InputError("--attention-impl", fmt::format("must be cudnn or flash2 (got \"{}\")", base.attention_impl));
  }
  if (!base.framework.empty()) find_framework(base.framework, "--framework");
  if (!base.fp8_recipe.empty() && base.fp8_recipe != "delayed" && base.fp8_recipe != "current") {
    throw InputError("--fp8-recipe", fmt::format("must be delayed or current (got \"{}\")", base.fp8_recipe));
  }
  if (given(o, "--recompute") || !from_file) base.recompute = parse_recompute(o.recompute, "--recompute");
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

  out.strategies =
      given(o, "--strategy") || !from_file ? expand_strategies(o.strategies)
                                           : std::vector<std::string>{base.strategy};
  for (const auto& strategy : out.strategies) make_strategy(strategy);  // unknown names fail here
  return out;
}

JobConfig setup_job(const JobOptions& o, const BaseSetup& base, const std::string& strategy,
                    int64_t gpus, int64_t seq, bool degrees_fixed) {
  JobConfig job = base.job;
  job.strategy = strategy;
  job.num_gpus = gpus;
  if (degrees_fixed) {
    job.seq_length = seq;
    return job;
  }
  // The scheme's own degrees, when the command picks them (see StrategyTraits).
  const StrategyTraits& traits = strategy_traits(strategy);
  const bool own_u = traits.cli_picks_degrees && traits.uses_ulysses;
  const bool own_r = traits.cli_picks_degrees && traits.uses_ring;
  const bool tensor_only = traits.cli_picks_degrees && !traits.uses_ulysses && !traits.uses_ring;
  if (base.strategies.size() > 1) {
    // Side by side, each scheme takes only the degrees that belong to it (t applies to all).
    if (!own_u) job.ulysses_degree = 1;
    if (!own_r) job.ring_degree = 1;
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
  default_degrees(base.model, base.topology, job, degree_given);
  return job;
}

std::vector<Setup> resolve_setups(const JobOptions& o) {
  const BaseSetup base = resolve_base(o);
  const bool from_file = base.from_file;
  std::vector<int64_t> gpu_counts;
  if (given(o, "--gpus") || !from_file) {
    for (const auto& g : o.gpus) gpu_counts.push_back(parse_count(g, "--gpus"));
  } else {
    gpu_counts.push_back(base.job.num_gpus);
  }
  std::vector<int64_t> seqs;
  if (given(o, "--seq") || !from_file) {
    for (const auto& s : o.seq) seqs.push_back(parse_count(s, "--seq"));
  } else {
    seqs.push_back(base.job.seq_length);
  }

  std::vector<Setup> setups;
  for (const auto& strategy : base.strategies) {
    for (int64_t gpus : gpu_counts) {
      for (int64_t seq : seqs) {
        setups.push_back(
            Setup{base.model, base.topology, setup_job(o, base, strategy, gpus, seq), base.engine, base.notes});
      }
    }
  }
  return setups;
}

}  // namespace spsim::cli
