"""Where training and attacks run: the device choices and their resolution."""

from __future__ import annotations

import torch

#: ``auto``: CUDA where PyTorch sees a GPU, else the CPU
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str) -> torch.device:
    """The torch device for ``requested``; ``cuda`` without a CUDA device is an error, raised
    before a job loads anything."""
    if requested not in DEVICES:
        raise ValueError(f"device: expected one of {', '.join(DEVICES)}, got {requested!r}")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device: 'cuda' requested but PyTorch sees no CUDA device here "
            f"(torch {torch.__version__}); expected auto or cpu on a machine without a GPU"
        )
    return torch.device(requested)
