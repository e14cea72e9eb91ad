"""The API process imports the numpy-only modules; they must never pull in TensorFlow."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import WAIT_SECONDS

# Each check starts an interpreter that reports what it imported.
pytestmark = pytest.mark.process

REPO_ROOT = Path(__file__).resolve().parents[2]

NUMPY_ONLY_MODULES = [
    "models",
    "models.config",
    "models.windows",
    "models.features",
    "models.evaluate",
    "models.metrics",
    "models.intervals",
    "models.backtest",
    "models.significance",
    "models.predictor",
    "models.search_space",
]


def heavy_modules_after(*imports: str) -> str:
    """The ML frameworks a fresh interpreter holds after these import statements."""
    script = "\n".join(
        [
            *imports,
            "HEAVY = ('tensorflow', 'keras', 'tf2onnx', 'optuna')",
            "import sys",
            "heavy = sorted(m for m in HEAVY if m in sys.modules)",
            "print(','.join(heavy))",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_numpy_only_modules_do_not_import_tensorflow_or_keras() -> None:
    assert heavy_modules_after(*(f"import {name}" for name in NUMPY_ONLY_MODULES)) == ""


def test_api_and_queue_worker_modules_do_not_import_tensorflow() -> None:
    # The API image has no TensorFlow, and an RQ worker forks its horses from a parent that
    # must not have loaded it; only the horse's runner imports it, inside the job.
    modules = "app.main, app.jobs.worker, app.jobs.tasks, app.jobs.rq_backend"
    assert heavy_modules_after(f"import {modules}") == ""
