"""Shipped default dataset: tissue-class patches cut from the MNI152 T1 template bundled in nilearn.

Source: the MNI ICBM152 2009a symmetric template (Fonov et al., NeuroImage 2011), a 1 mm T1
average of 152 subjects with grey- and white-matter probability maps, as shipped inside the
nilearn wheel (no download). Each sample is a 2-D axial T1 patch labelled by the tissue at its
centre voxel; the central ``mask_size`` x ``mask_size`` pixels are zeroed so that the centre
intensity alone cannot give the class away. Train, val and test come from disjoint blocks of
axial slices separated by guard slices, so near-identical neighbouring patches never straddle
two splits. The privacy unit is one patch, not one person: the template is a single averaged brain.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from rero.data.base import SPLIT_NAMES, DatasetSplits, Split, require_int
from rero.data.shapes import DatasetShape

CLASS_NAMES = ("grey matter", "white matter", "cerebrospinal fluid")
UNLABELLED = -1
CONFIDENT_PROBABILITY = 0.8  # a voxel is labelled only when its tissue probability exceeds this
BRAIN_PROBABILITY = 0.5  # GM + WM above this (then closed and hole-filled) is the brain mask
BRAIN_CLOSING_ITERATIONS = 3
Z_RANGE = (20, 150)  # axial slices used; outside it the brain is small or absent
BLOCK_SLICES = 10
BLOCK_CYCLE = 5  # block b belongs to split SPLIT_OF_BLOCK[b % BLOCK_CYCLE]
SPLIT_OF_BLOCK = (0, 1, 2, 0, 0)  # 0 train, 1 val, 2 test
GUARD_SLICES = 4  # slices dropped beside a block of a higher-ranked split (test > val > train)
UNUSED = -1

DEFAULT_OPTIONS = {
    "patch_size": 28,
    "mask_size": 8,
    "num_classes": 3,
    "n_train": 8000,
    "n_val": 1000,
    "n_test": 2000,
    "seed": 0,
}


@functools.cache
def load_volumes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bundled 1 mm MNI152 T1 (scaled to [0, 1]), GM and WM volumes, float32, indexed (x, y, z).

    Read once per process and returned read-only.
    """
    from nilearn.datasets import (
        load_mni152_gm_template,
        load_mni152_template,
        load_mni152_wm_template,
    )

    t1 = load_mni152_template(resolution=1).get_fdata(dtype=np.float32)
    gm = load_mni152_gm_template(resolution=1).get_fdata(dtype=np.float32)
    wm = load_mni152_wm_template(resolution=1).get_fdata(dtype=np.float32)
    volumes = (t1 / t1.max(), gm, wm)
    for volume in volumes:
        volume.setflags(write=False)
    return volumes


def brain_mask(gm: np.ndarray, wm: np.ndarray) -> np.ndarray:
    """Voxels inside the brain: GM + WM > 0.5, closed in 3-D, holes filled per axial slice.

    Filling holes slice by slice brings the ventricles (CSF surrounded by tissue) into the mask.
    """
    from scipy import ndimage  # here: a 0.6 s import, and the workflow imports rero.data to plan

    mask = ndimage.binary_closing(gm + wm > BRAIN_PROBABILITY, iterations=BRAIN_CLOSING_ITERATIONS)
    in_plane = np.zeros((3, 3, 3), dtype=bool)
    in_plane[:, :, 1] = ndimage.generate_binary_structure(2, 1)
    return ndimage.binary_fill_holes(mask, structure=in_plane)


def tissue_labels(gm: np.ndarray, wm: np.ndarray, num_classes: int) -> np.ndarray:
    """Per-voxel class (0 GM, 1 WM, 2 CSF inside the brain) where the tissue is confident, else -1.

    The three conditions are mutually exclusive because GM + WM + CSF probabilities sum to one.
    """
    labels = np.full(gm.shape, UNLABELLED, dtype=np.int8)
    labels[gm > CONFIDENT_PROBABILITY] = 0
    labels[wm > CONFIDENT_PROBABILITY] = 1
    if num_classes == 3:
        csf = 1.0 - gm - wm
        labels[(csf > CONFIDENT_PROBABILITY) & brain_mask(gm, wm)] = 2
    return labels


