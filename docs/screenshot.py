"""Regenerate docs/images/serve.png: the web demo on a trained checkpoint, one test sample uploaded, in Debian's
headless Chromium driven by Playwright (the same path as tests/test_serve.py).

    python docs/screenshot.py --ckpt runs/quickstart/final --baseline runs/quickstart/baselines/early \
        --data runs/quickstart/data/test.jsonl [--index 0] [--out docs/images/serve.png]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run", "--disable-quic"]


def serve(ckpt: str, baseline: str | None) -> tuple[str, object]:
    """The demo on a free local port in a background thread; (url, server)."""
    import uvicorn

    import emollm
    from emollm.serve.analysis import Analyzer
    from emollm.serve.app import build_app

    limit = 50 << 20
    app = build_app(Analyzer(emollm.load(ckpt), tempfile.mkdtemp(), baseline, "off", limit), limit)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    for _ in range(400):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except OSError:
            time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def main() -> int:
    """Upload one sample's inputs, wait for the streamed rationale, save a full-page screenshot."""
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ckpt", required=True)
    p.add_argument("--baseline")
    p.add_argument("--data", required=True, help="a JSONL split whose media are uploaded")
    p.add_argument("--index", type=int, default=0, help="which record of --data")
    p.add_argument("--out", default="docs/images/serve.png")
    args = p.parse_args()
    record = json.loads(Path(args.data).read_text().splitlines()[args.index])
    folder = Path(args.data).parent
    url, server = serve(args.ckpt, args.baseline)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 860})
        page.goto(url)
        for modality, ref in record.get("media", {}).items():
            page.set_input_files(f"#{modality}", str(folder / ref))
        page.fill("#text", record.get("text") or "")
        page.click("#go")
        page.wait_for_selector("#rationale[data-done='1']", timeout=300_000)
        page.screenshot(path=args.out, full_page=True)
        print(f"{args.out}: label {page.text_content('#label')!r} (gold {record['labels'].get('emotion')!r})")
        browser.close()
    server.should_exit = True
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
