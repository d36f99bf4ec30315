#!/usr/bin/python3
"""Figures of an spsim sweep result (PREFIX.csv or PREFIX.json), as PNG and SVG.

Run with Debian's python3 (python3-matplotlib):  /usr/bin/python3 plots/spsim_plot.py RESULT -o DIR
or through `spsim plot RESULT -o DIR`. Output bytes are deterministic (Agg backend, fixed SVG
hash salt, no dates or software versions in the files).

Figures (each as .png and .svg), one set per (model, topology) of the result; a result with more
than one pair names them NAME-MODEL-TOPOLOGY:
  throughput_vs_seq  tokens/s and model TFLOP/s per GPU vs sequence length per series; a plan that
                     does not fit is an x in the series' colour on the axis floor
  memory_vs_seq      peak memory per GPU vs sequence length (linear, to 1.5x HBM: higher values sit
                     on the top edge with their number), with the GPU's HBM line
  breakdown          time per 1M tokens (step time / tokens per step) split into compute, exposed
                     communication per kind and pipeline bubble, one linear panel per sequence length
  best_heatmap       fastest plan per GPUs x sequence length: scheme, degrees, ZeRO, recompute and the
                     margin over the fastest other scheme (hatched: a tie within the model's error)
  scaling            scaling efficiency of the best plan vs GPUs, one line per sequence length; the
                     scheme is in the legend and named where it changes along a line
Every title says the model, topology, GPU count and global batch the figure is about.
"""

import argparse
import csv
import json
import os
import re
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator
    from matplotlib.transforms import blended_transform_factory
except ImportError:
    sys.stderr.write("spsim_plot.py: error: matplotlib not found; install python3-matplotlib (apt) "
                     "and run with /usr/bin/python3\n")
    sys.exit(3)

GIB = 2.0 ** 30
MTOK = float(1 << 20)
# Fixed strategy -> colour / marker (matplotlib tab10), identical in every figure of a --best result.
STYLE = {
    "ulysses": ("#1f77b4", "o"),
    "megatron-sp": ("#ff7f0e", "s"),
    "megatron-tp": ("#8c564b", "P"),
    "ring": ("#2ca02c", "^"),
    "usp": ("#d62728", "D"),
    "dp": ("#7f7f7f", "v"),
    "colai-sp": ("#9467bd", "X"),
}
# Grid results draw one line per plan: colour and marker both cycle (10 x 7 distinct pairs).
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]
EXPOSED = [("exposed_ulysses_a2a_s", "Ulysses all-to-all"), ("exposed_tp_s", "TP/SP collectives"),
           ("exposed_ring_p2p_s", "ring P2P"), ("exposed_cp_allgather_s", "CP all-gather"),
           ("exposed_dp_grad_s", "DP gradients"), ("exposed_zero_params_s", "ZeRO-3 params"),
           ("exposed_pp_p2p_s", "pipeline P2P")]
INTS = {"gpus", "seq_length", "tensor_parallel", "ulysses_degree", "ring_degree", "data_parallel",
        "pipeline_parallel", "virtual_pipeline_stages",
        "zero_stage", "micro_batch_size", "global_batch_size", "plans_searched", "plans_fit"}
FLOATS = {"mfu", "tokens_per_s", "margin", "runner_up_tokens_per_s"}


# Columns the figures read, and their types ("int", "str", or "num": a number or empty/null).
REQUIRED = {"model": "str", "topology": "str", "strategy": "str", "status": "str", "gpus": "int",
            "seq_length": "int", "tensor_parallel": "int", "ulysses_degree": "int", "ring_degree": "int",
            "data_parallel": "int", "zero_stage": "int", "micro_batch_size": "int", "ring_variant": "str",
            "recompute": "str", "tokens_per_s": "num", "mem_peak_bytes": "num", "hbm_capacity_bytes": "num"}


class BadResult(Exception):
    """A result file that is not a sweep result: one line for the user, no traceback."""


