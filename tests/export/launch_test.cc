// Launch settings: every name --emit writes is in the framework's list (src/export/names/), what a
// framework cannot run is refused, and emitting then importing gives the same plan back.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "export/framework_lists.h"
#include "spsim/launch.h"
#include "spsim/strategy.h"
#include "spsim/sweep.h"
#include "spsim/topology.h"
#include "test_util.h"

namespace spsim {
namespace {

// A job resolved by its strategy, as `spsim run` evaluates it (framework and dp filled in).
JobConfig resolved(const ModelSpec& model, JobConfig job) { return make_strategy(job.strategy)->check(model, job); }

JobConfig plan(const std::string& strategy, const std::string& framework, int64_t gpus, int64_t seq) {
  JobConfig job;
  job.strategy = strategy;
  job.framework = framework;
  job.num_gpus = gpus;
  job.seq_length = seq;
  return job;
}

// Every setting written is a name of its list; a value of a name with choices is one of them.
void expect_names_listed(const LaunchSettings& s) {
  ASSERT_FALSE(s.settings.empty());
  for (const auto& setting : s.settings) {
    const detail::ListedName* entry = detail::find_listed(setting.list, setting.name);
    ASSERT_NE(entry, nullptr) << setting.list << " has no " << setting.name;
    if (!entry->choices.empty() && entry->kind != detail::NameKind::kFlag) {
      std::string value = setting.value;
      if (value.size() >= 2 && value.front() == '"') value = value.substr(1, value.size() - 2);
      if (value == "null") continue;  // Python None: a field left unset
      EXPECT_NE(std::find(entry->choices.begin(), entry->choices.end(), value), entry->choices.end())
          << setting.name << " " << setting.value;
    }
  }
}

// What a launch carries of a plan, field by field (a failing field is named).
void expect_same_plan(const JobConfig& want, const JobConfig& got, const std::string& text) {
  EXPECT_EQ(got.strategy, want.strategy) << text;
  EXPECT_EQ(got.framework, want.framework) << text;
  EXPECT_EQ(got.num_gpus, want.num_gpus) << text;
  EXPECT_EQ(got.seq_length, want.seq_length) << text;
  EXPECT_EQ(got.micro_batch_size, want.micro_batch_size) << text;
  EXPECT_EQ(got.micro_batch_size * want.data_parallel * got.micro_batches(),
            want.micro_batch_size * want.data_parallel * want.micro_batches())
      << text;
  EXPECT_EQ(got.tensor_parallel, want.tensor_parallel) << text;
  EXPECT_EQ(got.ulysses_degree, want.ulysses_degree) << text;
  EXPECT_EQ(got.ring_degree, want.ring_degree) << text;
  EXPECT_EQ(got.pipeline_parallel, want.pipeline_parallel) << text;
  EXPECT_EQ(got.virtual_pipeline_stages, want.virtual_pipeline_stages) << text;
  EXPECT_EQ(got.first_stage_layers, want.first_stage_layers) << text;
  EXPECT_EQ(got.last_stage_layers, want.last_stage_layers) << text;
  EXPECT_EQ(got.embedding_in_pipeline_split, want.embedding_in_pipeline_split) << text;
  EXPECT_EQ(got.loss_in_pipeline_split, want.loss_in_pipeline_split) << text;
  EXPECT_EQ(got.grad_reduce_dtype, want.grad_reduce_dtype) << text;
  EXPECT_EQ(got.cross_entropy, want.cross_entropy) << text;
  EXPECT_EQ(got.elementwise_impl, want.elementwise_impl) << text;
  if (want.tensor_parallel > 1) {
    EXPECT_EQ(got.sequence_parallel, want.sequence_parallel) << text;
  }
  if (want.ring_degree > 1) {
    EXPECT_EQ(got.ring_comm, want.ring_comm) << text;
    EXPECT_EQ(got.ring_variant, want.ring_variant) << text;
  }
  EXPECT_EQ(got.zero_stage, want.zero_stage) << text;
  EXPECT_EQ(got.recompute, want.recompute) << text;
  EXPECT_EQ(got.precision, want.precision) << text;
  if (want.precision == Precision::kFp8) {
    EXPECT_EQ(got.fp8_recipe, want.fp8_recipe) << text;
  }
}

// The same shape: a RoPE model's position count is not part of it (Llama-3-8B at 128K reads
// back as Llama-3.1-8B, the same layers).
void expect_same_shape(const ModelSpec& model, const ModelSpec& back, const std::string& text) {
  EXPECT_EQ(back.hidden_size, model.hidden_size) << text;
  EXPECT_EQ(back.num_layers, model.num_layers) << text;
  EXPECT_EQ(back.num_attention_heads, model.num_attention_heads) << text;
  EXPECT_EQ(back.num_key_value_heads, model.num_key_value_heads) << text;
  EXPECT_EQ(back.ffn_hidden_size, model.ffn_hidden_size) << text;
  EXPECT_EQ(back.vocab_size, model.vocab_size) << text;
  EXPECT_EQ(back.make_vocab_size_divisible_by, model.make_vocab_size_divisible_by) << text;
  EXPECT_EQ(back.tied_embeddings, model.tied_embeddings) << text;
  EXPECT_EQ(back.learned_position_embeddings, model.learned_position_embeddings) << text;
  if (model.learned_position_embeddings) {
    EXPECT_EQ(back.max_position_embeddings, model.max_position_embeddings) << text;
  }
}

// Emit, read back (resolved by the strategy as the command line does), compare.
void round_trip(LaunchFormat format, const ModelSpec& model, const Topology& topology, const JobConfig& job) {
  const JobConfig want = resolved(model, job);
  const LaunchSettings s = emit_launch(format, model, topology, want, {"a comment"});
  expect_names_listed(s);
  const ImportedLaunch back = import_launch(format, s.text, "emitted");
  EXPECT_TRUE(back.missing.empty()) << s.text << back.missing.front().first;
  // Everything emitted is read back: nothing is reported as ignored.
  EXPECT_TRUE(back.ignored.empty()) << s.text << back.ignored.front();
  if (format == LaunchFormat::kDeepSpeed) {
    // A DeepSpeed config does not name the model (the model code does).
    EXPECT_FALSE(back.model.has_value());
  } else {
    ASSERT_TRUE(back.model.has_value()) << s.text;
    expect_same_shape(model, *back.model, s.text);
  }
  JobConfig got = back.job;
  if (format == LaunchFormat::kDeepSpeed) {
    // A DeepSpeed config does not carry the sequence, the recompute switch or the pipeline.
    got.seq_length = want.seq_length;
    got.recompute = want.recompute;
  }
  expect_same_plan(want, resolved(model, got), s.text);
}

struct Case {
  LaunchFormat format;
  JobConfig job;
};

std::vector<Case> hand_picked_plans() {
  std::vector<Case> cases;
  auto add = [&cases](LaunchFormat f, JobConfig job) { cases.push_back({f, std::move(job)}); };
  const int64_t k128 = 131072, k64 = 65536;
  // Megatron-LM: every kind of context parallelism, TP with and without SP, PP and VPP, ZeRO-1/3, fp8.
  JobConfig j = plan("ring", "megatron", 8, k128);
  j.ring_degree = 8;
  j.zero_stage = 1;
  add(LaunchFormat::kMegatron, j);
  j.ring_comm = "allgather";
  j.recompute = Recompute::kFull;
  add(LaunchFormat::kMegatron, j);
  j = plan("ulysses", "megatron", 16, k128);
  j.ulysses_degree = 8;
  j.zero_stage = 3;
  j.recompute = Recompute::kSelective;
  add(LaunchFormat::kMegatron, j);
  j = plan("usp", "megatron", 32, k128);
  j.ulysses_degree = 4;
  j.ring_degree = 4;
  j.global_batch_size = 8;
  add(LaunchFormat::kMegatron, j);
  j = plan("megatron-sp", "megatron", 16, k64);
  j.tensor_parallel = 8;
  j.precision = Precision::kFp8;
  j.fp8_recipe = "current";
  add(LaunchFormat::kMegatron, j);
  j = plan("megatron-tp", "megatron", 8, 8192);
  j.tensor_parallel = 4;
  j.sequence_parallel = false;
  j.precision = Precision::kFp16;
  add(LaunchFormat::kMegatron, j);
  j = plan("ring", "megatron", 64, k128);
  j.tensor_parallel = 2;
  j.ring_degree = 4;
  j.pipeline_parallel = 4;
  j.virtual_pipeline_stages = 2;
  j.global_batch_size = 16;
  j.zero_stage = 1;
  add(LaunchFormat::kMegatron, j);
  j = plan("ring", "megatron", 32, k64);  // an uneven layout: 6 + 10 + 10 + 6 layers
  j.ring_degree = 8;
  j.pipeline_parallel = 4;
  j.first_stage_layers = 6;
  j.last_stage_layers = 6;
  j.global_batch_size = 8;
  j.zero_stage = 1;
  add(LaunchFormat::kMegatron, j);
  j.first_stage_layers = j.last_stage_layers = 0;  // embedding and loss counted as layers, interleaved
  j.embedding_in_pipeline_split = j.loss_in_pipeline_split = true;
  j.pipeline_parallel = 2;
  j.virtual_pipeline_stages = 17;  // (32 + 2) / (2 x 17) = 1 layer a chunk
  j.ring_degree = 16;
  add(LaunchFormat::kMegatron, j);
  // Megatron-LM with the gradient dtype and cross entropy of NVIDIA's performance scripts.
  j = plan("ring", "megatron", 16, k64);
  j.ring_degree = 8;
  j.zero_stage = 1;
  j.grad_reduce_dtype = "bf16";
  j.cross_entropy = "fused";
  add(LaunchFormat::kMegatron, j);
  j.cross_entropy = "native";  // --cross-entropy-loss-fusion without --cross-entropy-fusion-impl te
  add(LaunchFormat::kMegatron, j);
  // Megatron-Bridge: the same engine under recipes.
  j = plan("ring", "nemo", 16, k128);
  j.ring_degree = 8;
  j.zero_stage = 1;
  j.recompute = Recompute::kFull;
  add(LaunchFormat::kNemo, j);
  j = plan("usp", "nemo", 16, k128);
  j.ulysses_degree = 2;
  j.ring_degree = 8;
  j.precision = Precision::kFp8;
  j.fp8_recipe = "delayed";
  add(LaunchFormat::kNemo, j);
  j = plan("ring", "nemo", 16, k64);  // a recipe with fp32 gradients and the unfused loss
  j.ring_degree = 8;
  j.zero_stage = 1;
  j.grad_reduce_dtype = "fp32";
  j.cross_entropy = "unfused";
  add(LaunchFormat::kNemo, j);
  j.cross_entropy = "native";  // model.cross_entropy_fusion_impl=native
  add(LaunchFormat::kNemo, j);
  j = plan("megatron-sp", "nemo", 16, 32768);
  j.tensor_parallel = 4;
  j.pipeline_parallel = 2;
  j.global_batch_size = 8;
  add(LaunchFormat::kNemo, j);
  j.embedding_in_pipeline_split = j.loss_in_pipeline_split = true;
  add(LaunchFormat::kNemo, j);
  // DeepSpeed: Ulysses over ZeRO.
  j = plan("ulysses", "deepspeed", 16, k128);
  j.ulysses_degree = 8;
  j.zero_stage = 3;
  j.attention_impl = "flash2";
  j.global_batch_size = 8;
  add(LaunchFormat::kDeepSpeed, j);
  j = plan("ulysses", "deepspeed", 8, 8192);
  j.ulysses_degree = 1;
  j.zero_stage = 2;
  j.precision = Precision::kFp16;
  j.micro_batch_size = 2;
  j.attention_impl = "flash2";
  add(LaunchFormat::kDeepSpeed, j);
  // torchtitan: FSDP2 with TP, CP, PP.
  j = plan("ring", "fsdp", 16, k128);
  j.ring_degree = 8;
  j.zero_stage = 3;
  j.attention_impl = "flash2";
  add(LaunchFormat::kTorchtitan, j);
  j = plan("megatron-sp", "fsdp", 16, k64);
  j.tensor_parallel = 8;
  j.zero_stage = 2;
  j.precision = Precision::kFp8;
  j.fp8_recipe = "current";
  j.attention_impl = "flash2";
  j.recompute = Recompute::kFull;
  add(LaunchFormat::kTorchtitan, j);
  j.elementwise_impl = "fused";  // compile.enable: Inductor fuses the blocks' elementwise ops
  add(LaunchFormat::kTorchtitan, j);
  // Op-level selective checkpointing: activation_checkpoint.mode selective, option "op".
  j = plan("dp", "fsdp", 8, 8192);
  j.zero_stage = 3;
  j.micro_batch_size = 2;
  j.attention_impl = "flash2";
  j.recompute = Recompute::kOp;
  add(LaunchFormat::kTorchtitan, j);
  // torchtitan's own pipeline layout: 1F1B, Interleaved1F1B (2 stages a rank by default, 3 with
  // pipeline_parallel_layers_per_stage = 6: ceil(34 / 6) = 6 stages over 2 ranks).
  j = plan("ring", "fsdp", 32, k64);
  j.ring_degree = 4;
  j.pipeline_parallel = 4;
  j.global_batch_size = 8;
  j.zero_stage = 1;  // FSDP under PP: parameters kept, gradients reduced once per step
  j.attention_impl = "flash2";
  add(LaunchFormat::kTorchtitan, j);
  j.virtual_pipeline_stages = 2;
  add(LaunchFormat::kTorchtitan, j);
  j.pipeline_parallel = 2;
  j.ring_degree = 8;
  j.virtual_pipeline_stages = 3;
  j.global_batch_size = 4;
  add(LaunchFormat::kTorchtitan, j);
  return cases;
}

// A shape read back from launch settings names a shipped model only when every costed field
// matches: the hybrid linear-attention Llama is not the all-linear one, Gemma-2's soft-capping is
// not a cap-free twin.
TEST(Launch, ShippedModelMatchesEveryCostedField) {
  for (const char* name : {"linear-llama3-1b", "linear-llama3-1b-hybrid", "gemma-2-9b", "llama-3-8b"}) {
    const auto found = find_shipped_model(load_model(name));
    ASSERT_TRUE(found.has_value()) << name;
    EXPECT_EQ(found->name, load_model(name).name) << name;
  }
  ModelSpec uncapped = load_model("gemma-2-9b");
  uncapped.attn_logit_softcapping = 0;
  uncapped.final_logit_softcapping = 0;
  EXPECT_FALSE(find_shipped_model(uncapped).has_value());
}

// A Megatron-Bridge override of the recipe's model (experts, MLA, a window, the MLP's gate, the
// norm, biases, QK-norm, tied embeddings, dropout) is another model: refused, never read as the
// recipe's shipped model with an "ignored" note. Parallelism overrides stay readable.
TEST(Launch, BridgeModelOverridesAreAnotherModel) {
  const std::string base = "python run_recipe.py --recipe llama3_8b_pretrain_config model.tensor_model_parallel_size=1 "
                           "model.context_parallel_size=8 model.cp_comm_type=a2a train.micro_batch_size=1 "
                           "train.global_batch_size=1 model.seq_length=32768";
  EXPECT_NO_THROW(import_launch(LaunchFormat::kNemo, base, "recipe.sh"));
  for (const char* override : {"model.num_moe_experts=8", "model.multi_latent_attention=true", "model.window_size=[4096,0]",
                               "model.gated_linear_unit=false", "model.normalization=LayerNorm",
                               "model.add_bias_linear=true", "model.qk_layernorm=true",
                               "model.share_embeddings_and_output_weights=true", "model.hidden_dropout=0.1"}) {
    SCOPED_TRACE(override);
    EXPECT_THROW_MSG(import_launch(LaunchFormat::kNemo, base + " " + override, "recipe.sh"), InputError,
                     "a changed shape is another model");
  }
}

TEST(Launch, HandPickedPlansRoundTripWithListedNames) {
  const ModelSpec model = load_model("llama-3-8b");
  const Topology topology = load_topology("dgx-h100");
  for (const auto& c : hand_picked_plans()) {
    SCOPED_TRACE(std::string(to_string(c.format)) + " " + c.job.strategy);
    round_trip(c.format, model, topology, c.job);
  }
}

TEST(Launch, ModelDimensionsRoundTripThroughMegatronArguments) {
  // Models without a recipe or flavor: Megatron-LM arguments carry the shape itself.
  const Topology topology = load_topology("dgx-a100-80gb");
  for (const char* name : {"gpt-7b", "gpt-30b", "qwen2.5-7b", "mistral-7b", "llama-3-70b"}) {
    SCOPED_TRACE(name);
    const ModelSpec model = load_model(name);
    JobConfig j = plan("megatron-sp", "megatron", 8, 2048);  // GPT's learned positions end at 2048
    j.tensor_parallel = 4;
    j.zero_stage = 1;
    round_trip(LaunchFormat::kMegatron, model, topology, j);
  }
}

// The best plan of every shipped experiment that searches (experiments/*.json with "best"), at
// its largest GPU count and sequence, for each strategy and the first model and topology; with
// framework megatron (emitted as Megatron-LM arguments) and, for Llama-3 models, fsdp (torchtitan).
TEST(Launch, ExperimentBestPlansRoundTrip) {
  size_t checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(SPSIM_SOURCE_DATA_DIR) + "/experiments")) {
    if (entry.path().extension() != ".json") continue;  // experiments/lengths/: --seq-dist files
    const auto config = nlohmann::json::parse(test::read_text(entry.path().string()));
    const auto& sweep = config.at("sweep");
    if (!sweep.value("best", false)) continue;
    const std::string model_name =
        sweep.contains("models") ? sweep.at("models").front().get<std::string>() : config.value("model", "llama-3-8b");
    const std::string topology_name = sweep.contains("topologies") ? sweep.at("topologies").front().get<std::string>()
                                                                   : config.value("topology", "dgx-h100");
    const ModelSpec model = load_model(model_name);
    const Topology topology = load_topology(topology_name);
    const int64_t gpus = parse_range(sweep.at("num_gpus").get<std::string>(), "num_gpus").back();
    const int64_t seq = parse_range(sweep.at("seq_length").get<std::string>(), "seq_length").back();
    JobConfig base = config.contains("job") ? job_from_json(config.at("job"), "job") : JobConfig{};
    base.num_gpus = gpus;
    base.seq_length = seq;
    for (const auto& strategy_name : sweep.at("strategies")) {
      for (const char* framework : {"megatron", "fsdp"}) {
        const LaunchFormat format = std::string(framework) == "fsdp" ? LaunchFormat::kTorchtitan : LaunchFormat::kMegatron;
        if (format == LaunchFormat::kTorchtitan && model_name.rfind("llama-3", 0) != 0) continue;
        const auto strategy = make_strategy(strategy_name.get<std::string>());
        JobConfig job = base;
        job.strategy = strategy_name.get<std::string>();
        job.framework = framework;
        if (format == LaunchFormat::kTorchtitan) job.attention_impl = "flash2";
        SearchSpace space;
        // Torchtitan's recompute is none or full (emit refuses selective), its ring zigzag.
        if (format == LaunchFormat::kTorchtitan) space.recompute = {Recompute::kNone, Recompute::kFull};
        const SweepRow best = search_best_plan(model, topology, *strategy, job, space, "analytic");
        SCOPED_TRACE(entry.path().filename().string() + " " + job.strategy + " " + framework + " " + best.reason);
        if (best.status == "invalid") continue;  // no legal plan at this point for this framework
        job = job_of_row(best, job);
        if (model.learned_position_embeddings && job.seq_length > model.max_position_embeddings) {
          // Megatron-LM refuses a sequence past a learned position table (another model).
          EXPECT_THROW_MSG(emit_launch(format, model, topology, resolved(model, job)), InputError, "learned positions");
          continue;
        }
        round_trip(format, model, topology, job);
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 8u);
}

// Each refusal is one InputError naming --emit and the framework's reason.
TEST(Launch, RefusesWhatTheFrameworkCannotRun) {
  const ModelSpec model = load_model("llama-3-8b");
  const Topology topology = load_topology("dgx-h100");
  struct Refusal {
    LaunchFormat format;
    JobConfig job;
    const char* needle;
  };
  std::vector<Refusal> refusals;
  JobConfig j = plan("ring", "megatron", 8, 131072);
  j.ring_degree = 8;
  j.zero_stage = 2;  // Megatron-LM has no ZeRO-2
  refusals.push_back({LaunchFormat::kMegatron, j, "ZeRO-2"});
  j = plan("ring", "deepspeed", 8, 131072);
  j.ring_degree = 8;  // DeepSpeed has no ring (zigzag or not)
  refusals.push_back({LaunchFormat::kDeepSpeed, j, "ring"});
  j = plan("ring", "megatron", 8, 131072);
  j.ring_degree = 8;
  j.ring_variant = "basic";  // Megatron-Core always balances zigzag
  refusals.push_back({LaunchFormat::kMegatron, j, "zigzag"});
  j = plan("ring", "megatron", 8, 131072);
  j.ring_degree = 8;  // a Megatron plan is not a torchtitan one
  refusals.push_back({LaunchFormat::kTorchtitan, j, "--framework fsdp"});
  for (const auto& r : refusals) {
    SCOPED_TRACE(r.needle);
    // The strategy's rules may refuse first (as `spsim run` would); either way one InputError.
    try {
      const JobConfig job = resolved(model, r.job);
      emit_launch(r.format, model, topology, job);
      ADD_FAILURE() << "expected a refusal";
    } catch (const InputError& e) {
      EXPECT_NE(e.full().find(r.needle), std::string::npos) << e.full();
      EXPECT_EQ(e.full().find('\n'), std::string::npos) << e.full();
    }
  }
  // KV replication in TE's a2a: u = 16 > 8 KV heads of Llama-3-8B.
  JobConfig kv = plan("ulysses", "megatron", 16, 131072);
  kv.ulysses_degree = 16;
  EXPECT_THROW(emit_launch(LaunchFormat::kMegatron, model, topology, resolved(model, kv)), InputError);
}

// torchtitan's activation_checkpoint: "selective" with selective_ac_option "op" is --recompute op;
// a layer frequency (the option's default "2") is not a spsim mode and is asked for.
TEST(Launch, TorchtitanSelectiveOpIsOpLevelRecompute) {
  const ImportedLaunch op = import_launch(
      LaunchFormat::kTorchtitan, "[activation_checkpoint]\nmode = \"selective\"\nselective_ac_option = \"op\"\n",
      "job.toml");
  EXPECT_EQ(op.job.recompute, Recompute::kOp);
  const ImportedLaunch layer =
      import_launch(LaunchFormat::kTorchtitan, "[activation_checkpoint]\nmode = \"selective\"\n", "job.toml");
  std::string why;
  for (const auto& [field, reason] : layer.missing) {
    if (field == "recompute_granularity") why = reason;
  }
  EXPECT_NE(why.find("selective_ac_option = \"2\""), std::string::npos) << why;
  for (const auto& [field, reason] : op.missing) EXPECT_NE(field, "recompute_granularity") << reason;
}

TEST(Launch, ImportNamesUnknownAndUnsupportedArguments) {
  EXPECT_THROW_MSG(import_launch(LaunchFormat::kMegatron, "--tensor-model-parallel-sise 2", "args"), InputError,
                   "--tensor-model-parallel-size");
  EXPECT_THROW_MSG(import_launch(LaunchFormat::kMegatron, "--num-layers 2 --num-experts 8", "args"), InputError,
                   "mixture-of-experts");
  // Settings that make another model are refused, not "ignored": MLA's dimensions without the
  // flag, Llama-4's QK L2 norm, a per-layer configuration file.
  for (const char* other : {"--kv-lora-rank 512", "--q-lora-rank 1536", "--qk-l2-norm",
                            "--heterogeneous-layers-config-path layers.json"}) {
    SCOPED_TRACE(other);
    EXPECT_THROW_MSG(import_launch(LaunchFormat::kMegatron, std::string("--num-layers 2 ") + other, "args"),
                     InputError, "not modelled");
  }
  EXPECT_THROW_MSG(import_launch(LaunchFormat::kTorchtitan, "[parallelism]\ntensor_parallel_degre = 2\n", "job.toml"),
                   InputError, "tensor_parallel_degree");
  EXPECT_THROW_MSG(import_launch(LaunchFormat::kDeepSpeed,
                                 R"({"zero_optimization": {"stage": 3, "offload_param": {"device": "nvme"}}})",
                                 "ds.json"),
                   InputError, "offloading");
  // Known settings that do not change the step are reported, not dropped silently.
  const ImportedLaunch in = import_launch(
      LaunchFormat::kMegatron, "torchrun --nproc-per-node 8 pretrain_gpt.py --seq-length 8192 --lr 3e-4 --train-iters 10",
      "args");
  EXPECT_EQ(in.ignored, (std::vector<std::string>{"--lr", "--train-iters"}));
  EXPECT_EQ(in.job.num_gpus, 8);
}

// --grad-reduce-in-bf16 / --cross-entropy-loss-fusion keep a Megatron-LM script a megatron plan
// (they used to switch it to the nemo profile): the job carries them, the lowering reads them.
// --cross-entropy-loss-fusion alone is Megatron-Core's native fused loss (impl default "native");
// TE's kernel needs --cross-entropy-fusion-impl te.
TEST(Launch, MegatronGradientDtypeAndFusedLossStayMegatron) {
  const std::string args =
      "torchrun --nproc-per-node 8 pretrain_gpt.py --context-parallel-size 8 --seq-length 65536 --bf16 "
      "--use-distributed-optimizer --grad-reduce-in-bf16 --cross-entropy-loss-fusion";
  EXPECT_EQ(import_launch(LaunchFormat::kMegatron, args, "args").job.cross_entropy, "native");
  EXPECT_EQ(import_launch(LaunchFormat::kMegatron, args + " --cross-entropy-fusion-impl native", "args").job.cross_entropy,
            "native");
  EXPECT_THROW(import_launch(LaunchFormat::kMegatron, args + " --cross-entropy-fusion-impl fast", "args"), InputError);
  const ImportedLaunch in = import_launch(LaunchFormat::kMegatron, args + " --cross-entropy-fusion-impl te", "args");
  EXPECT_EQ(in.job.framework, "megatron");
  EXPECT_EQ(in.job.grad_reduce_dtype, "bf16");
  EXPECT_EQ(in.job.cross_entropy, "fused");
  EXPECT_TRUE(in.ignored.empty());
  const ModelSpec model = load_model("llama-3-8b");
  JobConfig plain = in.job;
  plain.strategy = "ring";
  plain.ring_degree = 8;
  plain = resolved(model, plain);
  JobConfig fp32 = plain;
  fp32.grad_reduce_dtype = "";
  fp32.cross_entropy = "";
  const auto ring = make_strategy("ring");
  const LoweredStep bf16_step = ring->lower(model, plain);
  const LoweredStep fp32_step = ring->lower(model, fp32);
  // Gradients: 2 bytes an element instead of Megatron's fp32 main grads.
  EXPECT_NEAR(bf16_step.memory.grads * 2, fp32_step.memory.grads, 1e-6 * fp32_step.memory.grads);
  EXPECT_GT(bf16_step.memory.grads, 0);
  // Fused loss: fewer HBM bytes in the cross entropy (one kernel over the 16-bit logits).
  auto loss_bytes = [](const LoweredStep& step) {
    double bytes = 0;
    for (const auto& seg : step.graph.segments) {
      for (const auto& task : seg.tasks) {
        if (std::string(task.name) == "cross_entropy") bytes += task.hbm_bytes;
      }
    }
    return bytes;
  };
  EXPECT_GT(loss_bytes(fp32_step), 0);
  EXPECT_LT(loss_bytes(bf16_step), loss_bytes(fp32_step));
  // The three losses in the ratio of Liger-Kernel's H100 times (fwd + bwd ms, framework.h):
  // TE-class 2.968 + 7.959, Megatron native 11.81 + 18.232, fp32 copy 15.812 + 21.247.
  JobConfig native = fp32;
  native.cross_entropy = "native";
  const double unfused_bytes = loss_bytes(fp32_step);
  EXPECT_NEAR(loss_bytes(ring->lower(model, native)) / unfused_bytes, (11.81 + 18.232) / (15.812 + 21.247), 1e-9);
  EXPECT_NEAR(loss_bytes(bf16_step) / unfused_bytes, (2.968 + 7.959) / (15.812 + 21.247), 1e-9);
}

TEST(Launch, ReadsAScriptWithVariables) {
  const std::string script = R"(#!/bin/bash
GPUS_PER_NODE=8
NNODES=2
TP=2
CP=4
MODEL_ARGS=(
    --num-layers 32 --hidden-size 4096 --ffn-hidden-size 14336 --num-attention-heads 32
    --group-query-attention --num-query-groups 8 --kv-channels 128 --swiglu --normalization RMSNorm
    --disable-bias-linear --untie-embeddings-and-output-weights --position-embedding-type rope
    --max-position-embeddings 8192 --vocab-size 128256 --make-vocab-size-divisible-by 1
    --hidden-dropout 0 --attention-dropout 0
)
torchrun --nproc_per_node $GPUS_PER_NODE --nnodes $NNODES pretrain_gpt.py \
    ${MODEL_ARGS[@]} \
    --tensor-model-parallel-size $TP --sequence-parallel \
    --context-parallel-size ${CP} --cp-comm-type p2p \
    --micro-batch-size 1 --global-batch-size $((2*4)) --seq-length 65536 \
    --use-distributed-optimizer --bf16 --lr 1e-4   # learning rate: ignored
)";
  const ImportedLaunch in = import_launch(LaunchFormat::kMegatron, script, "run.sh");
  ASSERT_TRUE(in.model.has_value());
  EXPECT_EQ(in.model->name, "llama-3-8b");
  EXPECT_EQ(in.job.num_gpus, 16);
  EXPECT_EQ(in.job.tensor_parallel, 2);
  EXPECT_EQ(in.job.ring_degree, 4);
  EXPECT_EQ(in.job.global_batch_size, 8);
  EXPECT_EQ(in.job.zero_stage, 1);
  EXPECT_EQ(in.ignored, (std::vector<std::string>{"--lr"}));
}

}  // namespace
}  // namespace spsim

