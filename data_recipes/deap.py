"""DEAP (Koelstra et al., 2012) -> Sample JSONL + derived sensor files, from the MATLAB preprocessed release:

    data_preprocessed_matlab/sXX.mat     data [40 trials, 40 channels, 8064] at 128 Hz, labels [40, 4]
                                         (valence, arousal, dominance, liking; 1-9 self-assessment)
    metadata_csv/participant_ratings.csv (checksummed; the .mat labels are used, ordered like the data)

The Python release (`sXX.dat`) is a pickle and is not read. Channels 33-40 (hEOG, vEOG, zEMG, tEMG, GSR,
respiration, plethysmograph, temperature) are written as `sensor/ID.npy` + `.json` named by type (eda, resp, ppg,
temp, emg; `--opt eeg=1` adds the 32 EEG channels as eeg_<electrode>). Labels: circumplex4 quadrant with high =
rating > 5, plus valence/arousal/dominance normalised to [-1, 1]. Subject-independent splits: s29-s32 test,
s25-s28 dev, s01-s24 train.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.io.matlab import MatReadError

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
EEG = (
    "Fp1 AF3 F3 F7 FC5 FC1 C3 T7 CP5 CP1 P3 P7 PO3 O1 Oz Pz Fp2 AF4 Fz F4 F8 FC6 FC2 Cz C4 T8 CP6 CP2 P4 P8 PO4 O2"
).split()
PERIPHERAL = {"emg": 34, "eda": 36, "resp": 37, "ppg": 38, "temp": 39}
TEST = [f"{s:02d}" for s in range(29, 33)]
DEV = [f"{s:02d}" for s in range(25, 29)]


def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    mat = loadmat(path)
    data, labels = np.asarray(mat["data"], np.float64), np.asarray(mat["labels"], np.float64)
    if data.ndim != 3 or data.shape[1] != 40 or labels.shape != (data.shape[0], 4):
        raise ValueError(
            f"expected data [trials, 40, T] and labels [trials, 4], got {data.shape} and {labels.shape}"
        )
    return data, labels


def convert(root: str | None, out: str, limit: int | None = None, seed: int = 0, eeg: str = "0") -> dict:
    """Convert every participant file; each trial becomes one sensor sample."""
    src = find_root(root, "deap", "data_preprocessed_matlab", ("DEAP",))
    conv = Conversion("deap", "circumplex4", VERSION, src, Path(out))
    ratings = src / "metadata_csv" / "participant_ratings.csv"
    if ratings.is_file():
        conv.checksum(ratings)
    for path in sorted((src / "data_preprocessed_matlab").glob("s*.mat")):
        subject = path.stem[1:]
        try:
            data, labels = _load(path)
        except (ValueError, KeyError, OSError, MatReadError) as exc:
            conv.report(path, None, f"unreadable participant file ({exc})")
            continue
        conv.checksum(path)
        for trial in range(data.shape[0]):
            sid = f"deap-s{subject}-t{trial + 1:02d}"
            signals = {name: data[trial, ch] for name, ch in PERIPHERAL.items()}
            if eeg not in ("0", "", "false"):
                signals.update({f"eeg_{e.lower()}": data[trial, i] for i, e in enumerate(EEG)})
            v, a, d, liking = labels[trial]
            if not finite_or_report(conv, np.stack(list(signals.values())), path, f"trial {trial + 1}"):
                continue
            conv.add(
                {
                    "id": sid,
                    "split": assign_split(subject, TEST, DEV),
                    "speaker": f"s{subject}",
                    "media": {"sensor": write_sensor(conv, sid, signals, RATE)},
                    "labels": rating_labels("deap", v, a, d, 5.0),
                    "meta": {
                        "trial": trial + 1,
                        "liking": float(liking),
                        "ratings": [float(v), float(a), float(d)],
                    },
                },
                path,
                None,
            )
    conv.notes.update(
        {"quadrant_threshold": "rating > 5 is high", "folds": "leave-one-subject-out over all.jsonl"}
    )
    return conv.write(limit, seed, write_all=True)
