#!/usr/bin/python3
"""Figures of an spsim sweep result (PREFIX.csv or PREFIX.json), as PNG and SVG.

Run with Debian's python3 (python3-matplotlib):  /usr/bin/python3 plots/spsim_plot.py RESULT -o DIR
or through `spsim plot RESULT -o DIR`. Output bytes are deterministic (Agg backend, fixed SVG
hash salt, no dates or software versions in the files).

Figures (each as .png and .svg):
  throughput_vs_seq  tokens/s and model TFLOP/s per GPU vs sequence length per strategy, OOM marked
  memory_vs_seq      peak memory per GPU vs sequence length, with the HBM capacity line
  breakdown          step-time breakdown (compute, exposed comm per kind, bubble) per strategy
  best_heatmap       best strategy (and degrees) over GPUs x sequence length
  scaling            scaling efficiency of the best plan vs GPUs, one line per sequence length
"""

import argparse
import csv
import json
import os
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
except ImportError:
    sys.stderr.write("spsim_plot.py: error: matplotlib not found; install python3-matplotlib (apt) "
                     "and run with /usr/bin/python3\n")
    sys.exit(3)

GIB = 2.0 ** 30
# Fixed strategy -> colour / marker (matplotlib tab10), identical in every figure.
STYLE = {
    "ulysses": ("#1f77b4", "o"),
    "megatron-sp": ("#ff7f0e", "s"),
    "megatron-tp": ("#8c564b", "P"),
    "ring": ("#2ca02c", "^"),
    "usp": ("#d62728", "D"),
}
EXPOSED = [("exposed_ulysses_a2a_s", "Ulysses all-to-all"), ("exposed_tp_s", "TP/SP collectives"),
           ("exposed_ring_p2p_s", "ring P2P"), ("exposed_cp_allgather_s", "CP all-gather"),
           ("exposed_dp_grad_s", "DP gradients"), ("exposed_zero_params_s", "ZeRO-3 params"),
           ("exposed_pp_p2p_s", "pipeline P2P")]
INTS = {"gpus", "seq_length", "tensor_parallel", "ulysses_degree", "ring_degree", "data_parallel",
        "pipeline_parallel", "virtual_pipeline_stages",
        "zero_stage", "micro_batch_size", "global_batch_size", "plans_searched", "plans_fit"}


def style(strategy):
    return STYLE.get(strategy, ("#7f7f7f", "x"))


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
    """Rows as dicts with numbers converted; empty cells / nulls become None. BadResult if the
    file is not a sweep result."""
    try:
        if path.endswith(".json"):
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            if not isinstance(data, dict) or "rows" not in data:
                raise BadResult("not a sweep result (no \"rows\" object); give the .csv or .json a sweep wrote")
            rows = data["rows"]
            meta = data.get("meta", {})
            mode = meta.get("mode", "grid") if isinstance(meta, dict) else "grid"
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
                    elif k.endswith("_s") or k.endswith("_bytes") or k.startswith("tflops") or k in ("mfu", "tokens_per_s"):
                        r[k] = float(v)
    except (OSError, ValueError, RecursionError, csv.Error) as e:
        raise BadResult("cannot read a sweep result (%s)" % e)
    check_rows(rows)
    return rows, mode


