"""A bare Keras fit of the default ensemble's members, the reference of a training job's cost:
`python -m bench.bare_fit EPOCHS...` (one count per member) prints the seconds of the fits.

Same arrays as `models.train.train` builds (the shipped series, the default configuration),
same seeds, the same thread count and niceness a training process gets from the settings;
no callbacks, no export, no backtest, no database.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from app.core.config import get_settings
from app.prices.csv_format import parse_price_csv

SAMPLE = Path(__file__).resolve().parents[1] / "app" / "data" / "GSPC.csv"


def main(epochs: list[int]) -> float:
    """Fit member k for epochs[k - 1] epochs; the seconds of all fits together."""
    settings = get_settings()
    os.setpriority(os.PRIO_PROCESS, 0, settings.training_nice)
    from models.train import set_threads

    set_threads(settings.resolved_training_threads())
    import keras
    import numpy as np
    import tensorflow as tf

    from models.architectures import build_model
    from models.config import TrainingConfig
    from models.features import (
        as_closes,
        encode_inputs,
        encode_targets,
        fit_scalers,
        split_origins,
    )
    from models.windows import split_bounds

    config = TrainingConfig(epochs=max(epochs), seed=43)
    values = as_closes(parse_price_csv(SAMPLE.read_bytes())["close"].to_numpy())
    train_end, _ = split_bounds(len(values), config.train_frac, config.val_frac)
    train_origins, val_origins, _ = split_origins(len(values), config)
    scalers = fit_scalers(values, config, train_end)
    x = encode_inputs(values, train_origins, config, scalers)
    y = encode_targets(values, train_origins, config, scalers)
    x_val = encode_inputs(values, val_origins, config, scalers)
    y_val = encode_targets(values, val_origins, config, scalers)
    total = 0.0
    for k, (seed, count) in enumerate(zip(config.member_seeds(), epochs, strict=False), 1):
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        tf.config.experimental.enable_op_determinism()
        order = np.random.default_rng(seed).permutation(len(x))
        model = build_model(config, name=f"member_{k}")
        started = time.perf_counter()
        model.fit(
            x[order],
            y[order],
            validation_data=(x_val, y_val),
            epochs=count,
            batch_size=config.batch_size,
            shuffle=True,
            verbose=0,
        )
        total += time.perf_counter() - started
    return total


if __name__ == "__main__":
    print(f"{main([int(a) for a in sys.argv[1:]]):.3f}")
