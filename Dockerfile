# syntax=docker/dockerfile:1
# One image with the API and the training extras: the embedded backend spawns training
# processes next to the API, so both need to be installed here.
FROM python:3.11.7-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    TICKERCAST_DATA_DIR=/data
WORKDIR /srv/tickercast
RUN useradd --create-home --uid 10001 tickercast && mkdir /data && chown tickercast /data

# Dependencies first, in their own layer, so code edits do not reinstall them.
COPY pyproject.toml constraints.txt README.md ./
RUN mkdir -p app models && touch app/__init__.py models/__init__.py \
    && pip install -c constraints.txt ".[train]" && pip uninstall -y tickercast

COPY app ./app
COPY models ./models
COPY migrations ./migrations
COPY alembic.ini ./
RUN pip install --no-deps -c constraints.txt -e .

USER tickercast
EXPOSE 8000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
CMD ["sh", "-c", "tickercast db upgrade && tickercast prices load-sample && tickercast serve --host 0.0.0.0 --port 8000"]
