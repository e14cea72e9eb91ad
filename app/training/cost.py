"""The training cost guard: a job too large for this service is refused before it runs.

The API checks a request against the bars stored for its ticker; the job checks again on the
bars it actually trains on (a refresh may have added some).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import InvalidInput
from app.prices import store
from models.config import TrainingConfig
from models.cost import epoch_windows, parameter_count


class TrainingTooCostly(InvalidInput):
    """422: the config asks for more weights or more fitting than the service allows."""

    code = "training_too_costly"


def check_parameters(config: TrainingConfig, settings: Settings) -> None:
    """Refuse a network with more weights than TICKERCAST_MAX_TRAINING_PARAMETERS."""
    count = parameter_count(config)
    if count > settings.max_training_parameters:
        raise TrainingTooCostly(
            f"The {config.model_type} network with layers {list(config.layers)} has "
            f"{count:,} parameters, over the limit of {settings.max_training_parameters:,} "
            "(TICKERCAST_MAX_TRAINING_PARAMETERS); use fewer or smaller layers."
        )


def check_work(config: TrainingConfig, n_bars: int, settings: Settings) -> None:
    """Refuse a job that would fit more than TICKERCAST_MAX_EPOCH_WINDOWS windows."""
    work = epoch_windows(n_bars, config)
    if work > settings.max_epoch_windows:
        raise TrainingTooCostly(
            f"{config.epochs} epochs x {work // (config.epochs * config.ensemble):,} training "
            f"windows x {config.ensemble} network(s) is {work:,} epoch-windows, over the limit "
            f"of {settings.max_epoch_windows:,} (TICKERCAST_MAX_EPOCH_WINDOWS); use fewer "
            "epochs, a shorter range (start) or a smaller ensemble."
        )


def check_training(config: TrainingConfig, n_bars: int, settings: Settings) -> None:
    """Both checks, on a series of n_bars closes."""
    check_parameters(config, settings)
    check_work(config, n_bars, settings)


def check_request(
    session: Session,
    *,
    ticker: str,
    config: TrainingConfig,
    start: dt.date | None,
    end: dt.date | None,
    settings: Settings,
) -> None:
    """Check a training request against the ticker's stored bars in [start, end].

    A ticker without stored bars (to be fetched by the job) is checked on its weights only.
    """
    check_parameters(config, settings)
    n_bars = store.count_bars(session, ticker=ticker, start=start, end=end)
    if n_bars:
        check_work(config, n_bars, settings)
