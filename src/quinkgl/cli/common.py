"""Options and helpers shared by several commands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from quinkgl.data import DatasetLoader
from quinkgl.models.zoo import MODELS


def add_data_options(parser: argparse.ArgumentParser, default_dataset: str = "digits") -> None:
    parser.add_argument(
        "--dataset", default=default_dataset, choices=DatasetLoader.NAMES, help="built-in dataset"
    )
    parser.add_argument("--model", default="mlp", choices=MODELS, help="built-in model")
    parser.add_argument("--seed", type=int, default=0, help="seed of everything random")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="held-out share")


def write_json(path: str | Path, payload: dict[str, Any]) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(payload, indent=2) + "\n")


def write_outputs(result: dict[str, Any], json_out: str | None, plot_out: str | None) -> None:
    """Write a run's result as JSON and as a PNG plot where asked, saying where."""
    if json_out:
        write_json(json_out, result)
        print(f"  results written to {json_out}")
    if plot_out:
        from quinkgl.simulation.report import plot

        plot(result, plot_out)
        print(f"  plot written to {plot_out}")
