"""The generated tri-modal corpus (see `emollm.data.synthetic` for what it contains)."""

from __future__ import annotations

from emollm.data.synthetic import SyntheticSpec, generate


def convert(out: str, root: str | None = None, limit: int | None = None, seed: int = 0) -> dict:
    """Write the generated corpus to `out` (`limit` caps the training split size)."""
    spec = SyntheticSpec(seed=seed)
    if limit:
        spec.n_train = min(spec.n_train, limit)
    return generate(out, spec)
