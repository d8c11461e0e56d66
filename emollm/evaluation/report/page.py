"""Reports people can read: one Markdown page and one HTML page per report, with PNG plots (matplotlib, headless)
and a provenance block (checkpoint, data, label map, prompt template, seeds, exact command)."""

from __future__ import annotations

import html
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emollm.io import atomic_write_text


@dataclass
class Report:
    """Blocks of a report: headings, paragraphs, tables and images (paths relative to the report folder)."""

    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def heading(self, text: str) -> None:
        """A section heading."""
        self.blocks.append(("h2", text))

    def para(self, text: str) -> None:
        """A paragraph of plain text."""
        self.blocks.append(("p", text))

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        """A table; floats are shown with 4 decimals."""
        self.blocks.append(("table", (header, [[_cell(c) for c in r] for r in rows])))

    def image(self, path: str, caption: str) -> None:
        """A PNG written next to the report."""
        self.blocks.append(("img", (path, caption)))

    def markdown(self) -> str:
        """The report as Markdown."""
        lines = [f"# {self.title}", ""]
        for kind, value in self.blocks:
            if kind == "h2":
                lines += [f"## {value}", ""]
            elif kind == "p":
                lines += [value, ""]
            elif kind == "table":
                header, rows = value
                lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                lines += ["| " + " | ".join(r) + " |" for r in rows] + [""]
            else:
                lines += [f"![{value[1]}]({value[0]})", ""]
        return "\n".join(lines)

    def html(self) -> str:
        """The report as one self-contained-looking HTML page (images referenced next to it)."""
        e = html.escape
        body = [f"<h1>{e(self.title)}</h1>"]
        for kind, value in self.blocks:
            if kind == "h2":
                body.append(f"<h2>{e(value)}</h2>")
            elif kind == "p":
                body.append(f"<p>{e(value)}</p>")
            elif kind == "table":
                header, rows = value
                head = "".join(f"<th>{e(h)}</th>" for h in header)
                cells = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
            else:
                body.append(
                    f'<figure><img src="{e(value[0])}" alt="{e(value[1])}"><figcaption>{e(value[1])}</figcaption></figure>'
                )
        style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
                 "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}img{max-width:100%}")  # fmt: skip
        return (
            f"<!doctype html><meta charset=utf-8><title>{e(self.title)}</title><style>{style}</style>"
            + "\n".join(body)
        )

    def write(self, folder: str | Path, stem: str = "report") -> Path:
        """Write STEM.md and STEM.html into `folder`; return the Markdown path."""
        folder = Path(folder)
        atomic_write_text(folder / f"{stem}.md", self.markdown())
        atomic_write_text(folder / f"{stem}.html", self.html())
        return folder / f"{stem}.md"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


_COMMAND: list[str] = []


def set_command(argv: list[str]) -> None:
    """Record the command being run (the CLI calls this with its own arguments)."""
    _COMMAND[:] = argv


def command_line() -> str:
    """The command that produced this run (as recorded by the CLI, else this process's argv), shell-quoted."""
    if _COMMAND:
        return " ".join(map(shlex.quote, _COMMAND))
    prog = Path(sys.argv[0]).name
    prog = "emollm" if prog in ("emollm", "__main__.py", "cli.py") else prog
    return " ".join([prog, *map(shlex.quote, sys.argv[1:])])


def provenance_block(report: Report, info: dict[str, Any]) -> None:
    """The provenance section: one row per key (checkpoint, data, label map, prompt, seeds, command)."""
    report.heading("Provenance")
    report.table(["item", "value"], [[k, v if not isinstance(v, dict) else ", ".join(f"{a}={b}" for a, b in v.items())]
                                     for k, v in info.items()])  # fmt: skip


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(confusion: list[list[int]], labels: list[str], path: Path, title: str) -> None:
    """A row-normalised confusion matrix (rows = gold; the last column counts unparsed answers)."""
    plt = _plt()
    cm = np.asarray(confusion, dtype=np.float64)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    cols = list(labels) + (["unparsed"] if cm.shape[1] > len(labels) else [])
    fig, ax = plt.subplots(figsize=(1 + 0.6 * len(cols), 1 + 0.55 * len(labels)))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(
                j,
                i,
                int(cm[i, j]),
                ha="center",
                va="center",
                fontsize=7,
                color="black" if norm[i, j] < 0.6 else "white",
            )
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    _save(fig, path)


def plot_bars(groups: dict[str, dict[str, float]], path: Path, title: str, ylabel: str) -> None:
    """Grouped bars: one group per key of the inner dicts, one bar per outer key (e.g. per-class F1 per mode)."""
    plt = _plt()
    series = list(groups)
    cats = list(next(iter(groups.values())))
    x, width = np.arange(len(cats)), 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(4, 0.8 * len(cats) + 2), 3.2))
    for k, name in enumerate(series):
        ax.bar(x + k * width - 0.4 + width / 2, [groups[name].get(c, 0.0) for c in cats], width, label=name)
    ax.set_xticks(x, cats, rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _legend(ax, len(series))
    _save(fig, path)


def _legend(ax: Any, n: int) -> None:
    """A legend inside the axes for a few series, beside them for more (so it never hides bars or lines)."""
    if n <= 2:
        ax.legend(fontsize=7)
    else:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def plot_reliability(rel: dict[str, Any], path: Path, title: str) -> None:
    """Reliability diagram: accuracy per confidence bin against the diagonal, with the ECE in the title."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(3.6, 3.4))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
    centers = [(b["lo"] + b["hi"]) / 2 for b in rel["bins"]]
    ax.bar(centers, [b["accuracy"] for b in rel["bins"]], width=0.09, alpha=0.7, label="accuracy")
    ax.plot(
        [b["confidence"] for b in rel["bins"]],
        [b["accuracy"] for b in rel["bins"]],
        "o-",
        ms=3,
        label="per bin",
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top label score)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title}\nECE {rel['ece']:.3f}", fontsize=9)
    _save(fig, path)


def plot_curves(
    curves: dict[str, list[tuple[float, float]]], path: Path, title: str, xlabel: str, ylabel: str
) -> None:
    """Lines of (x, y) points, one per named series (e.g. UAR against SNR)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2, 3.2))
    for name, points in curves.items():
        xs, ys = zip(*points, strict=True) if points else ((), ())
        ax.plot(xs, ys, "o-", ms=3, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    _legend(ax, len(curves))
    _save(fig, path)


def plot_matrix(
    values: list[list[float | None]], rows: list[str], cols: list[str], path: Path, title: str
) -> None:
    """A heatmap of a metric over a rows x cols grid (e.g. train->test pairs x systems)."""
    plt = _plt()
    grid = np.array([[np.nan if v is None else v for v in r] for r in values], dtype=np.float64)
    fig, ax = plt.subplots(figsize=(1.5 + 1.1 * len(cols), 1 + 0.5 * len(rows)))
    ax.imshow(grid, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            if not np.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=7, color="white")
    ax.set_xticks(range(len(cols)), cols, rotation=35, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set_title(title, fontsize=9)
    _save(fig, path)


def _save(fig: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    tmp.replace(path)
    _plt().close(fig)
