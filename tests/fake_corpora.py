"""Small fake corpus trees that mirror each corpus's real file names and metadata formats (for recipe tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def wav(path: Path, seconds: float = 0.2, rate: int = 16000) -> Path:
    """A short real wav file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, 0.1 * np.sin(np.linspace(0, 200, int(seconds * rate))), rate)
    return path


def blob(path: Path, data: bytes = b"\x00\x00\x00\x18ftypmp42 fake clip") -> Path:
    """A placeholder container file (recipes check existence and size; they do not decode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def iemocap(root: Path) -> None:
    """Sessions 1, 4, 5 with one dialog each (Session 2-3 absent is reported)."""
    for s, codes in ((1, ["neu", "exc", "fru", "xxx"]), (4, ["sad", "hap"]), (5, ["ang", "zzz"])):
        dialog = f"Ses0{s}F_impro01"
        ev, tr = [], []
        for i, code in enumerate(codes):
            turn = f"{dialog}_{'FM'[i % 2]}{i:03d}"
            ev += [f"[{i}.0000 - {i}.9000]\t{turn}\t{code}\t[2.5000, 3.0000, 4.0000]", f"C-E1:\t{code};\t()"]
            tr.append(f"{turn} [{i:03d}.0000-{i:03d}.9000]: words number {i}.")
            if code != "sad":
                wav(root / f"Session{s}" / "sentences" / "wav" / dialog / f"{turn}.wav")
        d = root / f"Session{s}" / "dialog"
        (d / "EmoEvaluation").mkdir(parents=True)
        (d / "EmoEvaluation" / f"{dialog}.txt").write_text("% header\n\n" + "\n".join(ev) + "\n")
        (d / "transcriptions").mkdir(parents=True)
        (d / "transcriptions" / f"{dialog}.txt").write_text("\n".join(tr) + "\n")
    (root / "Session2").mkdir()


def ravdess(root: Path) -> None:
    """Actors 01 and 24: audio-only + audio-video files of a take, a song take, a bad name and a bad code."""
    wav(root / "Actor_01" / "03-01-03-01-01-01-01.wav")
    blob(root / "Actor_01" / "01-01-03-01-01-01-01.mp4")
    blob(root / "Actor_01" / "02-01-03-01-01-01-01.mp4")
    wav(root / "Actor_24" / "03-02-05-02-02-01-24.wav")
    wav(root / "Actor_24" / "03-01-09-01-01-01-24.wav")
    wav(root / "Actor_24" / "notes.wav")


def cremad(root: Path) -> None:
    """Three clips (one with a tied vote), a bad name, votes and demographics tables."""
    for name in ("1001_DFA_ANG_XX", "1085_IEO_HAP_HI", "1076_TSI_SAD_LO"):
        wav(root / "AudioWAV" / f"{name}.wav")
    blob(root / "VideoFlash" / "1001_DFA_ANG_XX.flv", b"FLV\x01fake")
    wav(root / "AudioWAV" / "1001_XXX_ANG_XX.wav")
    (root / "processedResults").mkdir(parents=True)
    (root / "processedResults" / "tabulatedVotes.csv").write_text(
        ",A,D,F,H,N,S,fileName,numResponses,agreement,emoVote\n"
        "1,8,0,0,0,2,0,1001_DFA_ANG_XX,10,0.8,A\n2,0,0,0,5,5,0,1085_IEO_HAP_HI,10,0.5,H:N\n"
        "3,0,0,1,0,0,9,1076_TSI_SAD_LO,10,0.9,S\n"
    )
    (root / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
    )


def msp_improv(root: Path) -> None:
    """Evaluation.txt with four clips (one 'other', one without audio) and per-evaluator lines."""
    names = ["S01A-F01-S-FM01", "S02H-M05-P-MF02", "S03S-F06-R-FM01", "S01N-F01-T-FM03"]
    lines = []
    for name, code in zip(names, "AHOS", strict=True):
        lines += [f"UTD-IMPROV-{name}.avi; {code}; A:2.600000; V:2.000000; D:3.200000; N:2.800000;",
                  f"Evaluator01: {code}; ;", ""]  # fmt: skip
    (root).mkdir(parents=True, exist_ok=True)
    (root / "Evaluation.txt").write_text("\n".join(lines))
    for name in names[:3]:
        sess = int(name[6:8])
        wav(root / "Audio" / f"session{sess}" / name[:4] / name[9] / f"MSP-IMPROV-{name}.wav")


def mosi(root: Path) -> None:
    """An MMSA label.csv with one clip per split, a missing clip and an out-of-range score."""
    rows = [("vidA", "1", "it was great", 2.4, "train"), ("vidA", "2", "meh", 0.0, "valid"),
            ("vidB", "1", "awful film", -1.8, "test"), ("vidB", "2", "no clip", 1.0, "train"),
            ("vidB", "3", "broken", 7.5, "train")]  # fmt: skip
    root.mkdir(parents=True, exist_ok=True)
    text = "video_id,clip_id,text,label,label_T,label_A,label_V,annotation,mode\n"
    text += "".join(f"{v},{c},{t},{s},{s},{s},{s},x,{m}\n" for v, c, t, s, m in rows)
    (root / "label.csv").write_text(text)
    for v, c, *_ in rows[:3] + rows[4:]:
        blob(root / "Raw" / v / f"{c}.mp4")


def mer2023(root: Path) -> None:
    """label-disdim.csv (one unknown label), a test CSV and transcripts."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "label-disdim.csv").write_text(
        "name,discrete,valence\nsample_00000001,happy,3.5\nsample_00000002,worried,-2.0\nsample_00000003,bored,0\n"
    )
    (root / "label-disdim-test1.csv").write_text("name,discrete,valence\nsample_00000009,angry,-4.0\n")
    (root / "label-transcription.csv").write_text("name,chinese,english\nsample_00000001,x,I passed!\n")
    for n in (1, 2, 3, 9):
        blob(root / "video" / f"sample_0000000{n}.mp4")


