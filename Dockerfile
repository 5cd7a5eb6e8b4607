# Monumento server image: `docker build -t monumento . && docker run -p 8080:8080 monumento`.
# The builder stage turns the app and its runtime dependencies (never the dev extra) into
# wheels; the runtime stage installs only those, so compilers and caches stay behind.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# A compiler for any dependency without a wheel for this platform; it stays in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY config ./config
COPY store ./store
COPY auth ./auth
COPY api ./api
COPY signaling ./signaling
COPY rtc ./rtc
COPY director ./director
COPY recorder ./recorder
COPY media ./media
COPY wire ./wire
COPY cluster ./cluster
COPY correlation ./correlation
COPY monumento ./monumento
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data
RUN useradd --create-home --uid 10001 --user-group monumento \
    && mkdir -p /data \
    && chown monumento:monumento /data
# The wheels are mounted, not copied, so they add nothing to the image's layers.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels monumento
WORKDIR /data
USER 10001:10001
EXPOSE 8080
VOLUME ["/data"]
# /healthz: the process is up. Orchestrators probe /readyz for traffic (see deploy/).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
CMD ["monumento", "serve", "--host", "0.0.0.0", "--port", "8080"]
