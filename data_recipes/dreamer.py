"""DREAMER (Katsigiannis & Ramzan, 2018) -> Sample JSONL + derived ECG files, from the single `DREAMER.mat`:
`DREAMER.Data{subject}` with `ECG.stimuli{18}` ([T, 2] at 256 Hz), `EEG.stimuli{18}` ([T, 14] at 128 Hz) and
`ScoreValence/ScoreArousal/ScoreDominance` (1-5). Read with scipy (no pickle). Each stimulus becomes one sample with
`sensor/ID.npy` (ecg, ecg_2; `--opt eeg=1` writes the 14 EEG channels in a second file `sensor/ID_eeg.npy`, kept in
`meta`). Labels: circumplex4 with high = score > 3, and normalised valence/arousal/dominance. Subject-independent
splits: subjects 20-23 test, 17-19 dev, 1-16 train.
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
EEG = "AF3 F7 F3 FC5 T7 P7 O1 O2 P8 T8 FC6 F4 F8 AF4".split()
TEST = [str(s) for s in range(20, 24)]
DEV = [str(s) for s in range(17, 20)]


def convert(root: str | None, out: str, limit: int | None = None, seed: int = 0, eeg: str = "0") -> dict:
    """Convert all subjects' stimuli trials."""
    from scipy.io import loadmat

    src = find_root(root, "dreamer", "DREAMER.mat", ("DREAMER",))
    path = src / "DREAMER.mat"
    conv = Conversion("dreamer", "circumplex4", VERSION, src, Path(out))
    conv.checksum(path)
    top = loadmat(path, simplify_cells=True)["DREAMER"]
    subjects = top["Data"] if isinstance(top["Data"], list) else [top["Data"]]
    ecg_rate, eeg_rate = float(top.get("ECG_SamplingRate", 256)), float(top.get("EEG_SamplingRate", 128))
    for s, subject in enumerate(subjects, 1):
        try:
            ecg = list(subject["ECG"]["stimuli"])
            scores = [
                np.atleast_1d(subject[k]).astype(float)
                for k in ("ScoreValence", "ScoreArousal", "ScoreDominance")
            ]
            if any(len(x) != len(ecg) for x in scores):
                raise ValueError(f"{len(ecg)} ECG trials but {[len(x) for x in scores]} scores")
        except (KeyError, TypeError, ValueError) as exc:
            conv.report(path, None, f"subject {s}: malformed record ({exc})")
            continue
        for t, trial in enumerate(ecg):
            sid = f"dreamer-s{s:02d}-t{t + 1:02d}"
            trial = np.atleast_2d(np.asarray(trial, np.float64))
            if not finite_or_report(conv, trial, path, f"subject {s} trial {t + 1} ECG"):
                continue
            v, a, d = (x[t] for x in scores)
            meta: dict = {"trial": t + 1, "ratings": [float(v), float(a), float(d)]}
            if eeg not in ("0", "", "false"):
                signals = np.atleast_2d(np.asarray(subject["EEG"]["stimuli"][t], np.float64))
                meta["eeg"] = write_sensor(
                    conv,
                    f"{sid}_eeg",
                    {f"eeg_{e.lower()}": signals[:, i] for i, e in enumerate(EEG)},
                    eeg_rate,
                )
            conv.add(
                {
                    "id": sid,
                    "split": assign_split(str(s), TEST, DEV),
                    "speaker": f"s{s:02d}",
                    "media": {
                        "sensor": write_sensor(
                            conv, sid, {"ecg": trial[:, 0], "ecg_2": trial[:, 1]}, ecg_rate
                        )
                    },
                    "labels": rating_labels("dreamer", v, a, d, 3.0),
                    "meta": meta,
                },
                path,
                None,
            )
    conv.notes.update(
        {"quadrant_threshold": "score > 3 is high", "folds": "leave-one-subject-out over all.jsonl"}
    )
    return conv.write(limit, seed, write_all=True)