def deap(root: Path) -> None:
    """Two participants (s01 train, s30 test) with 2 trials of 5 s each; s02 is unreadable."""
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    (root / "data_preprocessed_matlab").mkdir(parents=True)
    for s, labels in (("01", [[7, 8, 5, 6], [2, 3, 5, 4]]), ("30", [[5, 6, 1, 1], [9, 1, 9, 9]])):
        savemat(root / "data_preprocessed_matlab" / f"s{s}.mat",
                {"data": rng.normal(size=(2, 40, 640)), "labels": np.array(labels, float)})  # fmt: skip
    (root / "data_preprocessed_matlab" / "s02.mat").write_bytes(b"not a mat file")
    (root / "metadata_csv").mkdir()
    (root / "metadata_csv" / "participant_ratings.csv").write_text(
        "Participant_id,Trial,Experiment_id,Valence\n1,1,1,7\n"
    )


def dreamer(root: Path) -> None:
    """DREAMER.mat with two subjects x two stimuli (ECG [T, 2] at 256 Hz)."""
    from scipy.io import savemat

    rng = np.random.default_rng(0)

    def cell(items: list) -> np.ndarray:
        arr = np.empty((len(items), 1), dtype=object)
        for i, x in enumerate(items):
            arr[i, 0] = x
        return arr

    subjects = np.empty((1, 2), dtype=object)
    for k in range(2):
        subjects[0, k] = {
            "Age": 22, "Gender": "male",
            "ECG": {"baseline": cell([rng.normal(size=(512, 2))] * 2), "stimuli": cell([rng.normal(size=(1024, 2))] * 2)},
            "EEG": {"stimuli": cell([rng.normal(size=(512, 14))] * 2)},
            "ScoreValence": np.array([[4], [2]]), "ScoreArousal": np.array([[5], [1]]), "ScoreDominance": np.array([[3], [3]]),
        }  # fmt: skip
    root.mkdir(parents=True, exist_ok=True)
    savemat(
        root / "DREAMER.mat",
        {"DREAMER": {"Data": subjects, "ECG_SamplingRate": 256, "EEG_SamplingRate": 128}},
    )


