"""Reading 3-D NIfTI volumes and resampling them to a grid (nibabel, scipy.ndimage).

A volume is read in the closest canonical (RAS+) orientation as (x, y, z) voxels; resampling
zooms it to an (x, y, z) grid with corner voxel centres aligned; it is stored as (D, H, W) =
(z, y, x). Every error names the file and the layout ``expected`` by the loader that reads it.
nibabel and scipy.ndimage are imported where a volume is read or zoomed: the workflow's planning
imports the loaders (their options) and needs neither (about 0.6 s of every ``snakemake`` call).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def nifti_errors() -> tuple[type[BaseException], ...]:
    """What reading a broken or truncated NIfTI file raises."""
    from nibabel.filebasedimages import ImageFileError

    return (ImageFileError, OSError, EOFError, ValueError, zlib.error, struct.error)


def open_nifti(path: Path, expected: str) -> Any:
    """The NIfTI image at ``path`` (header read, data not yet); errors name the file."""
    import nibabel

    try:
        return nibabel.load(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found; {expected}") from None
    except nifti_errors() as error:
        raise ValueError(f"{path}: not a readable .nii.gz ({error}); {expected}") from None


def spatial_shape(path: Path, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """The (x, y, z) shape of a 3-D volume (or a 4-D one with a single volume)."""
    if len(shape) == 3 or (len(shape) == 4 and shape[3] == 1):
        return (int(shape[0]), int(shape[1]), int(shape[2]))
    raise ValueError(f"{path}: a {len(shape)}-D image of shape {shape}; expected a 3-D volume")


def canonical_data(path: Path, read: Callable[[Any], np.ndarray], expected: str) -> np.ndarray:
    """The (x, y, z) voxels of ``path`` in the closest canonical (RAS+) orientation, as ``read``
    takes them from the reoriented image; an unreadable file is a ValueError naming it."""
    import nibabel

    image = open_nifti(path, expected)
    spatial_shape(path, image.shape)
    try:
        data = read(nibabel.as_closest_canonical(image))
    except nifti_errors() as error:
        raise ValueError(f"{path}: not a readable .nii.gz ({error}); {expected}") from None
    return data[..., 0] if data.ndim == 4 else data


def resample(volume: np.ndarray, shape: tuple[int, int, int], order: int) -> np.ndarray:
    """``volume`` zoomed to ``shape`` (order 1: trilinear, 0: nearest), corner centres aligned."""
    from scipy import ndimage

    if volume.shape == shape:
        return volume
    factors = [out / size for out, size in zip(shape, volume.shape, strict=True)]
    zoomed = ndimage.zoom(volume, factors, order=order, mode="nearest", grid_mode=False)
    if zoomed.shape != shape:  # zoom rounds out * size / size, which gives out back
        raise RuntimeError(f"resampled to {zoomed.shape}, not {shape}")
    return zoomed


def stored_layout(volume: np.ndarray) -> np.ndarray:
    """An (x, y, z) volume as the stored (D, H, W) = (z, y, x), contiguous."""
    return np.ascontiguousarray(volume.transpose(2, 1, 0))
