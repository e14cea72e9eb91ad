"""What operators look at: Prometheus metrics, request ids and one log line per request."""
