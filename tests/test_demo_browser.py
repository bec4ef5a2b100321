"""The demo page in a real browser: headless Chromium (Debian's, /usr/bin/chromium) driven by
Playwright's Python package, against `python -m colorize_jax.demo` on a free local port.

An upload comes back colorized at full resolution; a colour point moves the colour at its spot
toward its colour, and undo takes it back; bad uploads get a message and the server goes on;
the page fetches nothing from any other host. Screenshots go to the test's tmp folder, and to
$COLORIZE_JAX_DEMO_SCREENSHOT when set (the README's docs/demo.png is bench/demo_screenshot.py's,
with a shipped model).

Needs the [demo,browser] extras and chromium; .ci/run installs them (the extras in a venv of
their own) and runs `pytest -m browser` there. Elsewhere these tests skip, saying what is missing.
"""

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from conftest import ROOT, load_bench
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# .ci/run sets it: there, a missing piece fails the run instead of skipping these tests.
REQUIRED = os.environ.get("COLORIZE_REQUIRE_BROWSER") == "1"


def _missing(why: str):
  if REQUIRED:
    raise RuntimeError(f"COLORIZE_REQUIRE_BROWSER=1 but {why}")
  pytest.skip(why, allow_module_level=True)


if not os.path.exists(CHROMIUM):
  _missing("chromium is not installed (apt-get install chromium; .ci/run installs it)")
try:
  import gradio  # noqa: F401
except ImportError:
  _missing("the demo needs Gradio: pip install -e '.[demo]'")
try:
  from playwright import sync_api
except ImportError:
  _missing("the browser test needs Playwright: pip install -e '.[browser]'")

from test_demo import HINT, train_tiny_hints_model  # noqa: E402

from colorize_jax import color, inference, pretrained  # noqa: E402
from colorize_jax.data.sources import sample  # noqa: E402

demo_latency = load_bench("demo_latency")  # Its tick_only: the same page, the same clicks.
TINY, COPY = "tiny_hints", "tiny_copy"  # The second: the same weights under another name.
SCREEN = {"width": 1400, "height": 1000}
UPLOAD_SECONDS = 30.0  # A hang, not a speed test: bench/demo_latency.py measures the speed.


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _ab(image: np.ndarray) -> np.ndarray:
  return np.asarray(color.rgb_to_lab(color.to_unit(image)))[..., 1:]


def _chroma(image: np.ndarray) -> float:
  return float(np.mean(np.hypot(*np.moveaxis(_ab(image), -1, 0))))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
  """A 768x512 JPEG photo, a CMYK JPEG, a file that is no image and a 56-megapixel PNG."""
  folder = tmp_path_factory.mktemp("uploads")
  coffee = Image.open(sample.photo_path("coffee")).convert("RGB").resize((768, 512))
  coffee.save(folder / "coffee.jpg", quality=92)
  coffee.convert("CMYK").resize((300, 200)).save(folder / "cmyk.jpg")
  (folder / "broken.jpg").write_bytes(b"this is not an image at all")
  Image.new("L", (8000, 7000)).save(folder / "huge.png")
  return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory):
  """The demo with the tiny hints model (trained here, and a copy) beside whatever is shipped."""
  config, task, state = train_tiny_hints_model()
  colorizer = inference.Colorizer(config, task, task.inference_variables(state), step=300)
  folder = tmp_path_factory.mktemp("bundles")
  bundles = [inference.write_bundle(colorizer, str(folder / name)) for name in (TINY, COPY)]
  port = _free_port()
  log_path = tmp_path_factory.mktemp("server") / "demo.log"
  env = dict(os.environ)
  env.pop("XLA_FLAGS", None)  # One CPU device, as a user's laptop: not the tests' eight.
  log = open(log_path, "w")
  proc = subprocess.Popen(
    [sys.executable, "-m", "colorize_jax.demo", f"--bundles={','.join(bundles)}", f"--port={port}"],
    cwd=ROOT,
    env=env,
    stdout=log,
    stderr=subprocess.STDOUT,
  )
  url = f"http://127.0.0.1:{port}/"
  deadline = time.time() + 240
  while True:
    if proc.poll() is not None:
      pytest.fail(f"the demo exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}")
    try:
      with urllib.request.urlopen(url, timeout=5) as answer:
        if answer.status == 200:
          break
    except OSError:
      pass
    if time.time() > deadline:
      proc.send_signal(signal.SIGTERM)
      pytest.fail(f"the demo did not answer in 240 s:\n{log_path.read_text()[-3000:]}")
    time.sleep(1)
  yield {"url": url, "log": log_path, "proc": proc}
  proc.send_signal(signal.SIGTERM)
  try:
    proc.wait(timeout=30)
  except subprocess.TimeoutExpired:
    proc.kill()
  log.close()


@pytest.fixture(scope="module")
def browser():
  with sync_api.sync_playwright() as playwright:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser, server, tmp_path):
  """A fresh tab on the demo; any request to another host is refused and fails the test."""
  elsewhere = []
  tab = browser.new_page(viewport=SCREEN)

  def route(request_route):
    url = request_route.request.url
    if url.startswith(server["url"]) or url.startswith(("data:", "blob:")):
      request_route.continue_()
    else:
      elsewhere.append(url)
      request_route.abort()

  tab.route("**/*", route)
  demo_latency.open_page(tab, server["url"], timeout_s=60.0)
  tab.evaluate("document.fonts.ready.then(() => true)")  # Its own fonts are in.
  yield tab
  tab.screenshot(path=str(tmp_path / "last.png"), full_page=True)
  tab.close()
  assert elsewhere == [], f"the page fetched from other hosts: {elsewhere}"


