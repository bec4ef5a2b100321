"""The README's screenshot of the demo page (docs/demo.png), taken with the shipped models.

  pip install -e '.[demo,browser]'        # and Debian's chromium
  python bench/demo_screenshot.py          # writes docs/demo.png
  python bench/demo_screenshot.py --photo=my.jpg --point=0.3,0.5 --colour=#3a78b0 --output=x.png

Serves `python -m colorize_jax.demo` with what pretrained/ ships, ticks --models, uploads --photo
(default: the embedded sample "coffee" photo at 768x512), puts one colour point of --colour at
--point (fractions of the photo's width and height) when a ticked model reads hints, and saves
the page as it then looks. Prints each step's status line, so what the picture shows is said.
"""

import os
import shutil
import signal
import sys
import tempfile

from absl import app, flags
from PIL import Image

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
for _path in (ROOT, BENCH):
  if _path not in sys.path:
    sys.path.insert(0, _path)
import demo_latency  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("photo", None, "Photo to upload (default: the sample coffee photo, 768x512).")
flags.DEFINE_list("models", ["hints"], "Shipped models to tick (their names in pretrained/).")
flags.DEFINE_list("point", ["0.39", "0.29"], "Where the colour point goes: x,y fractions.")
flags.DEFINE_string("colour", "#3a78b0", "The point's colour (#rrggbb).")
flags.DEFINE_integer("size", 256, "Working resolution.")
flags.DEFINE_string("output", os.path.join(ROOT, "docs", "demo.png"), "The screenshot.")
flags.DEFINE_string("chromium", shutil.which("chromium") or "/usr/bin/chromium", "Browser.")

SCREEN = {"width": 1400, "height": 1000}


def main(argv):
  del argv
  from playwright import sync_api  # pylint: disable=g-import-not-at-top

  with tempfile.TemporaryDirectory(prefix="demo_screenshot_") as folder:
    photo = FLAGS.photo or demo_latency.photos(folder, None, 1)[0]
    log_path = os.path.join(folder, "demo.log")
    proc, url = demo_latency.serve([], FLAGS.size, log_path, shipped=True)
    try:
      with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=FLAGS.chromium)
        page = browser.new_page(viewport=SCREEN)
        demo_latency.open_page(page, url)
        demo_latency.tick_only(page, *FLAGS.models)
        page.set_input_files("#upload input[type=file]", photo)
        print("upload:", demo_latency.wait_status(page, os.path.basename(photo)))
        if any("hints" in name for name in FLAGS.models):
          demo_latency.set_colour(page, FLAGS.colour)
          with Image.open(photo) as image:
            width, height = image.size
          x, y = (float(v) for v in FLAGS.point)
          demo_latency.click_photo_at(page, x * width, y * height)
          print("point:", demo_latency.wait_status(page, "1 colour point"))
        page.wait_for_timeout(1000)  # Images decoded and laid out.
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
        page.screenshot(path=FLAGS.output, full_page=False)
        browser.close()
    finally:
      proc.send_signal(signal.SIGTERM)
      proc.wait(timeout=60)
  print("wrote", FLAGS.output)


if __name__ == "__main__":
  app.run(main)
