"""Presenting simulation results: a summary table and a PNG plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quinkgl.errors import ConfigurationError


def summary_table(result: dict[str, Any]) -> str:
    """A plain-text summary of a result's JSON form."""
    s = result["settings"]
    central = result["centralized_accuracy"]
    rows = [
        ("nodes / rounds", f"{s['nodes']} / {result['rounds']}"),
        ("dataset / model / split", f"{s['dataset']} / {s['model']} / {s['split']}"),
        ("topology / mode / fanout", f"{s['topology']} / {s['mode']} / {s['fanout']}"),
        ("churn / loss", f"{s['churn']:.2f} / {s['loss']:.2f}"),
        ("mean node accuracy", f"{result['mean_accuracy']:.4f}"),
        ("min / max node accuracy", f"{result['min_accuracy']:.4f} / {result['max_accuracy']:.4f}"),
        ("centralized baseline", f"{central:.4f}" if central is not None else "not run"),
        (
            "mean / centralized",
            f"{result['relative_to_centralized']:.1%}" if central is not None else "-",
        ),
        ("consensus distance", f"{result['consensus_distance']:.4g}"),
        (
            "bytes sent",
            f"{result['bytes_sent'] / 1e6:.2f} MB in {result['messages_sent']} messages",
        ),
        (
            "refused inputs",
            ", ".join(f"{k}={v}" for k, v in result["rejections"].items()) or "none",
        ),
        ("wall time", f"{result['wall_seconds']:.1f} s ({result['node_updates']} node updates)"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)


def plot(result: dict[str, Any], path: str | Path) -> Path:
    """Accuracy against rounds and against bytes sent, with the centralized baseline."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigurationError("plotting needs matplotlib: pip install 'quinkgl[plot]'") from None
    history = result["history"]
    rounds = [h["round"] for h in history]
    megabytes = [h["bytes_sent"] / 1e6 for h in history]
    mean = [h["mean_accuracy"] for h in history]
    low = [h["min_accuracy"] for h in history]
    high = [h["max_accuracy"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, xs, label in ((axes[0], rounds, "round"), (axes[1], megabytes, "MB sent (all nodes)")):
        ax.fill_between(xs, low, high, alpha=0.25, label="node min-max")
        ax.plot(xs, mean, marker=".", label="mean node accuracy")
        if result.get("centralized_accuracy") is not None:
            ax.axhline(result["centralized_accuracy"], color="k", ls="--", label="centralized")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy")
    axes[0].legend(loc="lower right")
    s = result["settings"]
    fig.suptitle(
        f"{s['nodes']} nodes, {s['dataset']}, {s['split']} split, {s['topology']} topology, "
        f"churn {s['churn']}, loss {s['loss']}"
    )
    fig.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target
