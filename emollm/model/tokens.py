"""Register the modality placeholder tokens (`emollm.prompts.PLACEHOLDERS`) with a tokenizer and an LM."""

from __future__ import annotations

import torch
from torch import nn

from emollm.prompts import PLACEHOLDERS, ModalityTokens


def add_placeholder_tokens(tokenizer, lm: nn.Module, num_tokens: dict[str, int]) -> dict[str, ModalityTokens]:
    """Register a placeholder token per modality (reusing one the tokenizer already has) and grow the embeddings.

    New embedding rows are set to zero, so the base model plus this function is deterministic: a reloaded checkpoint
    rebuilds identical rows. Placeholder rows never reach the LM as inputs (projected features replace them).
    """
    new = [PLACEHOLDERS[m] for m in num_tokens if PLACEHOLDERS[m] not in tokenizer.get_vocab()]
    if new:
        tokenizer.add_special_tokens({"additional_special_tokens": new}, replace_extra_special_tokens=False)
    old_rows = lm.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > old_rows:
        lm.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        with torch.no_grad():
            lm.get_input_embeddings().weight[old_rows:] = 0
            out = lm.get_output_embeddings()
            if out is not None and out.weight.shape[0] > old_rows:
                out.weight[old_rows:] = 0
    tokens = {}
    for modality, n in num_tokens.items():
        token = PLACEHOLDERS[modality]
        token_id = tokenizer.convert_tokens_to_ids(token)
        if len(tokenizer(token, add_special_tokens=False)["input_ids"]) != 1:
            raise RuntimeError(f"placeholder {token} does not tokenise to a single id")
        tokens[modality] = ModalityTokens(modality, token, int(token_id), int(n))
    return tokens
