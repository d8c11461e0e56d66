"""`emollm serve` end to end in a real headless browser (Debian's Chromium driven by Playwright): upload a generated
clip, see the label, the bars, the streamed rationale, the cues and the baseline; switch an input off; download the
JSON; and get a message on the page, never a traceback, for corrupt, wrong-type, too-large and silent uploads."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "runs" / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(media_ckpt, tmp_path_factory):
    """The demo on a free local port, with a saved early-fusion baseline beside the LLM; (url, data folder)."""
    import uvicorn

    import emollm
    from emollm.baselines import run_baselines
    from emollm.config import load_config
    from emollm.prior_adjustment import PriorAdjustment
    from emollm.serve.analysis import Analyzer
    from emollm.serve.app import build_app

    ckpt, data = media_ckpt
    work = tmp_path_factory.mktemp("serve")
    cfg = load_config(ckpt / "config.yaml", ["baseline.epochs=3"])
    run_baselines(cfg, data, work / "bl", ("early",), cfg.baseline, work / "bl-cache")
    limit = 2 << 20
    model = emollm.load(ckpt)
    model.prior_adjustment = PriorAdjustment(model.labels, (0.4, 0.2, 0.2, 0.2), 0.5)  # the page must say so
    app = build_app(Analyzer(model, work / "demo", work / "bl" / "early", "off", limit), limit)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):  # until the socket accepts (startup), at most ~10 s
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except OSError:
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", data
    srv.should_exit = True
    thread.join(timeout=10)


def _post_form(url: str, fields: dict[str, tuple[str, bytes]]) -> tuple[int, dict]:
    boundary = "----emollm"
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{n}"\r\n\r\n'.encode() + v + b"\r\n"
                    for k, (n, v) in fields.items()) + f"--{boundary}--\r\n".encode()  # fmt: skip
    request = urllib.request.Request(url, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_api_answers_bad_uploads_with_a_message(server, tmp_path) -> None:
    url, data = server
    status, body = _post_form(f"{url}/api/upload", {"video": ("clip.txt", b"hello")})
    assert status == 400 and "must be one of" in body["error"]
    status, body = _post_form(f"{url}/api/upload", {"video": ("clip.mp4", b"\x00garbage" * 100)})
    assert status == 400 and "clip" not in body["error"] or "video" in body["error"]
    status, body = _post_form(f"{url}/api/upload", {"audio": ("big.wav", b"\x00" * (3 << 20))})
    assert status in (400, 413) and "limit" in body["error"]
    assert "Traceback" not in json.dumps(body)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make test installs it)")
def test_demo_in_a_headless_browser(server, tmp_path) -> None:
    from playwright.sync_api import sync_playwright

    url, data = server
    first = json.loads((data / "test.jsonl").read_text().splitlines()[0])
    media = {m: str(data / ref) for m, ref in first["media"].items()}
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500)
    (tmp_path / "silent.wav").write_bytes(Path(media["audio"]).read_bytes()[:44] + b"\x00" * 40000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        page = browser.new_page(viewport={"width": 1200, "height": 860}, accept_downloads=True)
        page.goto(url)
        for modality in ("video", "audio", "sensor"):
            page.set_input_files(f"#{modality}", media[modality])
        page.fill("#text", first.get("text") or "")
        page.click("#go")
        page.wait_for_selector("#rationale[data-done='1']", timeout=120_000)
        label = page.text_content("#label")
        assert label in ("neutral", "happy", "sad", "angry")
        assert page.locator("#bars .bar").count() == 4 and "label prior (tau 0.5)" in page.text_content(
            "#bars"
        )
        streamed = page.text_content("#rationale")
        assert "video" in page.text_content("#modalities") and page.text_content("#baseline-label") in (
            "neutral", "happy", "sad", "angry")  # fmt: skip
        assert page.locator("#face img").count() == 1 and "pitch" in page.text_content("#cues")
        page.screenshot(path=str(ARTIFACTS / "serve.png"), full_page=True)
        with page.expect_download() as download:
            page.click("#download")
        saved = json.loads(Path(download.value.path()).read_text())
        assert saved["label"] == label and set(saved["scores"]) == {"neutral", "happy", "sad", "angry"}
        assert saved["prior_adjustment_tau"] == 0.5
        assert "answer" in saved and "".join(streamed.split()) == "".join(
            saved["answer"].split()
        )  # streamed = generated
        page.uncheck("#toggles input[data-m='video']")  # re-score without the video, live
        page.wait_for_function("() => !document.querySelector('#modalities').textContent.includes('video')")
        assert "audio" in page.text_content("#modalities")
        for bad, field, phrase in (
            (tmp_path / "broken.mp4", "#video", "video"),
            (tmp_path / "silent.wav", "#audio", "silent"),
        ):
            page.goto(url)
            page.set_input_files(field, str(bad))
            page.click("#go")
            page.wait_for_selector("#error", state="visible", timeout=120_000)  # slow under a loaded CI
            message = page.text_content("#error")
            assert phrase in message and "Traceback" not in message, message
        page.screenshot(path=str(ARTIFACTS / "serve-error.png"))
        browser.close()
