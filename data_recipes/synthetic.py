"""The generated tri-modal corpus (see `emollm.data.synthetic` for what it contains)."""

from __future__ import annotations

from emollm.data.synthetic import SyntheticSpec, generate


def convert(
    out: str, root: str | None = None, limit: int | None = None, seed: int = 0, media: bool = False
) -> dict:
    """Write the generated corpus to `out` (`limit` caps the training split size; `media`: raw mp4/wav/CSV)."""
    spec = SyntheticSpec(seed=seed, media=media)
    if limit:
        spec.n_train = min(spec.n_train, limit)
    return generate(out, spec)
