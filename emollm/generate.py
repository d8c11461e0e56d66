"""Inference: label scoring (per-label probabilities, never unparsed) and free generation with a rationale."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from emollm.asr import Transcriber
from emollm.config import MODALITIES
from emollm.cues import measure_samples
from emollm.data.dataset import encode_media, pad_ids, prompt_cues, sample_messages, tokenize_messages
from emollm.data.media import load_video_audio
from emollm.data.sample import Sample
from emollm.encoders.audio import VIDEO_SUFFIXES
from emollm.parse import parse_answer
from emollm.prior_adjustment import applied

if TYPE_CHECKING:
    from emollm.model.emollm import EmoLLM


def make_sample(text: str | None = None, media: dict[str, str | None] | None = None) -> Sample:
    """An unlabelled sample from raw inputs; a missing file or unknown modality is a clear error."""
    given = {m: str(Path(p)) for m, p in (media or {}).items() if p}
    for modality, path in given.items():
        if modality not in MODALITIES:
            raise ValueError(f"unknown modality {modality!r}; valid: {', '.join(MODALITIES)}")
        if not Path(path.partition("#")[0]).is_file():
            raise FileNotFoundError(f"{modality} file not found: {path}")
    if not given and not text:
        raise ValueError("give at least one input: text, video, audio or sensor")
    return Sample(id="input", labels={}, text=text, media=given)


def input_sample(model: EmoLLM, text: str | None, media: dict[str, str | None] | None) -> tuple[Sample, dict]:
    """The sample for raw inputs, with the transcript standing in for missing text when the model has `data.asr`;
    and what was used: `modalities` (+ `text_source`, `transcript` when transcribed)."""
    sample = make_sample(text, media)
    info: dict[str, Any] = {}
    if "video" in sample.media and "audio" not in sample.media and "audio" in model.encoders:
        video_file = sample.media["video"].partition("#")[0]
        if Path(video_file).suffix.lower() in VIDEO_SUFFIXES and load_video_audio(video_file) is not None:
            sample.media["audio"] = video_file  # the clip's own audio track feeds the audio encoder
            info["audio_source"] = "video track"
    asr_name = getattr(getattr(model.config, "data", None), "asr", "")
    if not sample.text and asr_name and "audio" in sample.media:
        if getattr(model, "_transcriber", None) is None:
            model._transcriber = Transcriber(asr_name)
        sample.text = model._transcriber(sample.media["audio"]) or None
        info.update(text_source="asr", transcript=sample.text)
    info["modalities"] = [m for m in MODALITIES if m in sample.media] + (["text"] if sample.text else [])
    if (
        model.template.measured
    ):  # the template gives the model its measured cues: measure them on these inputs
        (cues,), bad = measure_samples([sample], model.encoders)
        if bad:
            raise ValueError(
                f"{bad[0]['modality']} input {sample.media[bad[0]['modality']]}: {bad[0]['reason']}"
            )
        sample.meta["measured"] = info["measured"] = cues
    return sample, info


def _prompt_ids(
    model: EmoLLM, sample: Sample, question: str | None = None, turns: Sequence[tuple[str, str]] = ()
) -> list[int]:
    """Prompt token ids: the template's classification prompt, or a free question (after earlier chat turns)."""
    messages = sample_messages(sample, model.template, model.tokens, model.labels, with_answer=False)
    if question is not None:
        first_question = turns[0][0] if turns else question
        placeholders = {m: model.tokens[m].expanded() for m in sample.media}
        messages[1]["content"] = model.template.user_message(
            model.labels,
            placeholders,
            sample.text,
            question=first_question,
            context=sample.meta.get("context"),
            modalities=tuple(model.tokens),
            cues=prompt_cues(sample, model.template, tuple(model.tokens)),
        )
        for i, (asked, answered) in enumerate(turns):
            if i > 0:
                messages.append({"role": "user", "content": asked})
            messages.append({"role": "assistant", "content": answered})
        if turns:
            messages.append({"role": "user", "content": question})
    ids, _ = tokenize_messages(model.tokenizer, messages, with_answer=False)
    return ids


def _common_prefix(seqs: Sequence[Sequence[int]]) -> int:
    """Length of the longest common prefix, leaving at least one token in every sequence."""
    n = 0
    while n < min(len(s) for s in seqs) - 1 and len({s[n] for s in seqs}) == 1:
        n += 1
    return n


_CONTINUATION_MASKS: dict[tuple, Tensor] = {}


def continuation_mask(tokenizer: Any, vocab_size: int) -> Tensor:
    """`[V]` True for tokens that continue a word (their text starts with a letter or digit, no space): after a
    label, any of these would make a longer word ("joy" -> "joyful"), so they are not a label's end. Computed once
    per vocabulary (~0.5 s) and kept for every later model with the same tokenizer."""
    key = (
        tokenizer.name_or_path,
        len(tokenizer),
        vocab_size,
        tuple(sorted(tokenizer.get_added_vocab().items())),
    )
    if key not in _CONTINUATION_MASKS:
        texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
        mask = torch.zeros(vocab_size, dtype=torch.bool)
        mask[: len(texts)] = torch.tensor([bool(t) and t[0].isalnum() for t in texts])
        _CONTINUATION_MASKS[key] = mask
    return _CONTINUATION_MASKS[key]


