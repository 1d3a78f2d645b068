"""Helpers shared by the CLI subcommands."""

from __future__ import annotations

import argparse
import sys

from fast_crewai.config import ClientConfig, Endpoint
from fast_crewai.errors import ConfigError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """--endpoint and --json, common to commands that talk to the daemon."""
    parser.add_argument(
        "--endpoint",
        metavar="ADDRESS",
        help="daemon address (host:port, [v6]:port or unix:/path); "
        "default: $FAST_CREWAI_ENDPOINT or 127.0.0.1:50051",
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def load_config(args: argparse.Namespace) -> ClientConfig:
    """The environment's config with command-line overrides. Raises ConfigError."""
    config = ClientConfig.from_env()
    if getattr(args, "endpoint", None):
        config = config.replace(endpoint=Endpoint.parse(args.endpoint, variable="--endpoint"))
    return config


def fail_usage(error: ConfigError) -> int:
    """Prints a configuration error as one line on stderr; returns the usage exit code."""
    print(f"fast-crewai: {error}", file=sys.stderr)
    return EXIT_USAGE


def format_duration(seconds: int) -> str:
    """1h 02m 03s style; days when longer than a day."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def describe_transport(config: ClientConfig) -> str:
    """e.g. "tcp, TLS, token set" / "unix socket, insecure, no token"."""
    transport = "unix socket" if config.endpoint.scheme == "unix" else "tcp"
    if config.mutual_tls:
        security = "mutual TLS"
    elif config.tls:
        security = "TLS"
    else:
        security = "insecure"
    token = "token set" if config.token else "no token"
    return f"{transport}, {security}, {token}"
