#!/usr/bin/env python3
"""Check the validation set: every file parses, every row has the schema's fields, ids are unique,
and every spsim.model / spsim.topology resolves to a file. Standard library only.

    python3 validation/check_set.py                 # schema and file checks, then a summary
    python3 validation/check_set.py --spsim PATH    # also load every referenced model/topology with spsim

Exit status 0 when the set is clean, 1 when any problem was found (each printed with its file and id).
"""
import argparse
import collections
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

ROW_FIELDS = ["id", "source", "model", "model_dims", "gpu", "gpus", "gpus_per_node", "interconnect", "framework",
              "parallel", "seq", "mbs", "gbs", "precision", "recompute", "causal", "metric", "value",
              "flop_convention", "notes", "spsim"]
PARALLEL_FIELDS = ["tp", "pp", "vpp", "cp", "cp_comm_type", "ulysses", "ep", "dp", "fsdp", "zero"]
ROW_SOURCE_FIELDS = ["title", "where", "url_or_repo"]
SOURCE_FIELDS = ["key", "title", "where", "url_or_repo", "read_via", "checked", "flop_convention", "notes"]
SPSIM_FIELDS = ["model", "topology", "framework", "flop_convention", "assume", "assume_why", "unsupported", "incomplete"]
METRICS = {"tokens_per_s_per_gpu", "tokens_per_s_total", "tflops_per_gpu", "mfu", "step_time_s", "peak_mem_gib", "peak_reserved_gib",
           "peak_mem_gb", "max_seq_length", "fits", "attention_tflops_fwd", "attention_tflops_fwdbwd"}
FLOP_METRICS = {"tflops_per_gpu", "mfu"}
KERNEL_METRICS = {"attention_tflops_fwd", "attention_tflops_fwdbwd"}
# Keys documented in validation/README.md ("FLOP conventions").
FLOP_KEYS = {"nemo_noncausal", "mbridge_causal", "megatron_deepspeed", "torchtitan", "palm", "fa_kernel", "unstated"}
FRAMEWORKS = {"megatron", "nemo", "deepspeed", "fsdp"}
ASSUMABLE = set(PARALLEL_FIELDS) | {"seq", "mbs", "gbs", "precision", "recompute", "causal", "gpus", "fp8_recipe", "attention_impl", "cross_entropy", "grad_reduce_dtype", "elementwise_impl", "backward_prefetch",
              "account_for_embedding_in_pipeline_split", "account_for_loss_in_pipeline_split"}
PRECISIONS = {"bf16", "fp16", "fp8", "mxfp8", None}
RECOMPUTE = {"none", "selective", "full", "op", None}


def shipped(kind):
    """Names spsim resolves without a path: stems of models/*.json, topologies/**/*.json."""
    root = os.path.join(REPO, kind)
    names = set()
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f.endswith(".json"):
                rel = os.path.relpath(os.path.join(dirpath, f), root)
                names.add(rel[:-5])
    return names


