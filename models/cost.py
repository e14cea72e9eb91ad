"""What a training config costs, counted from the config alone (no TensorFlow).

`parameter_count` is the number of weights of one network as Keras 3 builds it
(`models/architectures.py:build_model`); `epoch_windows` is the work of a whole job: every
network of the ensemble sees every training window once per epoch.
"""

from __future__ import annotations

from models.config import ModelType, TrainingConfig
from models.features import split_origins

# Weight blocks per recurrent cell: SimpleRNN has one, GRU three gates, LSTM four.
_GATES = {ModelType.RNN: 1, ModelType.GRU: 3, ModelType.LSTM: 4, ModelType.BILSTM: 4}
# Each step's input is one feature (the day's scaled log return or price).
INPUT_FEATURES = 1


def _recurrent_parameters(model_type: ModelType, units: int, inputs: int) -> int:
    """Weights of one recurrent layer of `units` fed `inputs` features per step."""
    gates = _GATES[model_type]
    # Kernel (inputs x units) and recurrent kernel (units x units) per gate, plus biases.
    # Keras 3's GRU keeps reset_after=True: two bias vectors per gate (input and recurrent).
    biases = 2 if model_type is ModelType.GRU else 1
    per_direction = gates * (units * (inputs + units) + biases * units)
    return 2 * per_direction if model_type is ModelType.BILSTM else per_direction


def parameter_count(config: TrainingConfig) -> int:
    """Trainable weights of one network: the recurrent stack and the dense head (a baseline
    has none)."""
    if config.model_type.is_baseline:
        return 0
    total = 0
    width = INPUT_FEATURES
    for units in config.layers:
        total += _recurrent_parameters(config.model_type, units, width)
        # A bidirectional layer concatenates both directions' outputs.
        width = 2 * units if config.model_type is ModelType.BILSTM else units
    return total + width * config.horizon + config.horizon


def training_windows(n_bars: int, config: TrainingConfig) -> int:
    """Windows in the training split of a series of n_bars closes."""
    return int(split_origins(n_bars, config)[0].size)


def epoch_windows(n_bars: int, config: TrainingConfig) -> int:
    """The most windows a job fits: epochs x training windows x networks of the ensemble (a
    baseline fits none)."""
    if config.model_type.is_baseline:
        return 0
    return config.epochs * training_windows(n_bars, config) * config.ensemble
