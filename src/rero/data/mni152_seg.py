"""Shipped 3-D task: tissue segmentation of cubes cut from the MNI152 T1 bundled in nilearn.

The 3-D sibling of :mod:`rero.data.mni152` (same template, no download): each sample is a
``patch_size``³ cube of the 1 mm T1, and its mask gives every voxel's class, 0 background
(outside the brain), 1 grey matter, 2 white matter, 3 cerebrospinal fluid, the most probable
tissue of the template's probability maps inside the brain mask (CSF = 1 − GM − WM). Cubes span
whole blocks of ``patch_size`` axial slices; block b belongs to split ``SPLIT_OF_BLOCK[b % 5]``
(train, val, test, train, train), so no voxel is in two splits. The privacy unit is one cube:
the template is a single averaged brain. Layout: images (1, D, H, W) with D the axial z, H the
x and W the y axis (as the 2-D patches' rows and columns).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rero.data.base import SPLIT_NAMES, DatasetSplits, Split, require_int
from rero.data.mni152 import SPLIT_OF_BLOCK, Z_RANGE, brain_mask, load_volumes
from rero.data.shapes import DatasetShape

CLASS_NAMES = ("background", "grey matter", "white matter", "cerebrospinal fluid")
DEFAULT_OPTIONS = {"patch_size": 16, "n_train": 240, "n_val": 48, "n_test": 96, "seed": 0}


def checked_options(options: dict[str, Any]) -> dict[str, int]:
    """The options of :func:`load_mni152_seg` (defaults filled) as ints in their ranges."""
    checked = {"patch_size": require_int("patch_size", options["patch_size"], 16, 32)}
    for name in SPLIT_NAMES:
        checked[f"n_{name}"] = require_int(f"n_{name}", options[f"n_{name}"], 1)
    checked["seed"] = require_int("seed", options["seed"], 0)
    return checked


def mni152_seg_split_sizes(options: dict[str, Any]) -> dict[str, int]:
    """The split sizes of :func:`load_mni152_seg`: ``n_train``, ``n_val``, ``n_test``, after
    every option is checked."""
    checked = checked_options(options)
    return {split: checked[f"n_{split}"] for split in SPLIT_NAMES}


def mni152_seg_shape(options: dict[str, Any]) -> DatasetShape:
    """What :func:`load_mni152_seg` gives for ``options`` (defaults filled): one-channel
    ``patch_size``³ cubes, each voxel one of :data:`CLASS_NAMES`."""
    side = checked_options(options)["patch_size"]
    return DatasetShape("segmentation", len(CLASS_NAMES), (1, side, side, side))


def tissue_masks(gm: np.ndarray, wm: np.ndarray) -> np.ndarray:
    """uint8 class of every voxel: 0 outside the brain mask, else 1 + argmax(GM, WM, CSF)."""
    tissue = np.stack([gm, wm, np.clip(1.0 - gm - wm, 0.0, 1.0)])
    return np.where(brain_mask(gm, wm), 1 + tissue.argmax(axis=0), 0).astype(np.uint8)


def split_blocks(patch_size: int) -> list[np.ndarray]:
    """First axial slice of every whole block of ``patch_size`` slices in ``Z_RANGE``, per split."""
    starts = np.arange(Z_RANGE[0], Z_RANGE[1] - patch_size + 1, patch_size)
    owner = np.asarray(SPLIT_OF_BLOCK)[np.arange(len(starts)) % len(SPLIT_OF_BLOCK)]
    return [starts[owner == split] for split in range(len(SPLIT_NAMES))]


def sample_corners(
    masks: np.ndarray, starts: np.ndarray, patch_size: int, count: int, rng: np.random.Generator
) -> np.ndarray:
    """(count, 3) lowest (x, y, z) corners of cubes in the blocks ``starts``, each centred on a
    brain voxel of its block's middle slice; the block is drawn first, uniformly."""
    half = patch_size // 2
    corners = np.empty((count, 3), dtype=np.int64)
    blocks = rng.choice(starts, size=count)
    for z in np.unique(blocks):
        middle = masks[half : masks.shape[0] - half, half : masks.shape[1] - half, z + half]
        centres = np.argwhere(middle > 0) + half
        where = np.flatnonzero(blocks == z)
        picked = centres[rng.choice(len(centres), size=len(where))]
        corners[where] = np.column_stack([picked - half, np.full(len(where), z)])
    return corners


def cubes(volume: np.ndarray, corners: np.ndarray, patch_size: int) -> np.ndarray:
    """The (n, D, H, W) cubes of an (x, y, z) ``volume`` at ``corners``, D the z axis."""
    windows = np.lib.stride_tricks.sliding_window_view(volume, (patch_size,) * 3)
    return windows[corners[:, 0], corners[:, 1], corners[:, 2]].transpose(0, 3, 1, 2)


def load_mni152_seg(
    patch_size: int = DEFAULT_OPTIONS["patch_size"],
    n_train: int = DEFAULT_OPTIONS["n_train"],
    n_val: int = DEFAULT_OPTIONS["n_val"],
    n_test: int = DEFAULT_OPTIONS["n_test"],
    seed: int = DEFAULT_OPTIONS["seed"],
) -> DatasetSplits:
    """MNI152 T1 cubes (N, 1, p, p, p) float32 in [0, 1] with their 4-class tissue masks.

    Each split draws its cubes with its own child seed of ``seed``; ``labels`` are the largest
    class present in each mask, ``corner`` (N, 3) the (x, y, z) voxel of each cube's corner.
    """
    options = checked_options(
        {"patch_size": patch_size, "n_train": n_train, "n_val": n_val, "n_test": n_test}
        | {"seed": seed}
    )
    patch_size = options["patch_size"]
    t1, gm, wm = load_volumes()
    masks = tissue_masks(gm, wm)
    rngs = [np.random.default_rng(c) for c in np.random.SeedSequence(options["seed"]).spawn(3)]
    parts = []
    for split, (starts, rng) in enumerate(zip(split_blocks(patch_size), rngs, strict=True)):
        corners = sample_corners(masks, starts, patch_size, options[f"n_{SPLIT_NAMES[split]}"], rng)
        cube_masks = np.ascontiguousarray(cubes(masks, corners, patch_size))
        parts.append(
            Split(
                images=np.ascontiguousarray(cubes(t1, corners, patch_size)[:, np.newaxis]),
                labels=cube_masks.reshape(len(corners), -1).max(axis=1).astype(np.int64),
                extras={"corner": corners.astype(np.int32)},
                masks=cube_masks,
            )
        )
    return DatasetSplits(
        train=parts[0],
        val=parts[1],
        test=parts[2],
        class_names=list(CLASS_NAMES),
        source=(
            "MNI ICBM152 2009a symmetric T1 template, 1 mm, with its GM/WM probability maps "
            f"(bundled in nilearn): {patch_size}³ cubes, each voxel labelled background or its "
            "most probable tissue inside the brain mask; train/val/test from disjoint blocks of "
            f"{patch_size} axial slices"
        ),
        options=options,
        task="segmentation",
    )
