"""Per-sample gradients of convolutions of any dimension, by one grouped convolution.

DP-SGD needs every example's gradient before clipping (Abadi et al. 2016). The weight gradient of
sample i is the correlation of its input with its output gradient; one ``convolution_backward``
over the batch folded into the channels, inputs (1, B*C_in, *spatial) and output gradients
(1, B*C_out, ...) with B*groups groups, computes all B of them at once. Weight-centred
convolutions (each filter minus its fan-in mean, Qiao et al. 2019) take the gradient with respect
to the weight they convolve with, minus its fan-in mean: the centring is linear with the
symmetric Jacobian I - 11^T/n. Both are checked against ``torch.func`` in the tests.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from opacus.grad_sample import register_grad_sampler
from opacus.grad_sample.conv import compute_conv_grad_sample
from torch import nn


def grouped_conv_grad_sample(
    layer: nn.Conv2d | nn.Conv3d, inputs: torch.Tensor, backprops: torch.Tensor
) -> dict[nn.Parameter, torch.Tensor]:
    """Per-sample gradients of a convolution with integer zero padding, on any device, with
    respect to the weight the convolution used; an empty batch gives (0, *shape) gradients."""
    batch = inputs.shape[0]
    out_channels = layer.weight.shape[0]
    grads: dict[nn.Parameter, torch.Tensor] = {}
    if layer.weight.requires_grad and batch == 0:
        grads[layer.weight] = layer.weight.new_zeros((0, *layer.weight.shape))
    elif layer.weight.requires_grad:
        folded_weight = layer.weight.new_empty((batch * out_channels, *layer.weight.shape[1:]))
        _, weight_grad, _ = torch.ops.aten.convolution_backward(
            backprops.reshape(1, batch * out_channels, *backprops.shape[2:]),
            inputs.to(backprops.dtype).reshape(1, batch * inputs.shape[1], *inputs.shape[2:]),
            folded_weight,
            None,
            list(layer.stride),
            list(layer.padding),
            list(layer.dilation),
            False,
            [0] * len(layer.stride),
            batch * layer.groups,
            [False, True, False],
        )
        grads[layer.weight] = weight_grad.view(batch, *layer.weight.shape)
    if layer.bias is not None and layer.bias.requires_grad:
        grads[layer.bias] = backprops.sum(dim=tuple(range(2, backprops.dim())))
    return grads


def uncentred(grads: dict[nn.Parameter, torch.Tensor], weight: nn.Parameter) -> None:
    """Turn the per-sample gradients with respect to the centred weight into those with respect
    to the stored ``weight``, in ``grads``: minus their mean over each filter's fan-in."""
    if weight in grads:
        weight_grad = grads[weight]
        fan_in = tuple(range(2, weight_grad.dim()))
        grads[weight] = weight_grad - weight_grad.mean(dim=fan_in, keepdim=True)


def conv2d_grad_sample(
    layer: nn.Conv2d, activations: Sequence[torch.Tensor], backprops: torch.Tensor
) -> dict[nn.Parameter, torch.Tensor]:
    """Per-sample gradients of a ``Conv2d``, with the batch folded into convolution groups.

    The weight gradient of sample i is the convolution of its input with its output gradient; a
    single ``convolution_backward`` over inputs reshaped to (1, B*C_in, H, W) with B*groups
    groups computes all B of them at once. On CPU this is 2-3x faster than Opacus' default
    (im2col + batched matmul) for the small CNN's layers. Other devices, padding modes and empty
    batches use Opacus' implementation. Checked against ``torch.func`` in the tests.
    """
    inputs = activations[0]
    if (
        inputs.device.type != "cpu"
        or inputs.shape[0] == 0
        or isinstance(layer.padding, str)
        or layer.padding_mode != "zeros"
    ):
        return compute_conv_grad_sample(layer, list(activations), backprops)
    return grouped_conv_grad_sample(layer, inputs, backprops)


def use_fast_conv_grad_sampler(enabled: bool = True) -> None:
    """Make Opacus use :func:`conv2d_grad_sample` (or, with ``enabled=False``, its own im2col
    version) for ``nn.Conv2d`` per-sample gradients.

    Opacus keeps one registry per process, looked up at every backward pass; the hooks mode uses
    it (ghost clipping uses it only for layers without a norm sampler). It must be called before
    ``make_private``, which looks up the registered layer types once. (The weight-centred and
    3-D convolutions' samplers are registered where those layers are defined.)
    """
    register_grad_sampler(nn.Conv2d)(conv2d_grad_sample if enabled else compute_conv_grad_sample)
