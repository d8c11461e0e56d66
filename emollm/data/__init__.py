"""Data: Sample records, tokenisation and collation, and the generated default corpus."""

from emollm.data.sample import BadSample, Sample, load_samples

__all__ = ["BadSample", "Sample", "load_samples"]
