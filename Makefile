# fast-crewai: the two commands a user needs are `make serve` and `make test`.
#
#   make serve     install what is missing, build (Release), run the daemon in the foreground
#   make test      install what is missing, build, run the C++ and Python suites and test-legacy
#   make test-legacy   the legacy-CrewAI matrix: tests/python/legacy in .venv-crewai-<version>
#                  for each version deploy/install-deps.sh --legacy installs (1.9.3, 0.203.2)
#   make test-sanitize   the C++ suites and tests/integration against a daemon built with
#                  AddressSanitizer and UndefinedBehaviorSanitizer (in build-sanitize; not part of
#                  make test: a second full build)
#   make bench     run the benchmarks against their peers (prints ratios)
#   make build     install + build only
#   make protos    regenerate the committed Python stubs
#   make check-protos   fail when the committed stubs differ from the .proto files
#
# Variables: BUILD_DIR (default build), JOBS (default 2), SERVE_ARGS (extra daemon flags),
# PYTEST_ARGS (extra pytest arguments), BENCH (bench suites to run, default all).

BUILD_DIR ?= build
JOBS ?= 2
VENV := .venv
PY := $(VENV)/bin/python
SERVER := $(BUILD_DIR)/server/fast-crewai-server
SERVE_ARGS ?=
PYTEST_ARGS ?=

.PHONY: all install install-legacy build serve test test-cpp test-python test-legacy test-sanitize \
  check-protos protos bench clean

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
	$(MAKE) --no-print-directory test-legacy || status=1; \
	exit $$status

test-cpp:
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

test-python:
	FAST_CREWAI_SERVER_BIN=$(abspath $(SERVER)) $(PY) -m pytest tests/python tests/integration $(PYTEST_ARGS)

install-legacy:
	@bash deploy/install-deps.sh --legacy

# A sanitizer report fails the test that triggered it: UBSan halts, LeakSanitizer makes a
# daemon's clean stop exit non-zero. The deploy test of the runtime image's libraries is left out
# (it checks the Release binary's shared libraries, and libasan is not one of them).
SANITIZE_DIR ?= build-sanitize
SANITIZE_ENV := ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
SANITIZERS := -fsanitize=address,undefined
$(SANITIZE_DIR)/build.ninja: CMakeLists.txt
	cmake -S . -B $(SANITIZE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DFAST_CREWAI_BUILD_BENCH=OFF -DCMAKE_EXE_LINKER_FLAGS="$(SANITIZERS)" \
	  -DCMAKE_CXX_FLAGS="$(SANITIZERS) -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  >/dev/null

test-sanitize: install $(SANITIZE_DIR)/build.ninja
	cmake --build $(SANITIZE_DIR) -j $(JOBS)
	cd $(SANITIZE_DIR) && $(SANITIZE_ENV) ctest --output-on-failure -j $(JOBS)
	$(SANITIZE_ENV) FAST_CREWAI_SERVER_BIN=$(abspath $(SANITIZE_DIR))/server/fast-crewai-server \
	  $(PY) -m pytest tests/integration $(PYTEST_ARGS) \
	  --deselect tests/integration/test_deploy.py::test_runtime_stage_provides_every_shared_library_the_binary_links

# Each legacy venv runs the legacy tests with FAST_CREWAI_TEST_LEGACY_REQUIRED set, which turns
# their "skip: no legacy API" into a failure, plus the version-independent client tests.
LEGACY_TESTS := tests/python/legacy $(addprefix tests/python/,test_config.py test_boundaries.py \
  test_channel.py test_connection.py test_errors.py test_health.py test_version.py \
  test_crewai_upstream.py)
test-legacy: build install-legacy
	@status=0; \
	for version in $$(bash deploy/install-deps.sh --print-legacy-versions); do \
	  echo "== CrewAI $$version (.venv-crewai-$$version)"; \
	  FAST_CREWAI_TEST_LEGACY_REQUIRED=$$version FAST_CREWAI_SERVER_BIN=$(abspath $(SERVER)) \
	    .venv-crewai-$$version/bin/python -m pytest $(LEGACY_TESTS) $(PYTEST_ARGS) || status=1; \
	done; \
	exit $$status

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

# Every suite in bench/ one after another (bench/run.py --list); the legacy one needs its venv.
bench: build install-legacy
	$(PY) bench/run.py $(BENCH)

clean:
	rm -rf $(BUILD_DIR) $(SANITIZE_DIR)
