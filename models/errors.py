"""What a fit can end with, each said in one sentence (stdlib only).

The job layer catches these two bases without knowing what training does, and without
importing TensorFlow: a baseline's job never loads it.
"""

from __future__ import annotations


class TrainingCancelled(Exception):
    """should_stop asked training to stop; no model was produced."""


class ModelError(ValueError):
    """No model can come of this request or these bars; the message says why and what to do."""


class InsufficientData(ModelError):
    """The series is too short to give train, validation and test windows."""


class TrainingDiverged(ModelError):
    """Training produced non-finite weights, usually because the learning rate is too high."""
