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

import torch
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
