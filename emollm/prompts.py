"""Prompt templates (YAML files in prompts/) rendered into chat messages with modality placeholders, and the
placeholder tokens themselves (one special token per modality, expanded to N slots in the prompt)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from emollm.config import MODALITIES
from emollm.resources import named_yaml, resource_dir

PLACEHOLDERS = {"video": "<|video|>", "audio": "<|audio|>", "sensor": "<|sensor|>"}
REQUIRED_KEYS = (
    "name",
    "system",
    "instructions",
    "media",
    "text",
    "missing",
    "user",
    "answer",
    "answer_label_only",
)


@dataclass
class ModalityTokens:
    """Placeholder string, token id and slot count of one modality (saved in a checkpoint's tokens.json)."""

    modality: str
    token: str
    token_id: int
    num_tokens: int

    def expanded(self) -> str:
        """The placeholder repeated once per slot, as it appears in a prompt."""
        return self.token * self.num_tokens

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return asdict(self)


@dataclass
class PromptTemplate:
    """A prompt template: system text, instruction paraphrases, per-modality input lines and the answer format."""

    name: str
    system: str
    instructions: list[str]
    media: dict[str, str]
    text: str
    missing: str
    user: str
    answer: str
    answer_label_only: str
    version: int = 1
    context: str | None = None
    """Optional line(s) for the previous dialogue turns (`{context}`), used when a sample has `meta.context`."""
    answer_va: str | None = None
    """Optional answer line with `{valence}` and `{arousal}` in [-1, 1], appended for samples that have them."""
    missing_scope: str = "all"
    """Which absent inputs the `missing` line names: `all` modalities, or only those the `model` has encoders for
    (a text-only model is then not told about video, audio and sensors it never sees)."""
    measured: str | None = None
    """Optional line with the cues the encoders measured on the inputs given (`{cues}`, worded as a rationale), so
    the model reads its cues as text and its rationale can cite them exactly (samples need `meta.measured`)."""
    source: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def label_last(self) -> bool:
        """True when the full answer names the label after the rationale (explain-then-answer templates)."""
        return 0 <= self.answer.find("{rationale}") < self.answer.find("{label}")

    def user_message(
        self,
        labels: tuple[str, ...],
        placeholders: dict[str, str],
        text: str | None = None,
        instruction: int = 0,
        question: str | None = None,
        context: list[str] | None = None,
        modalities: Sequence[str] | None = None,
        cues: str | None = None,
    ) -> str:
        """The user turn: dialogue context (when the template uses it), one line per present modality
        (placeholder already expanded), transcript, missing inputs, measured cues (when the template has a
        `measured` line), instruction (or a free `question` in its place)."""
        lines = [self.context.format(context="\n".join(context))] if self.context and context else []
        lines += [self.media[m].format(placeholder=placeholders[m]) for m in MODALITIES if m in placeholders]
        if text:
            lines.append(self.text.format(text=text))
        scope = modalities if self.missing_scope == "model" and modalities is not None else MODALITIES
        missing = [m for m in MODALITIES if m in scope and m not in placeholders]
        if missing:
            lines.append(self.missing.format(missing=", ".join(missing)))
        if self.measured and cues:
            lines.append(self.measured.format(cues=cues))
        chosen = question or self.instructions[instruction % len(self.instructions)].format(
            labels=", ".join(labels)
        )
        return self.user.format(inputs="\n".join(lines), instruction=chosen)

    def messages(
        self,
        labels: tuple[str, ...],
        placeholders: dict[str, str],
        text: str | None = None,
        instruction: int = 0,
        answer: str | None = None,
        context: list[str] | None = None,
        modalities: Sequence[str] | None = None,
        cues: str | None = None,
    ) -> list[dict[str, str]]:
        """Chat messages (system, user and, when given, the assistant answer)."""
        user = self.user_message(
            labels, placeholders, text, instruction, context=context, modalities=modalities, cues=cues
        )
        msgs = [{"role": "system", "content": self.system}, {"role": "user", "content": user}]
        if answer is not None:
            msgs.append({"role": "assistant", "content": answer})
        return msgs

    def format_answer(self, label: str, rationale: str | None, va: tuple[float, float] | None = None) -> str:
        """The assistant answer the parser expects: label and the rationale when there is one, then valence and
        arousal when the template asks for them and the sample has them."""
        text = (
            self.answer.format(label=label, rationale=rationale)
            if rationale
            else self.answer_label_only.format(label=label)
        )
        if self.answer_va and va is not None:
            text += "\n" + self.answer_va.format(valence=va[0], arousal=va[1])
        return text

    def to_yaml(self) -> str:
        """The template as YAML text (stored in every checkpoint)."""
        return yaml.safe_dump(self.source, sort_keys=False, allow_unicode=True)


def instruction_index(sample_id: str, n: int) -> int:
    """A stable per-sample choice of instruction paraphrase (same across runs and processes)."""
    return int(hashlib.sha1(sample_id.encode()).hexdigest()[:8], 16) % n


def parse_template(data: dict[str, Any], where: str) -> PromptTemplate:
    """Validate a template mapping and build a PromptTemplate."""
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ValueError(f"prompt template {where}: missing keys {', '.join(missing)}")
    unknown_media = set(data["media"]) - set(MODALITIES)
    if unknown_media:
        raise ValueError(f"prompt template {where}: unknown modality {sorted(unknown_media)}")
    if not data["instructions"]:
        raise ValueError(f"prompt template {where}: needs at least one instruction")
    fields = {k: data[k] for k in REQUIRED_KEYS}
    for key in ("answer_va",):
        if data.get(key) and ("{valence" not in data[key] or "{arousal" not in data[key]):
            raise ValueError(f"prompt template {where}: {key} needs {{valence}} and {{arousal}}")
    if data.get("missing_scope", "all") not in ("all", "model"):
        raise ValueError(f"prompt template {where}: missing_scope must be all or model")
    if data.get("context") and "{context}" not in data["context"]:
        raise ValueError(f"prompt template {where}: context needs {{context}}")
    if data.get("measured") and "{cues}" not in data["measured"]:
        raise ValueError(f"prompt template {where}: measured needs {{cues}}")
    return PromptTemplate(
        **fields,
        version=int(data.get("version", 1)),
        context=data.get("context"),
        answer_va=data.get("answer_va"),
        missing_scope=data.get("missing_scope", "all"),
        measured=data.get("measured"),
        source=dict(data),
    )


def load_template(name_or_path: str | Path) -> PromptTemplate:
    """Load a template by name (prompts/NAME.yaml) or by path."""
    path = named_yaml(name_or_path, "prompts", "prompt template")
    return parse_template(yaml.safe_load(path.read_text(encoding="utf-8")) or {}, str(path))


def prompt_data(name: str) -> dict[str, Any]:
    """A YAML data file of prompts/ (e.g. the rationale wording or the cue lexicon) by name."""
    return yaml.safe_load((resource_dir("prompts") / f"{name}.yaml").read_text(encoding="utf-8"))
