# Three targets:
#   api     the HTTP API: FastAPI and ONNX Runtime, no TensorFlow (a small image)
#   worker  `tickercast worker`: trains queued jobs from Redis, with TensorFlow (CPU)
#   local   everything in one image: the single-machine default (SQLite, spawned training)
# No `# syntax=` line: BuildKit's built-in frontend (Docker 20.10 on) reads `RUN --mount`, and a
# syntax line would make every build fetch a frontend image from Docker Hub.
# The base is the pinned public Python image. Any Debian bookworm image with Python 3.11 as
# `python` and `pip` on PATH will do: `make images` builds one from Debian's packages where the
# public registry cannot be reached (deploy/debian-base.Containerfile).
ARG BASE_IMAGE=python:3.11.7-slim-bookworm
FROM ${BASE_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 TICKERCAST_DATA_DIR=/data
WORKDIR /srv/tickercast
RUN useradd --create-home --uid 10001 tickercast && mkdir /data && chown tickercast /data
# Only what pip needs to resolve the dependencies, with empty packages in place of the code.
COPY pyproject.toml constraints.txt README.md ./
RUN mkdir -p app models && touch app/__init__.py models/__init__.py

# The code, gathered once for every target.
FROM scratch AS source
COPY app /app
COPY models /models
COPY migrations /migrations
COPY alembic.ini /

# Dependencies in their own layers, so code edits do not reinstall them. pip takes the build
# machine's index settings and CA bundle from two optional build secrets (`make images` passes
# them; a plain `docker build` needs none); a secret never lands in a layer.
FROM base AS api-deps
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf --mount=type=secret,id=pip-ca.crt \
    pip install -c constraints.txt . && pip uninstall -y tickercast

FROM base AS train-deps
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf --mount=type=secret,id=pip-ca.crt \
    pip install -c constraints.txt ".[train]" && pip uninstall -y tickercast

FROM api-deps AS api
COPY --from=source / ./
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf --mount=type=secret,id=pip-ca.crt \
    pip install --no-deps -c constraints.txt -e .
USER tickercast
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
# Migrations are a step of their own (the compose `migrate` service), not the API's.
CMD ["tickercast", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-migrate"]

FROM train-deps AS worker
COPY --from=source / ./
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf --mount=type=secret,id=pip-ca.crt \
    pip install --no-deps -c constraints.txt -e .
USER tickercast
CMD ["tickercast", "worker"]

FROM train-deps AS local
COPY --from=source / ./
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf --mount=type=secret,id=pip-ca.crt \
    pip install --no-deps -c constraints.txt -e .
USER tickercast
EXPOSE 8000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
CMD ["sh", "-c", "tickercast db upgrade && tickercast prices load-sample && tickercast serve --host 0.0.0.0 --port 8000"]
