"""Corpus converters: raw corpus in its official layout -> Sample JSONL (train/dev/test) + manifest.json.

Run one with `python -m data_recipes NAME --root RAW --out DIR`.
"""

from __future__ import annotations

from collections.abc import Callable

from data_recipes import emodb, meld, synthetic

RECIPES: dict[str, Callable[..., dict]] = {
    "emodb": emodb.convert,
    "meld": meld.convert,
    "synthetic": synthetic.convert,
}
