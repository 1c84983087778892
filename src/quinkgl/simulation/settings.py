"""Settings of a simulated gossip learning run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from quinkgl.errors import ConfigurationError

SPLITS = ("iid", "dirichlet", "shards", "quantity")
MODES = ("sync", "async")
TOPOLOGIES = ("random", "cyclon")
LR_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class SimulationSettings:
    """Everything that determines a simulation's result (with the seed).

    The defaults are the demo: 20 nodes on digits with Dirichlet(0.5) label skew, a small MLP,
    three local epochs per round with a cosine-decayed learning rate (a decaying step is what
    lets decentralized SGD agree under heterogeneous data), fanout 2.

    The gossip interval is one virtual second; a round is one interval in which every online
    node wakes once: merges what it received, trains ``epochs`` epochs and sends its model to
    ``fanout`` peers.  In ``"sync"`` mode all nodes wake together; in ``"async"`` each wakes at
    its own phase within the interval.
    """

    nodes: int = 20
    dataset: str = "digits"
    model: str = "mlp"
    split: str = "dirichlet"
    alpha: float = 0.5
    classes_per_node: int = 2
    rounds: int = 40
    seed: int = 0
    mode: str = "sync"
    topology: str = "random"
    view_size: int = 20
    shuffle_length: int = 5
    fanout: int = 2
    aggregation: str = "data_size"
    epochs: int = 3
    batch_size: int = 8
    learning_rate: float = 0.2
    optimizer: str = "sgd"
    lr_schedule: str = "cosine"
    lr_floor: float = 0.05
    churn: float = 0.0
    loss: float = 0.0
    duplicate: float = 0.0
    latency: float = 0.05
    bandwidth: float | None = None
    compression: str = "none"
    test_fraction: float = 0.2
    eval_every: int = 1
    centralized: bool = True

    def __post_init__(self) -> None:
        checks = [
            (self.nodes >= 2, f"nodes must be >= 2, got {self.nodes}"),
            (self.rounds >= 1, f"rounds must be >= 1, got {self.rounds}"),
            (self.split in SPLITS, f"split must be one of {', '.join(SPLITS)}"),
            (self.mode in MODES, f"mode must be one of {', '.join(MODES)}"),
            (self.topology in TOPOLOGIES, f"topology must be one of {', '.join(TOPOLOGIES)}"),
            (0 <= self.churn < 1, f"churn must be in [0, 1), got {self.churn}"),
            (0 <= self.loss < 1, f"loss must be in [0, 1), got {self.loss}"),
            (0 <= self.latency < 0.5, "latency must be in [0, 0.5) s (the interval is 1 s)"),
            (self.eval_every >= 0, "eval_every must be >= 0 (0: only at the end)"),
            (self.alpha > 0, f"alpha must be > 0, got {self.alpha}"),
            (self.lr_schedule in LR_SCHEDULES, f"lr_schedule must be one of {LR_SCHEDULES}"),
            (0 < self.lr_floor <= 1, "lr_floor must be in (0, 1]"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigurationError(message)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
