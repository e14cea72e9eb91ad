"""The clients are tested against the same kind of live service as the end-to-end tests."""

from tests.e2e.conftest import live_service

__all__ = ["live_service"]
