"""The demo page's parts (`python -m colorize_jax.demo` is the command): photos.py reads uploads
and draws colour points; page.py builds the Gradio page around the command's `Demo`."""