def amigos(root: Path) -> None:
    """Participant P01 with three trials: a good one, an empty one and one with NaN."""
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    trials = np.empty((1, 3), dtype=object)
    ratings = np.empty((1, 3), dtype=object)
    videos = np.empty((1, 3), dtype=object)
    bad = rng.normal(size=(640, 17))
    bad[5, 16] = np.nan
    for i, (data, rating) in enumerate([(rng.normal(size=(640, 17)), [7, 3, 5, 5, 5, 0, 0, 1, 0, 0, 0, 0]),
                                        (np.zeros((0, 0)), [5] * 12), (bad, [1] * 12)]):  # fmt: skip
        trials[0, i], ratings[0, i], videos[0, i] = data, np.array([rating], float), f"{i + 4}"
    folder = root / "Data_Preprocessed_P01"
    folder.mkdir(parents=True)
    savemat(
        folder / "Data_Preprocessed_P01.mat",
        {"joined_data": trials, "labels_selfassessment": ratings, "VideoIDs": videos},
    )


def mahnob(root: Path) -> None:
    """Sessions: 2 (subject 1, anger, with BDF + video), 4 (implicit tagging, no feltEmo), 6 (bad XML)."""
    import pyedflib

    s = root / "Sessions" / "2"
    s.mkdir(parents=True)
    bdf = s / "Part_1_S_Trial1_emotion.bdf"
    names = ["Fp1", "EXG1", "GSR1", "Resp", "Temp"]
    writer = pyedflib.EdfWriter(str(bdf), len(names), file_type=pyedflib.FILETYPE_BDFPLUS)
    writer.setSignalHeaders([{"label": n, "dimension": "uV", "sample_frequency": 256, "physical_max": 1e4,
                              "physical_min": -1e4, "digital_max": 8388607, "digital_min": -8388608} for n in names])  # fmt: skip
    writer.writeSamples([np.sin(np.linspace(0, 50, 256 * 4)) * 100 for _ in names])
    writer.close()
    blob(s / "P1-Rec1-2009.07.09.17.53.46_C1 trigger _C_Section_2.avi")
    (s / "session.xml").write_text(
        '<?xml version="1.0"?><session cutNr="2" feltArsl="7" feltCtrl="5" feltEmo="1" feltPred="5" feltVlnc="2" '
        'isStim="1" mediaFile="55.avi"><subject id="1" /><track type="Physiological" filename="Part_1_S_Trial1_emotion.bdf" />'
        '<track type="Video" filename="P1-Rec1-2009.07.09.17.53.46_C1 trigger _C_Section_2.avi" /></session>'
    )
    (root / "Sessions" / "4").mkdir()
    (root / "Sessions" / "4" / "session.xml").write_text('<session isStim="0"><subject id="1" /></session>')
    (root / "Sessions" / "6").mkdir()
    (root / "Sessions" / "6" / "session.xml").write_text("<session feltEmo=")


def savee(root: Path) -> None:
    """Speakers DC and KL, with an audio-visual clip and a bad file name."""
    for spk, name in (("DC", "a01"), ("DC", "sa02"), ("KL", "su15"), ("KL", "x01")):
        wav(root / "AudioData" / spk / f"{name}.wav")
    blob(root / "AudioVisualClip" / "DC" / "a01.avi")


def enterface(root: Path) -> None:
    """Subjects 1 and 40, one clip without the sentence level, one whose code disagrees with its folder."""
    blob(root / "subject 1" / "anger" / "sentence 1" / "s1_an_1.avi")
    blob(root / "subject 1" / "happiness" / "s1_ha_2.avi")
    blob(root / "subject 40" / "fear" / "sentence 3" / "s40_fe_3.avi")
    blob(root / "subject 40" / "fear" / "sentence 4" / "s40_sa_4.avi")
