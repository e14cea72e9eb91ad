"""The API process imports the numpy-only modules; they must never pull in TensorFlow."""

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

NUMPY_ONLY_MODULES = [
    "models",
    "models.config",
    "models.windows",
    "models.features",
    "models.evaluate",
    "models.predictor",
]


def test_numpy_only_modules_do_not_import_tensorflow_or_keras() -> None:
    script = "\n".join(
        [
            *(f"import {name}" for name in NUMPY_ONLY_MODULES),
            "import sys",
            "heavy = sorted(m for m in ('tensorflow', 'keras', 'tf2onnx') if m in sys.modules)",
            "print(','.join(heavy))",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
