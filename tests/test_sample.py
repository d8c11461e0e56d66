"""Sample JSONL loading: bad records reported, good ones kept."""

from __future__ import annotations

import json
from pathlib import Path

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
