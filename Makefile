# idres: every target installs what it needs; a fresh clone needs only python3.11, make and git.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
PROTOS := $(wildcard proto/idres/v1/*.proto)
GEN_STAMP := proto/gen/idres/v1/.generated

.PHONY: all install gen browser java demo test lint typecheck check bench bench-batch serve clean

all: check

$(PY):
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet grpcio-tools mypy-protobuf

# Generated code comes first: the editable install maps `idres.v1` onto proto/gen.
$(GEN_STAMP): $(PROTOS) scripts/gen_proto.py | $(PY)
	$(PY) scripts/gen_proto.py
	touch $@

$(STAMP): pyproject.toml setup.py $(GEN_STAMP)
	$(PY) -m pip install --quiet -e '.[dev,spark]'
	touch $@

install: $(STAMP)

gen: $(GEN_STAMP)

demo: install
	$(BIN)/idres demo

serve: install
	$(BIN)/idres serve

# The report test renders pages in headless Chromium: Debian's package, installed when missing.
browser:
	@command -v chromium >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

# PySpark (the Spark tests) needs a Java runtime: Debian's Java 17, installed when missing.
java:
	@command -v java >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless; }

test: install browser java
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

# Throughput against the echo floor, the scorer, online latency against Splink's own call,
# candidate recall against Splink's blocking, and accuracy against the baselines.
bench: install
	$(PY) -m loadtests.bench
	$(PY) -m loadtests.bench_scoring
	$(PY) -m loadtests.bench_online
	$(PY) -m loadtests.bench_candidates
	$(PY) -m loadtests.bench_processes
	$(PY) -m loadtests.accuracy_idres --persons 20000 --seed 11

# Accuracy on a labelled records file the project did not write: every method on the same
# file with the same rules. Override RECORDS, TRUTH (record_id, person_id; CSV or Parquet) and
# PHONE_REGIONS (regions national phone numbers are read in, as IDRES_PHONE_REGIONS).
RECORDS ?= ../shared/data/omni-dev/records.parquet
TRUTH ?= ../shared/data/omni-dev/truth.parquet
PHONE_REGIONS ?= GB,US

# The online store at a million records (about 40 minutes on 2 cores): bulk load, start-up,
# memory, Resolve and Observe over gRPC. PERSONS=25000 for a 100k run.
PERSONS ?= 250000
.PHONY: bench-scale
bench-scale: install
	$(PY) -m loadtests.bench_scale --persons $(PERSONS)

.PHONY: bench-accuracy
bench-accuracy: install
	@for f in "$(RECORDS)" "$(TRUTH)"; do [ -f "$$f" ] || { \
	  echo "bench-accuracy: no such file: $$f" >&2; \
	  echo "  pass the labelled files: make bench-accuracy RECORDS=path/to/records.parquet" \
	    "TRUTH=path/to/truth.parquet [PHONE_REGIONS=GB,US]" >&2; \
	  echo "  (records in the canonical schema; truth with record_id, person_id; CSV or Parquet)" >&2; \
	  exit 2; }; done
	$(PY) -m loadtests.accuracy_idres --records "$(RECORDS)" --truth "$(TRUTH)" \
	  --phone-regions "$(PHONE_REGIONS)"

# idres dedup against Splink alone on about 1M generated records: time and peak memory.
bench-batch: install
	$(PY) -m loadtests.bench_batch --persons 250000

# The hash-pinned locks deploy/Containerfile installs from: the runtime dependencies of
# pyproject.toml, and the build stage's tools held to the same grpcio and protobuf. Rerun after
# changing a dependency; tests/deploy checks the lock still satisfies pyproject.toml.
.PHONY: lock
lock: | $(PY)
	$(PY) -m pip install --quiet 'uv>=0.5'
	$(BIN)/uv pip compile --quiet pyproject.toml --universal --python-version 3.11 \
	  --generate-hashes --custom-compile-command 'make lock' -o requirements.lock
	$(BIN)/uv pip compile --quiet deploy/build.in -c requirements.lock --universal \
	  --python-version 3.11 --generate-hashes --custom-compile-command 'make lock' \
	  -o deploy/build.lock

clean:
	rm -rf $(VENV) proto/gen .idres .pytest_cache .mypy_cache .ruff_cache
