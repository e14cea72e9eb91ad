# A stand-in for the public `postgres` image where no registry can be reached (`make
# image-test`): Debian bookworm's PostgreSQL 15 on the local Debian base, with the interface
# docker-compose.yml uses of the public image: POSTGRES_USER, POSTGRES_DB and POSTGRES_PASSWORD
# on first start, the data in /var/lib/postgresql/data, `pg_isready` on PATH, connections from
# other containers with the password (scram-sha-256), and the server as PID 1 so that SIGTERM
# shuts it down cleanly. It is named for what it is (tickercast-debian-postgres:15), and
# compose takes it through TICKERCAST_POSTGRES_IMAGE.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
    && rm -rf /var/lib/postgresql/15 /etc/postgresql/15 \
    && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
    && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql \
    && chmod 700 /var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
USER postgres
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
