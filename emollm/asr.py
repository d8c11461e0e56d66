"""Transcripts for samples without text: an ASR-capable audio encoder (`data.asr`, e.g. whisper_ct2) transcribes the
audio (or a video's audio track), and transcripts are cached by media content hash next to the feature cache."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from emollm.data.sample import Sample
from emollm.encoders import build_encoder
from emollm.encoders.cache import content_hash
from emollm.io import atomic_write_json

log = logging.getLogger("emollm.asr")


class Transcriber:
    """Transcribe audio files with a named encoder that has `transcribe`, caching results in `cache_file`."""

    def __init__(self, encoder_name: str, cache_file: str | Path | None = None) -> None:
        self.encoder = build_encoder(encoder_name, "audio")
        if not hasattr(self.encoder, "transcribe"):
            raise ValueError(f"data.asr: encoder {encoder_name!r} cannot transcribe (use whisper_ct2)")
        self.cache_file = Path(cache_file) if cache_file else None
        self.cache: dict[str, str] = {}
        if self.cache_file and self.cache_file.is_file():
            self.cache = json.loads(self.cache_file.read_text())

    def __call__(self, ref: str | Path) -> str:
        """The transcript of one audio or video file."""
        key = content_hash(ref)
        if key not in self.cache:
            self.cache[key] = self.encoder.transcribe(self.encoder.prepare(ref))
        return self.cache[key]

    def fill(self, samples: Sequence[Sample], show: bool = True) -> list[Sample]:
        """Samples whose missing text is replaced by the transcript of their audio (marked in meta.text_source)."""
        out = []
        for sample in tqdm(samples, desc="transcribing", disable=not show):
            if sample.text or "audio" not in sample.media:
                out.append(sample)
                continue
            text = self(sample.media["audio"])
            out.append(
                dataclasses.replace(sample, text=text or None, meta={**sample.meta, "text_source": "asr"})
            )
        self.save()
        return out

    def save(self) -> None:
        """Persist the transcript cache."""
        if self.cache_file:
            atomic_write_json(self.cache_file, self.cache)


def transcriber_for(asr: str, cache_dir: str | Path | None) -> Transcriber | None:
    """The configured transcriber (None when `data.asr` is empty)."""
    if not asr:
        return None
    return Transcriber(asr, Path(cache_dir) / f"transcripts-{asr}.json" if cache_dir else None)
