"""The event store on PostgreSQL (asyncpg): one database several engine processes share."""

from engine.store.postgres.store import PostgresEventStore

__all__ = ["PostgresEventStore"]
