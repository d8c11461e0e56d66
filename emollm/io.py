"""Atomic file and folder writes: write to a temporary sibling, then rename."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write `text` to `path` so a reader sees the old file or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write `obj` as indented JSON atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


@contextmanager
def atomic_dir(final: str | Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `final` whole, on error it is removed."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        yield tmp
        replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_dir(tmp: Path, final: Path) -> None:
    """Move a finished temporary folder into place, replacing any older folder of that name."""
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any], str | None]]:
    """Yield (line, record, None) per JSON-object line and (line, {}, reason) per malformed one; blank lines skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"JSONL file not found: {path}")
    with path.open("rb") as fh:  # bytes: one line that is not UTF-8 must not stop the others
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield lineno, {}, f"{path}:{lineno}: not valid UTF-8 (byte {exc.start})"
                continue
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield lineno, {}, f"{path}:{lineno}: malformed JSON ({exc.msg})"
                continue
            if not isinstance(record, dict):
                yield lineno, {}, f"{path}:{lineno}: a line must be a JSON object"
                continue
            yield lineno, record, None


def write_jsonl(path: str | Path, records: list[dict[str, Any]]) -> None:
    """Write records as JSONL atomically."""
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class UnsafeFileError(ValueError):
    """A weights or feature file is not the safetensors file it claims to be; nothing in it was executed."""


def check_safetensors(path: str | Path) -> None:
    """Refuse a file that is not safetensors (a pickle put in its place, a truncated copy) with one line naming it;
    only the header is read."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt"):
            pass
    except (SafetensorError, OSError, ValueError) as exc:
        raise UnsafeFileError(f"{path}: not a valid safetensors file ({exc}); refusing to load it") from exc


def load_safetensors(path: str | Path) -> dict[str, Any]:
    """Tensors of a safetensors file, or one clear UnsafeFileError naming the file."""
    from safetensors.torch import load_file

    check_safetensors(path)
    return load_file(str(path))
