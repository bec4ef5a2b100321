"""The demo's page: Gradio Blocks around a `Demo` (colorize_jax/demo.py), which does the colouring
and is passed in, so this module needs nothing of the commands above it. Gradio is imported only
when the page is built; the environment below keeps it offline whenever this module is imported
first."""

import dataclasses
import os
from typing import Any

# Before Gradio is imported anywhere: no analytics, no version check, no Hub telemetry.
for _key, _value in (
  ("GRADIO_ANALYTICS_ENABLED", "False"),
  ("HF_HUB_DISABLE_TELEMETRY", "1"),
  ("HF_HUB_OFFLINE", "1"),
  ("DO_NOT_TRACK", "1"),
):
  os.environ.setdefault(_key, _value)

from absl import logging  # noqa: E402

from colorize_jax.data import decode  # noqa: E402
from colorize_jax.data.sources import sample  # noqa: E402
from colorize_jax.ui.photos import HINT_COLOR, Photo, PhotoError, Point, parse_color  # noqa: E402

# Working resolutions offered (the square side the network sees); DEFAULT_SIZE first shown.
SIZES = (128, 192, 256, 320, 384, 512)
DEFAULT_SIZE = 256
EXAMPLES = ("chelsea", "coffee", "astronaut", "rocket", "flower", "china")


@dataclasses.dataclass
class Session:
  """One browser tab's state (Gradio keeps it server-side, per tab)."""

  photos: list[Photo] = dataclasses.field(default_factory=list)
  current: int = -1
  points: list[Point] = dataclasses.field(default_factory=list)
  scale: float = 1.0  # Photo pixels per canvas pixel.
  reply: Any = None  # The last request's demo.Reply (the command's type: not imported here).
  uploaded: set = dataclasses.field(default_factory=set)

  @property
  def photo(self) -> Photo | None:
    return self.photos[self.current] if 0 <= self.current < len(self.photos) else None


def _thumbnails(out_dir: str) -> list[tuple[str, str]]:
  """(thumbnail path, name) of the embedded sample photos."""
  found = []
  for name in EXAMPLES:
    try:
      image = decode.open_rgb(sample.photo_path(name))
    except (decode.ImageDecodeError, KeyError, FileNotFoundError, ImportError):
      continue
    image.thumbnail((256, 256))
    path = os.path.join(out_dir, "examples", f"{name}.jpg")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image.save(path, quality=88)
    found.append((path, name))
  return found


CSS = """
#status p { margin: 0.2em 0; }
footer { display: none !important; }
"""
INTRO = (
  "# colorize_jax\n"
  "Upload or drop photos, or pick an example. Tick several models to compare them side by "
  "side; the slider shows the gray input against a model's colours (click a result to put it "
  "there); downloads are full resolution."
)