namespace spsim {
namespace {

// Sliding windows: Megatron-LM's --window-size / --window-attn-skip-freq written and read
// (megatron/core/transformer/utils.py is_layer_window_attention: layer l, 1-based, is windowed
// unless l % N == 0, or per a list of 1 window / 0 full); launches that cannot carry one refuse.
TEST(Launch, SlidingWindowsAreMegatronArguments) {
  const Topology topo = load_topology("dgx-h100");
  const ModelSpec mistral = load_model("mistral-7b");
  const JobConfig job = resolved(mistral, plan("ulysses", "megatron", 8, 32768));
  const LaunchSettings s = emit_launch(LaunchFormat::kMegatron, mistral, topo, job);
  EXPECT_NE(s.text.find("--window-size 4096,0"), std::string::npos) << s.text;
  EXPECT_EQ(s.text.find("--window-attn-skip-freq"), std::string::npos);  // every layer windowed
  // Read back: the shipped windowed Mistral.
  const ImportedLaunch back = import_launch(LaunchFormat::kMegatron, s.text, "args.sh");
  ASSERT_TRUE(back.model.has_value());
  EXPECT_EQ(back.model->name, mistral.name);
  // The same arguments without the window are another model (full attention), not Mistral and
  // not the MoE model of the same dense shape.
  std::string plain = s.text;
  plain.erase(plain.find("--window-size 4096,0"), std::string("--window-size 4096,0").size());
  const ImportedLaunch full = import_launch(LaunchFormat::kMegatron, plain, "args.sh");
  ASSERT_TRUE(full.model.has_value());
  EXPECT_EQ(full.model->name, "megatron-args");
  EXPECT_EQ(full.model->sliding_window, 0);

  // Which layers: an integer N windows all but floor(L / N); a list says each.
  const std::string dims = "--num-layers 26 --hidden-size 1152 --num-attention-heads 4 --max-position-embeddings "
                           "32768 --vocab-size 262144 --window-size 512,0 ";
  const ImportedLaunch every6 = import_launch(LaunchFormat::kMegatron, dims + "--window-attn-skip-freq 6", "args");
  EXPECT_EQ(every6.model->sliding_window, 512);
  EXPECT_EQ(every6.model->sliding_window_layers, 26 - 4);
  std::string list = "[";
  for (int i = 0; i < 26; ++i) list += std::string(i ? "," : "") + (i < 20 ? "1" : "0");
  const ImportedLaunch listed = import_launch(LaunchFormat::kMegatron, dims + "--window-attn-skip-freq " + list + "]",
                                              "args");
  EXPECT_EQ(listed.model->sliding_window_layers, 20);
  EXPECT_EQ(import_launch(LaunchFormat::kMegatron, dims.substr(0, dims.find("--window-size")) + "--window-size -1,0",
                          "args")
                .model->sliding_window,
            0);  // -1: no window
  EXPECT_THROW_MSG(import_launch(LaunchFormat::kMegatron, dims + "--window-attn-skip-freq [1,1,0", "args"), InputError,
                   "plain list of 0 and 1");
  EXPECT_THROW_MSG(import_launch(LaunchFormat::kMegatron, dims + "--window-attn-skip-freq [1,0]", "args"), InputError,
                   "2 entries for 26 layers");
  EXPECT_THROW_MSG(import_launch(LaunchFormat::kMegatron,
                                 dims.substr(0, dims.find("--window-size")) + "--window-size 512,3", "args"),
                   InputError, "not causal");
  EXPECT_THROW_MSG(import_launch(LaunchFormat::kMegatron, "--window-size 512,0 --seq-length 8192", "args"), InputError,
                   "--window-size belongs to the model");

  // torchtitan's Llama has no window; DeepSpeed's Hugging Face model carries its own (a note).
  JobConfig tt = plan("dp", "fsdp", 8, 32768);
  tt.zero_stage = 3;
  tt = resolved(mistral, tt);
  EXPECT_THROW_MSG(emit_launch(LaunchFormat::kTorchtitan, mistral, topo, tt), InputError, "sliding-window");
  JobConfig ds = resolved(mistral, plan("ulysses", "deepspeed", 8, 32768));
  ds.zero_stage = 3;
  const LaunchSettings dss = emit_launch(LaunchFormat::kDeepSpeed, mistral, topo, resolved(mistral, ds));
  bool noted = false;
  for (const auto& n : dss.notes) noted = noted || n.find("sliding_window 4096") != std::string::npos;
  EXPECT_TRUE(noted);
}

}  // namespace
}  // namespace spsim