def fmt_count(n):
    for unit, size in (("M", 1 << 20), ("K", 1 << 10)):
        if n >= size and n % size == 0:
            return "%d%s" % (n // size, unit)
    return str(n)


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


def series_key(r, mode):
    """Rows of one line: per strategy under --best (degrees vary per point), else per plan."""
    if mode == "best":
        return (r["model"], r["topology"], r["strategy"])
    variant = r["ring_variant"] if r["ring_degree"] > 1 else ""
    return (r["model"], r["topology"], r["strategy"], r["tensor_parallel"], r["ulysses_degree"],
            r["ring_degree"], variant, r["zero_stage"], r["micro_batch_size"], r["recompute"])


def series_label(key, rows, mode, many_models):
    r = rows[0]
    prefix = "%s/%s " % (r["model"], r["topology"]) if many_models else ""
    if mode == "best":
        return prefix + "%s (best degrees per point)" % r["strategy"]
    label = "%s %s" % (r["strategy"], " ".join(p for p in degrees(r).split() if not p.startswith("dp")))
    if key[6]:
        label += " " + key[6]
    return prefix + label.strip() + " z%d mbs%d %s" % (r["zero_stage"], r["micro_batch_size"], r["recompute"])


def group_series(rows, mode):
    groups = {}
    for r in rows:
        groups.setdefault(series_key(r, mode), []).append(r)
    return [(k, sorted(v, key=lambda r: r["seq_length"])) for k, v in sorted(groups.items(), key=lambda kv: str(kv[0]))]


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
    ax.minorticks_off()
    ax.set_xlabel("sequence length (tokens, K = 1024)")


def plot_vs_seq(rows, mode, gpus, out_dir, written, many_models):
    sel = [r for r in rows if r["gpus"] == gpus and r["status"] in ("ok", "oom")]
    if not sel:
        return
    seqs = sorted({r["seq_length"] for r in sel})
    series = group_series(sel, mode)
    # Throughput: tokens/s and TFLOP/s per GPU; OOM points drawn hollow with a red cross.
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for column, ax, ylabel in (("tokens_per_s", axes[0], "throughput (tokens/s)"),
                               ("tflops_per_gpu_model", axes[1], "model TFLOP/s per GPU")):
        for key, srows in series:
            colour, marker = style(srows[0]["strategy"])
            label = series_label(key, srows, mode, many_models)
            ok = [r for r in srows if r["status"] == "ok"]
            ax.plot([r["seq_length"] for r in ok], [r[column] for r in ok], marker=marker, color=colour,
                    label=label, linestyle="-" if mode == "best" or len(series) <= 6 else "--")
            oom = [r for r in srows if r["status"] == "oom"]
            if oom:
                ax.scatter([r["seq_length"] for r in oom], [r[column] for r in oom], marker="x", color="#d62728",
                           s=40, zorder=3)
        ax.scatter([], [], marker="x", color="#d62728", label="does not fit (OOM)")
        seq_axis(ax, seqs)
        ax.set_ylabel(ylabel)
        if column == "tokens_per_s":
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    axes[1].legend(fontsize=7, loc="best")
    fig.suptitle("%s on %d GPUs (%s)" % (sel[0]["model"], gpus, sel[0]["topology"]))
    fig.tight_layout()
    save(fig, out_dir, "throughput_vs_seq", written)

    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    hbm = max(r["hbm_capacity_bytes"] for r in sel) / GIB
    for key, srows in series:
        colour, marker = style(srows[0]["strategy"])
        ax.plot([r["seq_length"] for r in srows], [r["mem_peak_bytes"] / GIB for r in srows], marker=marker,
                color=colour, label=series_label(key, srows, mode, many_models))
        oom = [r for r in srows if r["status"] == "oom"]
        if oom:
            ax.scatter([r["seq_length"] for r in oom], [r["mem_peak_bytes"] / GIB for r in oom], marker="x",
                       color="#d62728", s=50, zorder=3)
    ax.axhline(hbm, color="black", linestyle="--", linewidth=1, label="HBM capacity %.0f GiB" % hbm)
    ax.scatter([], [], marker="x", color="#d62728", label="does not fit (OOM)")
    seq_axis(ax, seqs)
    ax.set_yscale("log")
    ax.set_ylabel("peak memory per GPU (GiB)")
    ax.set_title("%s on %d GPUs (%s)" % (sel[0]["model"], gpus, sel[0]["topology"]))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    save(fig, out_dir, "memory_vs_seq", written)


def plot_breakdown(rows, mode, gpus, out_dir, written, many_models):
    sel = [r for r in rows if r["gpus"] == gpus and r["status"] == "ok"]
    if not sel:
        return
    seqs = sorted({r["seq_length"] for r in sel})
    series = group_series(sel, mode)
    width = 0.8 / max(1, len(series))
    parts = [("compute_s", "compute", "#4c72b0")] + [
        (k, "exposed " + name, c) for (k, name), c in zip(EXPOSED, ["#dd8452", "#55a868", "#c44e52", "#8172b3",
                                                                    "#937860", "#da8bc3",
                                                                    "#8c613c"])] + [
        ("bubble_s", "pipeline bubble", "#8c8c8c")]
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(seqs) * len(series) ** 0.5 + 4), 5))
    used = set()
    for si, (key, srows) in enumerate(series):
        by_seq = {r["seq_length"]: r for r in srows}
        for xi, s in enumerate(seqs):
            r = by_seq.get(s)
            if r is None:
                continue
            x = xi - 0.4 + width * (si + 0.5)
            bottom = 0.0
            for column, name, colour in parts:
                v = r.get(column) or 0.0
                if v <= 0:
                    continue
                ax.bar(x, v, width * 0.9, bottom=bottom, color=colour, edgecolor="white", linewidth=0.3,
                       label=None if name in used else name)
                used.add(name)
                bottom += v
            ax.text(x, bottom, r["strategy"][:4] if mode == "best" else str(si + 1), ha="center",
                    va="bottom", fontsize=6, rotation=90)
    ax.set_xticks(range(len(seqs)))
    ax.set_xticklabels([fmt_count(s) for s in seqs])
    ax.set_xlabel("sequence length (tokens); one bar per %s" % ("strategy" if mode == "best" else "series"))
    ax.set_ylabel("step time (s)")
    ax.set_yscale("log")
    ax.set_title("step-time breakdown, %s on %d GPUs" % (sel[0]["model"], gpus))
    handles, labels = ax.get_legend_handles_labels()
    if mode != "best":
        for si, (key, srows) in enumerate(series):
            handles.append(plt.Line2D([], [], linestyle="none"))
            labels.append("%d: %s" % (si + 1, series_label(key, srows, mode, many_models)))
    ax.legend(handles, labels, fontsize=7, loc="upper left")
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    save(fig, out_dir, "breakdown", written)