def label_prefix(template: Any, answer: str) -> str:
    """For templates whose answer names the label last (cues first): the generated answer up to its last
    "Emotion:" line, after which the candidates are scored; "" for label-first templates."""
    if not template.label_last:
        return ""
    head = template.answer_label_only.split("{label}")[0].strip()
    cut = answer.rfind(head) if head else -1
    return (answer[:cut] if cut >= 0 else answer.rstrip() + "\n").rstrip(" ")


def _candidates(model: EmoLLM) -> list[list[int]]:
    """Token ids of each label's verbalised answer (`Emotion: <label>`)."""
    fmt = model.template.answer_label_only
    return [
        model.tokenizer(fmt.format(label=lab), add_special_tokens=False)["input_ids"] for lab in model.labels
    ]


def _label_tree_mask(mask: Tensor, lengths: Sequence[int], dtype: torch.dtype) -> Tensor:
    """Additive attention mask `[B, 1, L + T, L + T]` for left-padded prompts `mask` `[B, L]` followed by K label
    suffixes side by side (`lengths`, T = their sum): prompt tokens attend causally to the prompt, each suffix token to
    the prompt and its own label's earlier tokens only, so one forward pass scores every label."""
    b, width = mask.shape
    labels = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
    owner = torch.cat([torch.full((width,), -1), labels])  # [L + T]: -1 prompt, else the label's index
    n = owner.numel()
    same_label_or_prompt = (owner[:, None] == owner[None, :]) | (owner[None, :] == -1)
    suffix_keys = torch.ones(b, n - width, dtype=torch.bool)
    not_padding = torch.cat([mask.bool().cpu(), suffix_keys], 1)  # [B, L + T] keys
    allowed = (torch.ones(n, n, dtype=torch.bool).tril() & same_label_or_prompt)[None] & not_padding[:, None]
    allowed |= torch.eye(n, dtype=torch.bool)[None]  # padding rows see themselves: no row is fully masked
    return torch.zeros(b, 1, n, n, dtype=dtype).masked_fill(~allowed[:, None], torch.finfo(dtype).min)


def _label_log_probs(lp: Tensor, suffixes: Sequence[Sequence[int]], cont: Tensor) -> Tensor:
    """`[B, K]` log P(label k's suffix tokens, then a word boundary) from the tree pass's log-probabilities `lp`
    `[B, 1 + T, V]` (row 0: after the prompt; row 1 + j: after suffix token j); `cont` `[V]`: word-continuing tokens."""
    scores, start = [], 1
    for suffix in suffixes:
        # the rows that predict the label's tokens 0..r-1, then the one after its last token
        rows = torch.tensor([0, *range(start, start + len(suffix))])
        start += len(suffix)
        targets = torch.tensor(suffix).expand(lp.shape[0], -1)[..., None]
        tokens = lp[:, rows[:-1]].gather(-1, targets)[..., 0].sum(1)
        boundary = torch.logsumexp(lp[:, rows[-1]][:, ~cont], dim=-1)  # log P(no word continues the label)
        scores.append(tokens + boundary)
    return torch.stack(scores, 1)


@torch.no_grad()
def score_labels(
    model: EmoLLM, samples: Sequence[Sample], prefixes: Sequence[str] | None = None, adjust: bool = True
) -> Tensor:
    """Probabilities `[B, K]` over the label set: softmax over labels of log P(verbalised label, then a word
    boundary | prompt [+ prefix]). The boundary term (any next token that does not continue the word) keeps P(label)
    from being P(a prefix of a longer word). `prefixes` (e.g. generated cues, see `label_prefix`) go between the
    prompt and the label, for templates that name the label last. With `adjust` the model's fitted label-prior
    adjustment (`model.prior_adjustment`, see `emollm.prior_adjustment`) is applied when it has one.

    One forward pass per batch: the prompt plus the candidates' shared prefix, then every label's differing tokens
    side by side, each attending to the prompt and its own earlier tokens only (a tree mask); the LM head runs at the
    prompt's last position and the label tokens only, so K labels cost little more than one prompt.
    """
    model.eval()
    cands = _candidates(model)
    shared = _common_prefix(cands)
    suffixes = [c[shared:] for c in cands]
    extra = [model.tokenizer(p, add_special_tokens=False)["input_ids"] if p else [] for p in prefixes or []]
    prompts = [
        _prompt_ids(model, s) + (extra[i] if extra else []) + cands[0][:shared] for i, s in enumerate(samples)
    ]
    ids, mask = pad_ids(prompts, model.tokenizer.pad_token_id, side="left")  # [B, L]
    lengths = [len(s) for s in suffixes]
    within = torch.cat([torch.arange(n) for n in lengths])  # [T]: each suffix token's offset in its label
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    tree_ids = torch.cat([ids, torch.tensor([t for s in suffixes for t in s]).repeat(len(samples), 1)], 1)
    tree_pos = torch.cat([positions, positions[:, -1:] + 1 + within], 1)  # [B, L + T]
    # the frozen encoders run outside autocast
    features = encode_media(model.encoders, [s.media for s in samples])
    with model.autocast():
        embeds = model.embed(tree_ids.to(model.device), features)
        attention = _label_tree_mask(mask, lengths, embeds.dtype).to(model.device)
        logits = model.lm(inputs_embeds=embeds, attention_mask=attention, position_ids=tree_pos.to(model.device),
                          use_cache=False, logits_to_keep=len(within) + 1).logits  # fmt: skip
    lp = torch.log_softmax(logits.float(), dim=-1).cpu()  # [B, 1 + T, V]
    scores = _label_log_probs(lp, suffixes, continuation_mask(model.tokenizer, lp.shape[-1]))
    probs = torch.softmax(scores, dim=-1)
    return applied(probs, getattr(model, "prior_adjustment", None)) if adjust else probs


