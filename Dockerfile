# Signalbox: a slim, non-root image. Data lives on the /data volume.
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY app ./app
COPY channels ./channels
RUN pip install . \
    && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin signalbox \
    && mkdir -p /data /etc/signalbox \
    && chown 10001:10001 /data
COPY deploy/routes.yaml /etc/signalbox/routes.yaml

USER 10001
VOLUME ["/data"]
EXPOSE 8080
ENV SIGNALBOX_HOST=0.0.0.0 \
    SIGNALBOX_PORT=8080 \
    SIGNALBOX_DATA_DIR=/data \
    SIGNALBOX_CONFIG=/etc/signalbox/routes.yaml

# No curl in the slim image: the standard library asks /healthz.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]

# SIGTERM lets queued deliveries go out for SIGNALBOX_SHUTDOWN_GRACE seconds.
STOPSIGNAL SIGTERM
ENTRYPOINT ["signalbox", "serve"]
