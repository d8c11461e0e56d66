"""Samples -> tokenised training examples (through `datasets`, cached as Arrow) -> padded batches with features."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from torch import Tensor

from emollm.cues import cues_of_inputs, describe
from emollm.data.sample import Sample
from emollm.encoders import Encoder
from emollm.encoders.base import Features, encode_inputs
from emollm.prompts import ModalityTokens, PromptTemplate, instruction_index

IGNORE = -100


def sample_messages(
    sample: Sample,
    template: PromptTemplate,
    tokens: dict[str, ModalityTokens],
    labels: tuple[str, ...],
    with_answer: bool,
    with_rationale: bool = True,
) -> list[dict[str, str]]:
    """Chat messages for a sample: its own `messages` (placeholders expanded) or the template's rendering."""
    for modality in sample.media:
        if modality not in tokens:
            raise ValueError(
                f"sample {sample.id}: has {modality} but the model has no {modality} encoder "
                f"(model modalities: {', '.join(tokens) or 'none'})"
            )
    if sample.messages:
        return _expand_given_messages(sample, tokens, with_answer)
    answer = None
    if with_answer:
        va = sample_va(sample)
        answer = template.format_answer(sample.emotion, sample.rationale if with_rationale else None, va)
    placeholders = {m: tokens[m].expanded() for m in sample.media}
    choice = instruction_index(sample.id, len(template.instructions)) if with_answer else 0
    context = sample.meta.get("context")
    cues = prompt_cues(sample, template, tuple(tokens))
    return template.messages(
        labels, placeholders, sample.text, choice, answer, context, modalities=tuple(tokens), cues=cues
    )


def prompt_cues(sample: Sample, template: PromptTemplate, modalities: tuple[str, ...]) -> str | None:
    """The `Measured:` text of a template that gives the model its cues: the sample's measured cues of the inputs
    it has now (none of a removed input); None for templates without that line."""
    if not template.measured:
        return None
    measured = sample.meta.get("measured")
    if measured is None:
        raise ValueError(
            f"sample {sample.id}: prompt template {template.name} gives the model its measured cues, but the sample "
            "has no meta.measured (write them with `emollm rationales`, or chat, which measures them)"
        )
    return describe(cues_of_inputs(measured, set(sample.media), modalities, bool(sample.text)))


def sample_va(sample: Sample) -> tuple[float, float] | None:
    """The sample's (valence, arousal) in [-1, 1], when it has both."""
    v, a = sample.labels.get("valence"), sample.labels.get("arousal")
    return (float(v), float(a)) if isinstance(v, (int, float)) and isinstance(a, (int, float)) else None


def _expand_given_messages(
    sample: Sample, tokens: dict[str, ModalityTokens], with_answer: bool
) -> list[dict]:
    msgs = [dict(m) for m in sample.messages]
    if not with_answer and msgs and msgs[-1]["role"] == "assistant":
        msgs = msgs[:-1]
    joined = "".join(m["content"] for m in msgs)
    for modality, tok in tokens.items():
        count = joined.count(tok.token)
        want = 1 if modality in sample.media else 0
        if count != want:
            raise ValueError(
                f"sample {sample.id}: messages hold {count} {tok.token} placeholders, expected {want}"
            )
        for m in msgs:
            m["content"] = m["content"].replace(tok.token, tok.expanded())
    return msgs


def tokenize_messages(
    tokenizer: Any, messages: list[dict[str, str]], with_answer: bool
) -> tuple[list[int], int]:
    """Token ids of the chat (ending in the assistant prompt when there is no answer) and the prompt length."""
    prompt_msgs = messages[:-1] if with_answer else messages
    prompt = tokenizer.apply_chat_template(prompt_msgs, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if not with_answer:
        return prompt_ids, len(prompt_ids)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):
        raise ValueError("the chat template renders the prompt differently with and without the answer")
    answer_ids = tokenizer(full[len(prompt) :], add_special_tokens=False)["input_ids"]
    return prompt_ids + answer_ids, len(prompt_ids)


def build_dataset(
    samples: Sequence[Sample],
    tokenizer: Any,
    template: PromptTemplate,
    tokens: dict[str, ModalityTokens],
    labels: tuple[str, ...],
    max_length: int,
    cache_dir: str | Path | None = None,
    with_rationale: bool = True,
) -> tuple[Dataset, list[dict[str, str]]]:
    """Tokenised examples (answer-only loss targets) as a `datasets.Dataset` cached as Arrow under `cache_dir`, and
    the samples left out (id, reason): those longer than `max_length` tokens are reported, never truncated."""
    records = [{"record": json.dumps(s.to_record(), sort_keys=True)} for s in samples]

    def tokenize(row: dict[str, str]) -> dict[str, Any]:
        sample = Sample(**json.loads(row["record"]))
        msgs = sample_messages(sample, template, tokens, labels, True, with_rationale)
        ids, prompt_len = tokenize_messages(tokenizer, msgs, with_answer=True)
        error = (
            f"sample {sample.id}: {len(ids)} tokens > data.max_length={max_length}"
            if len(ids) > max_length
            else ""
        )
        return {
            "error": error,
            "id": sample.id,
            "input_ids": ids,
            "prompt_len": prompt_len,
            "emotion": sample.emotion,
            "media": json.dumps(sample.media, sort_keys=True),
            "record": row["record"],
        }

    dataset = Dataset.from_list(records)
    key = _cache_key(records, tokenizer, template, tokens, max_length, with_rationale)
    cache_file = None
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        cache_file = str(Path(cache_dir) / f"tokenized-{key}.arrow")
    tokenized = dataset.map(
        tokenize,
        remove_columns=["record"],
        cache_file_name=cache_file,
        new_fingerprint=key,
        desc="tokenising",
    )
    errors = tokenized["error"]
    left_out = [
        {"sample": sid, "reason": err} for sid, err in zip(tokenized["id"], errors, strict=True) if err
    ]
    if left_out:
        tokenized = tokenized.select([i for i, err in enumerate(errors) if not err])
    return tokenized.remove_columns("error"), left_out


