# Custom Dataflow worker image for Winnow's curation pipelines (no torch).
# Build and push, then run with --sdk_container_image=IMAGE (see docs/dataflow.md).
ARG BEAM_VERSION=2.77.0
FROM apache/beam_python3.11_sdk:${BEAM_VERSION}

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/winnow
# Dependencies first, so code edits do not rebuild the dependency layer.
COPY pyproject.toml setup.py README.md ./
COPY winnow/__init__.py winnow/__init__.py
RUN mkdir -p core curation pipelines training schemas recipes \
 && for p in core curation pipelines training schemas recipes; do touch $p/__init__.py; done \
 && pip install ".[curate]" \
 && pip uninstall -y winnow

COPY winnow winnow
COPY core core
COPY curation curation
COPY pipelines pipelines
COPY training training
COPY schemas schemas
COPY recipes recipes
RUN pip install --no-deps . \
 && python -c "import winnow.pipelines.curate, winnow.curation.langid as l; print(l.default_model_path())"

# The Beam SDK image's entrypoint (/opt/apache/beam/boot) stays as it is.
