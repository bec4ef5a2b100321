"""How fast the demo page answers, measured in a real browser (python -m colorize_jax.demo).

  pip install -e '.[demo,browser]'        # and Debian's chromium
  python bench/demo_latency.py             # untrained U-Net-sized bundles and a tiny one
  python bench/demo_latency.py --photo=../shared/data/kodak24/kodim01.png --repeats=8

Exports untrained bundles of configs/unet.py and configs/hints.py at 128 px (the size and the
parameters of the shipped models: their speed, not their colours) and of configs/unet.py:smoke
(tiny), serves them on a free local port with one CPU device, and times in headless Chromium:
  upload   a 768x512 photo (--photo, default the sample "coffee" photo at 768x512), each time a
           different one (a shifted crop), until the colorized photo is on the page;
  point    a colour point placed on the hints model's photo, until its new colours are shown;
at each --sizes working resolution, after the server's warm-up. The server's own time for each
request (its log line) is given beside the browser's. The machine's load is printed first:
on a shared CPU the figures move with it.
"""

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string("photo", None, "A photo to upload (default: the sample coffee photo).")
  flags.DEFINE_integer("repeats", 5, "Uploads and points per model and size.")
  flags.DEFINE_list("sizes", ["256", "128"], "Working resolutions.")
  flags.DEFINE_string("chromium", shutil.which("chromium") or "/usr/bin/chromium", "Browser.")
  flags.DEFINE_bool(
    "keep", False, "Keep the bundles and the server logs (their folder is printed)."
  )


