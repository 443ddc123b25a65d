"""Batch feeding: Poisson-sampled logical batches (DP-SGD) and shuffled minibatches (baseline).

DP-SGD's privacy analysis assumes each logical batch holds every example independently with
probability q (Poisson sampling; Abadi et al. 2016); the non-private baseline takes the first
minibatches of one random permutation per epoch.
"""

from __future__ import annotations

import torch
from opacus.utils.uniform_sampler import UniformWithReplacementSampler
from torch.utils.data import DataLoader, Dataset


class InMemoryBatches(Dataset):
    """Images and labels as tensors; a list of indices is fetched in one indexing operation."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long)
        return self.images[index], self.labels[index]


def _keep_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return batch


def poisson_loader(
    dataset: InMemoryBatches, sample_rate: float, steps: int, generator: torch.Generator
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