def resolve(ref, names):
    """A shipped name, or a path relative to validation/. Returns the file path or None."""
    if ref in names:
        return None  # shipped: spsim finds it by name
    path = os.path.join(HERE, ref)
    return path if os.path.isfile(path) else False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spsim", help="path to the spsim binary: load every referenced model and topology")
    args = ap.parse_args()

    problems = []

    def bad(where, msg):
        problems.append(f"{where}: {msg}")

    models, topologies = shipped("models"), shipped("topologies")
    src_dir = os.path.join(HERE, "sources")
    ids = collections.Counter()
    rows_by_source = collections.Counter()
    by_metric = collections.Counter()
    flags = collections.Counter()
    used_models, used_topologies = set(), set()

    files = sorted(f for f in os.listdir(src_dir) if f.endswith(".json"))
    if not files:
        bad(src_dir, "no source files")
    for fname in files:
        path = os.path.join(src_dir, fname)
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            bad(fname, f"does not parse: {e}")
            continue
        if sorted(doc) != ["rows", "source"]:
            bad(fname, f"top-level keys must be source and rows (got {sorted(doc)})")
            continue
        src = doc["source"]
        if sorted(src) != sorted(SOURCE_FIELDS):
            bad(fname, f"source keys {sorted(src)} != {sorted(SOURCE_FIELDS)}")
        key = src.get("key")
        if key != fname[:-5]:
            bad(fname, f"source.key {key!r} must equal the file name")
        for k in ("title", "where", "url_or_repo", "read_via", "checked"):
            if not src.get(k):
                bad(fname, f"source.{k} is empty")
        if not isinstance(doc["rows"], list) or not doc["rows"]:
            bad(fname, "rows must be a non-empty list")
            continue
        for r in doc["rows"]:
            rid = r.get("id", "<no id>")
            at = f"{fname} {rid}"
            ids[rid] += 1
            rows_by_source[key] += 1
            if list(r) != ROW_FIELDS:
                missing = [k for k in ROW_FIELDS if k not in r]
                extra = [k for k in r if k not in ROW_FIELDS]
                bad(at, f"row fields differ from the schema (missing {missing}, extra {extra}, or out of order)")
                continue
            if sorted(r["source"] or {}) != sorted(ROW_SOURCE_FIELDS):
                bad(at, "row.source must have exactly title, where, url_or_repo")
            if sorted(r["parallel"] or {}) != sorted(PARALLEL_FIELDS):
                bad(at, "parallel must have exactly " + ", ".join(PARALLEL_FIELDS))
            if r["metric"] not in METRICS:
                bad(at, f"unknown metric {r['metric']!r}")
            by_metric[r["metric"]] += 1
            if not isinstance(r["value"], (int, float)) or isinstance(r["value"], bool):
                bad(at, "value must be a number")
            elif r["metric"] == "mfu" and not 0 < r["value"] < 1:
                bad(at, "mfu is stored as a fraction in (0, 1)")
            elif r["metric"] == "fits" and r["value"] not in (0, 1):
                bad(at, "fits is 0 or 1")
            elif r["metric"] == "max_seq_length" and r["value"] != r["seq"]:
                bad(at, "max_seq_length value must equal seq")
            if r["precision"] not in PRECISIONS:
                bad(at, f"precision {r['precision']!r}")
            if r["recompute"] not in RECOMPUTE:
                bad(at, f"recompute {r['recompute']!r}")
            if not isinstance(r["causal"], bool):
                bad(at, "causal must be true or false")
            if not r["notes"]:
                bad(at, "notes are empty")
            sp = r["spsim"]
            # Optional, last, in this order: mfu_peak (the peak an MFU row's source divides by, when
            # not bf16) and techniques (the long-context techniques the source states it ran, as
            # spsim's --offload / --loss / --tiled-mlp values), kernel (the attention kernel a
            # kernel row timed, required there).
            extras = [k for k in ("mfu_peak", "techniques", "kernel") if isinstance(sp, dict) and k in sp]
            if not isinstance(sp, dict) or list(sp) != SPSIM_FIELDS + extras:
                bad(at, "spsim must have exactly " + ", ".join(SPSIM_FIELDS) +
                    " (and optionally mfu_peak, techniques, kernel)")
                continue
            if r["metric"] in KERNEL_METRICS and not sp["unsupported"] and sp.get("kernel") not in ("cudnn", "flash2", "triton"):
                bad(at, "an attention-kernel row needs spsim.kernel: cudnn, flash2 or triton (or spsim.unsupported)")
            if r["metric"] not in KERNEL_METRICS and "kernel" in sp:
                bad(at, "spsim.kernel is for attention-kernel rows; a training row names its kernel in assume.attention_impl")
            if "mfu_peak" in sp and sp["mfu_peak"] not in ("bf16", "fp8"):
                bad(at, "spsim.mfu_peak must be bf16 or fp8")
            if "techniques" in sp and (not isinstance(sp["techniques"], dict) or
                                       set(sp["techniques"]) - {"offload", "loss", "tiled_mlp", "elementwise_impl"}):
                bad(at, "spsim.techniques must be an object of offload, loss, tiled_mlp, elementwise_impl")
            if sp["model"] is not None:
                got = resolve(sp["model"], models)
                if got is False:
                    bad(at, f"spsim.model {sp['model']!r} is neither a shipped model nor a file under validation/")
                used_models.add(got or sp["model"])
            elif r["metric"] not in KERNEL_METRICS and not (sp["unsupported"] or sp["incomplete"]):
                bad(at, "spsim.model is null but the row is neither a kernel row nor marked unsupported/incomplete")
            got = resolve(sp["topology"] or "", topologies)
            if not sp["topology"] or got is False:
                bad(at, f"spsim.topology {sp['topology']!r} is neither a shipped topology nor a file under validation/")
            else:
                used_topologies.add(got or sp["topology"])
            if sp["framework"] not in FRAMEWORKS and not (sp["framework"] is None and r["metric"] in KERNEL_METRICS):
                bad(at, f"spsim.framework {sp['framework']!r}")
            fc = sp["flop_convention"]
            if r["metric"] in FLOP_METRICS | KERNEL_METRICS:
                if fc not in FLOP_KEYS:
                    bad(at, f"spsim.flop_convention {fc!r} must be one of {sorted(FLOP_KEYS)} for {r['metric']}")
            elif fc is not None:
                bad(at, f"spsim.flop_convention must be null for {r['metric']}")
            if not isinstance(sp["assume"], dict):
                bad(at, "spsim.assume must be an object")
            else:
                unknown = set(sp["assume"]) - ASSUMABLE
                if unknown:
                    bad(at, f"spsim.assume has keys that are not configuration fields: {sorted(unknown)}")
                if sp["assume"] and not sp["assume_why"]:
                    bad(at, "spsim.assume is set but assume_why is empty")
            for k in ("unsupported", "incomplete"):
                if sp[k] is not None and (not isinstance(sp[k], str) or not sp[k].strip()):
                    bad(at, f"spsim.{k} must be null or a reason")
            flags["unsupported"] += bool(sp["unsupported"])
            flags["incomplete"] += bool(sp["incomplete"])
            flags["usable"] += not (sp["unsupported"] or sp["incomplete"])

    for rid, n in ids.items():
        if n > 1:
            bad(rid, f"id used {n} times")

    if args.spsim:
        # Shipped names resolve against this checkout's models/ and topologies/, not the binary's own.
        env = dict(os.environ, SPSIM_DATA_DIR=REPO)
        for m in sorted(used_models):
            p = subprocess.run([args.spsim, "run", "-m", m, "-T", "dgx-h100", "-s", "megatron-sp", "--gpus", "8",
                                "--seq", "2K", "--json"], capture_output=True, text=True, cwd=REPO, env=env)
            if p.returncode != 0:
                bad(m, "spsim cannot load this model: " + p.stderr.strip().splitlines()[-1][:300])
        for t in sorted(used_topologies):
            p = subprocess.run([args.spsim, "run", "-m", "llama-3-8b", "-T", t, "-s", "megatron-sp", "--gpus", "8",
                                "--seq", "2K", "--json"], capture_output=True, text=True, cwd=REPO, env=env)
            if p.returncode != 0:
                bad(t, "spsim cannot load this topology: " + p.stderr.strip().splitlines()[-1][:300])

    print(f"{sum(rows_by_source.values())} rows from {len(rows_by_source)} sources; "
          f"{flags['usable']} usable, {flags['unsupported']} unsupported, {flags['incomplete']} incomplete "
          f"(a row can be both); {len(used_models)} models, {len(used_topologies)} topologies referenced")
    for k, n in sorted(rows_by_source.items(), key=lambda kv: -kv[1]):
        print(f"  {k:16s} {n:4d}")
    print("by metric: " + ", ".join(f"{m} {n}" for m, n in by_metric.most_common()))
    for p in problems:
        print("PROBLEM " + p)
    if problems:
        print(f"{len(problems)} problem(s)")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
