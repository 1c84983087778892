"""TensorFlow/Keras support: :class:`TensorFlowModel` wraps a Keras 3 classifier.

tensorflow is imported when a :class:`TensorFlowModel` is made, never when ``quinkgl`` is imported.
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
)
from quinkgl.models.pytorch import mix_seed

logger = logging.getLogger(__name__)


def _import_keras() -> Any:
    try:
        import keras
        import tensorflow  # noqa: F401  (keras needs a backend; ours is TensorFlow)
    except ImportError:
        raise ModelError(
            "TensorFlowModel needs TensorFlow: pip install 'quinkgl[tensorflow]'"
        ) from None
    return keras


class TensorFlowModel(ModelWrapper):
    """Wrap a built Keras classifier.

    Args:
        model: a Keras model, built (it knows its input shape).
        from_logits: whether the model outputs logits (``True``) or softmax probabilities.
    """

    def __init__(self, model: Any, from_logits: bool = True) -> None:
        keras = _import_keras()
        if not isinstance(model, keras.Model):
            raise ConfigurationError(f"TensorFlowModel wraps a keras.Model, got {type(model)}")
        if not model.built or not model.weights:
            raise ConfigurationError(
                "the Keras model is not built: give it an Input layer or call model.build(shape)"
            )
        self._keras = keras
        self.model = model
        self.from_logits = from_logits
        self._names = self._unique_names()
        self._compiled_for: TrainingConfig | None = None

    def _unique_names(self) -> list[str]:
        # Keras numbers layer names per process (dense, dense_1, ...), so the same architecture
        # built twice gets different paths.  Position plus the variable's own name is stable.
        return [
            f"{i}.{getattr(var, 'name', 'w').split('/')[-1]}"
            for i, var in enumerate(self.model.weights)
        ]

    def get_weights(self) -> Weights:
        return {
            name: np.array(var.numpy(), copy=True)
            for name, var in zip(self._names, self.model.weights, strict=True)
        }

    def _load_weights(self, weights: Weights) -> None:
        for name, var in zip(self._names, self.model.weights, strict=True):
            var.assign(weights[name])

    def _compile(self, config: TrainingConfig) -> None:
        if self._compiled_for == config:
            return
        keras = self._keras
        clip = {"clipnorm": config.grad_clip} if config.grad_clip else {}
        wd = {"weight_decay": config.weight_decay} if config.weight_decay else {}
        optimizer: Any
        if config.optimizer == "adam":
            optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate, **clip, **wd)
        else:
            optimizer = keras.optimizers.SGD(
                learning_rate=config.learning_rate, momentum=config.momentum, **clip, **wd
            )
        self.model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=self.from_logits),
            metrics=["accuracy"],
        )
        self._compiled_for = config

    def train(self, data: Any, config: TrainingConfig, round_seed: int = 0) -> TrainingResult:
        """Run ``config.epochs`` epochs; batch order follows ``config.seed`` and ``round_seed``."""
        features, labels = as_training_arrays(data)
        features = features.astype(np.float32, copy=False)
        labels = labels.astype(np.int64, copy=False)
        self._compile(config)
        if self.model.optimizer.built:
            # A fresh optimizer state per call, as in PyTorchModel: merges replace the weights.
            for var in self.model.optimizer.variables:
                var.assign(np.zeros(var.shape, dtype=var.dtype))
        rng = np.random.default_rng(mix_seed(config.seed, round_seed))
        start = time.perf_counter()
        losses: list[float] = []
        accs: list[float] = []
        for _ in range(config.epochs):
            order = rng.permutation(len(features))
            history = self.model.fit(
                features[order],
                labels[order],
                batch_size=config.batch_size,
                epochs=1,
                shuffle=False,
                verbose=0,
            )
            losses.append(float(history.history["loss"][-1]))
            accs.append(float(history.history["accuracy"][-1]))
        if not np.isfinite(losses[-1]):
            raise ModelError("training diverged (loss is NaN or Inf); lower the learning rate")
        return TrainingResult(
            loss=float(np.mean(losses)),
            accuracy=float(np.mean(accs)),
            samples=len(features),
            duration=time.perf_counter() - start,
        )

    def predict(self, features: np.ndarray) -> np.ndarray:
        out = self.model(np.asarray(features, dtype=np.float32), training=False)
        return np.asarray(out)
