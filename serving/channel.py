"""What server and client agree on about the gRPC channel itself."""

from __future__ import annotations

MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # both directions: a few hundred 256x256 PNGs per call


def grpc_address(host: str, port: int) -> str:
    """``host:port``, with IPv6 hosts in brackets."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"
