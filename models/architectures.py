"""Recurrent forecaster architectures (imports Keras; never import from the API process)."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from models.config import TrainingConfig

INPUT_NAME = "window"
OUTPUT_NAME = "forecast"

_CELLS: dict[str, type[keras.layers.Layer]] = {
    "rnn": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
    "bilstm": keras.layers.LSTM,
}


def _recurrent_layer(model_type: str, units: int, return_sequences: bool) -> keras.layers.Layer:
    """Return one recurrent layer of the given kind."""
    if model_type not in _CELLS:
        raise ValueError(f"model_type must be one of {sorted(_CELLS)}, got {model_type!r}")
    layer = _CELLS[model_type](units, return_sequences=return_sequences)
    if model_type == "bilstm":
        return keras.layers.Bidirectional(layer)
    return layer


def build_model(config: TrainingConfig, name: str | None = None) -> keras.Model:
    """Build and compile a stacked recurrent network with a Dense head of one output per step
    (direct) or a single next-step output (recursive)."""
    inputs = keras.Input(shape=(config.lookback, config.n_inputs), name=INPUT_NAME)
    x = inputs
    last = len(config.layers) - 1
    for i, units in enumerate(config.layers):
        # Every layer but the last feeds a full sequence to the next recurrent layer.
        x = _recurrent_layer(config.model_type, units, return_sequences=i < last)(x)
        if i < last and config.dropout > 0.0:
            x = keras.layers.Dropout(config.dropout)(x)
    # Direct: one output per step; recursive: the next step, fed back by forecast_prices.
    outputs = keras.layers.Dense(config.output_steps, name=OUTPUT_NAME)(x)
    model = keras.Model(inputs, outputs, name=name or f"{config.model_type}_forecaster")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate), loss="mse")
    return model


def build_ensemble(config: TrainingConfig, members: Sequence[keras.Model]) -> keras.Model:
    """One model whose output is the mean of the members' outputs on the same window.

    The members share the output scaler, which is affine, so the mean of their scaled outputs
    decodes to the mean of their forecasts in the target's space: cumulative log returns for
    `log_return` (the geometric mean of the members' prices), price levels for `price`.
    """
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ValueError(f"ensemble members need distinct names, got {names}")
    inputs = keras.Input(shape=(config.lookback, config.n_inputs), name=INPUT_NAME)
    outputs = keras.layers.Average(name=OUTPUT_NAME)([member(inputs) for member in members])
    return keras.Model(inputs, outputs, name=f"{config.model_type}_ensemble_{len(members)}")
