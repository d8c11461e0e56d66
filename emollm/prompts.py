"""Prompt templates (YAML files in prompts/) rendered into chat messages with modality placeholders."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from emollm.config import MODALITIES

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
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
    source: dict[str, Any] = field(default_factory=dict, repr=False)

    def user_message(
        self,
        labels: tuple[str, ...],
        placeholders: dict[str, str],
        text: str | None = None,
        instruction: int = 0,
        question: str | None = None,
    ) -> str:
        """The user turn: one line per present modality (placeholder already expanded), transcript, instruction
        (or a free `question` in its place)."""
        lines = [self.media[m].format(placeholder=placeholders[m]) for m in MODALITIES if m in placeholders]
        if text:
            lines.append(self.text.format(text=text))
        missing = [m for m in MODALITIES if m not in placeholders]
        if missing:
            lines.append(self.missing.format(missing=", ".join(missing)))
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
    ) -> list[dict[str, str]]:
        """Chat messages (system, user and, when given, the assistant answer)."""
        msgs = [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user_message(labels, placeholders, text, instruction)},
        ]
        if answer is not None:
            msgs.append({"role": "assistant", "content": answer})
        return msgs

    def format_answer(self, label: str, rationale: str | None) -> str:
        """The assistant answer the parser expects: label, then the rationale when there is one."""
        if rationale:
            return self.answer.format(label=label, rationale=rationale)
        return self.answer_label_only.format(label=label)

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
    return PromptTemplate(**fields, version=int(data.get("version", 1)), source=dict(data))


def load_template(name_or_path: str | Path) -> PromptTemplate:
    """Load a template by name (prompts/NAME.yaml) or by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROMPTS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in PROMPTS_DIR.glob("*.yaml")) if PROMPTS_DIR.is_dir() else []
        raise FileNotFoundError(
            f"prompt template not found: {name_or_path} (known: {', '.join(known) or 'none'})"
        )
    return parse_template(yaml.safe_load(path.read_text(encoding="utf-8")) or {}, str(path))
