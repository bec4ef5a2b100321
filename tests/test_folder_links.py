"""Folder walking with links: each real folder once, each file once, no image in two splits."""

import os

from test_data import make_cfg, make_colour_folder

from colorize_jax import registry
from colorize_jax.data.sources import folder


def _split_files(root):
  return {
    split: registry.get("source", "folder")(make_cfg(str(root)), split).files
    for split in ("train", "val", "test")
  }


def _assert_each_file_in_one_split(root, splits):
  """No file (by identity, not by name) appears twice, within or across splits."""
  identities = [os.stat(root / rel)[1:3] for files in splits.values() for rel in files]
  assert len(identities) == len(set(identities))


def test_a_directory_loop_is_walked_once(tmp_path):
  rels = make_colour_folder(tmp_path, 12)
  os.symlink(".", tmp_path / "class_0" / "loop")  # class_0/loop/loop/... would never end.
  os.symlink("..", tmp_path / "class_1" / "up")
  assert folder.list_images(str(tmp_path)) == sorted(rels)
  splits = _split_files(tmp_path)
  assert sorted(sum(splits.values(), [])) == sorted(rels)
  _assert_each_file_in_one_split(tmp_path, splits)


def test_a_symlinked_duplicate_folder_and_a_hard_link_count_once(tmp_path):
  rels = make_colour_folder(tmp_path / "photos", 30)
  os.symlink("photos", tmp_path / "again")  # The same 30 files under a second name.
  os.link(tmp_path / "photos" / rels[0], tmp_path / "photos" / "hardlinked.png")
  os.symlink(tmp_path / "photos" / rels[1], tmp_path / "photos" / "linked_file.png")
  listed = folder.list_images(str(tmp_path))
  assert listed == sorted(f"photos/{r}" for r in rels)  # Real paths kept, links left out.
  splits = _split_files(tmp_path)
  assert sum(len(f) for f in splits.values()) == 30
  _assert_each_file_in_one_split(tmp_path, splits)


def test_the_split_of_a_file_does_not_change_when_a_linked_copy_appears(tmp_path):
  make_colour_folder(tmp_path / "photos", 30)
  before = _split_files(tmp_path)
  os.symlink("photos", tmp_path / "zz_copy")
  assert _split_files(tmp_path) == before
