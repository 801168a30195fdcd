"""Image views: a grid of MNIST-like images and a protected-pixel overlay."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ._base import _new_ax, _subplots


def _images(images, shape) -> np.ndarray:
    imgs = np.asarray(images, dtype=np.float32)
    shape = tuple(int(s) for s in shape)
    if imgs.ndim == 1:
        imgs = imgs[None]
    if imgs.shape[1:] == shape:
        return imgs
    if imgs.ndim == 2 and imgs.shape[1] == math.prod(shape):
        return imgs.reshape((-1,) + shape)
    raise ValueError(f"images must be (N, {math.prod(shape)}) or (N, {shape[0]}, {shape[1]}); got {imgs.shape}")


def mnist_grid(images, *, nrow: int = 1, titles: Sequence[str] | None = None, shape=(28, 28), vmin: float = -1.0,
               vmax: float = 1.0, cmap="gray", fig=None, figsize=None):
    """Images (e.g. MNIST counterfactuals, pixels in [−1, 1]) in a grid of ``nrow`` rows.

    Returns:
        the ``Figure`` (one ``AxesImage`` per image; unused grid cells are hidden).
    """
    imgs = _images(images, shape)
    n = imgs.shape[0]
    nrow = int(nrow)
    if nrow < 1:
        raise ValueError(f"nrow must be >= 1; got {nrow}")
    ncol = max(1, math.ceil(n / nrow))
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles has {len(titles)} entries for {n} images")
    if fig is None:
        _, grid = _subplots(nrow, ncol, figsize=figsize or (1.5 * ncol, 1.6 * nrow))
        fig = grid[0, 0].figure
    else:
        grid = fig.subplots(nrow, ncol, squeeze=False)
    for i, ax in enumerate(grid.ravel()):
        ax.set_axis_off()
        if i < n:
            ax.imshow(imgs[i], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize="small")
    return fig


def protected_mask_overlay(image, protected, *, ax=None, shape=(28, 28), vmin: float = -1.0, vmax: float = 1.0,
                           color=(0.85, 0.1, 0.1), alpha: float = 0.35, title: str | None = None):
    """An image with its protected (immutable) pixels tinted, e.g. MNIST's top and bottom five rows.

    ``protected`` is a list of flat pixel indices or a boolean mask of the image's size.

    Returns:
        the ``Axes`` (two images: the picture and the RGBA overlay).
    """
    img = _images(image, shape)[0]
    mask = np.zeros(img.size, bool)
    prot = np.asarray(protected)
    if prot.dtype == bool:
        if prot.size != img.size:
            raise ValueError(f"a boolean protected mask needs {img.size} entries; got {prot.size}")
        mask = prot.reshape(-1)
    elif prot.size:
        mask[prot.astype(int).reshape(-1)] = True
    ax = _new_ax(ax, figsize=(3.0, 3.0))
    ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
    rgba = np.zeros(img.shape + (4,), dtype=np.float32)
    rgba[..., :3] = color
    rgba[..., 3] = mask.reshape(img.shape) * float(alpha)
    ax.imshow(rgba, interpolation="nearest")
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title)
    return ax
