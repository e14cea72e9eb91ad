"""Staying current: refresh every ticker's bars after its exchange closes, retrain stale or
slipping champions. One scheduler per deployment (`tickercast scheduler`), held by a lease."""
