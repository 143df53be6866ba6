"""Connections for reading an ML Metadata store: local SQLite (read-only), MySQL, or gRPC.

A pipeline may be writing the store at the same time: SQLite is opened read-only (MLMD waits
while a writer holds the lock), and MySQL / the MLMD gRPC server handle concurrent readers.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator

from ml_metadata import errors, metadata_store
from ml_metadata.proto import metadata_store_pb2

from artgan.errors import ArtganError

MYSQL_PORT = 3306
MYSQL_DATABASE = "metadb"  # the database Kubeflow Pipelines' MLMD uses
GRPC_PORT = 8080  # Kubeflow's metadata-grpc-service, and MLMD's own server default
GRPC_TIMEOUT_SECONDS = 30

Connection = metadata_store_pb2.ConnectionConfig | metadata_store_pb2.MetadataStoreClientConfig


def sqlite_connection(path: str) -> metadata_store_pb2.ConnectionConfig:
    """A read-only connection to the SQLite store at ``path`` (which must exist)."""
    if not os.path.isfile(path):
        raise ArtganError(
            f"no ML Metadata store at {path!r}: run the pipeline first (`artgan run --home DIR`) "
            "or name the store with --home, --sqlite, --mysql-host or --grpc-host"
        )
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = os.path.abspath(path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return config


def mysql_connection(
    host: str,
    port: int = MYSQL_PORT,
    database: str = MYSQL_DATABASE,
    user: str = "",
    password: str = "",
) -> metadata_store_pb2.ConnectionConfig:
    """A connection to an MLMD store in MySQL; nothing is created if it does not exist."""
    config = metadata_store_pb2.ConnectionConfig()
    config.mysql.host = host
    config.mysql.port = port
    config.mysql.database = database
    config.mysql.user = user
    config.mysql.password = password
    config.mysql.skip_db_creation = True
    return config


def grpc_connection(
    host: str, port: int = GRPC_PORT
) -> metadata_store_pb2.MetadataStoreClientConfig:
    """A client of an MLMD gRPC server (e.g. Kubeflow's metadata-grpc-service)."""
    return metadata_store_pb2.MetadataStoreClientConfig(
        host=host, port=port, client_timeout_sec=GRPC_TIMEOUT_SECONDS
    )


def describe(connection: Connection) -> str:
    """Where a connection points, for messages (never the password)."""
    if isinstance(connection, metadata_store_pb2.MetadataStoreClientConfig):
        return f"MLMD gRPC server {connection.host}:{connection.port}"
    if connection.HasField("mysql"):
        mysql = connection.mysql
        return f"MySQL {mysql.host}:{mysql.port}/{mysql.database}"
    return f"SQLite {connection.sqlite.filename_uri}"


@contextlib.contextmanager
def store_errors(connection: Connection) -> Iterator[None]:
    """Turns MLMD's connection and query errors into ArtganErrors naming the store."""
    try:
        yield
    except (RuntimeError, errors.StatusError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        detail = re.sub(r" query:\s+(CREATE|SELECT|INSERT|UPDATE|ALTER|PRAGMA)\b.*", "", detail)
        if "attempt to write a readonly database" in detail:
            detail = "the file is not an ML Metadata store (or no run has written it yet)"
        raise ArtganError(
            f"cannot read ML Metadata from {describe(connection)}: {detail}"
        ) from error


def open_store(connection: Connection) -> metadata_store.MetadataStore:
    """Opens the store without creating or migrating anything."""
    with store_errors(connection):
        return metadata_store.MetadataStore(connection, enable_upgrade_migration=False)
