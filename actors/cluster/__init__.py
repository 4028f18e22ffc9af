"""A cluster of engine nodes on a thespian convention, sharing a PostgreSQL store.

See docs/cluster.md: membership (`engine/store/postgres/cluster.py`), placement
(`placement.py`), the node's engine (`engine.py`), its gateway actor (`gateway.py`) and
the `liaptui node` command (`cli.py`).
"""
