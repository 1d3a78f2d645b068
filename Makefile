# fast-crewai: the two commands a user needs are `make serve` and `make test`.
#
#   make serve     install what is missing, build (Release), run the daemon in the foreground
#   make test      install what is missing, build, run the C++ and Python suites
#   make bench     run the benchmarks against their peers (prints ratios)
#   make build     install + build only
#   make protos    regenerate the committed Python stubs
#   make check-protos   fail when the committed stubs differ from the .proto files
#
# Variables: BUILD_DIR (default build), JOBS (default 2), SERVE_ARGS (extra daemon flags),
# PYTEST_ARGS (extra pytest arguments).

BUILD_DIR ?= build
JOBS ?= 2
VENV := .venv
PY := $(VENV)/bin/python
SERVER := $(BUILD_DIR)/server/fast-crewai-server
SERVE_ARGS ?=
PYTEST_ARGS ?=

.PHONY: all install build serve test test-cpp test-python check-protos protos bench clean

all: build

install:
	@bash deploy/install-deps.sh

$(BUILD_DIR)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null

build: install $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

serve: build
	exec $(SERVER) $(SERVE_ARGS)

# Both suites run even when the first fails, so one run reports every failure.
test: build check-protos
	@status=0; \
	$(MAKE) --no-print-directory test-cpp || status=1; \
	$(MAKE) --no-print-directory test-python || status=1; \
	exit $$status

test-cpp:
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

test-python:
	FAST_CREWAI_SERVER_BIN=$(abspath $(SERVER)) $(PY) -m pytest tests/python tests/integration $(PYTEST_ARGS)

protos: $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) --target python_protos

# The committed stubs must be what the .proto files generate (skipped outside a git checkout).
check-protos: protos
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git diff --exit-code --stat -- client/python/fast_crewai/v1 || \
	    { echo "check-protos: the committed Python stubs are stale: run 'make protos' and commit"; exit 1; }; \
	  untracked=$$(git ls-files --others --exclude-standard client/python/fast_crewai/v1); \
	  if [ -n "$$untracked" ]; then echo "check-protos: uncommitted stubs: $$untracked"; exit 1; fi; \
	fi

bench: build
	$(PY) bench/run.py

clean:
	rm -rf $(BUILD_DIR)
