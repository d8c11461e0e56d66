"""The model: projectors, placeholder tokens, LM loading and the EmoLLM module."""

from emollm.model.emollm import EmoLLM
from emollm.model.projector import PROJECTORS, build_projector

__all__ = ["PROJECTORS", "EmoLLM", "build_projector"]
