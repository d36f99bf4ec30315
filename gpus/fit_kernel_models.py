#!/usr/bin/python3
"""Fits the kernel timings of gpus/*.json to the published measurements in gpus/measurements/.

Every GEMM and attention timing in a gpus/*.json file whose source says "fit by
gpus/fit_kernel_models.py" comes from here: one least-squares fit per (GPU, kernel, call) over
all the points of that kind, of the model spsim uses,

    t = latency + work / (efficiency x peak),

minimising the relative error sum((t_model / t_measured - 1)^2), with latency >= 0. Rounded to
3 digits of efficiency and 0.1 us of latency. GEMM fits use the kernels a training step runs:
at least 1 GFLOP (310 of XLA's 375 shapes; a 4096-token shard of a 4096 x 1024 projection is
34 GFLOP) and no dimension under 512 (narrower GEMMs are bound by their operand traffic, which
spsim times separately).

    /usr/bin/python3 gpus/fit_kernel_models.py           # print the fits and their errors
    /usr/bin/python3 gpus/fit_kernel_models.py --check   # exit 1 if a gpus/*.json disagrees

Measurements (each row names its source: repo@commit:path):
  measurements/gemm_xla.csv     XLA's GEMM table (ROCm/xla@183fa00cb5d82384463a1a7aed1ab06bc9026974:
                                xla/service/gpu/model/default_matmul_perf_table.txtpb; CUPTI kernel
                                time, median of 5): H100 bf16 and f32 (XLA runs f32 dots on TF32
                                tensor cores: 403 TF > the 67 TF fp32 peak), B200 bf16, fp8, f32.
                                The H100 fp8 entries are not used: they exceed H100's fp8 peak.
  measurements/gemm_points.csv  cuBLASLt runs of Azure/AI-benchmarking-guide (A100 fp16, H100 fp8)
  measurements/gemm_training.csv
                                TransformerEngine's GEMM profiler (benchmarks/gemm/benchmark_gemm.py)
                                on H200 NVL and B300: the 12 GEMMs of a hidden-4096 / ffn-16384 layer
                                at 15,872 tokens as TE runs them in training (Fprop, Dgrad and Wgrad
                                layouts; 10 warm-up and 100 timed iterations, so clocks have settled
                                under load). BF16 from its autocast runs (no quantization in BF16),
                                FP8 from its pre-quantized runs (the GEMM kernels alone: spsim times
                                the quantization kernels separately). XLA's table times each GEMM in
                                isolation (median of 5), at boost clocks: its large sm_90 shapes
                                reach 0.78-0.81 of H100's peak, TE's training GEMMs 0.72 of H200
                                NVL's. The GEMM plateaus of Hopper and Blackwell come from TE, the
                                latencies from the isolated small shapes (XLA; Azure for H100 FP8).
                                Each part's fraction of its own datasheet peak is carried to the part
                                spsim models (H200 NVL -> H100 SXM: the same GH100 die; B300 -> B200:
                                the same dense BF16 and FP8 rates in the HGX datasheets); where both
                                are measured they agree: TE's FP8 on H200 NVL 0.684, Azure's cuBLASLt
                                FP8 on H100 SXM 0.688.
  measurements/attention.csv    cudnn-frontend SDPA benchmarks: cuDNN and FlashAttention-2 (flash-attn
                                or PyTorch's flash backend), forward and backward timed separately
  measurements/attention_fwdbwd.csv
                                the FlashAttention-2 paper's figure (Dao-AILab/flash-attention@0251105a
                                assets/flash2_{a100,h100}_fwd_bwd_benchmark.png, bar labels read off
                                the images): forward + backward timed together, fp16, hidden 2048,
                                batch 16K/seq. Fits "triton" (FlashAttention's Triton kernel, LLM
                                Foundry's attn_impl: triton): on A100 its own 24 bars; H100 has no
                                Triton bar, so its FlashAttention (v1, CUDA) bars stand in: on A100
                                Triton runs at 0.82-1.18x FlashAttention v1, median 0.98 (assumption).
                                A fwd+bwd fit gives one efficiency and latency: the forward and the
                                backward call each take that efficiency, and the latency in the
                                ratio of their FLOP, 1 : 2.5.
"""

import csv
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# Dense peaks (TFLOP/s) the efficiencies are fractions of: the datasheet values of the topologies.
PEAKS = {
    ("A100", "bf16"): 312.0,
    ("H100", "bf16"): 989.5, ("H100", "fp8"): 1979.0, ("H100", "tf32"): 494.5,
    ("H200", "bf16"): 989.5, ("Hopper", "bf16"): 989.5,
    # H200 NVL datasheet: 1,671 TF BF16 and 3,341 TF FP8 with sparsity (dense = half).
    ("H200-NVL", "bf16"): 835.5, ("H200-NVL", "fp8"): 1670.5,
    # HGX B300: 36 PF BF16 and 72 PF FP8 with sparsity per 8 GPUs, the same as HGX B200.
    ("B300", "bf16"): 2250.0, ("B300", "fp8"): 4500.0,
    ("B200", "bf16"): 2250.0, ("B200", "fp8"): 4500.0, ("B200", "tf32"): 1125.0,
    ("GB200", "bf16"): 2500.0,
}

