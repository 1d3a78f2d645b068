#!/usr/bin/env bash
# Installs what fast-crewai needs to build, serve and test, and only what is missing.
#
#   deploy/install-deps.sh            Debian packages (build + runtime) and the .venv
#   deploy/install-deps.sh --system   Debian packages only (used by the Dockerfile build stage)
#   deploy/install-deps.sh --runtime  runtime shared libraries only (Dockerfile runtime stage)
#   deploy/install-deps.sh --venv     the .venv only
#   deploy/install-deps.sh --legacy   the legacy-CrewAI test venvs, .venv-crewai-<version>
#                                     (one per LEGACY_CREWAI entry; `make test-legacy` uses them)
#
# On a ready machine it finishes in a second or two: each step first checks whether there is
# anything to do. It is used by the Makefile, the Dockerfile and CI, so all three install the same.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FAST_CREWAI_VENV:-$ROOT/.venv}"
# The interpreter the .venv is built from: Debian's own python3, which a fresh Debian 12 has,
# not whatever a version manager puts first on PATH.
VENV_PYTHON="${FAST_CREWAI_VENV_PYTHON:-/usr/bin/python3}"

BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev libgrpc-dev
  libabsl-dev libsqlitecpp-dev libsqlite3-dev libtbb-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-venv sqlite3 openssl redis-server
)
# Shared libraries the server binary links; tests/python/test_dockerfile.py checks this list
# against `ldd` of the built binary.
RUNTIME_PACKAGES=(
  libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libsqlite3-0 libtbb12
  libssl3 libre2-9 libc-ares2 zlib1g libstdc++6 libgcc-s1 libc6 ca-certificates
)

log() { printf 'install-deps: %s\n' "$*" >&2; }

missing_packages() {
  local pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      printf '%s\n' "$pkg"
    fi
  done
}

apt_install() {
  local -a missing
  mapfile -t missing < <(missing_packages "$@")
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    sudo="sudo"
  fi
  log "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

venv_install() {
  local stamp="$VENV/.fast-crewai-stamp"
  local want
  want="$(cat "$ROOT/client/python/pyproject.toml" "$ROOT/client/python/requirements-test.txt" \
    "$ROOT/client/python/requirements-bench.txt" | sha256sum | cut -d' ' -f1)"
  if [[ ! -x "$VENV/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    if [[ ! -x "$VENV/bin/python" ]]; then
      log "creating $VENV from $VENV_PYTHON"
      "$VENV_PYTHON" -m venv "$VENV"
    fi
    log "installing the Python package and its test dependencies into $VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
      -r "$ROOT/client/python/requirements-test.txt" \
      -r "$ROOT/client/python/requirements-bench.txt" -e "$ROOT/client/python"
    printf '%s' "$want" >"$stamp"
  fi
  upstream_tests_fetch "$VENV"
}

# CrewAI's own test tree for the CrewAI in venv $1, from its sdist on PyPI, into .cache/
# (tests/python/test_crewai_upstream.py runs it through the shim); a no-op once there.
upstream_tests_fetch() {
  "$1/bin/python" "$ROOT/tests/python/upstream/fetch_crewai_tests.py" "$ROOT/.cache/crewai-tests"
}

# The legacy-memory CrewAI releases the test matrix covers (docs/legacy.md): the last release
# with RAGStorage/LTMSQLiteStorage, and the last 0.x. Each gets its own venv holding the editable
# client, the test requirements and that CrewAI pinned instead of requirements-test.txt's.
LEGACY_CREWAI=(1.9.3 0.203.2)

legacy_venv_install() {
  local version="$1"
  local venv="$ROOT/.venv-crewai-$version"
  local stamp="$venv/.fast-crewai-stamp"
  local want
  want="$(cat "$ROOT/client/python/pyproject.toml" "$ROOT/client/python/requirements-test.txt" \
    <(printf 'crewai==%s' "$version") | sha256sum | cut -d' ' -f1)"
  if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    if [[ ! -x "$venv/bin/python" ]]; then
      log "creating $venv from $VENV_PYTHON"
      "$VENV_PYTHON" -m venv "$venv"
    fi
    log "installing crewai==$version, the Python package and its test dependencies into $venv"
    local requirements="$venv/requirements-legacy.txt"
    grep -v -i -E '^[[:space:]]*crewai[[:space:]]*([=<>!~;[]|$)' \
      "$ROOT/client/python/requirements-test.txt" >"$requirements"
    printf 'crewai==%s\n' "$version" >>"$requirements"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install -q --disable-pip-version-check \
      -r "$requirements" -e "$ROOT/client/python"
    printf '%s' "$want" >"$stamp"
  fi
  upstream_tests_fetch "$venv"
}

legacy_install() {
  local version
  for version in "${LEGACY_CREWAI[@]}"; do
    legacy_venv_install "$version"
  done
}

case "${1:-all}" in
  all) apt_install "${BUILD_PACKAGES[@]}"; venv_install ;;
  --system) apt_install "${BUILD_PACKAGES[@]}" ;;
  --runtime) apt_install "${RUNTIME_PACKAGES[@]}" ;;
  --venv) venv_install ;;
  --legacy) legacy_install ;;
  --print-legacy-versions) printf '%s\n' "${LEGACY_CREWAI[@]}" ;;
  --print-runtime-packages) printf '%s\n' "${RUNTIME_PACKAGES[@]}" ;;
  *) log "unknown option: $1 (use --system, --runtime, --venv, --legacy or nothing)"; exit 2 ;;
esac
