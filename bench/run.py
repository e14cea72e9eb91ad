"""`make bench`: run every benchmark and write BENCHMARKS.md."""

from __future__ import annotations

import datetime as dt
import os
import platform
import time

from bench import inference, model_quality, modeling
from bench.sections import OUT, sections_except


def main() -> None:
    """Run the benchmarks in one process and write their Markdown."""
    started = time.perf_counter()
    load = os.getloadavg()[0]
    runs, checks = model_quality.run()
    quality = model_quality.section(runs, checks, (time.perf_counter() - started) / 60, load)
    speed = inference.run(repeats=500)
    options = modeling.run(modeling.DATA_DIR)
    minutes = (time.perf_counter() - started) / 60
    header = (
        "# Benchmarks\n\n"
        f"Written by `make bench` (`python -m bench.run`) on {dt.date.today()}, "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"in {minutes:.0f} minutes (1-minute load average {load:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end: the cores are shared, so seconds are noisy). "
        "Every figure is a ratio against a reference measured in the same run.\n"
    )
    quality_heading = model_quality.HEADING
    inference_heading = "## Inference per forecast (`python -m bench.inference`)"
    # Sections other benchmarks wrote (`make bench-serve`, a run of some variants) stay.
    others = sections_except({quality_heading, inference_heading, modeling.MARKER})
    OUT.write_text(
        header
        + "\n"
        + quality
        + f"\n{inference_heading}\n\n"
        + speed
        + "\n"
        + options
        + "\n"
        + others
    )
    print(OUT.read_text())


if __name__ == "__main__":
    main()
