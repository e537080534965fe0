# One image, both services:   docker run IMAGE embeddings   |   docker run IMAGE attention
#
# torch (CPU-only, pinned) comes from a build argument, never from a resolver's guess:
#   default                              the CPU wheel index (TORCH_INDEX_URL)
#   --build-arg TORCH_WHEEL_DIR=wheels   a directory of wheels in the build context, e.g. after
#                                        `pip download torch==2.13.0 --no-deps -d wheels/`
#   --build-arg EXTRAS=ray               also the optional dependencies of these extras of pyproject.toml
#                                        (comma-separated; `ray`: Ray Serve / KubeRay, deploy/kuberay/)
# Build with BuildKit (docker) or podman/buildah; `podman build --format docker` keeps HEALTHCHECK.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_WHEEL_DIR=
ARG EXTRAS=

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

# 1. torch first, the CPU build ("+cpu"), from the chosen source; the build context is bind-mounted
#    (not copied) so a local wheel never lands in a layer. Step 2 fails the build if CUDA slipped in.
RUN --mount=type=bind,target=/ctx \
    if [ -n "$TORCH_WHEEL_DIR" ]; then \
      pip install --find-links "/ctx/$TORCH_WHEEL_DIR" "torch==${TORCH_VERSION}+cpu"; \
    else \
      pip install --index-url "$TORCH_INDEX_URL" "torch==${TORCH_VERSION}+cpu"; \
    fi

# 2. the dependencies (a layer that only changes with pyproject.toml), with the same torch pin:
#    the installed CPU build satisfies it, so nothing else is fetched; then the project itself.
#    EXTRAS (e.g. "ray") adds those extras' optional dependencies; an unknown extra fails the build.
WORKDIR /src
COPY pyproject.toml ./
RUN echo "torch==${TORCH_VERSION}" > /tmp/constraints.txt \
 && python -c "import sys, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print(*p['dependencies'], *(d for e in filter(None, sys.argv[1].split(',')) for d in p['optional-dependencies'][e.strip()]), sep='\n')" "$EXTRAS" > /tmp/requirements.txt \
 && pip install --constraint /tmp/constraints.txt --requirement /tmp/requirements.txt
COPY README.md ./
COPY models ./models
COPY service ./service
RUN pip install --no-deps --constraint /tmp/constraints.txt . \
 && pip check \
 && python -c "import torch; assert torch.version.cuda is None, torch.version.cuda"

# ---------------------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE}

ARG UID=10001
RUN useradd --uid "${UID}" --user-group --home-dir /tmp --no-create-home --shell /usr/sbin/nologin embattn \
 && mkdir -p /data/embeddings /data/attention \
 && chown -R "${UID}:${UID}" /data

COPY --from=builder /opt/venv /opt/venv
COPY deploy/entrypoint.py /opt/embattn/entrypoint.py

# Bind every interface inside the container; the host decides what it publishes.
# *_THREADS unset: deploy/entrypoint.py sets it (and OMP_NUM_THREADS) from the cgroup CPU limit.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONSAFEPATH=1 \
    EMBEDDINGS_HOST=0.0.0.0 \
    EMBEDDINGS_PORT=8001 \
    EMBEDDINGS_DATA_DIR=/data \
    ATTENTION_HOST=0.0.0.0 \
    ATTENTION_PORT=8002 \
    ATTENTION_DATA_DIR=/data \
    MPLCONFIGDIR=/tmp/matplotlib

# not /data: the working directory must not be writable by the service
WORKDIR /opt/embattn
VOLUME /data
USER ${UID}:${UID}
EXPOSE 8001 8002

# Healthy when this container's service answers /healthz (whichever of the two ports it runs on).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as u\nfor k, d in (('EMBEDDINGS_PORT', '8001'), ('ATTENTION_PORT', '8002')):\n    try:\n        u.build_opener(u.ProxyHandler({})).open(f'http://127.0.0.1:{os.environ.get(k, d)}/healthz', timeout=4).close()\n        raise SystemExit(0)\n    except OSError:\n        pass\nraise SystemExit(1)"]

# exec form: the service (after the entrypoint's exec) gets SIGTERM directly; safe with --init too.
ENTRYPOINT ["python", "/opt/embattn/entrypoint.py"]
CMD ["embeddings"]
