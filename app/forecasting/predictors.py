"""ONNX Runtime sessions, one per model version, kept in a bounded LRU cache."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from models.predictor import OnnxPredictor


class PredictorCache:
    """Thread-safe LRU of OnnxPredictor keyed by model_version.id (versions are immutable)."""

    def __init__(self, capacity: int, threads: int = 1) -> None:
        self.capacity = capacity
        self.threads = threads
        self._items: OrderedDict[int, OnnxPredictor] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version_id: int, load: Callable[[], bytes]) -> OnnxPredictor:
        """The cached predictor, or one built from `load()` (the ONNX bytes)."""
        with self._lock:
            predictor = self._items.get(version_id)
            if predictor is not None:
                self._items.move_to_end(version_id)
                return predictor
        # Build outside the lock: a session takes milliseconds and others may be served meanwhile.
        predictor = OnnxPredictor(load(), intra_op_threads=self.threads)
        with self._lock:
            self._items[version_id] = predictor
            self._items.move_to_end(version_id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return predictor

    def __len__(self) -> int:
        return len(self._items)
