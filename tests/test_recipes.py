"""Samples, the generated corpus, and the MELD recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_recipes import RECIPES
from data_recipes.__main__ import main as recipes_main
from emollm.data.media import load_sensor
from emollm.data.sample import load_samples
from emollm.labels import get_labels
from tests import fake_corpora
from tests.conftest import SHARED_DATA

LABELS = get_labels("synthetic4")


def _fake_meld(root: Path) -> None:
    header = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\r\n"
    rows = {
        "train": [
            "1,Oh my God!,Monica,surprise,positive,0,0,1,1,0,1",
            "1,I\u2019m fine.,Ross,neutral,neutral,0,1,1,1,1,2",
            "2,Stop it,Joey,Anger,negative,1,0,1,1,0,1",
            "3,bad,Joey,angry,negative,1,1,1,1,0,1",
        ],
        "dev": ["1,Yay,Rachel,joy,positive,0,0,1,1,0,1"],
        "test": ["1,Ugh,Chandler,disgust,negative,0,0,1,1,0,1"],
    }
    root.mkdir(parents=True)
    for split, lines in rows.items():
        (root / f"{split}_sent_emo.csv").write_text(header + "\r\n".join(lines) + "\r\n", encoding="utf-8")


def test_meld_recipe_on_a_fake_tree(tmp_path: Path) -> None:
    from data_recipes.meld import convert

    _fake_meld(tmp_path / "raw" / "meld")
    manifest = convert(str(tmp_path / "raw"), str(tmp_path / "out"))
    assert manifest["splits"]["train"] == 3  # the unknown label "angry" is reported, not kept
    assert manifest["bad"][0]["line"] == 5 and "unknown label 'angry'" in manifest["bad"][0]["reason"]
    rows = [json.loads(x) for x in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["meld-train-d0-u0", "meld-train-d0-u1", "meld-train-d1-u0"]
    assert rows[1]["text"] == "I\u2019m fine." and rows[1]["meta"]["context"] == ["Monica: Oh my God!"]
    assert rows[2]["labels"]["emotion"] == "anger"
    samples, bad = load_samples(tmp_path / "out" / "train.jsonl", get_labels("meld"))
    assert len(samples) == 3 and not bad


@pytest.mark.integration
@pytest.mark.skipif(
    not (SHARED_DATA / "meld").is_dir(), reason="shared MELD corpus not present (EMOLLM_DATA_DIR)"
)
def test_meld_recipe_on_the_real_corpus(tmp_path: Path) -> None:
    from data_recipes.meld import convert

    manifest = convert(str(SHARED_DATA), str(tmp_path))
    assert manifest["splits"] == {"train": 9989, "dev": 1109, "test": 2610}
    assert manifest["labels"]["train"] == {
        "neutral": 4710, "joy": 1743, "surprise": 1205, "anger": 1109, "sadness": 683, "disgust": 271, "fear": 268
    }  # fmt: skip
    assert manifest["labels"]["test"]["neutral"] == 1256 and not manifest["bad"]


def _convert(name: str, tmp_path: Path, **opts) -> tuple[dict, dict[str, list[dict]]]:
    getattr(fake_corpora, name)(tmp_path / "raw")
    manifest = RECIPES[name](root=str(tmp_path / "raw"), out=str(tmp_path / "out"), **opts)
    rows = {}
    for split in manifest["splits"]:
        path = tmp_path / "out" / f"{split}.jsonl"
        samples, bad = load_samples(path, get_labels(manifest["label_set"]))
        assert not bad, bad
        rows[split] = [json.loads(line) for line in path.read_text().splitlines()]
        assert [s.id for s in samples] == [r["id"] for r in rows[split]]
    assert (tmp_path / "out" / "manifest.json").is_file() and manifest["recipe_version"] >= 1
    return manifest, rows


def _reasons(manifest: dict) -> list[str]:
    return sorted(b["reason"].split(":")[0] for b in manifest["bad"])


def test_iemocap_four_and_six_class_conventions(tmp_path: Path) -> None:
    m4, rows = _convert("iemocap", tmp_path / "a")
    assert m4["splits"] == {"train": 2, "dev": 1, "test": 1, "all": 4}
    assert [r["labels"]["emotion"] for r in rows["train"]] == ["neutral", "happy"]  # exc merged into hap
    assert m4["excluded"] == {"fru": 1, "xxx": 1}
    assert _reasons(m4) == [
        "media file not found",
        "session folder missing",
        "session folder missing",
        "unknown emotion code 'zzz'",
    ]
    first = rows["train"][0]
    assert first["text"] == "words number 0." and first["speaker"] == "Ses01F"
    assert (
        first["labels"]["valence"] == -0.25
        and first["labels"]["arousal"] == 0.0
        and first["labels"]["dominance"] == 0.5
    )
    m6, rows6 = _convert("iemocap", tmp_path / "b", classes="6")
    assert [r["labels"]["emotion"] for r in rows6["train"]] == ["neutral", "excited", "frustrated"]
    assert m6["label_set"] == "iemocap6" and m6["excluded"] == {"xxx": 1}
    with pytest.raises(ValueError, match="classes must be 4 or 6"):
        RECIPES["iemocap"](root=str(tmp_path / "a" / "raw"), out=str(tmp_path / "c"), classes="5")


def test_ravdess_filename_codes_pair_audio_and_video(tmp_path: Path) -> None:
    manifest, rows = _convert("ravdess", tmp_path)
    assert manifest["splits"] == {"train": 1, "test": 1, "all": 2}
    take = rows["train"][0]
    assert (
        take["labels"]["emotion"] == "happy" and take["speaker"] == "actor01" and take["meta"]["sex"] == "m"
    )
    assert set(take["media"]) == {"audio", "video"} and take["media"]["video"].endswith(
        "01-01-03-01-01-01-01.mp4"
    )
    assert take["text"] == "Kids are talking by the door."
    song = rows["test"][0]
    assert song["labels"]["emotion"] == "angry" and song["meta"] == {
        "channel": "song",
        "intensity": "strong",
        "repetition": 1,
        "sex": "f",
    }
    assert _reasons(manifest) == [
        "file name is not a valid RAVDESS code MM-VV-EE-II-SS-RR-AA",
        "unknown emotion code '09'",
    ]


def test_cremad_intended_and_perceived_labels(tmp_path: Path) -> None:
    manifest, rows = _convert("cremad", tmp_path / "a")
    assert manifest["splits"] == {"train": 1, "dev": 1, "test": 1, "all": 3}
    ang = rows["train"][0]
    assert ang["labels"]["emotion"] == "anger" and set(ang["media"]) == {"audio", "video"}
    assert ang["meta"]["vote"] == "A" and ang["meta"]["agreement"] == 0.8 and ang["meta"]["sex"] == "Male"
    assert ang["text"] == "Don't forget a jacket."
    assert _reasons(manifest) == ["file name is not ACTOR_SENTENCE_EMOTION_LEVEL"]
    perceived, _ = _convert("cremad", tmp_path / "b", label="perceived")
    assert perceived["splits"]["all"] == 2 and perceived["excluded"] == {"H:N": 1}


def test_msp_improv_evaluation_file(tmp_path: Path) -> None:
    manifest, rows = _convert("msp_improv", tmp_path)
    assert manifest["splits"] == {"train": 1, "dev": 1, "all": 2}
    assert rows["train"][0]["labels"] == {
        "emotion": "angry",
        "valence": -0.5,
        "arousal": -0.2,
        "dominance": 0.1,
    }
    assert rows["dev"][0]["speaker"] == "M05" and rows["dev"][0]["meta"]["type"] == "natural interaction"
    assert manifest["excluded"] == {"O": 1} and _reasons(manifest) == ["media file not found"]


def test_mosi_mmsa_layout_and_polarity(tmp_path: Path) -> None:
    manifest, rows = _convert("mosi", tmp_path)
    assert manifest["splits"] == {"train": 1, "dev": 1, "test": 1}
    assert rows["train"][0]["labels"] == {"emotion": "positive", "sentiment": 2.4, "valence": 0.8}
    assert (
        rows["dev"][0]["labels"]["emotion"] == "neutral"
        and rows["test"][0]["labels"]["emotion"] == "negative"
    )
    assert _reasons(manifest) == ["malformed row (label '7.5' outside -3..3)", "media file not found"]


def test_mer2023_csv_labels_and_refuses_pickle(tmp_path: Path) -> None:
    manifest, rows = _convert("mer2023", tmp_path)
    assert manifest["splits"]["test"] == 1 and sum(manifest["splits"].values()) == 3
    labelled = {r["id"]: r for split in rows.values() for r in split}
    assert labelled["mer2023-sample_00000001"]["text"] == "I passed!"
    assert labelled["mer2023-sample_00000001"]["labels"]["valence"] == 0.7
    assert _reasons(manifest) == ["unknown label 'bored'"]
    npz_only = tmp_path / "npz"
    npz_only.mkdir()
    (npz_only / "label-6way.npz").write_bytes(b"PK")
    with pytest.raises(ValueError, match="pickled Python objects"):
        RECIPES["mer2023"](root=str(npz_only), out=str(tmp_path / "o2"))


def test_deap_trials_become_sensor_samples(tmp_path: Path) -> None:
    manifest, rows = _convert("deap", tmp_path)
    assert manifest["splits"] == {"train": 2, "test": 2, "all": 4}
    assert [r["labels"]["emotion"] for r in rows["train"]] == ["excited", "depressed"]
    assert [r["labels"]["emotion"] for r in rows["test"]] == ["tense", "relaxed"]  # valence 5 is not > 5
    assert rows["train"][0]["labels"]["valence"] == 0.5
    rec = load_sensor(tmp_path / "out" / rows["train"][0]["media"]["sensor"])
    assert set(rec.signals) == {"emg", "eda", "resp", "ppg", "temp"} and rec.rates["eda"] == 128.0
    assert len(rec.signals["eda"]) == 640
    assert len(manifest["bad"]) == 1 and manifest["bad"][0]["reason"].startswith(
        "unreadable participant file"
    )
    assert manifest["bad"][0]["file"].endswith("s02.mat")


def test_dreamer_single_mat_file(tmp_path: Path) -> None:
    manifest, rows = _convert("dreamer", tmp_path)
    assert manifest["splits"] == {"train": 4, "all": 4}
    assert [r["labels"]["emotion"] for r in rows["train"]] == ["excited", "depressed"] * 2
    rec = load_sensor(tmp_path / "out" / rows["train"][0]["media"]["sensor"])
    assert (
        set(rec.signals) == {"ecg", "ecg_2"} and rec.rates["ecg"] == 256.0 and len(rec.signals["ecg"]) == 1024
    )


def test_amigos_skips_empty_and_nan_trials(tmp_path: Path) -> None:
    manifest, rows = _convert("amigos", tmp_path)
    assert manifest["splits"] == {"train": 1, "all": 1}
    trial = rows["train"][0]
    assert trial["labels"]["emotion"] == "tense" and trial["meta"] == {"video": "4", "basic": ["happiness"]}
    assert len(manifest["bad"]) == 2 and any("NaN" in b["reason"] for b in manifest["bad"])


def test_mahnob_sessions_and_bdf(tmp_path: Path) -> None:
    manifest, rows = _convert("mahnob", tmp_path)
    assert manifest["splits"] == {"train": 1, "all": 1} and manifest["excluded"] == {
        "no felt-emotion rating": 1
    }
    session = rows["train"][0]
    assert session["labels"] == {"emotion": "anger", "valence": -0.75, "arousal": 0.5}
    assert set(session["media"]) == {"sensor", "video"}
    assert set(load_sensor(tmp_path / "out" / session["media"]["sensor"]).signals) == {
        "ecg",
        "eda",
        "resp",
        "temp",
    }
    assert len(manifest["bad"]) == 1 and "malformed XML" in manifest["bad"][0]["reason"]


def test_savee_and_enterface(tmp_path: Path) -> None:
    savee, rows = _convert("savee", tmp_path / "s")
    assert savee["splits"] == {"train": 2, "test": 1, "all": 3}
    assert {r["labels"]["emotion"] for r in rows["train"]} == {"anger", "sadness"}
    assert "unknown emotion code" in savee["bad"][0]["reason"]
    ent, rows = _convert("enterface", tmp_path / "e")
    assert ent["splits"] == {"train": 2, "test": 1, "all": 3}
    assert (
        rows["test"][0]["id"] == "enterface-s40-fe-3" and "disagrees with folder" in ent["bad"][0]["reason"]
    )


def test_emodb_without_labels_csv_decodes_file_names(tmp_path: Path) -> None:
    for name in ("03a01Fa", "15b02Wb", "12a05Ta", "08a01Qx"):
        fake_corpora.wav(tmp_path / "raw" / "wav" / f"{name}.wav")
    manifest = RECIPES["emodb"](root=str(tmp_path / "raw"), out=str(tmp_path / "out"))
    assert manifest["splits"] == {"train": 1, "dev": 1, "test": 1, "all": 3}
    assert manifest["labels"]["all"] == {"happiness": 1, "anger": 1, "sadness": 1}
    assert "unknown label" in manifest["bad"][0]["reason"]


def test_emorynlp_speaker_lists_and_bad_rows(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    root.mkdir()
    head = "Utterance,Speaker,Emotion,Scene_ID,Utterance_ID,Season,Episode,Start_Time,End_Time\n"
    (root / "emorynlp_train_final.csv").write_text(
        head + "Coffee.,['Rachel Green'],Neutral,1,1,1,15,0,1\n"
        "Hi!,\"['Ross Geller', 'Monica Geller']\",Joyful,1,2,1,15,1,2\n"
        "Huh,['Joey'],Bored,1,3,1,15,2,3\nOops,[broken,Mad,1,4,1,15,3,4\nCoffee.,['Rachel Green'],Neutral,1,1,1,15,0,1\n"
    )
    (root / "emorynlp_dev_final.csv").write_text(head + "Yes,['Phoebe Buffay'],Powerful,2,1,1,16,0,1\n")
    manifest = RECIPES["emorynlp"](root=str(root), out=str(tmp_path / "out"))
    assert manifest["splits"] == {"train": 2, "dev": 1} and manifest["missing_splits"] == ["test"]
    rows = [json.loads(x) for x in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    assert rows[1]["speaker"] == "Ross Geller & Monica Geller" and rows[1]["labels"]["emotion"] == "joyful"
    assert rows[1]["meta"]["context"] == ["Rachel Green: Coffee."]
    lines = {b["line"]: b["reason"] for b in manifest["bad"]}
    assert lines[4] == "unknown label 'bored'" and "malformed row" in lines[5] and "duplicate id" in lines[6]


def test_recipe_cli_reports_bad_rows_and_strict_fails(tmp_path: Path, capsys) -> None:
    fake_corpora.savee(tmp_path / "raw")
    args = ["savee", "--root", str(tmp_path / "raw"), "--out", str(tmp_path / "out")]
    assert recipes_main(args) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["bad_rows"] == 1 and "x01.wav" in captured.err
    assert recipes_main([*args, "--strict"]) == 3
    assert recipes_main(["savee", "--root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert recipes_main([*args, "--opt", "classes=6"]) == 2  # savee has no such option


def test_messages_option_stores_a_rendering_training_can_use(tmp_path: Path) -> None:
    from emollm.data.sample import load_samples

    fake_corpora.savee(tmp_path / "raw")
    args = [
        "savee",
        "--root",
        str(tmp_path / "raw"),
        "--out",
        str(tmp_path / "out"),
        "--messages",
        "emotion_default",
    ]
    assert recipes_main(args) == 0
    samples, bad = load_samples(tmp_path / "out" / "train.jsonl", get_labels("savee"))
    assert not bad and all(s.messages for s in samples)
    video = next(s for s in samples if "video" in s.media)
    user = video.messages[1]["content"]
    assert user.count("<|video|>") == 1 and user.count("<|audio|>") == 1 and "Not available: sensor." in user
    assert video.messages[-1] == {"role": "assistant", "content": "Emotion: anger"}
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["messages"] == "emotion_default v1"


# Row fuzzing: metadata rows with any cell text (quotes, commas, line breaks, non-UTF-8 bytes, too few or too many
# fields) convert without an exception; every record written has a valid label, every other row is reported with
# its file and line.
_CELL = st.one_of(st.text(max_size=10), st.sampled_from(["", "0", "7", "-1", "x", '"', ",", "\n", "['A', 'B']", "[1]",
                                                         "neutral", "Joyful", "Mad", "W", "1.5", "nan", "9e9"]))  # fmt: skip
_TABLES = {  # recipe -> (root marker file, header, rows go to this file, required extra files)
    "meld": ("train_sent_emo.csv", "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,"
             "Episode,StartTime,EndTime", ["dev_sent_emo.csv", "test_sent_emo.csv"]),
    "emorynlp": ("emorynlp_train_final.csv", "Utterance,Speaker,Emotion,Scene_ID,Utterance_ID,Season,Episode,"
                 "Start_Time,End_Time", ["emorynlp_dev_final.csv"]),
    "mosi": ("label.csv", "video_id,clip_id,text,label,label_T,label_A,label_V,annotation,mode", []),
    "emodb": ("labels.csv", "file,speaker,text_id,emotion,sex", []),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(_TABLES))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(_CELL, min_size=1, max_size=12), max_size=6), junk=st.binary(max_size=6))
def test_recipe_rows_of_any_content_convert_or_are_reported(
    tmp_path_factory, name: str, rows: list, junk: bytes
) -> None:
    import csv
    import io

    root, out = tmp_path_factory.mktemp("raw"), tmp_path_factory.mktemp("out")
    table, header, others = _TABLES[name]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header.split(","))
    writer.writerows(rows)
    blob = buffer.getvalue().encode() + (junk + b"\r\n" if junk.strip() else b"")
    folder = root / "wav" if name == "emodb" else root
    folder.mkdir(exist_ok=True)
    (root / table).write_bytes(blob)
    for other in others:
        (root / other).write_text(header + "\r\n")
    manifest = RECIPES[name](root=str(root), out=str(out), seed=0)
    labels = get_labels(manifest["label_set"])
    written = [json.loads(x) for f in out.glob("*.jsonl") for x in f.read_text().splitlines()]
    assert all(r["labels"]["emotion"] in labels for r in written)
    assert all(
        b["file"] and (b["line"] is None or b["line"] >= 2) and "\n" not in b["reason"]
        for b in manifest["bad"]
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["01", "02", "03", "08", "24", "25", "00", "1", "ab", "", "999"]), max_size=8)
)
def test_ravdess_file_names_decode_to_valid_codes_or_nothing(parts: list[str]) -> None:
    from data_recipes.ravdess import _decode

    code = _decode(Path("-".join(parts) + ".wav"))
    assert code is None or (
        len(parts) == 7 and 1 <= int(code["actor"]) <= 24 and code["modality"] in ("01", "02", "03")
    )
