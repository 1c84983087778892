"""The engine's promises, checked on real runs of the simulator (digits, small MLP)."""

from __future__ import annotations

import json

import pytest

from quinkgl import Simulation, SimulationSettings
from quinkgl.cli.main import main
from quinkgl.errors import ConfigurationError

pytest.importorskip("torch", reason="the simulator's built-in models are PyTorch models")

MUST_SHOW = ["--nodes", "20", "--dataset", "digits", "--rounds", "40", "--seed", "0", "--quiet"]


def simulate(tmp_path, name: str, *args: str) -> dict:
    out = tmp_path / f"{name}.json"
    assert main(["simulate", *MUST_SHOW, *args, "--json-out", str(out)]) == 0
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def dirichlet_run(tmp_path_factory) -> dict:
    return simulate(
        tmp_path_factory.mktemp("sim"), "dirichlet", "--split", "dirichlet", "--alpha", "0.5"
    )


@pytest.mark.slow
def test_dirichlet_swarm_approaches_the_centralized_baseline(dirichlet_run):
    r = dirichlet_run
    central = r["centralized_accuracy"]
    assert central > 0.95
    assert r["mean_accuracy"] >= 0.90 * central, r["mean_accuracy"]
    assert min(r["node_accuracies"]) >= 0.80 * central
    for key in (
        "mean_accuracy",
        "min_accuracy",
        "centralized_accuracy",
        "rounds",
        "bytes_sent",
        "wall_seconds",
        "history",
    ):
        assert key in r
    assert len(r["history"]) == 40 and r["rounds"] == 40
    assert r["history"][-1]["consensus_distance"] < r["history"][5]["consensus_distance"]
    assert r["bytes_sent"] > 0 and r["bytes_sent"] == r["history"][-1]["bytes_sent"]


@pytest.mark.slow
def test_iid_swarm_reaches_97_percent_of_centralized(tmp_path):
    r = simulate(tmp_path, "iid", "--split", "iid")
    assert r["mean_accuracy"] >= 0.97 * r["centralized_accuracy"], r["mean_accuracy"]


@pytest.mark.slow
def test_churn_and_loss_cost_less_than_five_points(tmp_path, dirichlet_run):
    r = simulate(
        tmp_path,
        "faults",
        "--split",
        "dirichlet",
        "--alpha",
        "0.5",
        "--churn",
        "0.3",
        "--loss",
        "0.2",
    )
    assert r["mean_accuracy"] >= dirichlet_run["mean_accuracy"] - 0.05
    assert r["network"]["dropped_loss"] > 0 and r["network"]["dropped_offline"] > 0
    online = [h["online"] for h in r["history"]]
    assert 0.5 * 20 < sum(online) / len(online) < 0.85 * 20  # about 30% offline on average


def small(**overrides) -> SimulationSettings:
    base = dict(nodes=6, rounds=4, epochs=1, centralized=False)
    base.update(overrides)
    return SimulationSettings(**base)


def without_wall_time(result: dict) -> dict:
    result = {k: v for k, v in result.items() if not k.endswith("_seconds")}
    result["centralized"] = result["centralized"] and {
        k: v for k, v in result["centralized"].items() if k != "wall_seconds"
    }
    return result


def test_same_seed_same_json(tmp_path):
    args = [
        "--nodes",
        "6",
        "--rounds",
        "4",
        "--epochs",
        "1",
        "--churn",
        "0.2",
        "--loss",
        "0.1",
        "--quiet",
        "--mode",
        "async",
    ]
    runs = []
    for i in range(2):
        out = tmp_path / f"run{i}.json"
        assert main(["simulate", *args, "--json-out", str(out)]) == 0
        runs.append(without_wall_time(json.loads(out.read_text())))
    assert runs[0] == runs[1]
    out = tmp_path / "other.json"
    main(["simulate", *args, "--seed", "1", "--json-out", str(out)])
    assert without_wall_time(json.loads(out.read_text())) != runs[0]


def test_async_mode_and_cyclon_topology_learn():
    result = Simulation(
        small(mode="async", topology="cyclon", view_size=3, shuffle_length=2, rounds=8)
    ).run()
    first, last = result.history[0], result.history[-1]
    assert last["mean_accuracy"] > first["mean_accuracy"]
    assert result.stats["messages_delivered"] > 0
    assert sum(node.aggregator.stats["topology_sent"] for node in Simulation(small()).nodes) == 0


def test_zstd_compression_sends_fewer_bytes():
    plain = Simulation(small(rounds=2)).run()
    packed = Simulation(small(rounds=2, compression="zstd")).run()
    assert packed.stats["bytes_sent"] < plain.stats["bytes_sent"]
    assert packed.final_accuracies == pytest.approx(plain.final_accuracies)


def test_plot_is_written(tmp_path):
    pytest.importorskip("matplotlib", reason="plotting is the optional 'plot' extra")
    png = tmp_path / "r.png"
    assert (
        main(
            [
                "simulate",
                "--nodes",
                "4",
                "--rounds",
                "2",
                "--epochs",
                "1",
                "--no-centralized",
                "--quiet",
                "--plot",
                str(png),
            ]
        )
        == 0
    )
    assert png.read_bytes().startswith(b"\x89PNG")


def test_bad_settings_are_clear_errors(capsys):
    with pytest.raises(ConfigurationError, match="churn"):
        SimulationSettings(churn=1.5)
    assert main(["simulate", "--nodes", "1", "--quiet"]) == 2
    assert "nodes must be >= 2" in capsys.readouterr().err
