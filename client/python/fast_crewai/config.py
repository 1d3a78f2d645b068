"""Client configuration: the one place that reads FAST_CREWAI_* environment variables.

`ClientConfig.from_env()` reads and validates everything once; the rest of the package receives
the resulting frozen `ClientConfig` and never looks at the environment. `get_config()` caches the
process-wide instance (read on first use).

Variables (an empty value counts as unset):

| variable | meaning | default |
| --- | --- | --- |
| FAST_CREWAI_ENDPOINT | `host:port`, `[v6]:port`, `unix:/abs/path` or `unix:///abs/path` | 127.0.0.1:50051 |
| FAST_CREWAI_TOKEN | token sent as `authorization: Bearer <token>` | none |
| FAST_CREWAI_TOKEN_FILE | file holding the token (read here, once; trailing newline dropped) | none |
| FAST_CREWAI_TLS_CA | PEM CA bundle to verify the daemon; enables TLS | none (insecure) |
| FAST_CREWAI_TLS_CERT / _KEY | PEM client certificate and key for mutual TLS; enable TLS | none |
| FAST_CREWAI_TLS_SERVER_NAME | expected name in the daemon's certificate | endpoint host |
| FAST_CREWAI_ACCELERATION | 0/false/off/no disables every patch; 1/true/on/yes | on |
| FAST_CREWAI_MEMORY, _CACHE, _DATABASE, _TASKS | per-area switch: true, false or auto | auto |
| FAST_CREWAI_TOOLS | alias of FAST_CREWAI_CACHE (FAST_CREWAI_CACHE wins if both set) | |
| FAST_CREWAI_CONNECT_TIMEOUT | deadline of the first reachability probe: `1`, `1.5`, `1.5s`, `250ms` | 1.0 s |
| FAST_CREWAI_CACHE_NAMESPACE | tool-cache namespace shared by every crew, process and run that sets it | one per Crew |
| FAST_CREWAI_CACHE_TTL | lifetime of tool results cached in the daemon: `90`, `90s`, `15m`, `2h`, `1d` | daemon default |
| FAST_CREWAI_LEGACY_SEARCH | legacy RAGStorage search (CrewAI <= 1.9.3): `auto` (the crew's embedder, BM25 without one) or `lexical` (always BM25) | auto |
| FAST_CREWAI_TASKS=dag | as `true`, plus DAG mode: a crew's independent tasks run at once | off |
| FAST_CREWAI_RATE_LIMIT_KEY | name of the daemon rate limit shared for CrewAI's max_rpm | crewai:max_rpm |
| FAST_CREWAI_FAN_OUT | 1: Crew.kickoff_for_each of a registered factory's crew runs on workers | off |
| FAST_CREWAI_WORKER_QUEUE | the scheduler queue of fan-out runs and of `fast-crewai worker` | default |
| FAST_CREWAI_GRPC_TUNING | 0/false/off/no keeps grpcio's EventEngine client (fast_crewai.grpc_tuning, which reads it at import, before gRPC loads; validated here) | on |

Area switches: `false` never patches the area. `auto` patches it when the installed CrewAI is
supported and the patch is implemented, and skips it silently otherwise. `true` does the same
but a patch that cannot be applied is logged as a warning, since it was asked for explicitly.
In both `auto` and `true`, each call still falls back to CrewAI's own code when the daemon is
unreachable: no setting can make CrewAI fail where it would otherwise succeed.

Every malformed value raises `ConfigError` whose message starts with the variable name:

    FAST_CREWAI_ENDPOINT: expected host:port or unix:/path, got "foo"

Example:

    config = ClientConfig.from_env()
    config.endpoint.target      # "127.0.0.1:50051", the gRPC target string
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Literal, Mapping

from fast_crewai.errors import ConfigError

__all__ = [
    "AREAS",
    "AreaMode",
    "ClientConfig",
    "ConfigError",
    "Endpoint",
    "get_config",
    "reset_config",
]

ENV_ENDPOINT = "FAST_CREWAI_ENDPOINT"
ENV_TOKEN = "FAST_CREWAI_TOKEN"
ENV_TOKEN_FILE = "FAST_CREWAI_TOKEN_FILE"
ENV_TLS_CA = "FAST_CREWAI_TLS_CA"
ENV_TLS_CERT = "FAST_CREWAI_TLS_CERT"
ENV_TLS_KEY = "FAST_CREWAI_TLS_KEY"
ENV_TLS_SERVER_NAME = "FAST_CREWAI_TLS_SERVER_NAME"
ENV_ACCELERATION = "FAST_CREWAI_ACCELERATION"
ENV_CONNECT_TIMEOUT = "FAST_CREWAI_CONNECT_TIMEOUT"
ENV_TOOLS_ALIAS = "FAST_CREWAI_TOOLS"
ENV_CACHE_NAMESPACE = "FAST_CREWAI_CACHE_NAMESPACE"
ENV_CACHE_TTL = "FAST_CREWAI_CACHE_TTL"
ENV_LEGACY_SEARCH = "FAST_CREWAI_LEGACY_SEARCH"
LEGACY_SEARCH_MODES = ("auto", "lexical")
ENV_TASKS = "FAST_CREWAI_TASKS"
ENV_RATE_LIMIT_KEY = "FAST_CREWAI_RATE_LIMIT_KEY"
ENV_FAN_OUT = "FAST_CREWAI_FAN_OUT"
ENV_WORKER_QUEUE = "FAST_CREWAI_WORKER_QUEUE"
ENV_GRPC_TUNING = "FAST_CREWAI_GRPC_TUNING"
DEFAULT_RATE_LIMIT_KEY = "crewai:max_rpm"
DEFAULT_WORKER_QUEUE = "default"
# The scheduler's charset for queue names (proto/fast_crewai/v1/scheduler.proto).
_QUEUE_NAME = re.compile(r"[A-Za-z0-9._:/-]{1,128}")
MAX_CACHE_NAMESPACE_BYTES = 256
MAX_CACHE_TTL = 365 * 86400.0


def valid_queue_name(name: str) -> bool:
    """A scheduler queue name: 1..128 characters of [A-Za-z0-9._:/-]."""
    return bool(_QUEUE_NAME.fullmatch(name))


# The acceleration areas, in the order patches are applied and reported.
AREAS: tuple[str, ...] = ("memory", "cache", "database", "tasks")

# Area -> the variable that switches it.
AREA_VARIABLES: Mapping[str, str] = {area: f"FAST_CREWAI_{area.upper()}" for area in AREAS}

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50051
DEFAULT_CONNECT_TIMEOUT = 1.0
MAX_CONNECT_TIMEOUT = 60.0

_TRUE = frozenset({"1", "true", "on", "yes"})
_FALSE = frozenset({"0", "false", "off", "no"})
_HOSTNAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$")
_HOST_PORT = re.compile(r"^(?P<host>[^:\[\]\s/]+):(?P<port>[0-9]+)$")
_V6_PORT = re.compile(r"^\[(?P<host>[^\[\]\s/]+)\]:(?P<port>[0-9]+)$")
_DURATION = re.compile(r"^(?P<value>[0-9]+(\.[0-9]*)?|\.[0-9]+)(?P<unit>s|ms)?$")


class AreaMode(str, enum.Enum):
    """Per-area switch value; see the module docstring for the meaning of each."""

    TRUE = "true"
    FALSE = "false"
    AUTO = "auto"


@dataclass(frozen=True)
class Endpoint:
    """Where the daemon listens: TCP (`host`, `port`) or a Unix socket (`path`).

    `host` of an IPv6 endpoint is kept without brackets.
    """

    scheme: Literal["tcp", "unix"]
    host: str = ""
    port: int = 0
    path: str = ""

    @property
    def target(self) -> str:
        """The gRPC target string for this endpoint."""
        if self.scheme == "unix":
            return f"unix:{self.path}"
        return f"{self._bracketed_host}:{self.port}"

    @property
    def _bracketed_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def __str__(self) -> str:
        return self.target

    @classmethod
    def parse(cls, text: str, *, variable: str = ENV_ENDPOINT) -> Endpoint:
        """Parses `host:port`, `[v6]:port`, `unix:/abs/path` or `unix:///abs/path`.

        Raises ConfigError naming `variable` when `text` is none of these.
        """
        if text.startswith("unix:"):
            path = text[len("unix:"):]
            if path.startswith("//"):
                path = path[2:]
            if not path.startswith("/") or "\0" in path or path.rstrip("/") == "":
                raise ConfigError(
                    f'{variable}: unix socket path must be absolute (unix:/path), got "{text}"'
                )
            return cls(scheme="unix", path=path)
        match = _V6_PORT.match(text)
        if match:
            host = match.group("host")
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise ConfigError(
                    f'{variable}: "[{host}]" is not an IPv6 address, got "{text}"'
                ) from None
            return cls(scheme="tcp", host=host, port=_parse_port(match.group("port"), text, variable))
        match = _HOST_PORT.match(text)
        if match and _HOSTNAME.match(match.group("host")):
            port = _parse_port(match.group("port"), text, variable)
            return cls(scheme="tcp", host=match.group("host"), port=port)
        raise ConfigError(f'{variable}: expected host:port or unix:/path, got "{text}"')


def _parse_port(digits: str, text: str, variable: str) -> int:
    port = int(digits)
    if not 1 <= port <= 65535:
        raise ConfigError(f'{variable}: port must be in 1..65535, got "{text}"')
    return port


DEFAULT_ENDPOINT = Endpoint(scheme="tcp", host=DEFAULT_HOST, port=DEFAULT_PORT)


@dataclass(frozen=True)
class ClientConfig:
    """Validated client settings. Immutable; build it with `from_env()` or directly.

    `token` is excluded from `repr()` so that logging a config never leaks it.
    `area_sources` maps an area to the variable that set its mode (absent when defaulted); it
    lets messages name the variable the user actually wrote, e.g. FAST_CREWAI_TOOLS.
    """

    endpoint: Endpoint = DEFAULT_ENDPOINT
    token: str | None = field(default=None, repr=False)
    token_file: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_server_name: str | None = None
    acceleration: bool = True
    memory: AreaMode = AreaMode.AUTO
    cache: AreaMode = AreaMode.AUTO
    database: AreaMode = AreaMode.AUTO
    tasks: AreaMode = AreaMode.AUTO
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    cache_namespace: str | None = None
    cache_ttl: float | None = None
    legacy_search: str = "auto"
    tasks_dag: bool = False
    rate_limit_key: str = DEFAULT_RATE_LIMIT_KEY
    fan_out: bool = False
    worker_queue: str = DEFAULT_WORKER_QUEUE
    grpc_tuning: bool = True
    area_sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def tls(self) -> bool:
        """True when the channel uses TLS (a CA bundle or a client certificate is set)."""
        return bool(self.tls_ca or self.tls_cert)

    @property
    def mutual_tls(self) -> bool:
        """True when a client certificate is presented."""
        return bool(self.tls_cert and self.tls_key)

    def area_mode(self, area: str) -> AreaMode:
        """The switch of `area` (one of AREAS). Raises ValueError for an unknown area."""
        if area not in AREAS:
            raise ValueError(f"unknown area {area!r}; expected one of {', '.join(AREAS)}")
        mode: AreaMode = getattr(self, area)
        return mode

    def area_variable(self, area: str) -> str:
        """The variable that controls `area` (the alias FAST_CREWAI_TOOLS when that was used)."""
        return self.area_sources.get(area, AREA_VARIABLES[area])

    def replace(self, **changes: object) -> ClientConfig:
        """A copy with `changes` applied (dataclasses.replace)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ClientConfig:
        """Reads and validates every FAST_CREWAI_* client variable from `environ`.

        `environ` defaults to `os.environ`. Reads FAST_CREWAI_TOKEN_FILE's file (only that
        file; TLS files are read when the channel is created). Raises ConfigError whose
        message starts with the offending variable's name.
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value else None

        endpoint_text = get(ENV_ENDPOINT)
        endpoint = Endpoint.parse(endpoint_text) if endpoint_text else DEFAULT_ENDPOINT

        token, token_file = _read_token(get(ENV_TOKEN), get(ENV_TOKEN_FILE))

        tls_ca, tls_cert, tls_key = get(ENV_TLS_CA), get(ENV_TLS_CERT), get(ENV_TLS_KEY)
        if tls_cert and not tls_key:
            raise ConfigError(f"{ENV_TLS_KEY}: required when {ENV_TLS_CERT} is set")
        if tls_key and not tls_cert:
            raise ConfigError(f"{ENV_TLS_CERT}: required when {ENV_TLS_KEY} is set")
        tls_server_name = get(ENV_TLS_SERVER_NAME)
        if tls_server_name is not None:
            if not (tls_ca or tls_cert):
                raise ConfigError(
                    f"{ENV_TLS_SERVER_NAME}: set but TLS is off (set {ENV_TLS_CA} to enable TLS)"
                )
            if not _HOSTNAME.match(tls_server_name):
                raise ConfigError(
                    f'{ENV_TLS_SERVER_NAME}: expected a host name, got "{tls_server_name}"'
                )

        acceleration = _parse_bool(ENV_ACCELERATION, get(ENV_ACCELERATION), default=True)

        modes: dict[str, AreaMode] = {}
        tasks_dag = False
        sources: dict[str, str] = {}
        for area, variable in AREA_VARIABLES.items():
            raw = get(variable)
            if raw is None and area == "cache" and get(ENV_TOOLS_ALIAS) is not None:
                variable, raw = ENV_TOOLS_ALIAS, get(ENV_TOOLS_ALIAS)
            if raw is None:
                modes[area] = AreaMode.AUTO
                continue
            if area == "tasks" and raw.strip().lower() == "dag":
                modes[area], sources[area], tasks_dag = AreaMode.TRUE, variable, True
                continue
            modes[area] = _parse_area_mode(variable, raw, dag=area == "tasks")
            sources[area] = variable
        # The alias is validated even when FAST_CREWAI_CACHE wins, so a typo never hides.
        if get(ENV_TOOLS_ALIAS) is not None:
            _parse_area_mode(ENV_TOOLS_ALIAS, env[ENV_TOOLS_ALIAS])

        timeout_text = get(ENV_CONNECT_TIMEOUT)
        connect_timeout = (
            _parse_duration(ENV_CONNECT_TIMEOUT, timeout_text)
            if timeout_text
            else DEFAULT_CONNECT_TIMEOUT
        )

        cache_namespace = get(ENV_CACHE_NAMESPACE)
        if cache_namespace is not None:
            size = len(cache_namespace.encode("utf-8", "surrogatepass"))
            if size > MAX_CACHE_NAMESPACE_BYTES or not cache_namespace.isprintable():
                raise ConfigError(
                    f"{ENV_CACHE_NAMESPACE}: expected printable text of at most "
                    f"{MAX_CACHE_NAMESPACE_BYTES} bytes, got {size} bytes"
                )
        ttl_text = get(ENV_CACHE_TTL)
        cache_ttl = _parse_ttl(ENV_CACHE_TTL, ttl_text) if ttl_text else None
        legacy_search = _parse_legacy_search(get(ENV_LEGACY_SEARCH))

        rate_limit_key = get(ENV_RATE_LIMIT_KEY) or DEFAULT_RATE_LIMIT_KEY
        size = len(rate_limit_key.encode("utf-8", "surrogatepass"))
        if size > 256 or not rate_limit_key.isprintable():
            raise ConfigError(f"{ENV_RATE_LIMIT_KEY}: expected printable text of 1..256 bytes, "
                              f"got {size} bytes")
        fan_out = _parse_bool(ENV_FAN_OUT, get(ENV_FAN_OUT), default=False)
        worker_queue = get(ENV_WORKER_QUEUE) or DEFAULT_WORKER_QUEUE
        if not valid_queue_name(worker_queue):
            raise ConfigError(f'{ENV_WORKER_QUEUE}: expected 1..128 characters of '
                              f'[A-Za-z0-9._:/-], got "{worker_queue}"')

        grpc_tuning = _parse_bool(ENV_GRPC_TUNING, get(ENV_GRPC_TUNING), default=True)

        return cls(
            endpoint=endpoint,
            tasks_dag=tasks_dag,
            grpc_tuning=grpc_tuning,
            rate_limit_key=rate_limit_key,
            fan_out=fan_out,
            worker_queue=worker_queue,
            cache_namespace=cache_namespace,
            cache_ttl=cache_ttl,
            legacy_search=legacy_search,
            token=token,
            token_file=token_file,
            tls_ca=tls_ca,
            tls_cert=tls_cert,
            tls_key=tls_key,
            tls_server_name=tls_server_name,
            acceleration=acceleration,
            connect_timeout=connect_timeout,
            area_sources=sources,
            **modes,
        )


def _read_token(token: str | None, token_file: str | None) -> tuple[str | None, str | None]:
    if token is not None and token_file is not None:
        raise ConfigError(f"{ENV_TOKEN_FILE}: set together with {ENV_TOKEN}; set only one")
    variable = ENV_TOKEN
    if token_file is not None:
        variable = ENV_TOKEN_FILE
        try:
            with open(token_file, encoding="utf-8") as f:
                token = f.read().strip()  # surrounding whitespace, as the daemon reads it
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise ConfigError(f'{ENV_TOKEN_FILE}: cannot read "{token_file}": {reason}') from None
        if not token:
            raise ConfigError(f'{ENV_TOKEN_FILE}: "{token_file}" is empty')
    if token is not None and not all(0x21 <= ord(c) <= 0x7E for c in token):
        # gRPC metadata values must be printable ASCII; whitespace is almost always a paste error.
        raise ConfigError(f"{variable}: token must be printable ASCII without spaces")
    return token, token_file


def _parse_bool(variable: str, raw: str | None, *, default: bool) -> bool:
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f'{variable}: expected 1/true/on/yes or 0/false/off/no, got "{raw}"')


def _parse_area_mode(variable: str, raw: str, *, dag: bool = False) -> AreaMode:
    value = raw.strip().lower()
    if value == "auto":
        return AreaMode.AUTO
    if value in _TRUE:
        return AreaMode.TRUE
    if value in _FALSE:
        return AreaMode.FALSE
    expected = "true, false, auto or dag" if dag else "true, false or auto"
    raise ConfigError(f'{variable}: expected {expected}, got "{raw}"')


def _parse_legacy_search(raw: str | None) -> str:
    value = (raw or "auto").strip().lower()
    if value not in LEGACY_SEARCH_MODES:
        raise ConfigError(f'{ENV_LEGACY_SEARCH}: expected auto or lexical, got "{raw}"')
    return value


def _parse_duration(variable: str, raw: str) -> float:
    match = _DURATION.match(raw.strip())
    if not match:
        raise ConfigError(f'{variable}: expected seconds such as 1, 1.5, 1.5s or 250ms, got "{raw}"')
    seconds = float(match.group("value"))
    if match.group("unit") == "ms":
        seconds /= 1000.0
    if not 0 < seconds <= MAX_CONNECT_TIMEOUT:
        raise ConfigError(
            f'{variable}: must be greater than 0 and at most {MAX_CONNECT_TIMEOUT:g}s, got "{raw}"'
        )
    return seconds


_TTL = re.compile(r"^(?P<value>[0-9]+(\.[0-9]*)?|\.[0-9]+)(?P<unit>ms|s|m|h|d)?$")
_TTL_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _parse_ttl(variable: str, raw: str) -> float:
    match = _TTL.match(raw.strip())
    if not match:
        raise ConfigError(f'{variable}: expected a duration such as 90, 90s, 15m, 2h or 1d, got "{raw}"')
    seconds = float(match.group("value")) * _TTL_UNITS[match.group("unit")]
    if not 0.001 <= seconds <= MAX_CACHE_TTL:
        raise ConfigError(f'{variable}: must be between 1ms and 365d, got "{raw}"')
    return seconds


_lock = threading.Lock()
_config: ClientConfig | None = None


def get_config() -> ClientConfig:
    """The process-wide config, read from the environment on first call and cached.

    Raises ConfigError (and caches nothing) when the environment is malformed.
    """
    global _config
    with _lock:
        if _config is None:
            _config = ClientConfig.from_env()
        return _config


def reset_config() -> None:
    """Forgets the cached config; the next get_config() re-reads the environment (tests)."""
    global _config
    with _lock:
        _config = None


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at fork time


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
