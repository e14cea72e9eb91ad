"""The ONNX predictor cache: one session per version, least recently used evicted first."""

from __future__ import annotations

from typing import Any

from app.forecasting.predictors import PredictorCache


def test_lru_keeps_at_most_capacity_and_evicts_the_least_recently_used(
    tiny_result: Any,
) -> None:
    loads: list[int] = []

    def loader(version_id: int) -> Any:
        def load() -> bytes:
            loads.append(version_id)
            return bytes(tiny_result.onnx_bytes)

        return load

    cache = PredictorCache(capacity=2)
    first = cache.get(1, loader(1))
    cache.get(2, loader(2))
    assert cache.get(1, loader(1)) is first  # a hit: 1 becomes the most recent
    cache.get(3, loader(3))  # evicts 2, the least recently used
    assert len(cache) == 2
    assert cache.get(1, loader(1)) is first
    cache.get(2, loader(2))  # loaded again
    assert loads == [1, 2, 3, 2]
