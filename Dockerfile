# syntax=docker/dockerfile:1.7
# One image for every Torghut service; the command picks the service:
#   docker run torghut:dev torghut-risk-firewall
#   docker run torghut:dev torghut status          (operator CLI)
# Build from the repository root: docker build -t torghut:dev .
#
# The runtime stage runs as uid 10001 and writes nothing outside /tmp (bytecode is compiled at build
# time; HOME and every cache point into /tmp), so it runs with a read-only root filesystem and a
# tmpfs / emptyDir on /tmp. The research lane (torghut-research) also writes its runs to a volume
# mounted at /var/lib/torghut/research.

ARG PYTHON_IMAGE=python:3.11-slim-trixie
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13

FROM ${UV_IMAGE} AS uv

# --- builder: resolve the locked workspace into /app/.venv ----------------------------------------
FROM ${PYTHON_IMAGE} AS builder
COPY --from=uv /uv /uvx /bin/
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Third-party dependencies first, in their own layer: it survives source edits (with --frozen uv
# installs from the lock alone, without the members' pyproject.toml files).
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --all-packages --no-dev --no-install-workspace
# Then the workspace packages themselves, as regular (non-editable) wheels, so the runtime stage
# needs nothing but the virtual environment.
COPY pyproject.toml uv.lock ./
COPY libs ./libs
COPY services ./services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --all-packages --no-dev --no-editable \
    && /app/.venv/bin/python -c "import torghut_contracts, torghut_runtime"

# --- runtime ---------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG TORGHUT_UID=10001
# /var/lib/torghut/research: the research lane's output mount point, owned by the runtime user so
# that a fresh Docker named volume mounted there starts writable (Docker copies the owner).
RUN groupadd --system --gid "${TORGHUT_UID}" torghut \
    && useradd --system --uid "${TORGHUT_UID}" --gid torghut --home-dir /tmp --no-create-home \
       --shell /usr/sbin/nologin torghut \
    && install -d -o "${TORGHUT_UID}" -g "${TORGHUT_UID}" -m 0755 /var/lib/torghut/research
COPY --from=builder --chown=root:root /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:${PATH} \
    VIRTUAL_ENV=/app/.venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    DSPY_CACHEDIR=/tmp/.cache/dspy \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    HTTP_PORT=8080
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM
# Liveness only; orchestrators probe /readyz themselves (compose healthchecks, Kubernetes probes).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('HTTP_PORT', '8080') + '/healthz', timeout=4)"]
CMD ["torghut", "--help"]