def slice_splits(depth: int) -> np.ndarray:
    """Split index (0 train, 1 val, 2 test, -1 unused) of every axial slice 0..depth-1.

    Slices in ``Z_RANGE`` are cut into blocks of ``BLOCK_SLICES``; block b goes to split
    ``SPLIT_OF_BLOCK[b % BLOCK_CYCLE]``. A slice is then dropped when it lies within
    ``GUARD_SLICES`` of a slice of a higher-ranked split (test > val > train), so test blocks
    stay whole and every pair of splits is at least ``GUARD_SLICES + 1`` slices apart.
    """
    z = np.arange(depth)
    inside = (z >= Z_RANGE[0]) & (z < Z_RANGE[1])
    block = (z - Z_RANGE[0]) // BLOCK_SLICES
    assigned = np.where(inside, np.asarray(SPLIT_OF_BLOCK)[block % BLOCK_CYCLE], UNUSED)
    result = assigned.copy()
    window = np.ones(2 * GUARD_SLICES + 1)
    for rank in (1, 2):
        near_rank = np.convolve(assigned == rank, window, mode="same") > 0
        result[near_rank & (assigned >= 0) & (assigned < rank)] = UNUSED
    return result


def extract_patches(volume: np.ndarray, voxels: np.ndarray, patch_size: int) -> np.ndarray:
    """Axial patches (n, p, p) of ``volume``, p = ``patch_size``, pixel [p//2, p//2] on each voxel.

    ``voxels`` is (n, 3) of (x, y, z); rows follow x, columns y. Outside the volume counts as 0.
    """
    half = patch_size // 2
    padded = np.pad(volume, ((half, patch_size - half), (half, patch_size - half), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (patch_size, patch_size), (0, 1))
    return windows[voxels[:, 0], voxels[:, 1], voxels[:, 2]]


def balanced_counts(total: int, num_classes: int) -> list[int]:
    """``total`` split as evenly as possible over the classes (the first classes get the rest)."""
    return [total // num_classes + (cls < total % num_classes) for cls in range(num_classes)]


def sample_voxels(
    labels: np.ndarray,
    splits_of_slices: np.ndarray,
    split: int,
    total: int,
    num_classes: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Class-balanced random voxels (n, 3) from the slices of ``split``, in shuffled order."""
    in_split = labels.copy()
    in_split[:, :, splits_of_slices != split] = UNLABELLED
    chosen = []
    for cls, count in enumerate(balanced_counts(total, num_classes)):
        candidates = np.flatnonzero(in_split == cls)
        if len(candidates) < count:
            raise ValueError(
                f"option 'n_{SPLIT_NAMES[split]}' asks for {count} {CLASS_NAMES[cls]} patches, "
                f"but the {SPLIT_NAMES[split]} slices hold only {len(candidates)}"
            )
        chosen.append(rng.choice(candidates, size=count, replace=False))
    flat = rng.permutation(np.concatenate(chosen))
    return np.stack(np.unravel_index(flat, labels.shape), axis=1)


def checked_options(options: dict[str, Any]) -> dict[str, int]:
    """The options of :func:`load_mni152` (defaults filled) as ints in their ranges, or a
    ValueError naming the option."""
    patch_size = require_int("patch_size", options["patch_size"], 8, 64)
    num_classes = require_int("num_classes", options["num_classes"], 2, 3)
    checked = {
        "patch_size": patch_size,
        "mask_size": require_int("mask_size", options["mask_size"], 0, patch_size - 2),
        "num_classes": num_classes,
    }
    for name in SPLIT_NAMES:
        checked[f"n_{name}"] = require_int(f"n_{name}", options[f"n_{name}"], num_classes)
    checked["seed"] = require_int("seed", options["seed"], 0)
    return checked


def mni152_split_sizes(options: dict[str, Any]) -> dict[str, int]:
    """The split sizes of :func:`load_mni152` for ``options`` (defaults filled): ``n_train``,
    ``n_val`` and ``n_test``, after every option is checked (so a bad one stops the workflow
    before any job)."""
    checked = checked_options(options)
    return {split: checked[f"n_{split}"] for split in SPLIT_NAMES}


def mni152_shape(options: dict[str, Any]) -> DatasetShape:
    """What :func:`load_mni152` gives for ``options`` (defaults filled): ``num_classes`` tissue
    classes, one-channel ``patch_size`` x ``patch_size`` patches."""
    checked = checked_options(options)
    side = checked["patch_size"]
    return DatasetShape("classification", checked["num_classes"], (1, side, side))


def load_mni152(
    patch_size: int = DEFAULT_OPTIONS["patch_size"],
    mask_size: int = DEFAULT_OPTIONS["mask_size"],
    num_classes: int = DEFAULT_OPTIONS["num_classes"],
    n_train: int = DEFAULT_OPTIONS["n_train"],
    n_val: int = DEFAULT_OPTIONS["n_val"],
    n_test: int = DEFAULT_OPTIONS["n_test"],
    seed: int = DEFAULT_OPTIONS["seed"],
) -> DatasetSplits:
    """MNI152 tissue patches: ``num_classes`` 2 (GM/WM) or 3 (GM/WM/CSF), images (N, 1, p, p).

    Each split draws its own class-balanced sample with its own child seed of ``seed``, so the
    test set does not change when ``n_train`` does. Every split also stores ``voxel`` (N, 3):
    the (x, y, z) template voxel at the centre of each patch.
    """
    options = checked_options(
        {
            "patch_size": patch_size,
            "mask_size": mask_size,
            "num_classes": num_classes,
            "n_train": n_train,
            "n_val": n_val,
            "n_test": n_test,
            "seed": seed,
        }
    )
    patch_size, mask_size, num_classes = (
        options[k] for k in ("patch_size", "mask_size", "num_classes")
    )
    sizes = [options[f"n_{name}"] for name in SPLIT_NAMES]
    seed = options["seed"]

    t1, gm, wm = load_volumes()
    labels = tissue_labels(gm, wm, num_classes)
    splits_of_slices = slice_splits(t1.shape[2])
    rngs = [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(3)]
    mask_start = patch_size // 2 - mask_size // 2
    parts = []
    for split, total in enumerate(sizes):
        voxels = sample_voxels(labels, splits_of_slices, split, total, num_classes, rngs[split])
        patches = extract_patches(t1, voxels, patch_size)
        patches[:, mask_start : mask_start + mask_size, mask_start : mask_start + mask_size] = 0.0
        parts.append(
            Split(
                images=np.ascontiguousarray(patches[:, np.newaxis], dtype=np.float32),
                labels=labels[voxels[:, 0], voxels[:, 1], voxels[:, 2]].astype(np.int64),
                extras={"voxel": voxels.astype(np.int32)},
            )
        )
    return DatasetSplits(
        train=parts[0],
        val=parts[1],
        test=parts[2],
        class_names=list(CLASS_NAMES[:num_classes]),
        source=(
            "MNI ICBM152 2009a symmetric T1 template, 1 mm, with its GM/WM probability maps "
            f"(bundled in nilearn): {patch_size}x{patch_size} axial patches labelled by the "
            f"tissue at the centre voxel (probability > {CONFIDENT_PROBABILITY}), central "
            f"{mask_size}x{mask_size} zeroed, train/val/test from disjoint z-slice blocks"
        ),
        options=options,
    )