def _cache_key(
    records: list[dict],
    tokenizer: Any,
    template: PromptTemplate,
    tokens: dict[str, ModalityTokens],
    max_length: int,
    with_rationale: bool,
) -> str:
    h = hashlib.sha256()
    for r in records:
        h.update(r["record"].encode())
    h.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    h.update(str(getattr(tokenizer, "chat_template", "")).encode())
    h.update(template.to_yaml().encode())
    h.update(json.dumps({m: t.to_dict() for m, t in tokens.items()}, sort_keys=True).encode())
    h.update(f"{max_length}:{with_rationale}".encode())
    return h.hexdigest()[:20]


def pad_ids(seqs: Sequence[Sequence[int]], pad_id: int, side: str = "right") -> tuple[Tensor, Tensor]:
    """Pad token id lists to `[B, L]` plus an attention mask `[B, L]`, on the right or the left."""
    length = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), length), dtype=torch.long)
    for i, s in enumerate(seqs):
        span = slice(0, len(s)) if side == "right" else slice(length - len(s), length)
        ids[i, span] = torch.as_tensor(list(s), dtype=torch.long)
        mask[i, span] = 1
    return ids, mask


def encode_media(encoders: dict[str, Encoder], media: Sequence[dict[str, str]]) -> dict[str, Features]:
    """Decode and encode each modality for the batch rows that have it (frozen encoders, no gradients)."""
    features = {}
    for modality, encoder in encoders.items():
        present = [(row, refs[modality]) for row, refs in enumerate(media) if refs.get(modality)]
        if present:
            prepared = [encoder.prepare(ref) for _, ref in present]
            features[modality] = encode_inputs(encoder, prepared, [row for row, _ in present])
    unknown = {m for refs in media for m in refs} - set(encoders)
    if unknown:
        raise ValueError(f"unknown modality {sorted(unknown)}; the model has {sorted(encoders)}")
    return features


class ModalityDropout:
    """Hide each present modality of a training sample with probability `p` (at least one input stays): the prompt
    loses its placeholder and names it unavailable. The answer's rationale is rebuilt from the measured cues of the
    inputs that remain (`meta.measured`), so the model learns to cite only what it was given; without measured cues
    the answer is label-only. Draws from torch's global RNG, so an accelerate resume reproduces them."""

    def __init__(
        self,
        p: float,
        tokenizer: Any,
        template: PromptTemplate,
        tokens: dict[str, ModalityTokens],
        labels: tuple[str, ...],
        with_rationale: bool = True,
    ) -> None:
        self.p, self.tokenizer, self.template, self.tokens, self.labels = (
            p,
            tokenizer,
            template,
            tokens,
            labels,
        )
        self.with_rationale = with_rationale

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row itself, or a re-tokenised copy without the dropped modalities."""
        sample = Sample(**json.loads(row["record"]))
        present = sorted(sample.media)
        drop = [m for m in present if float(torch.rand(())) < self.p]
        if len(drop) == len(present) and not sample.text:
            drop = drop[:-1]
        if not drop:
            return row
        media = {m: r for m, r in sample.media.items() if m not in drop}
        measured = sample.meta.get("measured")
        rationale = None
        if self.with_rationale and measured is not None:
            rationale = describe(cues_of_inputs(measured, set(media), tuple(self.tokens), bool(sample.text)))
        kept = dataclasses.replace(sample, media=media, messages=None, rationale=rationale)
        msgs = sample_messages(
            kept, self.template, self.tokens, self.labels, True, with_rationale=rationale is not None
        )
        ids, prompt_len = tokenize_messages(self.tokenizer, msgs, with_answer=True)
        return {
            **row,
            "input_ids": ids,
            "prompt_len": prompt_len,
            "media": json.dumps(kept.media, sort_keys=True),
        }


class Collator:
    """Pads token ids (answer-only labels) and encodes each modality's media into Features."""

    def __init__(
        self, encoders: dict[str, Encoder], pad_id: int, dropout: ModalityDropout | None = None
    ) -> None:
        self.encoders = encoders
        self.pad_id = pad_id
        self.dropout = dropout

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """A batch: input_ids/attention_mask/labels `[B, L]`, features per modality, ids and gold emotions."""
        if self.dropout is not None:
            rows = [self.dropout(r) for r in rows]
        input_ids, attention_mask = pad_ids([r["input_ids"] for r in rows], self.pad_id)
        labels = torch.full_like(input_ids, IGNORE)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            labels[i, r["prompt_len"] : n] = input_ids[i, r["prompt_len"] : n]
        media = [json.loads(r["media"]) for r in rows]
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "labels": labels,
            "features": encode_media(self.encoders, media),
            "ids": [r["id"] for r in rows],
            "emotions": [r["emotion"] for r in rows],
        }
