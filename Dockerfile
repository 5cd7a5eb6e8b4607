# Monumento server image: `docker build -t monumento . && docker run -p 8080:8080 monumento`
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data

RUN useradd --create-home --uid 10001 monumento && mkdir -p /data && chown monumento /data
WORKDIR /app
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
COPY monumento ./monumento
COPY correlation ./correlation
RUN pip install .

USER monumento
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"
CMD ["monumento", "serve", "--host", "0.0.0.0", "--port", "8080"]
