"""Examples for the OpenAPI document: one realistic answer per route (shortened lists)."""

from __future__ import annotations

from typing import Any

JOB = {
    "id": "6f1c2e9a-4b7d-4c1e-9a8b-2d3f4e5a6b7c",
    "ticker": "^GSPC",
    "status": "running",
    "config": {
        "model_type": "lstm",
        "lookback": 60,
        "horizon": 5,
        "layers": [64, 32],
        "epochs": 50,
        "ensemble": 3,
        "promote": "auto",
    },
    "progress": {
        "stage": "training",
        "member": 1,
        "members": 3,
        "epoch": 4,
        "epochs": 50,
        "loss": 0.91,
        "val_loss": 0.88,
    },
    "message": "No price source configured; trained on the stored bars.",
    "error": None,
    "cancel_requested": False,
    "model_version": None,
    "worker": "host-1:4242",
    "attempts": 1,
    "created_at": "2026-12-01T21:00:00Z",
    "started_at": "2026-12-01T21:00:01Z",
    "finished_at": None,
}
ACCURACY = {
    "skill_vs_naive": 0.0059,
    "skill_vs_drift": 0.0033,
    "mae_ratio_vs_naive": [0.9987, 0.9945, 0.9934, 0.9904, 0.9959],
    "mae_ratio_vs_drift": [0.9993, 0.996, 0.9957, 0.9936, 0.9995],
    "beats_baselines": True,
    "drift_baseline": "log",
    "coverage_80": 0.784,
    "coverage_95": 0.943,
    "backtest_windows": 750,
}
FORECAST = {
    "ticker": "^GSPC",
    "model_version": 3,
    "model_type": "lstm",
    "target": "log_return",
    "trained_at": "2026-12-01T21:05:00Z",
    "alias": "champion",
    "champion": True,
    "warning": None,
    "data_as_of": "2018-12-31",
    "last_close": 2506.85,
    "horizon": 2,
    "calendar": "XNYS",
    "accuracy": ACCURACY,
    "points": [
        {
            "date": "2019-01-02",
            "value": 2505.21,
            "intervals": [
                {"level": 80, "lower": 2480.35, "upper": 2530.32},
                {"level": 95, "lower": 2464.94, "upper": 2546.13},
            ],
        },
        {
            "date": "2019-01-03",
            "value": 2506.17,
            "intervals": [
                {"level": 80, "lower": 2474.47, "upper": 2538.28},
                {"level": 95, "lower": 2449.28, "upper": 2564.39},
            ],
        },
    ],
}
VERSION = {
    "ticker": "^GSPC",
    "version": 3,
    "model_type": "lstm",
    "target": "log_return",
    "status": "ready",
    "created_at": "2026-12-01T21:05:00Z",
    "data_start": "1999-01-04",
    "data_end": "2018-12-31",
    "aliases": ["champion"],
    "accuracy": ACCURACY,
}
LIVE = {
    "ticker": "^GSPC",
    "version": 3,
    "since": None,
    "recorded": 40,
    "scored": 35,
    "points_scored": [35, 34, 33, 32, 31],
    "mae": [18.1, 25.0, 30.2, 35.9, 40.3],
    "mae_naive": [18.3, 25.1, 30.5, 36.2, 40.1],
    "mae_drift": [18.2, 25.1, 30.4, 36.0, 40.0],
    "ratio_vs_naive": [0.989, 0.996, 0.99, 0.992, 1.005],
    "ratio_vs_drift": [0.995, 0.996, 0.993, 0.997, 1.008],
    "skill_vs_naive": 0.004,
    "skill_vs_drift": 0.002,
    "coverage": {"80": 0.81, "95": 0.95},
}
BACKTEST = {
    "ticker": "^GSPC",
    "version": 3,
    "levels": [80],
    "metrics": {"n_windows": 750},
    "coverage": {
        "80": {
            "per_step": [0.8, 0.79],
            "overall": 0.79,
            "mean_width": [50.1, 70.2],
            "mean_width_overall": 60.1,
        }
    },
    "windows": [
        {
            "origin": "2016-01-04",
            "as_of": "2015-12-31",
            "dates": ["2016-01-04", "2016-01-05"],
            "actual": [2012.66, 2016.71],
            "model": [2043.1, 2043.5],
            "naive": [2043.94, 2043.94],
            "drift": [2044.03, 2044.12],
            "intervals": [{"level": 80, "lower": [2018.0, 2008.2], "upper": [2068.5, 2079.4]}],
        }
    ],
}
TRAIN_REQUEST = {"ticker": "^GSPC", "model_type": "lstm", "epochs": 20, "ensemble": 3}


def ok(example: Any, status: int = 200, description: str | None = None) -> dict[int | str, Any]:
    """`responses=` entry that shows `example` as the route's answer."""
    entry: dict[str, Any] = {"content": {"application/json": {"example": example}}}
    if description:
        entry["description"] = description
    return {status: entry}


WEBHOOK = {
    "id": "3f0b6c52-8a1e-4d7c-9b2a-5e6f7a8b9c0d",
    "url": "https://dash.example/hooks/tickercast",
    "events": ["champion.changed", "job.failed"],
    "description": "nightly dashboard",
    "created_at": "2026-12-07T09:00:00Z",
}
DELIVERY = {
    "id": "msg_2b7e1c0f9d8a4e6b8c3a1f5e7d9b0c2a",
    "event": "champion.changed",
    "status": "succeeded",
    "created_at": "2026-12-07T21:05:00Z",
    "next_attempt_at": None,
    "finished_at": "2026-12-07T21:05:06Z",
    "last_status_code": 200,
    "last_error": None,
    "attempts": [
        {
            "attempted_at": "2026-12-07T21:05:00Z",
            "status_code": 500,
            "error": "answered 500",
            "duration_ms": 41.2,
        },
        {
            "attempted_at": "2026-12-07T21:05:05Z",
            "status_code": 200,
            "error": None,
            "duration_ms": 38.7,
        },
    ],
}
