"""The generated tri-modal corpus (see `emollm.data.synthetic` for what it contains and how each modality carries
the label): `python -m data_recipes synthetic --out DIR [--n N] [--seed S] [--media] [--opt conflict=0.2]`."""

from __future__ import annotations

from emollm.data.synthetic import SyntheticSpec, generate


def convert(
    out: str,
    root: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    media: bool = False,
    n: int | None = None,
    conflict: str | float = 0.0,
    missing: str | float = 0.1,
) -> dict:
    """Write the generated corpus to `out` (`n` or `limit`: training-split size; `media`: raw mp4/wav/CSV;
    `conflict`: fraction of samples with a face/voice showing another emotion; `missing`: fraction lacking a
    modality)."""
    spec = SyntheticSpec(seed=seed, media=media, conflict_rate=float(conflict), missing_rate=float(missing))
    if n:
        spec.n_train = n
    if limit:
        spec.n_train = min(spec.n_train, limit)
    return generate(out, spec)
