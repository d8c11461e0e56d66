"""Tiny offline models for tests and smoke runs: a byte-level BPE trained on the spot and a 2-layer LLaMA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

CORPUS = [
    "Emotion: neutral happy sad angry joy surprise anger sadness disgust fear Reason: the face shows smiling frowning",
    "the voice has raised low moderate pitch and energy physiology is elevated lowered baseline heart rate skin",
    "conductance What emotion does this person feel? Choose one of: Answer with the label, then the cues that",
    "support it. Which emotion is expressed here? Give the label and a short reason grounded in the signals.",
    "Classify the person's emotion as one of and explain which cues you relied on. Face video: Voice: Physiological",
    "sensors: Transcript: Not available: video, audio, sensor. You are an affective-computing assistant.",
    "I am thrilled about what happened. Honestly, I feel miserable right now. This news makes me furious.",
    "0123456789 +-.,;:!?'\"()[]{}<>/\\|@#$%^&*_=~` abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ",
]


def make_tiny_tokenizer(vocab_size: int = 512):
    """A byte-level BPE tokenizer with ChatML special tokens and chat template, trained in ~0.01 s."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 4, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        bos_token="<|im_start|>",
        unk_token="<|endoftext|>",
    )
    fast.chat_template = CHATML
    return fast


def make_tiny_lm(out_dir: str | Path, hidden: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """Save a random tiny LlamaForCausalLM + tokenizer to `out_dir` (a local path usable as lm.name_or_path)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    tokenizer = make_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def write_mp4(path: Path, frames: int = 20, fps: int = 10, size: int = 64, with_audio: bool = True) -> Path:
    """An H.264 mp4 whose frame i is uniformly grey level 10*i, with an optional 440 Hz AAC track."""
    import av

    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        audio = out.add_stream("aac", rate=16000) if with_audio else None
        for i in range(frames):
            img = np.full((size, size, 3), 10 * i, dtype=np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if audio is not None:
            t = np.arange(int(16000 * frames / fps)) / 16000
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
            frame = av.AudioFrame.from_ndarray(tone, format="flt", layout="mono")
            frame.sample_rate = 16000
            for packet in audio.encode(frame):
                out.mux(packet)
            for packet in audio.encode():
                out.mux(packet)
    return path


def write_sensor_csv(path: Path, rate: float, columns: dict[str, np.ndarray]) -> Path:
    """A sensor CSV: a `time` column in seconds and one column per named signal."""
    n = len(next(iter(columns.values())))
    t = np.arange(n) / rate
    lines = ["time," + ",".join(columns)]
    lines += [",".join([f"{t[i]:.6f}"] + [f"{columns[c][i]:.6f}" for c in columns]) for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def make_tiny_wav2vec2(out_dir: str | Path, layers: int = 2, seed: int = 0) -> Path:
    """Save a random tiny Wav2Vec2Model (hidden 32, 20x downsampling) + feature extractor to `out_dir`."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(seed)
    config = Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=37,
        conv_dim=(16, 16),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    Wav2Vec2Model(config).save_pretrained(out_dir)
    Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(out_dir)
    return Path(out_dir)
