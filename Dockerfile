# The lsagent service (and, with another command, its RQ worker).
# The base image is pinned by digest (the multi-platform index of python:3.11.14-slim-bookworm), so
# a rebuild gets the same bytes; to move it, `docker buildx imagetools inspect python:3.11-slim`
# and replace tag and digest together. requirements.txt pins exact versions but carries no hashes:
# see "Docker compose" in the README for why and how to add them.
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LSAGENT_DATA_DIR=/data \
    PORT=9090 \
    WORKERS=1 \
    THREADS=8

RUN useradd --create-home --uid 10001 lsagent \
    && mkdir -p /data \
    && chown lsagent:lsagent /data

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY pyproject.toml README.md* ./
COPY ml_backend ml_backend
COPY sync sync
COPY prompt_templates prompt_templates
RUN pip install --no-deps .

USER lsagent
VOLUME ["/data"]
EXPOSE 9090

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '9090'), timeout=4)"

# The same gunicorn settings as `lsagent serve` (ml_backend/cli/service.py): gthread workers that
# only take complete request heads, no control socket, the
# app preloaded so tables are created once, a timeout above the /predict budget, and unfinished
# jobs resumed as soon as a worker starts. PORT, WORKERS and THREADS come from the environment.
CMD ["gunicorn", "-c", "python:ml_backend.service.gunicorn_conf", "ml_backend.service.wsgi:app"]
