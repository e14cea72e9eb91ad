"""The cost of a config, counted without TensorFlow, matches the networks Keras builds."""

from __future__ import annotations

import numpy as np
import pytest

from models.config import NETWORK_TYPES, ModelType, TrainingConfig
from models.cost import epoch_windows, parameter_count, training_windows
from models.features import split_origins


@pytest.mark.parametrize("model_type", NETWORK_TYPES)
@pytest.mark.parametrize(("layers", "horizon"), [((8,), 5), ((16, 8, 4), 3)])
def test_parameter_count_equals_the_keras_model_count_params(
    model_type: ModelType, layers: tuple[int, ...], horizon: int
) -> None:
    from models.architectures import build_model

    config = TrainingConfig(model_type=model_type, layers=layers, horizon=horizon, lookback=10)
    assert parameter_count(config) == build_model(config).count_params()


def test_default_network_has_about_29_thousand_parameters() -> None:
    assert parameter_count(TrainingConfig()) == 29_477


def test_epoch_windows_are_epochs_times_training_windows_times_networks(
    gspc_closes: np.ndarray,
) -> None:
    config = TrainingConfig(epochs=7, ensemble=2)
    n = len(gspc_closes)
    windows = training_windows(n, config)
    assert windows == len(split_origins(n, config)[0]) > 0
    assert epoch_windows(n, config) == 7 * windows * 2
