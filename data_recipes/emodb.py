"""EmoDB (Burkhardt et al., Interspeech 2005) -> Sample JSONL. Reads `labels.csv` (file, speaker, text_id,
emotion, sex) and `wav/`, or, without `labels.csv`, decodes the standard file names (`03a01Fa.wav`: speaker 03,
text a01, emotion code F, take a). Writes `all.jsonl` for leave-one-speaker-out folds (`emollm baseline --loso`)
and a speaker-independent train/dev/test (test speakers 15 + 16, dev 12 + 14: one male and one female each)."""

from __future__ import annotations

from pathlib import Path

from data_recipes.common import Conversion, assign_split, csv_rows, find_root

VERSION = 2
CODES = {
    "W": "anger",
    "L": "boredom",
    "E": "disgust",
    "A": "fear",
    "F": "happiness",
    "T": "sadness",
    "N": "neutral",
}
MALE = {"03", "10", "11", "12", "15"}
TEST, DEV = ("15", "16"), ("12", "14")


def _rows(src: Path, conv: Conversion) -> list[tuple[Path, int | None, dict[str, str]]]:
    labels = src / "labels.csv"
    if labels.is_file():
        return [(labels, i, row) for i, row in csv_rows(labels, conv)]
    rows = []
    for wav in sorted((src / "wav").glob("*.wav")):
        n = wav.stem
        emotion = CODES.get(n[5:6], f"code {n[5:6]!r}")
        rows.append((wav, None, {"file": wav.name, "speaker": n[:2], "text_id": n[2:5], "emotion": emotion}))
    return rows


def convert(root: str | None, out: str, limit: int | None = None, seed: int = 0) -> dict:
    """Write OUT/{all,train,dev,test}.jsonl + manifest.json; bad rows (unknown label, missing wav) are reported."""
    src = find_root(root, "emodb", "wav", ("emodb",))
    conv = Conversion("emodb", "emodb", VERSION, src, Path(out))
    if (src / "labels.csv").is_file():
        conv.checksum(src / "labels.csv")
    for file, lineno, row in _rows(src, conv):
        emotion = conv.label(row.get("emotion", ""), file, lineno)
        audio = conv.media(src / "wav" / row.get("file", ""), file, lineno) if emotion else None
        if audio is None:
            continue
        speaker = row.get("speaker") or row["file"][:2]
        conv.add(
            {
                "id": f"emodb-{Path(row['file']).stem}",
                "split": assign_split(speaker, TEST, DEV),
                "speaker": speaker,
                "media": {"audio": audio},
                "labels": {"emotion": emotion},
                "meta": {
                    "text_id": row.get("text_id") or Path(row["file"]).stem[2:5],
                    "sex": row.get("sex") or ("male" if speaker in MALE else "female"),
                },
            },
            file,
            lineno,
        )
    conv.notes["folds"] = "leave-one-speaker-out over all.jsonl (speaker field)"
    return conv.write(limit, seed, write_all=True)
