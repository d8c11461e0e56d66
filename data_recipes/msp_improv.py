"""MSP-IMPROV (Busso et al., 2017) -> Sample JSONL from the release layout:

    Evaluation.txt        per clip `UTD-IMPROV-S01A-F01-S-FM01.avi; A; A:2.6; V:2.0; D:3.2; N:2.8;` then
                          per-evaluator lines (ignored)
    Audio/session{N}/{S01A}/{R|S|T|P}/MSP-IMPROV-S01A-F01-S-FM01.wav
    Video/session{N}/{S01A}/{R|S|T|P}/MSP-IMPROV-S01A-F01-S-FM01.avi   (optional)

Consensus labels A/H/S/N are kept; O (other) and X (no agreement) are left out and counted. Arousal, valence and
dominance (1-5) are normalised to [-1, 1]. Speaker = gender + session (F01); session-independent splits: session 6
test, 5 dev, 1-4 train.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from data_recipes.common import Conversion, find_root
from emollm.labels import normalise_va

VERSION = 1
CODES = {"A": "angry", "H": "happy", "S": "sad", "N": "neutral"}
LINE = re.compile(
    r"^UTD-IMPROV-(?P<name>S\d\d[A-Z]-(?P<spk>[FM](?P<sess>\d\d))-(?P<type>[RSTP])-\w+)\.avi;\s*(?P<code>\w);"
    r"\s*A:(?P<a>[\d.]+);\s*V:(?P<v>[\d.]+);\s*D:(?P<d>[\d.]+)"
)
TYPES = {"R": "read", "S": "improvised target sentence", "T": "improvised other", "P": "natural interaction"}


def convert(root: str | None, out: str, limit: int | None = None, seed: int = 0) -> dict:
    """Convert every clip of Evaluation.txt that has its wav."""
    src = find_root(root, "msp_improv", "Evaluation.txt", ("MSP-IMPROV",))
    conv = Conversion("msp_improv", "msp_improv", VERSION, src, Path(out))
    evaluation = src / "Evaluation.txt"
    conv.checksum(evaluation)
    excluded = Counter()
    for lineno, line in enumerate(evaluation.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.startswith("UTD-IMPROV-"):
            continue
        m = LINE.match(line.strip())
        if m is None:
            conv.report(evaluation, lineno, "malformed clip line")
            continue
        if m["code"] in ("O", "X"):
            excluded[m["code"]] += 1
            continue
        if m["code"] not in CODES:
            conv.report(evaluation, lineno, f"unknown label code {m['code']!r}")
            continue
        session, name = int(m["sess"]), m["name"]
        rel = Path(f"session{session}") / name[:4] / m["type"] / f"MSP-IMPROV-{name}"
        media = {"audio": conv.media(src / "Audio" / rel.with_suffix(".wav"), evaluation, lineno)}
        if media["audio"] is None:
            continue
        video = src / "Video" / rel.with_suffix(".avi")
        if video.is_file():
            media["video"] = conv.media(video, evaluation, lineno)
        conv.add(
            {
                "id": f"msp_improv-{name}",
                "split": "test" if session == 6 else "dev" if session == 5 else "train",
                "speaker": m["spk"],
                "media": media,
                "labels": {
                    "emotion": CODES[m["code"]],
                    "valence": normalise_va("msp_improv", float(m["v"])),
                    "arousal": normalise_va("msp_improv", float(m["a"])),
                    "dominance": normalise_va("msp_improv", float(m["d"])),
                },
                "meta": {"session": session, "scenario": name[:4], "type": TYPES[m["type"]]},
            },
            evaluation,
            lineno,
        )
    conv.notes.update({"excluded": dict(excluded), "folds": "leave-one-session-out over all.jsonl"})
    return conv.write(limit, seed, write_all=True)