# Which measurements each gpus/*.json timing is fitted to: (file, JSON path) -> (kind, selector).
# Attention fits pool the GPUs of one architecture whose runs are of the same software.
FITS = {
    ("h100-sxm", "gemm.bf16"): ("gemm_training", [("xla", "H100", "bf16"), ("training", "H200-NVL", "bf16", "autocast")]),
    ("h100-sxm", "gemm.fp32"): ("gemm_training", [("xla", "H100", "bf16"), ("training", "H200-NVL", "bf16", "autocast")]),
    ("h100-sxm", "gemm.fp8"): ("gemm_training", [("points", "H100", "fp8"), ("training", "H200-NVL", "fp8", "prequantized")]),
    ("h100-sxm", "gemm.tf32"): ("gemm", [("xla", "H100", "f32")]),
    ("a100-sxm", "gemm.bf16"): ("gemm", [("points", "A100", "bf16")]),
    ("b200", "gemm.bf16"): ("gemm_training", [("xla", "B200", "bf16"), ("training", "B300", "bf16", "autocast")]),
    ("b200", "gemm.fp32"): ("gemm_training", [("xla", "B200", "bf16"), ("training", "B300", "bf16", "autocast")]),
    ("b200", "gemm.fp8"): ("gemm_training", [("xla", "B200", "fp8"), ("training", "B300", "fp8", "prequantized")]),
    ("b200", "gemm.tf32"): ("gemm", [("xla", "B200", "f32")]),
}
for call in ("fwd", "fwd_causal", "bwd", "bwd_causal"):
    causal = "true" if call.endswith("causal") else "false"
    FITS[("a100-sxm", "attention.triton." + call)] = ("attention_fwdbwd", [("A100", "triton", causal, call)])
    FITS[("h100-sxm", "attention.triton." + call)] = ("attention_fwdbwd", [("H100", "flash1", causal, call)])
    FITS[("h100-sxm", "attention.cudnn." + call)] = ("attention", [("H200", "cudnn", call)])
    FITS[("h100-sxm", "attention.flash2." + call)] = ("attention", [("Hopper", "flash2", call)])
    FITS[("b200", "attention.cudnn." + call.replace("fwd", "fwd").replace("bwd", "bwd"))] = (
        "attention", [("B200", "cudnn", call if "causal" in call else call + "_causal")])
    FITS[("b200", "attention.flash2." + call)] = ("attention", [("B200", "flash2", call if "causal" in call else call + "_causal")])
    FITS[("gb200", "attention.cudnn." + call)] = ("attention", [("GB200", "cudnn", call)])
    FITS[("gb200", "attention.flash2." + call)] = ("attention", [("GB200", "flash2", call if "causal" in call else call + "_causal")])


