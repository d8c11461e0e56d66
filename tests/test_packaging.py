"""The installable package: a wheel built from the repo carries prompts, label maps and config presets, and its CLI
works from another folder with nothing from the source tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_chats_from_another_folder(trained_ckpt, tmp_path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(ROOT)], check=True, capture_output=True)  # fmt: skip
    wheel = next(wheels.glob("emollm-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip())  # fmt: skip
    # the heavy dependencies come from the project's environment, but not its editable emollm: a plain path entry
    # is not a site directory, so the editable install's .pth finder there is not run
    (purelib / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True, capture_output=True)  # fmt: skip
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": "", "PYTHONNOUSERSITE": "1"}
    probe = ("import emollm, emollm.resources as r, emollm.prompts as p; "
             "print(emollm.__file__); print(r.resource_dir('prompts')); print(p.load_template('emotion_default').name)")  # fmt: skip
    lines = subprocess.run([str(python), "-c", probe], cwd=work, env=env, check=True, capture_output=True,
                           text=True).stdout.split()  # fmt: skip
    assert (
        lines[0].startswith(str(purelib))
        and lines[1].startswith(str(purelib))
        and lines[2] == "emotion_default"
    )
    cli = venv / "bin" / "emollm"
    out = subprocess.run([str(cli), "chat", "--ckpt", str(trained_ckpt), "--text", "I am thrilled", "--json"],
                         cwd=work, env=env, check=True, capture_output=True, text=True).stdout  # fmt: skip
    answer = json.loads(out[out.index("{") :])
    assert answer["label"] == max(answer["scores"], key=answer["scores"].get) and answer["modalities"] == [
        "text"
    ]
