"""The one door from the library to the corpus converters in the top-level `data_recipes/` package.

`data_recipes` builds on `emollm` (media writers, labels, prompts), so `emollm` never imports it at module level:
every use of a recipe goes through `recipe()` or `prepare_main()` here.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

RecipeFn = Callable[..., dict[str, Any]]


def _recipes_package() -> ModuleType:
    """The `data_recipes` package (imported on first use)."""
    import data_recipes

    return data_recipes


def recipe_names() -> list[str]:
    """Names of every corpus converter."""
    return sorted(_recipes_package().RECIPES)


def recipe(name: str) -> RecipeFn:
    """The converter `convert(root=..., out=..., limit=..., seed=..., **options) -> manifest` for a corpus."""
    recipes = _recipes_package().RECIPES
    if name not in recipes:
        raise ValueError(f"unknown recipe {name!r}; valid: {', '.join(sorted(recipes))}")
    return recipes[name]


def prepare_main(argv: list[str]) -> int:
    """Run `python -m data_recipes ARGV` in this process (what `emollm prepare` does)."""
    import data_recipes.__main__ as recipes_cli

    return recipes_cli.main(argv)
