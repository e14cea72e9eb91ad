"""Building the container images and running them on machines without a Docker engine."""
