"""Raw media for the generated corpus (GENERATED DATA): a drawn face video, a synthetic voice and a physiology CSV per
sample, each driven by the sample's valence/arousal cues (see `emollm.data.synthetic` for the label structure).

- video (`.mp4`, MPEG-4 Part 2, 8 frames at 8 fps, 64x64): a cartoon face filling the frame. Mouth curvature = +valence (smile /
  frown), brow slant = -valence, eye opening = +arousal/6; per-frame jitter and a per-speaker skin tone.
- audio (`.wav`, 16 kHz, 1.2 s): a harmonic voice (6 harmonics) with F0 = speaker F0 x (1 + 0.25 arousal), loudness
  0.12 x (1 + 0.8 arousal) and a syllable rate of 4 + 1.5 arousal Hz, plus breath noise. Carries no valence.
- sensor (`.csv`, 64 Hz, 8 s; columns time, ecg, eda, resp): ECG spikes at HR = 70 + 18 arousal bpm, EDA level
  5 + 1.2 arousal uS with Poisson(1 + 2 max(arousal, 0)) skin-conductance responses, breathing at 15 + 4 arousal
  per minute. Carries no valence.
The measured cue values (mouth curvature, F0, HR, SCR count) are returned for the rationale.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FPS, FRAMES, SIZE = 8, 8, 64
AUDIO_RATE, AUDIO_SECONDS = 16000, 1.2
SENSOR_RATE, SENSOR_SECONDS = 64, 8.0


def draw_face(valence: float, arousal: float, tone: int, shift: tuple[int, int]) -> np.ndarray:
    """One 64x64 RGB frame of a cartoon face with the given expression cues."""
    import cv2

    img = np.full((SIZE, SIZE), 90, np.uint8)
    c, (sx, sy) = SIZE // 2, shift
    cv2.ellipse(img, (c + sx, c + 2 + sy), (23, 29), 0, 0, 360, tone, -1)
    eye_h = int(np.clip(round(3 + 2 * arousal), 1, 6))
    for dx in (-11, 11):
        cv2.ellipse(img, (c + dx + sx, c - 6 + sy), (5, eye_h), 0, 0, 360, 40, -1)
        tilt = int(round(4 * -valence)) * (1 if dx < 0 else -1)
        cv2.line(img, (c + dx - 6 + sx, c - 14 - tilt + sy), (c + dx + 6 + sx, c - 14 + tilt + sy), 30, 2)
    curve = 8 * valence
    pts = [[c - 12 + i + sx, c + 16 + sy + int(round(curve * (1 - ((i - 12) / 12) ** 2)))] for i in range(25)]
    cv2.polylines(img, [np.array(pts, np.int32)], False, 30, 2)
    return np.repeat(img[:, :, None], 3, axis=2)


def write_face_video(path: Path, rng: np.random.Generator, valence: float, arousal: float, tone: int) -> dict:
    """Write the face mp4; return the mean cue values actually drawn."""
    import av

    v_cues = (
        valence
        + np.cumsum(rng.normal(0, 0.12, FRAMES)) / np.sqrt(np.arange(1, FRAMES + 1))
        + rng.normal(0, 0.35, FRAMES)
    )
    a_cues = arousal + rng.normal(0, 0.35, FRAMES)
    with av.open(str(path), "w") as out:
        # MPEG-4 Part 2 at a high bit rate: libx264's output varied between runs here, this encoder's does not
        stream = out.add_stream("mpeg4", rate=FPS)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 2_000_000
        for v, a in zip(v_cues, a_cues, strict=True):
            frame = draw_face(float(np.clip(v, -1.2, 1.2)), float(a) / 6, tone, tuple(rng.integers(-2, 3, 2)))
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return {"mouth_curve": round(float(v_cues.mean()), 2)}


def write_voice(path: Path, rng: np.random.Generator, arousal: float, f0_speaker: float) -> dict:
    """Write the voice wav; return its mean F0 [Hz] and relative loudness."""
    import soundfile as sf

    a = arousal + rng.normal(0, 0.35)
    n = int(AUDIO_RATE * AUDIO_SECONDS)
    t = np.arange(n) / AUDIO_RATE
    f0 = f0_speaker * (1 + 0.25 * a) * (1 + 0.03 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
    phase = 2 * np.pi * np.cumsum(f0) / AUDIO_RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 7))
    syllables = 0.5 * (1 + np.sin(2 * np.pi * (4 + 1.5 * a) * t + rng.uniform(0, 2 * np.pi)))
    loud = 0.12 * max(0.2, 1 + 0.8 * a)
    wave = loud * syllables * voice / 2.5 + rng.normal(0, 0.004, n)
    sf.write(path, np.clip(wave, -1, 1).astype(np.float32), AUDIO_RATE)
    return {"f0_hz": round(float(f0.mean()), 1), "loudness": round(float(loud), 3)}


def write_physiology(path: Path, rng: np.random.Generator, arousal: float, scl_speaker: float) -> dict:
    """Write the ECG/EDA/respiration CSV; return HR [bpm] and the SCR count."""
    a = arousal + rng.normal(0, 0.45)
    n = int(SENSOR_RATE * SENSOR_SECONDS)
    t = np.arange(n) / SENSOR_RATE
    hr = float(np.clip(70 + 18 * a, 45, 150))
    ecg = np.zeros(n)
    for beat in np.arange(rng.uniform(0, 60 / hr), SENSOR_SECONDS, 60 / hr):
        ecg += np.exp(-((t - beat) ** 2) / (2 * 0.012**2)) + 0.12 * np.exp(-((t - beat - 0.25) ** 2) / 0.002)
    ecg += rng.normal(0, 0.03, n)
    eda = np.full(n, scl_speaker + 1.2 * a) + 0.02 * t
    scrs = int(rng.poisson(1 + 2 * max(a, 0)))
    for onset in rng.uniform(0.5, SENSOR_SECONDS - 1.5, scrs):
        rise = np.clip(t - onset, 0, None)
        eda += 0.25 * (1 - np.exp(-rise / 0.7)) * np.exp(-rise / 4)
    resp = np.sin(2 * np.pi * (15 + 4 * a) / 60 * t + rng.uniform(0, 2 * np.pi)) + rng.normal(0, 0.05, n)
    rows = np.column_stack([t, ecg, eda + rng.normal(0, 0.005, n), resp])
    np.savetxt(path, rows, delimiter=",", header="time,ecg,eda,resp", comments="", fmt="%.5f")
    return {"heart_rate_bpm": round(hr, 1), "scr_count": scrs}


def write_sample_media(
    out: Path,
    sid: str,
    rng: np.random.Generator,
    va: dict[str, tuple[float, float]],
    speaker: dict[str, float],
    present: list[str],
) -> tuple[dict[str, str], dict[str, dict]]:
    """Write the present modalities' files for one sample under `out/media/` (each driven by its own (valence,
    arousal) in `va`); return (media refs, measured cues)."""
    folder = out / "media"
    folder.mkdir(parents=True, exist_ok=True)
    media, cues = {}, {}
    if "video" in present:
        media["video"] = f"media/{sid}.mp4"
        cues["video"] = write_face_video(out / media["video"], rng, *va["video"], int(speaker["tone"]))
    if "audio" in present:
        media["audio"] = f"media/{sid}.wav"
        cues["audio"] = write_voice(out / media["audio"], rng, va["audio"][1], speaker["f0"])
    if "sensor" in present:
        media["sensor"] = f"media/{sid}.csv"
        cues["sensor"] = write_physiology(out / media["sensor"], rng, va["sensor"][1], speaker["scl"])
    return media, cues


def describe_media_cues(cues: dict[str, dict]) -> str:
    """A rationale stating only the cue values generated for the present modalities."""
    parts = []
    if "video" in cues:
        curve = cues["video"]["mouth_curve"]
        face = "smiling" if curve > 0.3 else "frowning" if curve < -0.3 else "neutral"
        parts.append(f"face {face} (mouth curve {curve:+.1f})")
    if "audio" in cues:
        parts.append(f"voice pitch {cues['audio']['f0_hz']:.0f} Hz, loudness {cues['audio']['loudness']:.2f}")
    if "sensor" in cues:
        s = cues["sensor"]
        parts.append(
            f"heart rate {s['heart_rate_bpm']:.0f} bpm with {s['scr_count']} skin-conductance responses"
        )
    if not parts:
        return "Only the transcript is available."
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."
