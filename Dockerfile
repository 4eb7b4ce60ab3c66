# The gateway image: the project installed with pip on a slim Python 3.11, run as an unprivileged
# user. One image serves every role in docker-compose.yml (certs init, serve, handlers).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY pyproject.toml README.md /tmp/src/
COPY gateway /tmp/src/gateway
RUN pip install /tmp/src && rm -rf /tmp/src

# /certs, /data and /credentials (broker users' passwords) exist in the image and belong to the
# gateway user, so that the named volumes mounted there start out writable by it (Docker copies a
# mount point's owner into a new volume).
RUN useradd --system --uid 10001 --create-home --home-dir /srv/gateway gateway \
    && mkdir -p /certs /data /credentials \
    && chown gateway:gateway /certs /data /credentials
USER gateway
WORKDIR /srv/gateway

ENV GATEWAY_CERTS=/certs \
    GATEWAY_DB_URL=sqlite:////data/ledger.db

EXPOSE 8443 8080
ENTRYPOINT ["gateway"]
CMD ["--help"]
