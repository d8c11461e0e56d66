"""MAHNOB-HCI (Soleymani et al., 2012), emotion-elicitation part -> Sample JSONL + derived sensor files:

    Sessions/{n}/session.xml     <session feltEmo feltArsl feltVlnc feltCtrl isStim mediaFile ...>
                                   <subject id="..."/> <track type="Physiological|Video" filename="..."/>
    Sessions/{n}/Part_*_Trial*_emotion.bdf   32 EEG + EXG1-3 (ECG), GSR1, Resp, Temp, Status at 256 Hz
    Sessions/{n}/*.avi                       frontal camera (optional, referenced as video)

Sessions without felt-emotion ratings (the implicit-tagging part) are left out and counted. The BDF's peripheral
channels are written as `sensor/ID.npy` (ecg from EXG1-3, eda, resp, temp). Labels: `mahnob` from feltEmo codes
(0 neutral, 1 anger, 2 disgust, 3 fear, 4 joy, 5 sadness, 6 surprise, 11 amusement, 12 anxiety), valence/arousal
(1-9) normalised. Subject-independent splits: subjects 25-30 test, 21-24 dev, the rest train.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np

from data_recipes.common import Conversion, assign_split, find_root, finite_or_report, write_sensor
from emollm.labels import normalise_va

VERSION = 1
FELT = {
    0: "neutral",
    1: "anger",
    2: "disgust",
    3: "fear",
    4: "joy",
    5: "sadness",
    6: "surprise",
    11: "amusement",
    12: "anxiety",
}
CHANNELS = {"EXG1": "ecg", "EXG2": "ecg_2", "EXG3": "ecg_3", "GSR1": "eda", "Resp": "resp", "Temp": "temp"}
TEST = [str(s) for s in range(25, 31)]
DEV = [str(s) for s in range(21, 25)]


def _read_bdf(path: Path) -> tuple[dict[str, np.ndarray], float]:
    import pyedflib

    reader = pyedflib.EdfReader(str(path))
    try:
        labels = [label.strip() for label in reader.getSignalLabels()]
        found = {CHANNELS[lab]: i for i, lab in enumerate(labels) if lab in CHANNELS}
        if not found:
            raise ValueError(f"none of {', '.join(CHANNELS)} among its channels")
        rates = {reader.getSampleFrequency(i) for i in found.values()}
        if len(rates) != 1:
            raise ValueError(f"peripheral channels have different rates {sorted(rates)}")
        return {name: reader.readSignal(i) for name, i in found.items()}, float(rates.pop())
    finally:
        reader.close()


def _session(conv: Conversion, xml_path: Path, skipped: Counter) -> None:
    try:
        node = ET.parse(xml_path).getroot()
    except ET.ParseError as exc:
        conv.report(xml_path, None, f"malformed XML ({exc})")
        return
    if node.get("feltEmo") is None or node.get("isStim") == "0":
        skipped["no felt-emotion rating"] += 1
        return
    try:
        code, v, a = int(node.get("feltEmo")), float(node.get("feltVlnc")), float(node.get("feltArsl"))
        subject = node.find("subject").get("id")
    except (TypeError, ValueError, AttributeError) as exc:
        conv.report(xml_path, None, f"bad session attributes ({exc})")
        return
    if code not in FELT:
        conv.report(xml_path, None, f"unknown feltEmo code {code}")
        return
    tracks = {t.get("type"): xml_path.parent / t.get("filename", "") for t in node.iter("track")}
    bdf = tracks.get("Physiological")
    if bdf is None or conv.media(bdf, xml_path, None) is None:
        if bdf is None:
            conv.report(xml_path, None, "no Physiological track")
        return
    sid = f"mahnob-{xml_path.parent.name}"
    try:
        signals, rate = _read_bdf(bdf)
    except (OSError, ValueError) as exc:
        conv.report(bdf, None, f"unreadable BDF ({exc})")
        return
    if not finite_or_report(conv, np.stack(list(signals.values())), bdf, "peripheral channels"):
        return
    media = {"sensor": write_sensor(conv, sid, signals, rate)}
    video = tracks.get("Video")
    if video is not None and video.is_file():
        media["video"] = conv.media(video, xml_path, None)
    conv.add(
        {
            "id": sid,
            "split": assign_split(subject, TEST, DEV),
            "speaker": f"subject{subject}",
            "media": media,
            "labels": {
                "emotion": FELT[code],
                "valence": normalise_va("mahnob", v),
                "arousal": normalise_va("mahnob", a),
            },
            "meta": {"session": xml_path.parent.name, "stimulus": node.get("mediaFile"), "ratings": [v, a]},
        },
        xml_path,
        None,
    )


def convert(root: str | None, out: str, limit: int | None = None, seed: int = 0) -> dict:
    """Convert every session folder that has felt-emotion ratings."""
    src = find_root(root, "mahnob", "Sessions", ("MAHNOB-HCI",))
    conv = Conversion("mahnob", "mahnob", VERSION, src, Path(out))
    skipped: Counter = Counter()
    for xml_path in sorted(
        (src / "Sessions").glob("*/session.xml"), key=lambda p: (len(p.parent.name), p.parent.name)
    ):
        conv.checksum(xml_path)
        _session(conv, xml_path, skipped)
    conv.notes.update({"excluded": dict(skipped), "folds": "leave-one-subject-out over all.jsonl"})
    return conv.write(limit, seed, write_all=True)
