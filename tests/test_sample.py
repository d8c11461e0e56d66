"""Sample JSONL loading: bad records reported, good ones kept."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emollm.data.sample import load_samples
from emollm.labels import get_labels

LABELS = get_labels("synthetic4")


def test_bad_records_are_reported_and_good_ones_kept(syn_data: Path, tmp_path: Path) -> None:
    good = (syn_data / "test.jsonl").read_text().splitlines()
    missing_media = json.loads(good[1])
    missing_media["media"]["video"] = "features/nope.safetensors#x"
    dup = json.loads(good[0])
    path = syn_data / "mixed.jsonl"
    path.write_text(
        "\n".join(
            [
                good[0],
                "[1, 2]",
                json.dumps(missing_media),
                json.dumps(dup),
                json.dumps({"id": "t", "labels": {"emotion": "happy"}}),
                *good[2:4],
            ]
        )
        + "\n"
    )
    samples, bad = load_samples(path, LABELS)
    assert [s.id for s in samples] == [json.loads(line)["id"] for line in (good[0], good[2], good[3])]
    reasons = {b.line: b.reason for b in bad}
    assert "must be a JSON object" in reasons[2]
    assert "video file not found" in reasons[3] and "mixed.jsonl:3" in reasons[3]
    assert "duplicate sample id" in reasons[4]
    assert "neither media nor text" in reasons[5]


def test_media_paths_may_not_leave_the_corpus_root_unless_allowed(tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "secret.npy").write_bytes(b"x")
    (tmp_path / "corpus" / "ok.npy").write_bytes(b"x")
    (tmp_path / "corpus" / "link.npy").symlink_to(tmp_path / "secret.npy")
    refs = {
        "up": "../secret.npy",
        "absolute": str(tmp_path / "secret.npy"),
        "symlink": "link.npy",
        "inside": "ok.npy",
    }
    rows = [{"id": k, "labels": {"emotion": "sad"}, "media": {"audio": v}} for k, v in refs.items()]
    (tmp_path / "corpus" / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    good, bad = load_samples(tmp_path / "corpus" / "s.jsonl", LABELS)
    assert [s.id for s in good] == ["inside"]
    assert sorted(b.sample_id for b in bad) == ["absolute", "symlink", "up"]
    assert all("leaves the corpus root" in b.reason for b in bad)
    good, bad = load_samples(
        tmp_path / "corpus" / "s.jsonl", LABELS, media_roots=[tmp_path]
    )  # explicitly allowed
    assert len(good) == 4 and not bad


_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
                       lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3),
                       max_leaves=6)  # fmt: skip
_RECORDS = st.dictionaries(
    st.sampled_from(["id", "labels", "text", "media", "speaker", "meta", "rationale", "extra"]), _VALUES, max_size=6
) | st.fixed_dictionaries(
    {"id": st.text(max_size=8), "labels": st.fixed_dictionaries({"emotion": st.sampled_from([*LABELS, "bored", ""])}),
     "text": st.none() | st.text(max_size=30), "media": st.dictionaries(st.sampled_from(["audio", "smell"]),
                                                                        st.sampled_from(["ok.npy", "../x.npy", "no.npy", ""]))}
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_RECORDS | st.binary(max_size=40), max_size=12))
def test_any_jsonl_loads_every_line_as_a_sample_or_a_reported_bad_record(tmp_path: Path, lines: list) -> None:
    (tmp_path / "ok.npy").write_bytes(b"x")
    raw = [(x if isinstance(x, bytes) else json.dumps(x).encode()).replace(b"\n", b" ") for x in lines]
    (tmp_path / "s.jsonl").write_bytes(b"".join(line + b"\n" for line in raw))
    good, bad = load_samples(tmp_path / "s.jsonl", LABELS)
    nonblank = sum(1 for line in raw if line.decode("utf-8", "replace").strip())
    assert len(good) + len(bad) == nonblank  # nothing lost, nothing counted twice
    assert all(s.emotion in LABELS and (s.media or s.text) for s in good)
    assert all(b.reason and "\n" not in b.reason and f":{b.line}:" in b.reason for b in bad)
    assert len({s.id for s in good}) == len(good)
