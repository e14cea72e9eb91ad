# A stand-in for the public `redis` image where no registry can be reached (`make image-test`):
# Debian bookworm's Redis 7.0 on the local Debian base, with the interface docker-compose.yml
# uses of the public image: `redis-server ARGS` as the command, the data (the append-only
# file) in /data, `redis-cli` on PATH, and protected mode off when no configuration file is
# given, so that other containers reach it. Compose takes it through TICKERCAST_REDIS_IMAGE.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
    && mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
USER redis
WORKDIR /data
VOLUME /data
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
