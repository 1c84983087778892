"""PyTorch support: :class:`PyTorchModel` wraps any classification ``nn.Module``.

torch is imported when a :class:`PyTorchModel` is made, never when ``quinkgl`` is imported.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from quinkgl.errors import ConfigurationError, ModelError
from quinkgl.models.base import (
    ModelWrapper,
    TrainingConfig,
    TrainingResult,
    Weights,
    as_training_arrays,
    seeded_initialization,
)

logger = logging.getLogger(__name__)


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ModelError(
            "PyTorchModel needs PyTorch: pip install 'quinkgl[torch]' (or torch itself)"
        ) from None
    return torch


def mix_seed(*parts: int) -> int:
    """Combine integers into one 63-bit seed (stable across runs and platforms)."""
    return (
        int(np.random.SeedSequence([abs(int(p)) for p in parts]).generate_state(1, np.uint64)[0])
        >> 1
    )


class PyTorchModel(ModelWrapper):
    """Wrap a PyTorch classifier whose ``forward`` returns class logits.

    Args:
        module: the network; its ``state_dict`` (parameters and buffers) is what gossips.
        device: where training runs ("cpu", "cuda", ...).
        num_threads: torch intra-op threads for this process; ``1`` by default because several
            nodes on one small machine run far slower with more. ``None`` leaves torch as it is.
        loss_fn: defaults to cross-entropy over logits.
    """

    def __init__(
        self,
        module: Any,
        device: str = "cpu",
        num_threads: int | None = 1,
        loss_fn: Any = None,
    ) -> None:
        torch = _import_torch()
        if not isinstance(module, torch.nn.Module):
            raise ConfigurationError(
                f"PyTorchModel wraps a torch.nn.Module, got {type(module).__name__}"
            )
        if num_threads is not None:
            if num_threads < 1:
                raise ConfigurationError(f"num_threads must be >= 1 or None, got {num_threads}")
            torch.set_num_threads(num_threads)
        self._torch = torch
        self.device = torch.device(device)
        self.module = module.to(self.device)
        self.loss_fn = loss_fn if loss_fn is not None else torch.nn.CrossEntropyLoss()

    def reinitialize(self, seed: int) -> None:
        """Re-run every layer's own initialiser (``reset_parameters``) under ``seed``; tensors
        of modules without one are drawn by :func:`seeded_initialization`.  torch's global RNG
        is forked, so the caller's random state is untouched."""
        torch = self._torch
        covered: set[str] = set()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for prefix, module in self.module.named_modules():
                reset = getattr(module, "reset_parameters", None)
                if callable(reset):
                    reset()
                    for name, _ in module.named_parameters(recurse=False):
                        covered.add(f"{prefix}.{name}" if prefix else name)
                    for name, _ in module.named_buffers(recurse=False):
                        covered.add(f"{prefix}.{name}" if prefix else name)
        weights = self.get_weights()
        rest = set(weights) - covered
        if rest:
            self.set_weights(seeded_initialization(weights, seed, channels_last=False, names=rest))

    def get_weights(self) -> Weights:
        return {
            name: tensor.detach().cpu().numpy().copy()
            for name, tensor in self.module.state_dict().items()
        }

    def _load_weights(self, weights: Weights) -> None:
        torch = self._torch
        state = {name: torch.from_numpy(np.ascontiguousarray(arr)) for name, arr in weights.items()}
        self.module.load_state_dict(state, strict=True)

    def _tensors(self, features: np.ndarray, labels: np.ndarray | None = None) -> Any:
        torch = self._torch
        x = torch.as_tensor(np.asarray(features, dtype=np.float32), device=self.device)
        if labels is None:
            return x
        return x, torch.as_tensor(np.asarray(labels, dtype=np.int64), device=self.device)

    def _optimizer(self, config: TrainingConfig) -> Any:
        params = self.module.parameters()
        optim = self._torch.optim
        if config.optimizer == "adam":
            return optim.Adam(params, lr=config.learning_rate, weight_decay=config.weight_decay)
        return optim.SGD(
            params,
            lr=config.learning_rate,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )

    def train(self, data: Any, config: TrainingConfig, round_seed: int = 0) -> TrainingResult:
        """Run ``config.epochs`` epochs of minibatch training on ``data``.

        The optimizer is created afresh for each call: between calls the weights are replaced by
        merges, so momentum from before a merge would point the wrong way.
        """
        torch = self._torch
        features, labels = as_training_arrays(data)
        x, y = self._tensors(features, labels)
        seed = mix_seed(config.seed, round_seed)
        generator = torch.Generator().manual_seed(seed)
        optimizer = self._optimizer(config)
        start = time.perf_counter()
        total_loss = 0.0
        correct = 0
        seen = 0
        self.module.train()
        # Dropout and friends draw from torch's global RNG: fork it so runs are reproducible
        # without leaving the caller's global state seeded.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for _ in range(config.epochs):
                order = torch.randperm(len(x), generator=generator).to(self.device)
                for i in range(0, len(x), config.batch_size):
                    idx = order[i : i + config.batch_size]
                    xb, yb = x[idx], y[idx]
                    optimizer.zero_grad(set_to_none=True)
                    out = self.module(xb)
                    loss = self.loss_fn(out, yb)
                    if not torch.isfinite(loss):
                        raise ModelError(
                            "training diverged (loss is NaN or Inf); lower the learning rate"
                        )
                    loss.backward()
                    if config.grad_clip is not None:
                        torch.nn.utils.clip_grad_norm_(self.module.parameters(), config.grad_clip)
                    optimizer.step()
                    total_loss += float(loss.detach()) * len(idx)
                    correct += int((out.detach().argmax(dim=1) == yb).sum())
                    seen += len(idx)
        return TrainingResult(
            loss=total_loss / seen,
            accuracy=correct / seen,
            samples=len(x),
            duration=time.perf_counter() - start,
        )

    def predict(self, features: np.ndarray) -> np.ndarray:
        torch = self._torch
        self.module.eval()
        with torch.no_grad():
            out = self.module(self._tensors(features))
        return np.asarray(out.detach().cpu().numpy())
