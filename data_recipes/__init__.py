"""Corpus converters: raw corpus in its official layout -> Sample JSONL (train/dev/test, `all.jsonl` for
leave-one-group-out folds) + manifest.json (counts per split and label, input checksums, bad rows, recipe version).

Run one with `python -m data_recipes NAME --root RAW --out DIR [--opt KEY=VALUE ...] [--strict]`.
"""

from __future__ import annotations

from data_recipes import (
    amigos,
    cremad,
    deap,
    dreamer,
    emodb,
    emorynlp,
    enterface,
    iemocap,
    mahnob,
    meld,
    mer2023,
    mosi,
    msp_improv,
    ravdess,
    savee,
    synthetic,
)  # fmt: skip
from data_recipes.common import RecipeFn

RECIPES: dict[str, RecipeFn] = {
    "amigos": amigos.convert,
    "cremad": cremad.convert,
    "deap": deap.convert,
    "dreamer": dreamer.convert,
    "emodb": emodb.convert,
    "emorynlp": emorynlp.convert,
    "enterface": enterface.convert,
    "iemocap": iemocap.convert,
    "mahnob": mahnob.convert,
    "meld": meld.convert,
    "mer2023": mer2023.convert,
    "mosei": mosi.convert_mosei,
    "mosi": mosi.convert,
    "msp_improv": msp_improv.convert,
    "ravdess": ravdess.convert,
    "savee": savee.convert,
    "synthetic": synthetic.convert,
}