@torch.no_grad()
def generate_answers(
    model: EmoLLM,
    samples: Sequence[Sample],
    max_new_tokens: int = 96,
    question: str | None = None,
    turns: Sequence[tuple[str, str]] = (),
    streamer: Any = None,
    min_new_tokens: int = 0,
) -> list[str]:
    """Greedy answers, one per sample (left-padded batch through `generate` on input embeddings); a transformers
    `streamer` (e.g. TextIteratorStreamer) receives the tokens as they come (one sample); `min_new_tokens` holds off
    the end-of-sequence token that long (benchmarks time answers of a fixed length with it)."""
    model.eval()
    prompts = [_prompt_ids(model, s, question, turns) for s in samples]
    input_ids, attention_mask = pad_ids(prompts, model.tokenizer.pad_token_id, side="left")
    input_ids, attention_mask = input_ids.to(model.device), attention_mask.to(model.device)
    placeholder_ids = [[t.token_id] for t in model.tokens.values()]
    features = encode_media(model.encoders, [s.media for s in samples])
    with model.autocast():
        embeds = model.embed(input_ids, features)
        out = model.lm.generate(
            inputs_embeds=embeds,
            attention_mask=attention_mask,
            max_new_tokens=max_new_tokens,
            min_new_tokens=min_new_tokens or None,
            do_sample=False,
            pad_token_id=model.tokenizer.pad_token_id,
            eos_token_id=model.tokenizer.eos_token_id,
            bad_words_ids=placeholder_ids or None,
            streamer=streamer,
        )
    return [model.tokenizer.decode(row, skip_special_tokens=True).strip() for row in out]


def label_probabilities(
    model: EmoLLM, samples: Sequence[Sample], answers: Sequence[str] | None = None, adjust: bool = True
) -> Tensor:
    """Label-scoring probabilities `[B, K]`; for label-last templates, scored after the cues of the generated
    classification answers (`answers`, generated here when not given); `adjust` as in `score_labels`."""
    if not model.template.label_last:
        return score_labels(model, samples, adjust=adjust)
    answers = answers if answers is not None else generate_answers(model, samples)
    return score_labels(model, samples, [label_prefix(model.template, a) for a in answers], adjust)


def predict(
    model: EmoLLM,
    text: str | None = None,
    media: dict[str, str | None] | None = None,
    max_new_tokens: int = 96,
) -> dict[str, Any]:
    """Label from label scoring (after the model's label-prior adjustment, whose tau is reported, if it has one),
    per-label probabilities, the generated answer's rationale, modalities used."""
    sample, info = input_sample(model, text, media)
    began = time.time()
    answer = generate_answers(model, [sample], max_new_tokens)[0]
    probs = label_probabilities(model, [sample], [answer])[0]
    parsed = parse_answer(answer, model.labels, model.label_set)
    best = int(probs.argmax())
    return {
        "label": model.labels[best],
        "rationale": parsed.rationale or answer,
        "scores": {lab: round(float(p), 6) for lab, p in zip(model.labels, probs, strict=True)},
        "generated_label": parsed.label,
        "answer": answer,
        "prior_adjustment_tau": model.prior_adjustment.tau if model.prior_adjustment is not None else None,
        **info,
        "seconds": round(time.time() - began, 3),
    }


def chat(
    model: EmoLLM,
    message: str,
    text: str | None = None,
    media: dict[str, str | None] | None = None,
    turns: list[tuple[str, str]] | None = None,
    max_new_tokens: int = 128,
) -> dict[str, Any]:
    """Answer a free question about the inputs; `turns` (earlier question, answer pairs) is extended in place."""
    sample, info = input_sample(model, text, media)
    turns = turns if turns is not None else []
    answer = generate_answers(model, [sample], max_new_tokens, question=message, turns=turns)[0]
    probs = label_probabilities(model, [sample])[0]
    parsed = parse_answer(answer, model.labels, model.label_set)
    turns.append((message, answer))
    return {
        "answer": answer,
        "label": model.labels[int(probs.argmax())],
        "rationale": parsed.rationale or answer,
        "scores": {lab: round(float(p), 6) for lab, p in zip(model.labels, probs, strict=True)},
        "generated_label": parsed.label,
        **info,
        "turns": len(turns),
    }
