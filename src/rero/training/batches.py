"""Batch feeding: Poisson-sampled logical batches (DP-SGD) and shuffled minibatches (baseline).

DP-SGD's privacy analysis assumes each logical batch holds every example independently with
probability q (Poisson sampling; Abadi et al. 2016); the non-private baseline takes the first
minibatches of one random permutation per epoch. Batches are gathered by index from the split's
array, which may be memory-mapped: only a physical batch is ever held as float32.
"""

from __future__ import annotations

import numpy as np
import torch
from opacus.utils.uniform_sampler import UniformWithReplacementSampler
from torch.utils.data import DataLoader, Dataset

from rero.data.store import unit_float


class ArrayBatches(Dataset):
    """Images (uint8 or float32 (N, C, H, W), e.g. a read-only memory map) and int64 labels;
    a list of indices is gathered in one indexing operation, in its order, as float32 [0, 1]."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = self.__getitems__([index])
        return images[0], labels[0]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = np.asarray(indices, dtype=np.int64)
        images = torch.from_numpy(unit_float(self.images[index]))
        return images, torch.from_numpy(np.asarray(self.labels[index], dtype=np.int64))


def _keep_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return batch


def poisson_loader(
    dataset: ArrayBatches, sample_rate: float, steps: int, generator: torch.Generator
) -> DataLoader:
    """``steps`` logical batches, each holding every example independently with probability q."""
    sampler = UniformWithReplacementSampler(
        num_samples=len(dataset), sample_rate=sample_rate, generator=generator, steps=steps
    )
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=_keep_batch, generator=generator)


def shuffled_batches(
    num_examples: int, batch_size: int, steps: int, generator: torch.Generator
) -> list[torch.Tensor]:
    """The first ``steps`` minibatches of one random permutation (one epoch, non-private)."""
    order = torch.randperm(num_examples, generator=generator)
    return list(order.split(batch_size))[:steps]