def read(name):
    with open(os.path.join(HERE, "measurements", name), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


MIN_GEMM_FLOP = 1e9
MIN_GEMM_DIM = 512


def gemm_points(selectors):
    pts = []
    for source, gpu, dtype in selectors:
        for r in read("gemm_xla.csv" if source == "xla" else "gemm_points.csv"):
            if r["gpu"] != gpu or r["dtype"] != dtype:
                continue
            m, n, k = int(r["m"]), int(r["n"]), int(r["k"])
            flop = 2.0 * int(r.get("b") or 1) * m * n * k
            if flop >= MIN_GEMM_FLOP and min(m, n, k) >= MIN_GEMM_DIM:
                pts.append((flop, flop / (float(r["tflops"]) * 1e12)))
    peak_dtype = "tf32" if selectors[0][2] == "f32" else selectors[0][2]
    return pts, PEAKS[(selectors[0][1], peak_dtype)] * 1e12


def gemm_training_fit(selectors):
    """Latency from the isolated-GEMM fit of selectors[0]; efficiency from the training-loop
    totals of selectors[1] (each pass's time less its GEMMs' latencies). Returns fit()'s tuple,
    the errors those of the totals."""
    points, peak = gemm_points(selectors[:1])
    _, latency_us, _, _, _ = fit(points, peak)
    _, gpu, dtype, mode = selectors[1]
    total_flop = total_s = 0.0
    rows = [r for r in read("gemm_training.csv")
            if r["gpu"] == gpu and r["dtype"] == dtype and r["mode"] == mode]
    for r in rows:
        m, h, f = int(r["m"]), int(r["hidden"]), int(r["ffn"])
        flop = 2.0 * m * h * (3 * h + h + f + f)  # QKV (MHA), attention-out, MLP-up, MLP-down
        total_flop += flop
        total_s += float(r["ms"]) * 1e-3 - int(r["gemms"]) * latency_us * 1e-6
    train_peak = PEAKS[(gpu, dtype)] * 1e12
    efficiency = round(total_flop / total_s / train_peak, 3)
    errors = []
    for r in rows:
        m, h, f = int(r["m"]), int(r["hidden"]), int(r["ffn"])
        flop = 2.0 * m * h * (3 * h + h + f + f)
        model = int(r["gemms"]) * latency_us * 1e-6 + flop / (efficiency * train_peak)
        errors.append(abs(model / (float(r["ms"]) * 1e-3) - 1))
    errors.sort()
    return efficiency, latency_us, errors[len(errors) // 2], errors[-1], len(rows)


def attention_points(selectors):
    """(FLOP of one call, seconds): FlashAttention convention, fwd 4 b h s^2 d (halved causal),
    bwd 2.5 x fwd; the CSVs' TFLOP/s use the same convention."""
    pts = []
    for gpu, impl, call in selectors:
        causal = call.endswith("causal")
        bwd = call.startswith("bwd")
        for r in read("attention.csv"):
            if r["gpu"] != gpu or r["impl"] != impl or (r["causal"] == "true") != causal:
                continue
            b, s, h, d = (int(r[k]) for k in ("batch", "seq", "q_heads", "head_dim"))
            fwd = 4.0 * b * h * s * s * d * (0.5 if causal else 1.0)
            flop = 2.5 * fwd if bwd else fwd
            tflops = float(r["bwd_tflops" if bwd else "fwd_tflops"])
            pts.append((flop, flop / (tflops * 1e12)))
    return pts, PEAKS[(selectors[0][0], "bf16")] * 1e12


def attention_fwdbwd_points(selectors):
    """(FLOP of a forward + backward, seconds): 3.5 x the forward's 4 b h s^2 d (halved causal)."""
    pts = []
    for gpu, impl, causal, _ in selectors:
        for r in read("attention_fwdbwd.csv"):
            if r["gpu"] != gpu or r["impl"] != impl or r["causal"] != causal:
                continue
            b, s, h, d = (int(r[k]) for k in ("batch", "seq", "q_heads", "head_dim"))
            flop = 3.5 * 4.0 * b * h * s * s * d * (0.5 if causal == "true" else 1.0)
            pts.append((flop, flop / (float(r["fwdbwd_tflops"]) * 1e12)))
    return pts, PEAKS[(selectors[0][0], "bf16")] * 1e12


def fwdbwd_share(call):
    """The part of a fwd+bwd fit's latency one call takes: its share of the FLOP, 1 : 2.5."""
    return (1.0 if call.startswith("fwd") else 2.5) / 3.5


def fit(points, peak):
    """Least squares of (L + F x / P) / t = 1 in (L, x = 1/efficiency), L >= 0."""
    a11 = a12 = a22 = b1 = b2 = 0.0
    for flop, t in points:
        u, v = 1.0 / t, flop / (peak * t)
        a11, a12, a22, b1, b2 = a11 + u * u, a12 + u * v, a22 + v * v, b1 + u, b2 + v
    det = a11 * a22 - a12 * a12
    latency = (b1 * a22 - b2 * a12) / det
    x = (a11 * b2 - a12 * b1) / det
    if latency < 0:
        latency, x = 0.0, b2 / a22
    efficiency = round(1.0 / x, 3)
    latency_us = round(latency * 1e6, 1)
    errors = [abs((latency_us * 1e-6 + f / (efficiency * peak)) / t - 1) for f, t in points]
    errors.sort()
    return efficiency, latency_us, errors[len(errors) // 2], errors[-1], len(points)


def main():
    check = "--check" in sys.argv[1:]
    bad = 0
    for (gpu_file, path), (kind, selectors) in sorted(FITS.items()):
        if kind == "gemm_training":
            eff, lat, med, worst, n = gemm_training_fit(selectors)
        else:
            points, peak = {"gemm": gemm_points, "attention": attention_points,
                            "attention_fwdbwd": attention_fwdbwd_points}[kind](selectors)
            if not points:
                print("%-10s %-28s no points" % (gpu_file, path))
                bad += 1
                continue
            eff, lat, med, worst, n = fit(points, peak)
        if kind == "attention_fwdbwd":
            lat = round(lat * fwdbwd_share(selectors[0][3]), 1)
        line = "%-10s %-28s efficiency %.3f latency %6.1f us   (%3d points, median |err| %4.1f %%, max %5.1f %%)" % (
            gpu_file, path, eff, lat, n, 100 * med, 100 * worst)
        if check:
            with open(os.path.join(HERE, gpu_file + ".json"), encoding="utf-8") as f:
                node = json.load(f)
            for key in path.split("."):
                node = node[key]
            if abs(node["efficiency"] - eff) > 1e-9 or abs(node["latency_us"] - lat) > 1e-9:
                line += "   MISMATCH: file has %s %s" % (node["efficiency"], node["latency_us"])
                bad += 1
        print(line)
    if check and bad:
        sys.stderr.write("fit_kernel_models.py: %d timing(s) of gpus/*.json differ from the fit\n" % bad)
        sys.exit(1)


if __name__ == "__main__":
    main()
