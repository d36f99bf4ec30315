#!/usr/bin/python3
"""Figures of an `spsim validate -o DIR` run (DIR/validation.json), as PNG and SVG.

Run with Debian's python3 (python3-matplotlib):
    /usr/bin/python3 plots/spsim_validate_plot.py DIR/validation.json -o DIR
or through `spsim validate -o DIR`. Output bytes are deterministic (Agg backend, fixed SVG hash
salt, no dates or software versions in the files).

Figures:
  predicted_vs_measured  one panel per metric group (throughput per GPU, MFU, step time, peak
                         memory, attention kernels): predicted against measured on log-log axes,
                         y = x with +-10 % and +-25 % bands, colour by source, marker by scheme
  error_vs_seq           signed error of the throughput rows (+ = spsim too fast) against the
                         sequence length, colour by source, marker by scheme
"""

import argparse
import json
import os
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.stderr.write("spsim_validate_plot.py: error: matplotlib not found; install python3-matplotlib "
                     "(apt) and run with /usr/bin/python3\n")
    sys.exit(3)

matplotlib.rcParams["svg.hashsalt"] = "spsim"

# Panels: (title, metrics, axis label). Metrics with different units never share a panel.
PANELS = [
    ("tokens/s per GPU", ("tokens_per_s_per_gpu",), "tokens/s per GPU"),
    ("TFLOP/s per GPU (source's convention)", ("tflops_per_gpu",), "TFLOP/s per GPU"),
    ("MFU", ("mfu",), "MFU"),
    ("step time", ("step_time_s",), "seconds"),
    ("peak memory per GPU", ("peak_mem_gib", "peak_mem_gb"), "GiB"),
    ("allocator reservation, a bound", ("peak_reserved_gib",), "GiB"),
    ("attention kernels (FA convention)", ("attention_tflops_fwd", "attention_tflops_fwdbwd"), "TFLOP/s"),
]
THROUGHPUT = ("tokens_per_s_per_gpu", "tokens_per_s_total", "tflops_per_gpu", "mfu", "step_time_s")
# tab20 has 20 distinct colours; sources beyond that cycle with a second marker fill.
COLOURS = list(plt.get_cmap("tab20").colors)
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p", "d", "8", "H"]


def load(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return [r for r in data["rows"] if r["status"] == "ok"]


def styles(rows):
    sources = sorted({r["source"] for r in rows})
    schemes = sorted({r["scheme"] for r in rows})
    colour = {s: COLOURS[i % len(COLOURS)] for i, s in enumerate(sources)}
    marker = {s: MARKERS[i % len(MARKERS)] for i, s in enumerate(schemes)}
    return colour, marker


def legend(fig, colour, marker, rows):
    used_sources = sorted({r["source"] for r in rows})
    used_schemes = sorted({r["scheme"] for r in rows})
    handles = [plt.Line2D([], [], color=colour[s], marker="o", linestyle="", label=s) for s in used_sources]
    handles += [plt.Line2D([], [], color="#444444", marker=marker[s], linestyle="", markerfacecolor="none",
                           label=s) for s in used_schemes]
    fig.legend(handles=handles, loc="center right", fontsize=7, frameon=False,
               title="colour: source / marker: scheme", title_fontsize=7)


def save(fig, out_dir, name):
    for ext in ("png", "svg"):
        path = os.path.join(out_dir, "%s.%s" % (name, ext))
        if ext == "svg":
            fig.savefig(path, metadata={"Date": None, "Creator": None})
        else:
            fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def predicted_vs_measured(rows, colour, marker, out_dir):
    panels = [p for p in PANELS if any(r["metric"] in p[1] for r in rows)]
    cols = 3
    nrows = max(1, (len(panels) + cols - 1) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(15, 4.6 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (title, metrics, unit) in zip(axes.flat, panels):
        sel = [r for r in rows if r["metric"] in metrics]
        lo = min(min(r["measured"], r["predicted"]) for r in sel) / 1.3
        hi = max(max(r["measured"], r["predicted"]) for r in sel) * 1.3
        xs = [lo, hi]
        if metrics == ("peak_reserved_gib",):
            # A reservation bounds the live peak: below the line is consistent, not an error band.
            ax.fill_between(xs, [lo] * 2, xs, color="#e8f0e8", lw=0)
        else:
            ax.fill_between(xs, [x / 1.25 for x in xs], [x * 1.25 for x in xs], color="#dddddd", lw=0,
                            label="+-25 %")
            ax.fill_between(xs, [x / 1.1 for x in xs], [x * 1.1 for x in xs], color="#bbbbbb", lw=0,
                            label="+-10 %")
        ax.plot(xs, xs, color="black", lw=0.8)
        for r in sel:
            ax.scatter(r["measured"], r["predicted"], s=22, color=colour[r["source"]], marker=marker[r["scheme"]],
                       edgecolors="black", linewidths=0.3, zorder=3)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel("measured (%s)" % unit)
        ax.set_ylabel("spsim (%s)" % unit)
        if metrics == ("peak_reserved_gib",):
            below = sum(1 for r in sel if r["predicted"] <= r["measured"])
            ax.set_title("%s: %d rows, %d on or below the line" % (title, len(sel), below), fontsize=9)
        else:
            within = sum(1 for r in sel if abs(r["error"]) <= 0.10)
            ax.set_title("%s: %d rows, %d within 10 %%" % (title, len(sel), within), fontsize=9)
        ax.grid(True, which="both", lw=0.3, alpha=0.5)
    legend(fig, colour, marker, rows)
    fig.suptitle("spsim vs published measurements (above the line: spsim predicts more)", fontsize=11)
    fig.tight_layout(rect=(0, 0, 0.84, 0.96))
    save(fig, out_dir, "predicted_vs_measured")


def error_vs_seq(rows, colour, marker, out_dir):
    sel = [r for r in rows if r["metric"] in THROUGHPUT and r["seq_length"] > 0]
    fig, ax = plt.subplots(figsize=(11, 5.2))
    ax.axhspan(-25, 25, color="#eeeeee", lw=0)
    ax.axhspan(-10, 10, color="#d8d8d8", lw=0)
    ax.axhline(0, color="black", lw=0.8)
    for r in sel:
        ax.scatter(r["seq_length"], 100 * r["speed_error"], s=22, color=colour[r["source"]],
                   marker=marker[r["scheme"]], edgecolors="black", linewidths=0.3, zorder=3)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("sequence length (tokens)")
    ax.set_ylabel("error as a speed, % (+ = spsim too fast)")
    ax.set_title("throughput rows: %d; bands +-10 %% and +-25 %%" % len(sel), fontsize=10)
    ax.grid(True, lw=0.3, alpha=0.5)
    legend(fig, colour, marker, sel)
    fig.tight_layout(rect=(0, 0, 0.84, 1))
    save(fig, out_dir, "error_vs_seq")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", help="validation.json written by spsim validate -o DIR")
    parser.add_argument("-o", "--output", required=True, help="folder for the figures")
    args = parser.parse_args()
    try:
        rows = load(args.result)
    except (OSError, ValueError, KeyError) as e:
        sys.stderr.write("spsim_validate_plot.py: error: %s: cannot read a validate result (%s)\n" % (args.result, e))
        sys.exit(2)
    if not rows:
        sys.stderr.write("spsim_validate_plot.py: error: %s: no row ran; nothing to draw\n" % args.result)
        sys.exit(2)
    os.makedirs(args.output, exist_ok=True)
    colour, marker = styles(rows)
    predicted_vs_measured(rows, colour, marker, args.output)
    error_vs_seq(rows, colour, marker, args.output)


if __name__ == "__main__":
    main()