def build_app(demo: Any, default_size: int = DEFAULT_SIZE):
  """The Gradio Blocks page around `demo`, a colorize_jax.demo.Demo."""
  import gradio as gr  # pylint: disable=g-import-not-at-top

  labels = list(demo.models)
  hint_models = demo.hint_models
  examples = _thumbnails(demo.out_dir)
  model_lines = "\n".join(f"- **{m.label}**: {m.about}" for m in demo.models.values())
  idle = "Upload a photo or pick an example."

  def strip(session: Session):
    return [(demo.assets(p)["thumb_path"], p.name) for p in session.photos]

  def render(session: Session, labels_on: list[str], size, what: str, errors=()):
    """Colorizes the current photo: (session, status, slider, results, downloads, canvas)."""
    head = [f"**Not colorized**: {e}" for e in errors]
    photo = session.photo
    if photo is None or not labels_on:
      text = idle if photo is None else "Tick at least one model."
      return session, "\n\n".join(head + [text]), None, [], None, None
    try:
      reply = demo.request(photo, labels_on, int(size), session.points, what)
    except Exception as e:  # pylint: disable=broad-except  (shown on the page, logged in full)
      logging.exception("colorizing %s failed", photo.name)
      return session, "\n\n".join(head + [f"**Error**: {type(e).__name__}: {e}"]), *[None] * 4
    session.reply, session.scale = reply, reply.scale
    results = reply.results
    gallery = [
      (
        r.path,
        f"{r.model} · {r.size} px · {r.ms:.0f} ms" + (f" · {r.hints} points" if r.hints else ""),
      )
      for r in results
    ]
    if reply.original_path:
      gallery.append((reply.original_path, "original photo (for comparison)"))
    notes = head + [
      f"**{photo.name}** ({photo.size_text}{', ' + photo.note if photo.note else ''}): "
      + ", ".join(
        f"{r.model} {'(done before)' if r.cached else f'{r.ms:.0f} ms'} at {r.size} px"
        for r in results
      )
      + (f"; {len(session.points)} colour point(s)" if session.points else "")
    ]
    notes += [f"{r.model} {r.note}" for r in results if r.note]
    if session.points and not any(r.hints for r in results):
      notes.append("Colour points steer only a hints model; tick one: " + ", ".join(hint_models))
    return (
      session,
      "\n\n".join(notes),
      (reply.gray_path, results[0].path),
      gr.update(value=gallery, columns=min(len(gallery), 3), selected_index=None),
      [r.path for r in results],
      reply.canvas_path,
    )

  def add_photos(files, session: Session, labels_on, size):
    session = session or Session()
    errors, before = [], len(session.photos)
    for path in files or []:
      path = str(getattr(path, "name", path))
      if path in session.uploaded:
        continue
      session.uploaded.add(path)
      try:
        session.photos.append(demo.photo(path))
      except PhotoError as e:
        errors.append(str(e))
      except Exception as e:  # pylint: disable=broad-except  (an upload never stops the server)
        logging.exception("reading %s failed", path)
        errors.append(f"{os.path.basename(path)}: {type(e).__name__}: {e}")
    for error in errors:
      logging.warning("upload refused: %s", error)
    if len(session.photos) > before:
      session.current, session.points = len(session.photos) - 1, []
    return (*render(session, labels_on, size, "upload", errors), strip(session))

  def pick_example(evt: gr.SelectData, session: Session, labels_on, size):
    session = session or Session()
    errors = []
    try:
      session.photos.append(demo.example(examples[evt.index][1]))
      session.current, session.points = len(session.photos) - 1, []
    except PhotoError as e:
      errors.append(str(e))
    return (*render(session, labels_on, size, "example", errors), strip(session))

  def pick_photo(evt: gr.SelectData, session: Session, labels_on, size):
    session.current, session.points = evt.index, []
    return render(session, labels_on, size, "photo")

  def rerun(session: Session, labels_on, size):
    return render(session or Session(), labels_on, size, "settings")

  def add_point(evt: gr.SelectData, session: Session, picked, labels_on, size):
    session = session or Session()
    errors = []
    if session.photo is not None:
      try:
        hex_color = parse_color(picked)
        x, y = (float(v) * session.scale for v in evt.index[:2])
        height, width = session.photo.image.shape[:2]
        point = Point(
          round(min(max(x, 0), width - 1)), round(min(max(y, 0), height - 1)), hex_color
        )
        session.points = session.points + [point]
      except PhotoError as e:
        errors.append(str(e))
    return render(session, labels_on, size, "point", errors)

  def undo(session: Session, labels_on, size):
    session = session or Session()
    session.points = session.points[:-1]
    return render(session, labels_on, size, "undo")

  def clear(session: Session, labels_on, size):
    session = session or Session()
    session.points = []
    return render(session, labels_on, size, "clear")

  def show_in_slider(evt: gr.SelectData, session: Session):
    reply = session.reply if session else None
    if reply is None or evt.index >= len(reply.results):
      return gr.update()
    return (reply.gray_path, reply.results[evt.index].path)

  with gr.Blocks(title="colorize_jax demo", analytics_enabled=False) as page:
    session = gr.State(Session())
    gr.Markdown(INTRO)
    with gr.Row():
      with gr.Column(scale=1, min_width=380):
        upload = gr.File(
          label="Your photos (drop or click)",
          file_count="multiple",
          file_types=["image"],
          type="filepath",
          height=120,
          elem_id="upload",
        )
        example_gallery = gr.Gallery(
          value=examples,
          label="Examples (click one)",
          columns=3,
          height=230,
          allow_preview=False,
          buttons=[],
          elem_id="examples",
        )
        photos = gr.Gallery(
          label="This session's photos (click to go back to one)",
          columns=4,
          height=130,
          allow_preview=False,
          fit_columns=False,
          buttons=[],
          elem_id="photos",
        )
        models_box = gr.CheckboxGroup(
          choices=labels, value=labels[:1], label="Models", elem_id="models"
        )
        size_box = gr.Dropdown(
          choices=list(SIZES),
          value=default_size,
          label="Working resolution (px): the square side the network sees",
          elem_id="size",
        )
        gr.Markdown(model_lines)
      with gr.Column(scale=3):
        status = gr.Markdown(idle, elem_id="status")
        with gr.Row():
          hint_canvas = gr.Image(
            label="Click to put a colour point",
            type="filepath",
            interactive=False,
            visible=bool(hint_models),
            buttons=["fullscreen"],
            elem_id="canvas",
            height=440,
          )
          slider = gr.ImageSlider(
            label="gray input | colorized",
            type="filepath",
            buttons=["download", "fullscreen"],
            elem_id="slider",
            height=440,
          )
        with gr.Row(visible=bool(hint_models)):
          picker = gr.ColorPicker(value=HINT_COLOR, label="Point colour", elem_id="picker")
          undo_button = gr.Button("Undo last point", elem_id="undo")
          clear_button = gr.Button("Clear points", elem_id="clear")
          gr.Markdown(
            f"Colour points steer the hints model{'s' if len(hint_models) > 1 else ''} "
            f"({', '.join(hint_models) or 'none loaded'}); tick it under Models."
          )
        results = gr.Gallery(
          label="Results side by side",
          columns=2,
          height=320,
          allow_preview=True,
          buttons=["download", "fullscreen"],
          elem_id="results",
        )
        downloads = gr.File(
          label="Download (full-resolution PNG)",
          file_count="multiple",
          interactive=False,
          elem_id="downloads",
        )

    outputs = [session, status, slider, results, downloads, hint_canvas]
    settings = [models_box, size_box]
    # Every event that colorizes waits its turn in one queue, in the order the page sent them:
    # a slow answer to an earlier event (a model ticked a moment before an upload) never lands
    # after, and over, the answer to a later one.
    one_at_a_time = {"concurrency_id": "colorize", "concurrency_limit": 1}
    upload.upload(add_photos, [upload, session, *settings], [*outputs, photos], **one_at_a_time)
    example_gallery.select(pick_example, [session, *settings], [*outputs, photos], **one_at_a_time)
    photos.select(pick_photo, [session, *settings], outputs, **one_at_a_time)
    models_box.change(rerun, [session, *settings], outputs, **one_at_a_time)
    size_box.change(rerun, [session, *settings], outputs, **one_at_a_time)
    hint_canvas.select(add_point, [session, picker, *settings], outputs, **one_at_a_time)
    undo_button.click(undo, [session, *settings], outputs, **one_at_a_time)
    clear_button.click(clear, [session, *settings], outputs, **one_at_a_time)
    results.select(show_in_slider, [session], [slider])
  return page
