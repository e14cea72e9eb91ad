"""The bounded hyperparameter search: validation loss only, a record of every trial, a budget."""

import numpy as np
import pytest

from models.config import TrainingConfig
from models.search import SearchFailed, SearchHooks, TrialProgress, search
from models.search_space import SearchSpec
from models.windows import split_bounds

# Real searches: several trials of real networks each.
pytestmark = pytest.mark.training

BASE = TrainingConfig(horizon=3, epochs=4, batch_size=32, seed=11, ensemble=2)
# A small space so each trial is a fraction of a second of fitting.
TINY_SPACE = {
    "model_type": ["gru", "rnn"],
    "lookback": {"low": 10, "high": 20, "step": 10},
    "layers": {"low": 1, "high": 1},
    "units": [4, 8],
    "batch_size": [32, 64],
}


def tiny_search(trials: int, **more: object) -> SearchSpec:
    return SearchSpec.model_validate(
        {"trials": trials, "trial_epochs": 2, "timeout_s": 600, "space": TINY_SPACE, **more}
    )


@pytest.fixture(scope="module")
def series(recent_closes: np.ndarray) -> np.ndarray:
    return recent_closes[-400:].copy()


def test_the_search_never_reads_the_backtest_tail(series: np.ndarray) -> None:
    # Plant a pattern only in the test tail: a strong two-day sawtooth that no earlier bar
    # shows and that a network would fit eagerly. A search that saw it would score (and so
    # rank) its trials differently.
    _, val_end = split_bounds(len(series), BASE.train_frac, BASE.val_frac)
    planted = series.copy()
    tail = np.arange(len(series) - val_end)
    planted[val_end:] = series[val_end - 1] * np.where(tail % 2 == 0, 1.2, 0.8)
    clean = search(series, BASE, tiny_search(4))
    seen_tail = search(planted, BASE, tiny_search(4))
    assert [(t.params, t.state, t.val_loss) for t in seen_tail.record.trials] == [
        (t.params, t.state, t.val_loss) for t in clean.record.trials
    ]
    assert seen_tail.config == clean.config


def test_the_record_holds_every_trial_and_the_best_is_chosen_on_validation_loss(
    series: np.ndarray,
) -> None:
    reports: list[TrialProgress] = []
    outcome = search(series, BASE, tiny_search(4), SearchHooks(on_epoch_end=reports.append))
    record = outcome.record
    assert [t.number for t in record.trials] == [0, 1, 2, 3]
    assert record.stopped_by == "trials"
    scored = [t for t in record.trials if t.state == "complete"]
    assert record.best_val_loss == min(t.val_loss for t in scored if t.val_loss is not None)
    best = record.trials[record.best_trial]
    assert best.params == record.best_params
    assert all(t.seconds > 0 for t in record.trials)
    # The chosen configuration takes the best trial's parameters and keeps the request's
    # epochs and ensemble for the version's own training.
    chosen = outcome.config
    assert chosen.lookback == best.params["lookback"]
    assert list(chosen.layers) == best.params["layers"]
    assert chosen.model_type == best.params["model_type"]
    assert (chosen.epochs, chosen.ensemble) == (BASE.epochs, BASE.ensemble)
    # Progress names the trial out of how many.
    assert {(r.trial, r.trials) for r in reports} == {(1, 4), (2, 4), (3, 4), (4, 4)}
    assert all(r.epochs == 2 for r in reports)


def test_the_search_stops_at_its_time_budget(series: np.ndarray) -> None:
    spec = SearchSpec.model_validate(
        {"trials": 200, "trial_epochs": 1000, "timeout_s": 1.5, "space": TINY_SPACE}
    )
    reports: list[TrialProgress] = []
    # No trial can fit 1000 epochs in 1.5 s: the deadline stops the first one mid-fit.
    with pytest.raises(SearchFailed, match="no trial of the search finished within timeout_s=1.5"):
        search(series, BASE, spec, SearchHooks(on_epoch_end=reports.append))
    # Stopped inside the first trial (the deadline is checked between batches), however slow
    # the machine: neither its 1000 epochs nor a second trial ran.
    assert {r.trial for r in reports} <= {1}
    assert len(reports) < 1000


def test_a_search_space_outside_trainings_bounds_is_refused() -> None:
    with pytest.raises(ValueError, match=r"space.dropout: \{'dropout': 0.95\}"):
        SearchSpec.model_validate({"space": {"dropout": {"low": 0.1, "high": 0.95}}})
    with pytest.raises(ValueError, match="less than or equal to 200"):
        SearchSpec.model_validate({"trials": 201})
