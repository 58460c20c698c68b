# driftscope: the API by default, the dashboard with another command.
#
#   docker build -t driftscope .
#   docker run -p 8000:8000 driftscope                                   # API + scheduler
#   docker run -p 8501:8501 -e DRIFTSCOPE_API_URL=http://host.docker.internal:8000 \
#       -e HEALTHCHECK_URL=http://127.0.0.1:8501/_stcore/health \
#       driftscope driftscope dashboard --address 0.0.0.0 --port 8501    # dashboard
#
# The image carries the demo model (trained at build time, nothing downloaded) and runs
# configs/demo.yaml unless DRIFTSCOPE_CONFIG names another file: mount your own config and
# model files, e.g. -v $PWD/monitoring:/config -e DRIFTSCOPE_CONFIG=/config/driftscope.yaml.
# docker-compose.yml runs the API, the dashboard and PostgreSQL together.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# the repository root is the package `driftscope` (pyproject's package-dir): its __init__ too
COPY pyproject.toml README.md constraints.txt __init__.py __main__.py py.typed ./
COPY core ./core
COPY plugins ./plugins
COPY apps ./apps
COPY configs ./configs

# configs/demo.yaml reads the model from ../driftscope-demo/ and keeps SQLite there
RUN pip install -c constraints.txt . \
    && python -c "from pathlib import Path; from driftscope.apps.demo.model import train_demo_model; train_demo_model(Path('/app/driftscope-demo'))" \
    && useradd --create-home --uid 10001 driftscope \
    && chown -R driftscope /app/driftscope-demo

USER driftscope

ENV DRIFTSCOPE_CONFIG=/app/configs/demo.yaml \
    DRIFTSCOPE_API_HOST=0.0.0.0 \
    DRIFTSCOPE_API_PORT=8000 \
    DRIFTSCOPE_DASHBOARD_PORT=8501

EXPOSE 8000 8501

# slim has no curl: ask the API's /healthz with the standard library. A dashboard container
# sets HEALTHCHECK_URL=http://127.0.0.1:8501/_stcore/health instead.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(os.environ.get('HEALTHCHECK_URL') or 'http://127.0.0.1:%s/healthz' % os.environ.get('DRIFTSCOPE_API_PORT', '8000'), timeout=4)"

CMD ["driftscope", "serve"]
