"""Helpers for store tests that damage files the way a disk or a bug would."""

from __future__ import annotations

from pathlib import Path

from engine.store.sqlite import default_archive_path


def flip_bytes(path: Path, needle: bytes) -> None:
    """Invert the middle byte of the one place `needle` occurs in a closed SQLite file."""
    for candidate in (path, Path(f"{path}-wal")):
        if not candidate.exists():
            continue
        raw = bytearray(candidate.read_bytes())
        at = raw.find(needle)
        if at < 0:
            continue
        assert raw.find(needle, at + 1) < 0, "needle must occur once"
        raw[at + len(needle) // 2] ^= 0xFF
        candidate.write_bytes(bytes(raw))
        return
    raise AssertionError(f"{needle!r} not found in {path}")


def archive_files(path: Path) -> list[Path]:
    """A store's archive file and its WAL companions (which may not exist)."""
    archive = default_archive_path(path)
    return [Path(f"{archive}{suffix}") for suffix in ("", "-wal", "-shm")]


def lose_archive(path: Path) -> None:
    """Delete a closed store's archive file, as an operator's mistake would."""
    for file in archive_files(path):
        file.unlink(missing_ok=True)
