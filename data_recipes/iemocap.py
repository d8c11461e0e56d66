"""IEMOCAP (Busso et al., 2008) -> Sample JSONL, from the `IEMOCAP_full_release` layout:

    Session{1-5}/dialog/EmoEvaluation/{dialog}.txt     `[start - end]<TAB>turn<TAB>emo<TAB>[V, A, D]` lines
    Session{1-5}/dialog/transcriptions/{dialog}.txt    `turn [start-end]: text` lines
    Session{1-5}/sentences/wav/{dialog}/{turn}.wav

Conventions (`--opt classes=4|6`): 4-class merges excited into happy and keeps neu/hap/sad/ang; 6-class keeps
neu/hap/sad/ang/exc/fru. Other consensus codes (fea, sur, dis, oth, xxx) are left out and counted under
`excluded`, not reported as bad rows. Dimensional labels (1-5) are normalised to [-1, 1]. Splits are
session-independent: sessions 1-3 train, 4 dev, 5 test; `all.jsonl` (speaker = session + gender) serves
leave-one-session-out folds. The dialog-level videos are not cut per utterance; their span is kept in `meta`.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from data_recipes.common import Conversion, find_root
from emollm.labels import normalise_va

VERSION = 1
FOUR = {"neu": "neutral", "hap": "happy", "exc": "happy", "sad": "sad", "ang": "angry"}
SIX = {"neu": "neutral", "hap": "happy", "sad": "sad", "ang": "angry", "exc": "excited", "fru": "frustrated"}
KNOWN = {"neu", "hap", "exc", "sad", "ang", "fru", "fea", "sur", "dis", "oth", "xxx"}
EVAL_LINE = re.compile(
    r"^\[(?P<start>[\d.]+) - (?P<end>[\d.]+)\]\t(?P<turn>\S+)\t(?P<emo>\w+)\t\[(?P<vad>[^\]]+)\]"
)
TRANS_LINE = re.compile(r"^(?P<turn>Ses\d\d[FM]_\S+) \[[\d.\-]+\]: (?P<text>.*)$")
SPLIT_OF_SESSION = {1: "train", 2: "train", 3: "train", 4: "dev", 5: "test"}


def _transcripts(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    found = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = TRANS_LINE.match(line.strip())
        if m:
            found[m["turn"]] = m["text"].strip()
    return found


def _read_dialog(conv: Conversion, session: int, path: Path, mapping: dict, excluded: Counter) -> None:
    sess_dir = conv.root / f"Session{session}"
    texts = _transcripts(sess_dir / "dialog" / "transcriptions" / path.name)
    for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.startswith("["):
            continue
        m = EVAL_LINE.match(line)
        if m is None:
            conv.report(path, lineno, "malformed evaluation line")
            continue
        code, turn = m["emo"], m["turn"]
        if code not in KNOWN:
            conv.report(path, lineno, f"unknown emotion code {code!r}")
            continue
        if code not in mapping:
            excluded[code] += 1
            continue
        try:
            v, a, d = (normalise_va("iemocap", float(x)) for x in m["vad"].split(","))
        except ValueError as exc:
            conv.report(path, lineno, f"bad dimensional label [{m['vad']}] ({exc})")
            continue
        dialog = turn.rsplit("_", 1)[0]
        audio = conv.media(sess_dir / "sentences" / "wav" / dialog / f"{turn}.wav", path, lineno)
        if audio is None:
            continue
        conv.add(
            {
                "id": f"iemocap-{turn}",
                "split": SPLIT_OF_SESSION[session],
                "speaker": f"Ses{session:02d}{turn.rsplit('_', 1)[1][0]}",
                "text": texts.get(turn),
                "media": {"audio": audio},
                "labels": {"emotion": mapping[code], "valence": v, "arousal": a, "dominance": d},
                "meta": {
                    "session": session,
                    "dialog": dialog,
                    "code": code,
                    "span": [float(m["start"]), float(m["end"])],
                },
            },
            path,
            lineno,
        )


def convert(root: str | None, out: str, limit: int | None = None, seed: int = 0, classes: str = "4") -> dict:
    """Convert sessions 1-5 under the 4- or 6-class convention."""
    if str(classes) not in ("4", "6"):
        raise ValueError(f"iemocap: classes must be 4 or 6, got {classes!r}")
    src = find_root(root, "iemocap", "Session1", ("IEMOCAP_full_release",))
    conv = Conversion("iemocap", f"iemocap{classes}", VERSION, src, Path(out))
    mapping, excluded = (FOUR if str(classes) == "4" else SIX), Counter()
    for session in range(1, 6):
        eval_dir = src / f"Session{session}" / "dialog" / "EmoEvaluation"
        if not eval_dir.is_dir():
            conv.report(eval_dir, None, "session folder missing")
            continue
        for path in sorted(eval_dir.glob("Ses*.txt")):
            conv.checksum(path)
            _read_dialog(conv, session, path, mapping, excluded)
    conv.notes.update(
        {"excluded": dict(excluded), "convention": f"{classes}-class", "folds": "leave-one-session-out"}
    )
    return conv.write(limit, seed, write_all=True)
