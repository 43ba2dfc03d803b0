# discreet's report service in a container. Build and run:
#   docker build -t discreet .
#   docker run -p 127.0.0.1:8080:8080 -v discreet-data:/var/lib/discreet discreet
# The repository (publish init/build) and the database live in the volume; the
# image holds no key. Settings: DISCREET_SERVE_* variables (docker run -e ...).
FROM python:3.11-slim

RUN useradd --system --create-home --home-dir /var/lib/discreet discreet
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip install --no-cache-dir '.[server]' && rm -rf /src

USER discreet
WORKDIR /var/lib/discreet
VOLUME /var/lib/discreet
ENV DISCREET_SERVE_REPO=/var/lib/discreet/repo \
    DISCREET_SERVE_DB=/var/lib/discreet/reports.db \
    DISCREET_SERVE_HOST=0.0.0.0 \
    DISCREET_SERVE_PORT=8080 \
    DISCREET_SERVE_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=3)"
ENTRYPOINT ["discreet", "serve"]
