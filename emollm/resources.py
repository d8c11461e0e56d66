"""The data files emollm ships beside its code: prompt templates, label maps and config presets.

They live at the top of the source tree (`prompts/`, `eval/label_maps/`, `configs/`, as the project's layout names
them); an installed wheel carries copies inside the package (`emollm/_resources/<kind>/`). This is the one lookup
that finds them either way.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SOURCE_LAYOUT = {"prompts": "prompts", "label_maps": "eval/label_maps", "configs": "configs"}


def resource_dir(kind: str) -> Path:
    """The folder holding one kind of shipped data: `prompts`, `label_maps` or `configs`."""
    if kind not in SOURCE_LAYOUT:
        raise KeyError(f"unknown resource kind {kind!r}; valid: {', '.join(SOURCE_LAYOUT)}")
    packaged = Path(str(resources.files("emollm"))) / "_resources" / kind
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / SOURCE_LAYOUT[kind]


def named_yaml(name_or_path: str | Path, kind: str, what: str) -> Path:
    """The YAML file for a name (`<kind dir>/NAME.yaml`) or a path; a clear error listing the known names."""
    folder = resource_dir(kind)
    path = Path(name_or_path)
    if not path.suffix:
        path = folder / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
        raise FileNotFoundError(f"{what} not found: {name_or_path} (known: {', '.join(known) or 'none'})")
    return path
