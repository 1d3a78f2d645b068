"""The gRPC side of fast_crewai: channel, health probe, process-wide connection, typed calls.

Only modules in this subpackage import the generated stubs (fast_crewai.v1).
"""

from fast_crewai.client.connection import Connection, get_connection, reset_connection

__all__ = ["Connection", "get_connection", "reset_connection"]
