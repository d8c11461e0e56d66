"""The classic text baseline: TF-IDF of word uni- and bigrams + multinomial logistic regression (L2), trained on a
corpus's training transcripts, written in `emollm eval`'s predictions/metrics format (mode `score`).

TF-IDF here: tokens are lower-cased words (letters, digits, apostrophes); terms seen in at least `min_df` training
documents; sublinear tf (1 + log tf); smoothed idf = ln((1 + N) / (1 + df)) + 1; each document L2-normalised (the
scikit-learn defaults with sublinear_tf=True). The regression is fitted with L-BFGS on the mean cross-entropy plus
`l2` x ||W||^2, optionally with inverse-frequency class weights.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from emollm.data.sample import Sample, load_samples
from emollm.evaluation.label_maps import map_split_into
from emollm.evaluation.metrics import bootstrap_ci, classification_metrics
from emollm.io import atomic_write_json, write_jsonl
from emollm.labels import get_labels

_TOKEN = re.compile(r"[a-z0-9']+")


def terms(text: str) -> list[str]:
    """Word unigrams and bigrams of a lower-cased text."""
    words = _TOKEN.findall(text.lower())
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


class Tfidf:
    """A TF-IDF vocabulary fitted on training texts."""

    def __init__(self, texts: list[str], min_df: int = 2) -> None:
        df = Counter(t for text in texts for t in set(terms(text)))
        self.vocab = {t: i for i, t in enumerate(sorted(t for t, n in df.items() if n >= min_df))}
        n = len(texts)
        self.idf = torch.tensor(
            [math.log((1 + n) / (1 + df[t])) + 1 for t in sorted(self.vocab, key=self.vocab.get)]
        )

    def transform(self, texts: list[str]) -> torch.Tensor:
        """`[N, V]` L2-normalised sublinear TF-IDF vectors (a sparse COO tensor)."""
        rows, cols, vals = [], [], []
        for row, text in enumerate(texts):
            counts = Counter(t for t in terms(text) if t in self.vocab)
            weights = {
                self.vocab[t]: (1 + math.log(c)) * float(self.idf[self.vocab[t]]) for t, c in counts.items()
            }
            norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            for col, w in weights.items():
                rows.append(row), cols.append(col), vals.append(w / norm)
        index = torch.tensor([rows, cols], dtype=torch.long).reshape(2, -1)
        return torch.sparse_coo_tensor(
            index, torch.tensor(vals), (len(texts), len(self.vocab)), check_invariants=False
        ).coalesce()


class SparseLinear(torch.nn.Linear):
    """A linear layer whose input may be a sparse `[N, V]` tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`[N, V]` -> `[N, K]`."""
        return torch.sparse.mm(x, self.weight.t()) + self.bias if x.is_sparse else super().forward(x)


def fit_logistic(
    x: torch.Tensor, y: torch.Tensor, classes: int, l2: float, weights: torch.Tensor | None
) -> torch.nn.Linear:
    """Multinomial logistic regression `[V] -> [K]` by L-BFGS (deterministic)."""
    torch.manual_seed(0)
    model = SparseLinear(x.shape[1], classes)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    opt = torch.optim.LBFGS(
        model.parameters(), lr=1.0, max_iter=200, history_size=20, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y, weight=weights) + l2 * model.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return model


def _texts(samples: list[Sample]) -> list[str]:
    return [s.text or "" for s in samples]


def run_tfidf(
    train: str | Path,
    test: str | Path,
    out: str | Path,
    label_set: str,
    label_map: str | None = None,
    l2: float = 1e-4,
    class_weights: bool = False,
) -> dict[str, Any]:
    """Train on `train`'s transcripts, score `test` (both splits' gold labels mapped into `label_set` first when a
    label map is given); write OUT/predictions.jsonl and OUT/metrics.json; return the metrics."""
    out, labels = Path(out), get_labels(label_set)
    began = time.time()
    if label_map:  # both splits into the shared label space: the in-corpus reference for a zero-shot model
        train, _, _ = map_split_into(train, label_map, label_set, out / "train", allow_other=False)
    train_samples, _ = load_samples(train, labels)
    vec = Tfidf(_texts(train_samples))
    y = torch.tensor([labels.index(s.emotion) for s in train_samples])
    counts = torch.bincount(y, minlength=len(labels)).float()
    weights = counts.sum() / (len(labels) * counts.clamp_min(1)) if class_weights else None
    model = fit_logistic(vec.transform(_texts(train_samples)), y, len(labels), l2, weights)
    mapping = None
    if label_map:
        test, _, mapping = map_split_into(test, label_map, label_set, out, allow_other=False)
    test_samples, bad = load_samples(test, labels)
    with torch.no_grad():
        probs = model(vec.transform(_texts(test_samples))).softmax(-1)
    rows = [{"id": s.id, "gold": s.emotion, "predicted": labels[int(p.argmax())], "scored_label": labels[int(p.argmax())],
             "scores": {lab: round(float(v), 6) for lab, v in zip(labels, p, strict=True)}, "modalities": ["text"]}
            for s, p in zip(test_samples, probs, strict=True)]  # fmt: skip
    gold, pred = [r["gold"] for r in rows], [r["scored_label"] for r in rows]
    score = {**classification_metrics(gold, pred, labels), "ci95": bootstrap_ci(gold, pred, labels)}
    metrics = {"score": score, "baseline": "tfidf-logreg", "vocabulary": len(vec.vocab), "l2": l2,
               "class_weights": class_weights, "train": str(train), "data": str(test), "label_map": mapping,
               "n_bad_records": len(bad), "train_seconds": round(time.time() - began, 2)}  # fmt: skip
    write_jsonl(out / "predictions.jsonl", rows)
    atomic_write_json(out / "metrics.json", metrics)
    return metrics
