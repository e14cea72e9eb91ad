"""Client commands of `tickercast` that talk to a running service over HTTP."""
