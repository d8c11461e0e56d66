"""AMIGOS (Miranda-Correa et al., 2018) -> Sample JSONL + derived sensor files, from the preprocessed release:

    Data_Preprocessed_P{NN}/Data_Preprocessed_P{NN}.mat
        joined_data{16}            [T, 17] at 128 Hz: 14 EEG, ECG right, ECG left, GSR
        labels_selfassessment{16}  [1, 12]: arousal, valence, dominance, liking, familiarity (1-9), then 7 basic
                                   emotions (neutral, disgust, happiness, surprise, anger, fear, sadness) as 0/1
        VideoIDs{16}

Trials that are empty or hold NaN are reported and skipped (several participants have such trials). Each trial
writes `sensor/ID.npy` with ecg, ecg_2, eda (`--opt eeg=1` adds eeg_<electrode>). Labels: circumplex4 with
high = rating > 5 (note: arousal comes first in the file), normalised valence/arousal/dominance. Participant-
independent splits: P37-P40 test, P33-P36 dev, the rest train.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from data_recipes.common import (
    Conversion,
    assign_split,
    find_root,
    finite_or_report,
    rating_labels,
    write_sensor,
)

VERSION = 1
RATE = 128.0
EEG = "AF3 F7 F3 FC5 T7 P7 O1 O2 P8 T8 FC6 F4 F8 AF4".split()
BASIC = ("neutral", "disgust", "happiness", "surprise", "anger", "fear", "sadness")
TEST = [f"{p:02d}" for p in range(37, 41)]
DEV = [f"{p:02d}" for p in range(33, 37)]


def _trial_signals(data: np.ndarray, eeg: bool) -> dict[str, np.ndarray]:
    signals = {"ecg": data[:, 14], "ecg_2": data[:, 15], "eda": data[:, 16]}
    if eeg:
        signals.update({f"eeg_{e.lower()}": data[:, i] for i, e in enumerate(EEG)})
    return signals


def convert(root: str | None, out: str, limit: int | None = None, seed: int = 0, eeg: str = "0") -> dict:
    """Convert every participant folder."""
    from scipy.io import loadmat

    src = find_root(root, "amigos", "Data_Preprocessed_P01", ("AMIGOS",))
    conv = Conversion("amigos", "circumplex4", VERSION, src, Path(out))
    for path in sorted(src.glob("Data_Preprocessed_P*/Data_Preprocessed_P*.mat")):
        participant = path.stem.rsplit("P", 1)[1]
        try:
            mat = loadmat(path, simplify_cells=True)
            trials, ratings, videos = mat["joined_data"], mat["labels_selfassessment"], mat["VideoIDs"]
        except (KeyError, OSError, ValueError) as exc:
            conv.report(path, None, f"unreadable participant file ({exc})")
            continue
        conv.checksum(path)
        for t, (data, rating) in enumerate(zip(trials, ratings, strict=True)):
            data, rating = np.asarray(data, np.float64), np.atleast_1d(np.asarray(rating, np.float64).ravel())
            where = f"trial {t + 1}"
            if data.ndim != 2 or data.shape[0] == 0 or data.shape[1] != 17 or rating.size < 12:
                conv.report(
                    path,
                    None,
                    f"{where}: empty or malformed (data {list(data.shape)}, {rating.size} ratings)",
                )
                continue
            signals = _trial_signals(data, eeg not in ("0", "", "false"))
            if not finite_or_report(
                conv, np.stack(list(signals.values())), path, where
            ) or not finite_or_report(conv, rating, path, f"{where} ratings"):
                continue
            a, v, d = rating[:3]
            sid = f"amigos-p{participant}-{videos[t]}"
            conv.add(
                {
                    "id": sid,
                    "split": assign_split(participant, TEST, DEV),
                    "speaker": f"p{participant}",
                    "media": {"sensor": write_sensor(conv, sid, signals, RATE)},
                    "labels": rating_labels("amigos", v, a, d, 5.0),
                    "meta": {
                        "video": str(videos[t]),
                        "basic": [b for b, x in zip(BASIC, rating[5:12], strict=True) if x],
                    },
                },
                path,
                None,
            )
    conv.notes.update(
        {"quadrant_threshold": "rating > 5 is high", "folds": "leave-one-participant-out over all.jsonl"}
    )
    return conv.write(limit, seed, write_all=True)