def make_bundles(folder: str) -> dict[str, str]:
  """Untrained bundles: {label: path}."""
  import importlib.util  # pylint: disable=g-import-not-at-top

  import jax  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top

  from colorize_jax import inference, tasks  # pylint: disable=g-import-not-at-top

  out = {}
  for label, recipe, variant in (
    ("unet128", "unet", None),
    ("hints128", "hints", None),
    ("tiny", "unet", "smoke"),
  ):
    spec = importlib.util.spec_from_file_location(
      recipe, os.path.join(ROOT, "configs", f"{recipe}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config(variant)
    task = tasks.build(config)
    state = task.init_state(
      jax.random.key(0), int(config.data.image_size), {"model": optax.adam(1e-3)}
    )
    colorizer = inference.Colorizer(config, task, task.inference_variables(state), step=0)
    out[label] = inference.write_bundle(colorizer, os.path.join(folder, label))
  return out


def photos(folder: str, source: str | None, count: int) -> list[str]:
  """`count` different 768x512 photos: shifted crops of one."""
  from PIL import Image  # pylint: disable=g-import-not-at-top

  from colorize_jax.data.sources import sample  # pylint: disable=g-import-not-at-top

  image = Image.open(source or sample.photo_path("coffee")).convert("RGB").resize((800, 540))
  paths = []
  for i in range(count):
    path = os.path.join(folder, f"photo{i}.jpg")
    image.crop((i * 5, i * 3, i * 5 + 768, i * 3 + 512)).save(path, quality=92)
    paths.append(path)
  return paths


def serve(bundles: list[str], size: int, log_path: str, shipped: bool = False):
  """`python -m colorize_jax.demo` on a free local port with these bundles (and, with `shipped`,
  the models in pretrained/), one CPU device; (its process, its URL) once it answers."""
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  env = dict(os.environ)
  env.pop("XLA_FLAGS", None)
  if not shipped:
    env["COLORIZE_JAX_PRETRAINED"] = os.path.join(os.path.dirname(log_path), "none")
  proc = subprocess.Popen(
    [sys.executable, "-m", "colorize_jax.demo", f"--bundles={','.join(bundles)}"]
    + [f"--port={port}", f"--size={size}"],
    cwd=ROOT,
    env=env,
    stdout=open(log_path, "w"),
    stderr=subprocess.STDOUT,
  )
  url = f"http://127.0.0.1:{port}/"
  for _ in range(300):
    if proc.poll() is not None:
      raise SystemExit(f"the demo exited: {open(log_path).read()[-2000:]}")
    try:
      with urllib.request.urlopen(url, timeout=5):
        return proc, url
    except OSError:
      time.sleep(1)
  proc.send_signal(signal.SIGTERM)
  raise SystemExit("the demo did not start")


SETTLE_MS = 2000


def open_page(page, url: str, timeout_s: float = 120.0) -> None:
  """Loads the demo and waits until it has settled: the upload field there, the example
  gallery's photos decoded, then SETTLE_MS more. A model ticked sooner after the load can show
  as ticked and still not be sent with the next upload (seen on a loaded machine: the test of
  two models side by side got one)."""
  page.goto(url)
  page.wait_for_selector("#upload input[type=file]", state="attached", timeout=timeout_s * 1e3)
  page.wait_for_load_state("load")
  page.wait_for_function(
    "() => [...document.querySelectorAll('#examples img')].every(i => i.complete)",
    timeout=timeout_s * 1e3,
  )
  page.wait_for_timeout(SETTLE_MS)


def status(page) -> str:
  """The page's status line (what the last request did)."""
  return page.inner_text("#status")


def wait_status(page, text: str, timeout_s: float = 120.0) -> str:
  """Waits until the status line holds `text`; the line."""
  page.wait_for_function(
    "t => document.querySelector('#status').innerText.includes(t)",
    arg=text,
    timeout=timeout_s * 1e3,
  )
  return status(page)


def set_colour(page, colour: str) -> None:
  """The colour of the next points (#rrggbb), typed into the picker."""
  page.click("#picker button.dialog-button")
  field = page.locator("#picker input[type=text]")
  field.fill(colour)
  field.press("Enter")
  page.mouse.click(5, 5)  # Closes the picker.


def click_photo_at(page, x: float, y: float) -> None:
  """Clicks the hint canvas where it shows the photo's pixel (x, y): the image is letterboxed."""
  image = page.locator("#canvas img")
  box = image.bounding_box()
  width, height = image.evaluate("i => [i.naturalWidth, i.naturalHeight]")
  scale = min(box["width"] / width, box["height"] / height, 1.0)
  left, top = (box["width"] - width * scale) / 2, (box["height"] - height * scale) / 2
  image.click(position={"x": left + x * scale, "y": top + y * scale})


def tick_only(page, *labels: str) -> None:
  """Ticks these models and no other; again if the page lost a click. A page still settling
  after its load can undo a click a second later (seen on a loaded machine), so the ticks must
  hold over two looks 1.5 s apart. tests/test_demo_browser.py uses it too."""

  def ticked_as_wanted(boxes) -> bool:
    return all(box.is_checked() == (box.get_attribute("name") in labels) for box in boxes)

  for _ in range(8):
    boxes = page.locator("#models input[type=checkbox]").all()
    for box in boxes:
      if box.is_checked() != (box.get_attribute("name") in labels):
        box.set_checked(box.get_attribute("name") in labels)
        page.wait_for_timeout(300)
    page.wait_for_timeout(500)
    if ticked_as_wanted(boxes):
      page.wait_for_timeout(1500)
      if ticked_as_wanted(boxes):
        return
  raise RuntimeError(f"could not tick {labels} alone")


def server_ms(log_path: str, what: str, model: str) -> list[float]:
  pattern = re.compile(rf"request {what}: .*: {re.escape(model)} (\d+) ms at \d+ px; (\d+) ms$")
  return [float(m.group(2)) for line in open(log_path) if (m := pattern.search(line.strip()))]


def main(argv):
  del argv
  from playwright.sync_api import sync_playwright  # pylint: disable=g-import-not-at-top

  from colorize_jax.runtime import logs  # pylint: disable=g-import-not-at-top

  logs.quiet_libraries()
  print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
  work = tempfile.mkdtemp(prefix="demo_latency_")
  bundles = make_bundles(work)
  files = photos(work, FLAGS.photo, FLAGS.repeats)
  rows = []
  for size in (int(s) for s in FLAGS.sizes):
    log_path = os.path.join(work, f"demo_{size}.log")
    proc, url = serve(list(bundles.values()), size, log_path)
    try:
      with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=FLAGS.chromium, args=["--no-sandbox"])
        for label in bundles:
          page = browser.new_page(viewport={"width": 1400, "height": 1000})
          open_page(page, url)
          page.evaluate("document.fonts.ready.then(() => true)")
          tick_only(page, label)
          times = []
          for path in files:
            start = time.perf_counter()
            page.set_input_files("#upload input[type=file]", path)
            answer = wait_status(page, os.path.basename(path))
            times.append((time.perf_counter() - start) * 1000)
            if f": {label} " not in answer:
              raise SystemExit(f"{label} did not answer: {answer}")
          rows.append((label, size, "upload", times, server_ms(log_path, "upload", label)))
          if label.startswith("hints"):
            image = page.locator("#canvas img")
            box = image.bounding_box()
            times = []
            for i in range(FLAGS.repeats):
              start = time.perf_counter()
              image.click(position={"x": box["width"] * (0.2 + 0.1 * i), "y": box["height"] / 2})
              wait_status(page, f"{i + 1} colour point")
              times.append((time.perf_counter() - start) * 1000)
            rows.append((label, size, "point", times, server_ms(log_path, "point", label)))
          page.close()
        browser.close()
    finally:
      proc.send_signal(signal.SIGTERM)
      proc.wait(timeout=60)
  print(f"load average {os.getloadavg()[0]:.1f} after")
  print("| model | size | request | browser ms (median, min) | server ms (median) |")
  print("|---|---|---|---|---|")
  for label, size, what, times, server in rows:
    print(
      f"| {label} | {size} | {what} | {statistics.median(times):.0f}, {min(times):.0f} "
      f"| {statistics.median(server) if server else float('nan'):.0f} |"
    )
  if FLAGS.keep:
    print(f"logs and bundles: {work}")
  else:
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
  define_flags()
  app.run(main)
