"""TrainingConfig: defaults, serialisation and validation messages that name the field."""

import json

import pytest
from pydantic import ValidationError

from models.config import MAX_SEED, TrainingConfig


def test_defaults_match_the_documented_training_recipe() -> None:
    config = TrainingConfig()
    assert config.model_type == "lstm"
    assert (config.lookback, config.horizon, config.layers) == (60, 5, (64, 32))
    assert (config.epochs, config.batch_size, config.patience) == (50, 32, 5)
    assert config.target == "log_return"
    assert (config.train_frac, config.val_frac) == (0.70, 0.15)
    assert (config.ensemble, config.interval_method, config.volatility_window) == (
        3,
        "volatility",
        60,
    )


def test_config_is_frozen() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        TrainingConfig().lookback = 10  # type: ignore[misc]


def test_to_dict_is_json_and_round_trips_through_from_dict() -> None:
    config = TrainingConfig(model_type="gru", layers=(8, 4, 2), target="price", seed=7)
    data = json.loads(json.dumps(config.to_dict()))
    assert data["layers"] == [8, 4, 2]
    assert TrainingConfig.from_dict(data) == config


def test_from_dict_fills_missing_keys_with_defaults() -> None:
    assert TrainingConfig.from_dict({"lookback": 20}) == TrainingConfig(lookback=20)


def test_from_dict_rejects_unknown_keys_by_name() -> None:
    with pytest.raises(ValidationError) as info:
        TrainingConfig.from_dict({"lookback": 20, "window": 3, "units": 4})
    assert {e["loc"][0] for e in info.value.errors()} == {"window", "units"}


def test_from_stored_ignores_the_keys_a_job_record_adds() -> None:
    stored = {**TrainingConfig(lookback=20).to_dict(), "start": None, "promote": "auto"}
    assert TrainingConfig.from_stored(stored) == TrainingConfig(lookback=20)


def test_a_config_stored_before_ensembles_reads_as_one_network_with_plain_intervals() -> None:
    old = TrainingConfig(lookback=20).to_dict()
    for key in ("ensemble", "interval_method", "volatility_window"):
        del old[key]
    config = TrainingConfig.from_stored(old)
    assert (config.ensemble, config.interval_method) == (1, "plain")
    # A request that leaves them out still gets today's defaults.
    assert TrainingConfig.from_dict(old).ensemble == 3


def test_members_take_consecutive_seeds_wrapping_past_the_largest() -> None:
    assert TrainingConfig(seed=42).member_seeds() == [42, 43, 44]
    assert TrainingConfig(seed=42, ensemble=1).member_seeds() == [42]
    assert TrainingConfig(seed=MAX_SEED, ensemble=2).member_seeds() == [MAX_SEED, 0]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"model_type": "transformer"}, "model_type"),
        ({"target": "volume"}, "target"),
        ({"lookback": 4}, "lookback"),
        ({"lookback": 501}, "lookback"),
        ({"horizon": 0}, "horizon"),
        ({"horizon": 61}, "horizon"),
        ({"epochs": 0}, "epochs"),
        ({"epochs": 1001}, "epochs"),
        ({"layers": ()}, "layers"),
        ({"layers": (8, 8, 8, 8, 8)}, "layers"),
        ({"layers": (0,)}, "layers"),
        ({"layers": (1025,)}, "layers"),
        ({"layers": [True]}, "layers"),
        ({"dropout": -0.1}, "dropout"),
        ({"dropout": 0.95}, "dropout"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 4097}, "batch_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": 1.5}, "learning_rate"),
        ({"train_frac": 0.0}, "train_frac"),
        ({"val_frac": 0.0}, "val_frac"),
        ({"patience": 0}, "patience"),
        ({"patience": 1001}, "patience"),
        ({"seed": MAX_SEED + 1}, "seed"),
        ({"lookback": 10.5}, "lookback"),
        ({"lookback": True}, "lookback"),
        ({"lookback": "60"}, "lookback"),
        ({"ensemble": 0}, "ensemble"),
        ({"ensemble": 11}, "ensemble"),
        ({"interval_method": "gaussian"}, "interval_method"),
        ({"volatility_window": 4}, "volatility_window"),
        ({"volatility_window": 501}, "volatility_window"),
    ],
)
def test_validation_names_the_out_of_bounds_field(changes: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        TrainingConfig.from_dict(changes)
    assert info.value.errors()[0]["loc"][0] == field


def test_fractions_must_leave_a_test_split() -> None:
    with pytest.raises(ValidationError, match="train_frac \\+ val_frac must be less than 1"):
        TrainingConfig(train_frac=0.8, val_frac=0.2)


def test_validation_accepts_the_bounds_themselves() -> None:
    TrainingConfig(
        lookback=5,
        horizon=60,
        epochs=1000,
        layers=(1, 1024, 1, 1),
        dropout=0.9,
        batch_size=4096,
        learning_rate=1.0,
        patience=1,
        seed=MAX_SEED,
        model_type="bilstm",
        ensemble=10,
        interval_method="plain",
        volatility_window=500,
    )
