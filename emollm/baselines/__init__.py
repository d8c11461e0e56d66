"""Conventional fusion baselines (unimodal, early, late, hybrid, TFN, LMF) on the same features, splits and metrics
as the LLM path."""

from emollm.baselines.models import build_fusion
from emollm.baselines.train import ALL, run_baselines, run_loso
from emollm.config import BaselineConfig

__all__ = ["ALL", "BaselineConfig", "build_fusion", "run_baselines", "run_loso"]
