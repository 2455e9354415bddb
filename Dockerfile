# The ECS image of query-service: the FastAPI handler, run by uvicorn on port 8000.
#
#   make image                     # docker build -t query-service:local .
#
# Two stages: `build` installs the dependencies uv.lock pins (binary wheels only: no
# compiler anywhere) and the project into /app/.venv; the final stage is a clean
# python:3.12-slim with that virtual environment, owned by root and run by an
# unprivileged user (uid 10001, the one the task definition names), so the code cannot
# be changed at run time and the ECS task's read-only root filesystem holds.

FROM python:3.12-slim AS build

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The uv the Makefile pins.
RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /src

# Dependencies first: this layer changes only when uv.lock does.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

# Then the project itself, as a regular (non-editable) install.
COPY README.md ./
COPY src ./src
RUN uv sync --frozen --no-dev --no-editable


FROM python:3.12-slim

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app

COPY --from=build /app/.venv /app/.venv

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /app
USER 10001:10001
EXPOSE 8000

# Liveness for `docker run` and compose; on ECS the task definition's check (the same
# request) applies.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=3).status != 200)"]

# On SIGTERM uvicorn stops accepting, finishes what is in flight for up to 25 s (inside
# the task definition's stopTimeout of 30 s), then the app closes its pool.
CMD ["uvicorn", "query_service.ecs.app:app", "--host", "0.0.0.0", "--port", "8000", \
     "--timeout-graceful-shutdown", "25"]