namespace spsim {
namespace {

// Found by review: Qwen3's per-head Q/K norms round-trip (--qk-layernorm), a window's spacing is
// read as Megatron's int() reads it.
TEST(Launch, QkNormAndWindowSpacingRoundTrip) {
  const Topology topo = load_topology("dgx-h100");
  const ModelSpec qwen = load_model("qwen3-8b");
  const LaunchSettings s = emit_launch(LaunchFormat::kMegatron, qwen, topo, resolved(qwen, plan("dp", "megatron", 8, 8192)));
  EXPECT_NE(s.text.find("--qk-layernorm"), std::string::npos);
  const ImportedLaunch back = import_launch(LaunchFormat::kMegatron, s.text, "args.sh");
  ASSERT_TRUE(back.model.has_value());
  EXPECT_EQ(back.model->name, qwen.name);
  const std::string dims = "--num-layers 4 --hidden-size 1024 --num-attention-heads 8 --max-position-embeddings 32768 "
                           "--vocab-size 32000 ";
  EXPECT_EQ(import_launch(LaunchFormat::kMegatron, dims + "--window-size '(4096, 0)'", "args").model->sliding_window,
            4096);
  EXPECT_THROW_MSG(import_launch(LaunchFormat::kMegatron, dims + "--window-size '40 96,0'", "args"), InputError,
                   "needs an integer");
  EXPECT_THROW_MSG(import_launch(LaunchFormat::kMegatron, dims + "--window-size 512,0 --window-attn-skip-freq '2 0'",
                                 "args"),
                   InputError, "needs an integer");
  // A dimension of 0 is refused before the head size divides by it (fuzz_cli found the division).
  EXPECT_THROW_MSG(import_launch(LaunchFormat::kMegatron,
                                 "--num-layers 4 --hidden-size 1024 --num-attention-heads 0 "
                                 "--max-position-embeddings 32768 --vocab-size 32000",
                                 "args"),
                   InputError, "--num-attention-heads must be a whole number in [1, 65536] (got 0)");
  EXPECT_THROW_MSG(import_launch(LaunchFormat::kMegatron, dims + "--kv-channels -128", "args"), InputError,
                   "--kv-channels must be a whole number in [1, 16384] (got -128)");
  EXPECT_THROW_MSG(import_launch(LaunchFormat::kMegatron,
                                 "--num-layers 4 --hidden-size 1000 --num-attention-heads 3 "
                                 "--max-position-embeddings 32768 --vocab-size 32000",
                                 "args"),
                   InputError, "--hidden-size 1000 is not a multiple of --num-attention-heads 3");
  // Degrees and batch sizes below 1 (the review found two divisions by zero and a silent cp 1).
  EXPECT_THROW_MSG(import_launch(LaunchFormat::kMegatron,
                                 dims + "--pipeline-model-parallel-size 0 --num-layers-per-virtual-pipeline-stage 1",
                                 "args"),
                   InputError, "--pipeline-model-parallel-size must be a whole number in [1, 4096] (got 0)");
  EXPECT_THROW_MSG(import_launch(LaunchFormat::kMegatron, dims + "--context-parallel-size 0", "args"), InputError,
                   "--context-parallel-size must be a whole number in [1, 4096] (got 0)");
  EXPECT_THROW_MSG(import_launch(LaunchFormat::kDeepSpeed,
                                 R"({"train_batch_size": 8, "train_micro_batch_size_per_gpu": 0})", "ds.json"),
                   InputError, "train_micro_batch_size_per_gpu must be a whole number in [1, 1073741824] (got 0)");
  EXPECT_THROW_MSG(import_launch(LaunchFormat::kDeepSpeed,
                                 R"({"train_batch_size": 8, "train_micro_batch_size_per_gpu": 1,
                                     "gradient_accumulation_steps": 0})",
                                 "ds.json"),
                   InputError, "gradient_accumulation_steps must be a whole number in [1, 1073741824] (got 0)");
}

}  // namespace
}  // namespace spsim