def plot_heatmap(rows, out_dir, written):
    gpus_list = sorted({r["gpus"] for r in rows})
    seqs = sorted({r["seq_length"] for r in rows})
    strategies = sorted({r["strategy"] for r in rows})
    index = {s: i + 1 for i, s in enumerate(strategies)}
    best = {(r["gpus"], r["seq_length"]): r for r in rows if r.get("best_at_point")}
    grid = [[index[best[(g, s)]["strategy"]] if (g, s) in best else 0 for s in seqs] for g in gpus_list]
    colours = ["#e0e0e0"] + [style(s)[0] for s in strategies]
    fig, ax = plt.subplots(figsize=(1.3 * len(seqs) + 2.5, 0.8 * len(gpus_list) + 2))
    ax.imshow(grid, cmap=ListedColormap(colours), vmin=0, vmax=len(strategies), aspect="auto", origin="lower")
    for gi, g in enumerate(gpus_list):
        for si, s in enumerate(seqs):
            r = best.get((g, s))
            text = "%s\n%s" % (r["strategy"], degrees(r)) if r else "none fits"
            ax.text(si, gi, text, ha="center", va="center", fontsize=6.5)
    ax.set_xticks(range(len(seqs)))
    ax.set_xticklabels([fmt_count(s) for s in seqs])
    ax.set_yticks(range(len(gpus_list)))
    ax.set_yticklabels([str(g) for g in gpus_list])
    ax.set_xlabel("sequence length (tokens, K = 1024)")
    ax.set_ylabel("GPUs")
    handles = [plt.Rectangle((0, 0), 1, 1, color=style(s)[0]) for s in strategies]
    ax.legend(handles, strategies, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title("fastest plan that fits, %s (%s)" % (rows[0]["model"], rows[0]["topology"]))
    fig.tight_layout()
    save(fig, out_dir, "best_heatmap", written)


def plot_scaling(rows, out_dir, written):
    best = [r for r in rows if r.get("best_at_point")]
    gpus_list = sorted({r["gpus"] for r in best})
    if len(gpus_list) < 2:
        return
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for s in sorted({r["seq_length"] for r in best}):
        pts = sorted((r for r in best if r["seq_length"] == s), key=lambda r: r["gpus"])
        if len(pts) < 2:
            continue
        base = pts[0]["tokens_per_s"] / pts[0]["gpus"]
        ax.plot([r["gpus"] for r in pts], [100.0 * r["tokens_per_s"] / r["gpus"] / base for r in pts],
                marker="o", label="seq %s from %d GPUs" % (fmt_count(s), pts[0]["gpus"]))
    ax.set_xscale("log", base=2)
    ax.set_xticks(gpus_list)
    ax.set_xticklabels([str(g) for g in gpus_list])
    ax.minorticks_off()
    ax.set_xlabel("GPUs")
    ax.set_ylabel("scaling efficiency of the best plan (%)")
    ax.set_title("tokens/s per GPU relative to the smallest GPU count, %s" % best[0]["model"])
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    save(fig, out_dir, "scaling", written)


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
        rows, mode = load(args.result)
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
    first = (rows[0]["model"], rows[0]["topology"])
    many_models = len({(r["model"], r["topology"]) for r in rows}) > 1
    # Per-(model, topology) figures use the first pair; a multi-model sweep still gets every series
    # in the per-seq figures (labelled), and the heatmap/scaling of the first pair.
    gpus = args.gpus or max(r["gpus"] for r in rows)
    written = []
    plot_vs_seq(rows, mode, gpus, args.output, written, many_models)
    plot_breakdown(rows, mode, gpus, args.output, written, many_models)
    pair = [r for r in rows if (r["model"], r["topology"]) == first]
    plot_heatmap(pair, args.output, written)
    plot_scaling(pair, args.output, written)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # never a traceback: one line, as every spsim error
        sys.stderr.write("spsim_plot.py: error: cannot plot this result (%s: %s)\n" % (type(e).__name__, e))
        sys.exit(2)