def _upload(page, path) -> float:
  """Uploads `path`; seconds until the page shows its result."""
  start = time.perf_counter()
  page.set_input_files("#upload input[type=file]", str(path))
  demo_latency.wait_status(page, os.path.basename(path), UPLOAD_SECONDS)
  return time.perf_counter() - start


def _download(page) -> np.ndarray:
  """The first full-resolution PNG the page offers."""
  href = page.locator("#downloads a[data-testid=download-link]").first.get_attribute("href")
  answer = page.request.get(href)
  assert answer.ok, href
  return np.asarray(Image.open(io.BytesIO(answer.body())).convert("RGB"))


def _screenshot(page, tmp_path, name: str) -> None:
  page.wait_for_timeout(500)  # Images decoded and laid out.
  page.screenshot(path=str(tmp_path / name), full_page=True)
  target = os.environ.get("COLORIZE_JAX_DEMO_SCREENSHOT")
  if target and name == "hints.png":
    page.screenshot(path=target, full_page=False)


def test_an_upload_comes_back_colorized_at_full_resolution(page, photos, tmp_path, server):
  default = pretrained.default()
  shown = default.name if default else TINY
  demo_latency.tick_only(page, shown)
  seconds = _upload(page, photos / "coffee.jpg")
  status = demo_latency.status(page)
  assert f"coffee.jpg (768x512): {shown} " in status, status
  out = _download(page)
  assert out.shape == (512, 768, 3)
  gray = np.asarray(Image.open(photos / "coffee.jpg").convert("L").convert("RGB"))
  assert _chroma(out) > 3.0 and _chroma(gray) < 0.5
  # The slider shows the gray input and this result.
  sources = page.eval_on_selector_all("#slider img", "els => els.map(e => e.src)")
  assert any(s.endswith("gray.jpg") for s in sources) and any(s.endswith(".png") for s in sources)
  log = server["log"].read_text()
  assert f"request upload: photo coffee.jpg 768x512, size 256, 0 point(s): {shown} " in log
  print(f"upload answered in {seconds * 1000:.0f} ms ({status})")
  _screenshot(page, tmp_path, "upload.png")


def test_a_colour_point_moves_the_colour_there_and_undo_takes_it_back(page, photos, tmp_path):
  demo_latency.tick_only(page, TINY)
  _upload(page, photos / "coffee.jpg")
  plain = _download(page)
  demo_latency.set_colour(page, HINT)
  x, y = 300, 150  # The photo pixel clicked.
  start = time.perf_counter()
  demo_latency.click_photo_at(page, x, y)
  demo_latency.wait_status(page, "1 colour point", UPLOAD_SECONDS)
  seconds = time.perf_counter() - start
  hinted = _download(page)
  hint_ab = _ab(np.array([[[int(HINT[i : i + 2], 16) for i in (1, 3, 5)]]], np.uint8))[0, 0]

  def distance(image):
    return float(np.linalg.norm(_ab(image)[y - 2 : y + 3, x - 2 : x + 3] - hint_ab, axis=-1).mean())

  assert distance(hinted) < distance(plain) - 10, (distance(plain), distance(hinted))
  far = (slice(450, 500), slice(30, 80))  # Away from the point: nearly as before.
  assert np.abs(_ab(hinted)[far] - _ab(plain)[far]).mean() < 5
  print(f"colour point answered in {seconds * 1000:.0f} ms ({demo_latency.status(page)})")
  _screenshot(page, tmp_path, "hints.png")
  page.click("#undo")
  page.wait_for_function(
    "() => !document.querySelector('#status').innerText.includes('colour point')"
  )
  np.testing.assert_array_equal(_download(page), plain)


def test_bad_uploads_get_a_message_and_the_server_goes_on(page, photos, tmp_path, server):
  demo_latency.tick_only(page, TINY)
  for name, said in (
    ("broken.jpg", "broken.jpg: not an image this demo can read"),
    ("huge.png", "huge.png: 8000x7000 is 56 megapixels, more than this demo takes"),
  ):
    page.set_input_files("#upload input[type=file]", str(photos / name))
    assert "Not colorized" in demo_latency.wait_status(page, said, UPLOAD_SECONDS)
    _screenshot(page, tmp_path, f"refused_{name}.png")
  _upload(page, photos / "cmyk.jpg")
  assert "cmyk.jpg (300x200, CMYK, converted to RGB): tiny_hints " in demo_latency.status(page)
  assert server["proc"].poll() is None
  assert "upload refused: broken.jpg" in server["log"].read_text()


def test_two_models_side_by_side(page, photos):
  demo_latency.tick_only(page, TINY, COPY)
  _upload(page, photos / "coffee.jpg")
  status = demo_latency.status(page)
  assert f"{TINY} " in status and f"{COPY} " in status
  captions = page.eval_on_selector_all(
    "#results .caption-label, #results figcaption, #results .caption",
    "els => els.map(e => e.innerText)",
  )
  links = page.locator("#downloads a[data-testid=download-link]")
  assert links.count() == 2
  names = sorted(links.nth(i).get_attribute("download") for i in range(2))
  assert names == [f"coffee_{COPY}_256px.png", f"coffee_{TINY}_256px.png"]
  thumbs = page.locator("#results button.thumbnail-item")
  assert thumbs.count() == 3, captions  # Two models and the original photo.
  thumbs.nth(1).click()
  page.wait_for_function(
    "n => [...document.querySelectorAll('#slider img')].some(i => i.src.endsWith(n))",
    arg=f"coffee_{COPY}_256px.png",
  )
