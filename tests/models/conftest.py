"""Fixtures for the ML library tests: the real S&P 500 closes shipped with the app."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

GSPC_CSV = Path(__file__).resolve().parents[2] / "app" / "data" / "GSPC.csv"


@pytest.fixture(scope="session")
def gspc_closes() -> np.ndarray:
    """Return every daily S&P 500 close, 1999-2018, oldest first."""
    frame = pd.read_csv(GSPC_CSV, parse_dates=["Date"]).sort_values("Date")
    return frame["Close"].to_numpy(dtype=np.float64)


@pytest.fixture(scope="session")
def recent_closes(gspc_closes: np.ndarray) -> np.ndarray:
    """Return the last 800 closes: enough for tiny trainings, small enough to be fast."""
    return gspc_closes[-800:].copy()
