"""MELD (Poria et al., ACL 2019) transcripts -> Sample JSONL. Text only here (the shared copy has no media); with
the official `*.mp4` release unpacked next to the CSVs (`{split}_splits/dia{D}_utt{U}.mp4` or `output_repeated_splits_test/`)
the clips are referenced as video.

Reads `{train,dev,test}_sent_emo.csv` from the official repository layout; keys samples by
(Dialogue_ID, Utterance_ID), which is unique per split (`Sr No.` is not). Up to three previous utterances of the
dialogue are kept in `meta.context` for prompts that use dialogue context.
"""

from __future__ import annotations

from pathlib import Path

from data_recipes.common import Conversion, csv_rows, find_root

FILES = {"train": "train_sent_emo.csv", "dev": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}
CLIP_DIRS = {
    "train": ("train_splits",),
    "dev": ("dev_splits_complete", "dev_splits"),
    "test": ("output_repeated_splits_test", "test_splits"),
}
VERSION = 2


def _clip(src: Path, split: str, dia: str, utt: str) -> Path | None:
    for folder in CLIP_DIRS[split]:
        path = src / folder / f"dia{dia}_utt{utt}.mp4"
        if path.is_file():
            return path
    return None


def read_split(conv: Conversion, path: Path, split: str) -> None:
    """Add the records of one split CSV to the conversion, reporting bad rows (file, line, reason)."""
    history: dict[str, list[str]] = {}
    for lineno, row in csv_rows(path, conv):
        try:
            dia, utt = row["Dialogue_ID"].strip(), row["Utterance_ID"].strip()
            speaker, text = row["Speaker"].strip(), row["Utterance"].strip()
            emotion = conv.label((row["Emotion"] or "").strip().lower(), path, lineno)
            sentiment = row["Sentiment"].strip().lower()
            int(dia), int(utt)
        except (KeyError, AttributeError, ValueError) as exc:
            conv.report(path, lineno, f"malformed row ({exc!r})")
            continue
        if emotion is None:
            continue
        context = history.setdefault(dia, [])
        clip = _clip(conv.root, split, dia, utt)
        conv.add(
            {
                "id": f"meld-{split}-d{dia}-u{utt}",
                "split": split,
                "speaker": speaker,
                "text": text,
                "media": {"video": conv.media(clip, path, lineno)} if clip else None,
                "labels": {"emotion": emotion, "sentiment": sentiment},
                "meta": {"dialogue": int(dia), "utterance": int(utt), "context": context[-3:]},
            },
            path,
            lineno,
        )
        context.append(f"{speaker}: {text}")


def convert(root: str | None, out: str, limit: int | None = None, seed: int = 0) -> dict:
    """Convert the three MELD splits; `limit` keeps a seeded random subset of at most N per split."""
    src = find_root(root, "meld", FILES["train"], ("meld", "data/MELD"))
    conv = Conversion("meld", "meld", VERSION, src, Path(out))
    for split, name in FILES.items():
        conv.checksum(src / name)
        read_split(conv, src / name, split)
    return conv.write(limit, seed)