def check_rows(rows):
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise BadResult("not a sweep result (\"rows\" is not a list of rows); give the .csv or .json a sweep wrote")
    for i, r in enumerate(rows):
        for key, kind in REQUIRED.items():
            if key not in r:
                raise BadResult("row %d has no column \"%s\"; give the .csv or .json a sweep wrote" % (i + 1, key))
            v = r[key]
            ok = {"int": isinstance(v, int) and not isinstance(v, bool),
                  "str": isinstance(v, str),
                  "num": v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))}[kind]
            if not ok:
                raise BadResult("row %d: column \"%s\" is %r, not a %s" % (
                    i + 1, key, v, {"int": "whole number", "str": "string", "num": "number"}[kind]))


def load(path):
    """Rows as dicts with numbers converted (empty cells / nulls become None), the mode and meta.
    BadResult if the file is not a sweep result."""
    meta = {}
    try:
        if path.endswith(".json"):
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            if not isinstance(data, dict) or "rows" not in data:
                raise BadResult("not a sweep result (no \"rows\" object); give the .csv or .json a sweep wrote")
            rows = data["rows"]
            meta = data.get("meta", {}) or {}
            if not isinstance(meta, dict):
                meta = {}
            mode = meta.get("mode", "grid")
        else:
            with open(path, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            mode = "best" if any(r.get("plans_searched") not in ("", "0", None) for r in rows) else "grid"
            for r in rows:
                for k, v in list(r.items()):
                    if v == "" or v is None:
                        r[k] = None
                    elif v in ("true", "false"):
                        r[k] = v == "true"
                    elif k in INTS:
                        r[k] = int(v)
                    elif k.endswith("_s") or k.endswith("_bytes") or k.startswith("tflops") or k in FLOATS:
                        r[k] = float(v)
    except (OSError, ValueError, RecursionError, csv.Error) as e:
        raise BadResult("cannot read a sweep result (%s)" % e)
    check_rows(rows)
    return rows, mode, meta


def fmt_count(n):
    for unit, size in (("M", 1 << 20), ("K", 1 << 10)):
        if n >= size and n % size == 0:
            return "%d%s" % (n // size, unit)
    return str(n)


def fmt_si(v, _pos=None):
    """Tick labels such as 20K, 1.5M (decimal, as tokens/s are counted)."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(v) >= size:
            text = ("%.1f" % (v / size)).rstrip("0").rstrip(".")
            return text + unit
    return ("%.1f" % v).rstrip("0").rstrip(".")


def degrees(r):
    parts = []
    if r["tensor_parallel"] > 1 or r["strategy"].startswith("megatron"):
        parts.append("t%d" % r["tensor_parallel"])
    if r["ulysses_degree"] > 1:
        parts.append("u%d" % r["ulysses_degree"])
    if r["ring_degree"] > 1:
        parts.append("r%d" % r["ring_degree"])
    parts.append("dp%d" % r["data_parallel"])
    if (r.get("pipeline_parallel") or 1) > 1:
        parts.append("pp%d" % r["pipeline_parallel"])
    if (r.get("virtual_pipeline_stages") or 1) > 1:
        parts.append("v%d" % r["virtual_pipeline_stages"])
    return " ".join(parts)


def memory_knobs(r):
    return "z%d %s" % (r["zero_stage"], "rc:" + r["recompute"] if r["recompute"] != "none" else "no rc")


def series_key(r, mode):
    """Rows of one line: per strategy under --best (degrees vary per point), else per plan."""
    if mode == "best":
        return (r["strategy"],)
    variant = r["ring_variant"] if r["ring_degree"] > 1 else ""
    return (r["strategy"], r["tensor_parallel"], r["ulysses_degree"], r["ring_degree"], variant,
            r["data_parallel"] or 0, r.get("pipeline_parallel") or 1, r["zero_stage"], r["micro_batch_size"],
            r["recompute"])


def series_label(key, rows, mode):
    r = rows[0]
    if mode == "best":
        return "%s (best plan per point)" % r["strategy"]
    label = "%s %s" % (r["strategy"], " ".join(p for p in degrees(r).split() if not p.startswith("dp")))
    if key[4]:
        label += " " + key[4]
    return label.strip() + " z%d mbs%d %s" % (r["zero_stage"], r["micro_batch_size"], r["recompute"])


def group_series(rows, mode):
    groups = {}
    for r in rows:
        groups.setdefault(series_key(r, mode), []).append(r)
    return [(k, sorted(v, key=lambda r: r["seq_length"])) for k, v in sorted(groups.items(), key=lambda kv: str(kv[0]))]


def series_styles(series, mode):
    """(colour, marker, linestyle) per series: by strategy under --best, else distinct per series."""
    out = []
    for i, (key, srows) in enumerate(series):
        if mode == "best":
            colour, marker = STYLE.get(srows[0]["strategy"], (PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]))
            out.append((colour, marker, "-"))
        else:
            basic = len(key) > 4 and key[4] == "basic"
            out.append((PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)], "--" if basic else "-"))
    return out


def batch_text(rows):
    """What the rows run per step: one global batch, one token count, or a warning that they differ."""
    batches = {r.get("global_batch_size") for r in rows}
    tokens = {(r.get("global_batch_size") or 0) * r["seq_length"] for r in rows}
    if len(batches) == 1 and None not in batches:
        return "global batch %d sequences" % batches.pop()
    if len(tokens) == 1:
        return "%s tokens per step" % fmt_count(tokens.pop())
    return "global batch differs between plans: compare tokens/s only"


def save(fig, out_dir, name, written):
    for ext in ("png", "svg"):
        path = os.path.join(out_dir, "%s.%s" % (name, ext))
        if ext == "svg":
            fig.savefig(path, metadata={"Date": None, "Creator": None})
        else:
            fig.savefig(path, dpi=110, metadata={"Software": None})
        written.append(path)
    plt.close(fig)


def seq_axis(ax, seqs):
    ax.set_xscale("log", base=2)
    ax.set_xticks(seqs)
    ax.set_xticklabels([fmt_count(s) for s in seqs], rotation=0)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("sequence length (tokens, K = 1024)")


def log_y_axis(ax):
    # Ticks at 1, 2 and 5 of every decade, labelled (a single decade would otherwise show one label).
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(fmt_si))
    ax.yaxis.set_minor_locator(NullLocator())


def mark_oom_on_floor(ax, xs, colour, marker_size=55):
    """A plan that does not fit has no throughput: an x in its series' colour on the axis floor."""
    if not xs:
        return
    floor = blended_transform_factory(ax.transData, ax.transAxes)
    ax.scatter(xs, [0.025] * len(xs), marker="x", color=colour, s=marker_size, transform=floor, clip_on=False,
               zorder=4)


def plot_vs_seq(rows, mode, gpus, out_dir, name, written):
    sel = [r for r in rows if r["gpus"] == gpus and r["status"] in ("ok", "oom")]
    if not sel:
        return
    where = "%s on %d x %s" % (sel[0]["model"], gpus, sel[0]["topology"])
    seqs = sorted({r["seq_length"] for r in sel})
    series = group_series(sel, mode)
    styles = series_styles(series, mode)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    for column, ax, ylabel in (("tokens_per_s", axes[0], "throughput (tokens/s)"),
                               ("tflops_per_gpu_model", axes[1], "model TFLOP/s per GPU")):
        for (key, srows), (colour, marker, linestyle) in zip(series, styles):
            ok = [r for r in srows if r["status"] == "ok"]
            ax.plot([r["seq_length"] for r in ok], [r[column] for r in ok], marker=marker, color=colour,
                    linestyle=linestyle, label=series_label(key, srows, mode))
        if column == "tokens_per_s":
            log_y_axis(ax)
        else:
            ax.set_ylim(bottom=0)
        for (key, srows), (colour, marker, linestyle) in zip(series, styles):
            mark_oom_on_floor(ax, [r["seq_length"] for r in srows if r["status"] == "oom"], colour)
        seq_axis(ax, seqs)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    axes[1].scatter([], [], marker="x", color="black", label="x on the floor: does not fit (OOM)")
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=min(4, len(labels)), frameon=False)
    fig.suptitle("%s, %s" % (where, batch_text(sel)))
    fig.tight_layout(rect=(0, 0.04 + 0.035 * ((len(labels) + 3) // 4), 1, 1))
    save(fig, out_dir, "throughput_vs_seq" + name, written)

    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    hbm = sel[0]["hbm_capacity_bytes"] / GIB
    # Linear axis up to 1.5x the HBM: a plan far out of memory is drawn on the top edge with its
    # value, instead of squeezing every plan that fits into the bottom of the figure.
    top = 1.5 * hbm
    clipped = False
    for (key, srows), (colour, marker, linestyle) in zip(series, styles):
        ax.plot([r["seq_length"] for r in srows], [min(r["mem_peak_bytes"] / GIB, top) for r in srows],
                marker=marker, color=colour, linestyle=linestyle, label=series_label(key, srows, mode))
        oom = [r for r in srows if r["status"] == "oom"]
        if oom:
            ax.scatter([r["seq_length"] for r in oom], [min(r["mem_peak_bytes"] / GIB, top) for r in oom], marker="x",
                       color=colour, s=70, zorder=3)
        for r in srows:
            if r["mem_peak_bytes"] / GIB > top:
                clipped = True
                ax.annotate("%.0f" % (r["mem_peak_bytes"] / GIB), (r["seq_length"], top), textcoords="offset points",
                            xytext=(0, -10), ha="center", fontsize=6, color=colour)
    ax.axhline(hbm, color="black", linestyle="--", linewidth=1, label="HBM capacity %.0f GiB" % hbm)
    ax.scatter([], [], marker="x", color="black", label="x: does not fit (OOM)")
    seq_axis(ax, seqs)
    ax.set_ylim(0, top)
    ax.set_ylabel("peak memory per GPU (GiB)")
    ax.set_title("%s: peak memory per GPU%s" % (where, " (values above %.0f GiB on the top edge)" % top if clipped else ""),
                 fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    save(fig, out_dir, "memory_vs_seq" + name, written)


def plot_breakdown(rows, mode, gpus, out_dir, name, written):
    sel = [r for r in rows if r["gpus"] == gpus and r["status"] == "ok"]
    if not sel:
        return
    where = "%s on %d x %s" % (sel[0]["model"], gpus, sel[0]["topology"])
    seqs = sorted({r["seq_length"] for r in sel})
    # Series from every row at this GPU count, so a plan that does not fit keeps its slot and is
    # marked "OOM" instead of vanishing from the panel (issue 16: OOM marked, never silently absent).
    series = group_series([r for r in rows if r["gpus"] == gpus and r["seq_length"] in seqs], mode)
    parts = [("compute_s", "compute", "#4c72b0")] + [
        (k, "exposed " + label, c) for (k, label), c in zip(EXPOSED, ["#dd8452", "#55a868", "#c44e52", "#8172b3",
                                                                     "#937860", "#da8bc3", "#8c613c"])] + [
        ("bubble_s", "pipeline bubble", "#8c8c8c")]
    # Time per fixed number of tokens (1M), not per step: plans that run different batches stay
    # comparable, and a linear axis keeps the stacked segments in proportion. One panel per length.
    fig, axes = plt.subplots(1, len(seqs), figsize=(max(8, 1.9 * len(seqs) + 2), 5.2), squeeze=False)
    used = {}
    for xi, s in enumerate(seqs):
        ax = axes[0][xi]
        names = []
        for si, (key, srows) in enumerate(series):
            r = next((r for r in srows if r["seq_length"] == s), None)
            if r is None:
                continue
            x = len(names)
            names.append(r["strategy"] if mode == "best" else str(si + 1))
            if r["status"] != "ok":
                ax.text(x, 0, " OOM" if r["status"] == "oom" else " " + r["status"], rotation=90, ha="center",
                        va="bottom", fontsize=7, color="#c44e52")
                continue
            per_mtok = MTOK / (r["global_batch_size"] * r["seq_length"])
            bottom = 0.0
            for column, label, colour in parts:
                v = (r.get(column) or 0.0) * per_mtok
                if v <= 0:
                    continue
                bar = ax.bar(x, v, 0.75, bottom=bottom, color=colour, edgecolor="white", linewidth=0.3)
                used.setdefault(label, bar)
                bottom += v
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=90, fontsize=7)
        ax.set_xlim(-0.6, len(names) - 0.4)  # a slot for every series, an OOM one included
        ax.set_title(fmt_count(s), fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
        ax.tick_params(axis="y", labelsize=7)
    axes[0][0].set_ylabel("seconds per 1M tokens (step time / tokens per step)")
    labels = [label for _, label, _ in parts if label in used]
    handles = [used[label] for label in labels]
    if mode != "best":
        for si, (key, srows) in enumerate(series):
            handles.append(plt.Line2D([], [], linestyle="none"))
            labels.append("%d: %s" % (si + 1, series_label(key, srows, mode)))
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=4, frameon=False)
    fig.suptitle("time per 1M tokens by sequence length (linear; each panel its own scale)\n%s, %s"
                 % (where, batch_text(sel)), fontsize=10)
    fig.tight_layout(rect=(0, 0.05 + 0.035 * ((len(labels) + 3) // 4), 1, 1))
    save(fig, out_dir, "breakdown" + name, written)


def plot_heatmap(rows, meta, out_dir, name, written):
    gpus_list = sorted({r["gpus"] for r in rows})
    seqs = sorted({r["seq_length"] for r in rows})
    strategies = sorted({r["strategy"] for r in rows})
    index = {s: i + 1 for i, s in enumerate(strategies)}
    best = {(r["gpus"], r["seq_length"]): r for r in rows if r.get("best_at_point")}
    error = (meta.get("model_error") or {}).get("throughput_median_abs")
    grid = [[index[best[(g, s)]["strategy"]] if (g, s) in best else 0 for s in seqs] for g in gpus_list]
    colours = ["#e0e0e0"] + [STYLE.get(s, ("#7f7f7f", "x"))[0] for s in strategies]
    fig, ax = plt.subplots(figsize=(1.6 * len(seqs) + 2.8, 1.0 * len(gpus_list) + 2))
    ax.imshow(grid, cmap=ListedColormap(colours), vmin=0, vmax=len(strategies), aspect="auto", origin="lower",
              alpha=0.55)
    ties = 0
    for gi, g in enumerate(gpus_list):
        for si, s in enumerate(seqs):
            r = best.get((g, s))
            if r is None:
                ax.text(si, gi, "none fits", ha="center", va="center", fontsize=6.5)
                continue
            text = "%s\n%s\n%s" % (r["strategy"], degrees(r), memory_knobs(r))
            if r.get("runner_up"):
                margin = r.get("margin") or 0.0
                tie = error is not None and margin < error
                ties += tie
                text += "\n%s%s %+.1f%%" % ("tie " if tie else "vs ", r["runner_up"], 100 * margin)
                if tie:
                    ax.add_patch(plt.Rectangle((si - 0.5, gi - 0.5), 1, 1, fill=False, hatch="//",
                                               edgecolor="#999999", linewidth=0))
            ax.text(si, gi, text, ha="center", va="center", fontsize=6)
    ax.set_xticks(range(len(seqs)))
    ax.set_xticklabels([fmt_count(s) for s in seqs])
    ax.set_yticks(range(len(gpus_list)))
    ax.set_yticklabels([str(g) for g in gpus_list])
    ax.set_xlabel("sequence length (tokens, K = 1024)")
    ax.set_ylabel("GPUs")
    handles = [plt.Rectangle((0, 0), 1, 1, color=STYLE.get(s, ("#7f7f7f", "x"))[0], alpha=0.55) for s in strategies]
    labels = list(strategies)
    if error is not None:
        handles.append(plt.Rectangle((0, 0), 1, 1, fill=False, hatch="//", edgecolor="#999999"))
        labels.append("tie: margin below the\nmodel's %.0f%% error" % (100 * error))
    ax.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title("fastest plan that fits and its margin over the fastest other scheme\n%s, %s, %s"
                 % (rows[0]["model"], rows[0]["topology"], batch_text([r for r in rows if r.get("best_at_point")] or rows)),
                 fontsize=9)
    fig.tight_layout()
    save(fig, out_dir, "best_heatmap" + name, written)


def plot_scaling(rows, out_dir, name, written):
    best = [r for r in rows if r.get("best_at_point")]
    gpus_list = sorted({r["gpus"] for r in best})
    if len(gpus_list) < 2:
        return
    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    for i, s in enumerate(sorted({r["seq_length"] for r in best})):
        pts = sorted((r for r in best if r["seq_length"] == s), key=lambda r: r["gpus"])
        if len(pts) < 2:
            continue
        colour, marker = PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]
        base = pts[0]["tokens_per_s"] / pts[0]["gpus"]
        ys = [100.0 * r["tokens_per_s"] / r["gpus"] / base for r in pts]
        ax.plot([r["gpus"] for r in pts], ys, marker=marker, color=colour,
                label="seq %s from %d GPUs (%s)" % (fmt_count(s), pts[0]["gpus"], pts[0]["strategy"]))
        previous = pts[0]["strategy"]
        for r, y in zip(pts, ys):
            if r["strategy"] != previous:
                ax.annotate(r["strategy"], (r["gpus"], y), textcoords="offset points", xytext=(3, 4), fontsize=6,
                            color=colour)
            previous = r["strategy"]
    ax.set_xscale("log", base=2)
    ax.set_xticks(gpus_list)
    ax.set_xticklabels([str(g) for g in gpus_list])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("GPUs")
    ax.set_ylabel("scaling efficiency of the best plan (%)")
    ax.set_title("tokens/s per GPU relative to the smallest GPU count\n%s, %s, %s (scheme named where it changes)"
                 % (best[0]["model"], best[0]["topology"], batch_text(best)), fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    save(fig, out_dir, "scaling" + name, written)


def file_suffix(model, topology):
    return "-" + re.sub(r"[^A-Za-z0-9._-]+", "_", "%s-%s" % (model, topology))


def fail(message):
    """The one line `spsim plot` shows (it strips the script's name), exit 2."""
    sys.stderr.write("spsim_plot.py: error: %s\n" % message)
    return 2


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("result", help="PREFIX.csv or PREFIX.json written by spsim sweep")
    parser.add_argument("-o", "--output", default="plots-out", help="folder for the figures")
    parser.add_argument("--gpus", type=int, default=0, help="GPU count of the per-seq figures (default: largest)")
    args = parser.parse_args()
    plt.rcParams["svg.hashsalt"] = "spsim"
    plt.rcParams["path.simplify"] = True
    try:
        rows, mode, meta = load(args.result)
    except BadResult as e:
        return fail("%s: %s" % (args.result, e))
    if not rows:
        return fail("%s: no rows to plot" % args.result)
    # The folder is made only once the result has been read, so a bad input leaves nothing.
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        return fail("-o: %s is a file, not a folder; choose a folder path" % args.output)
    try:
        os.makedirs(args.output, exist_ok=True)
    except OSError as e:
        return fail("-o: cannot create folder %s (%s); choose a writable path" % (args.output, e.strerror))
    # One set of figures per (model, topology), in the order of the result: never one pair's data
    # under another's title.
    pairs = []
    for r in rows:
        if (r["model"], r["topology"]) not in pairs:
            pairs.append((r["model"], r["topology"]))
    written = []
    for model, topology in pairs:
        pair = [r for r in rows if (r["model"], r["topology"]) == (model, topology)]
        name = file_suffix(model, topology) if len(pairs) > 1 else ""
        gpus = args.gpus or max(r["gpus"] for r in pair)
        plot_vs_seq(pair, mode, gpus, args.output, name, written)
        plot_breakdown(pair, mode, gpus, args.output, name, written)
        plot_heatmap(pair, meta, args.output, name, written)
        plot_scaling(pair, args.output, name, written)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # never a traceback: one line, as every spsim error
        sys.stderr.write("spsim_plot.py: error: cannot plot this result (%s: %s)\n" % (type(e).__name__, e))
        sys.exit(2)
