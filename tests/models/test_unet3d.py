"""The 3-D U-Net for segmentation under DP-SGD: shapes, Opacus compatibility, the per-sample
gradients of its (weight-centred) 3-D convolutions against torch.func and of the whole model
against single-sample backward passes, a private step, and the soft Dice loss and metrics on
hand-worked cases."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
from opacus import GradSampleModule, PrivacyEngine
from opacus.grad_sample import GradSampleModule as Registry
from opacus.validators import ModuleValidator
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rero.models.unet3d import (
    CentredConv3d,
    Standardize3d,
    UNet3d,
    build_unet3d,
    centred_conv3d_grad_sample,
    conv3d_grad_sample,
)
from rero.training.dice import DiceLoss, segmentation_metrics, soft_dice_per_class

SIDE = 16  # volume side of the tiny models' inputs


def tiny_unet(levels: int = 2, classes: int = 3, channels: int = 1) -> UNet3d:
    torch.manual_seed(0)
    return UNet3d(
        channels, classes, [0.5] * channels, [0.25] * channels, base_channels=4, levels=levels
    )


# ------------------------------------------------------------------ the model


@pytest.mark.parametrize(("levels", "channels", "classes"), [(2, 1, 3), (3, 2, 2)])
def test_unet3d_is_opacus_valid_and_gives_logits_per_voxel(levels, channels, classes):
    model = tiny_unet(levels, classes, channels)
    assert ModuleValidator.validate(model, strict=True) == []
    assert not any(isinstance(m, nn.ConvTranspose3d | nn.BatchNorm3d) for m in model.modules())
    with torch.no_grad():
        assert model(torch.rand(2, channels, 16, 8, 24)).shape == (2, classes, 16, 8, 24)
        assert model(torch.rand(0, channels, 8, 8, 8)).shape == (0, classes, 8, 8, 8)


def test_unet3d_has_the_papers_layout():
    model = UNet3d(1, 2, [0.0], [1.0])  # 4 levels, base 16, 8 groups
    assert [block[0].out_channels for block in model.encoder] == [16, 32, 64, 128, 256]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv3d)]
    assert all(isinstance(c, CentredConv3d) and c.bias is None for c in convs[:-1])
    assert type(convs[-1]) is nn.Conv3d and convs[-1].bias is not None
    assert convs[-1].kernel_size == (1, 1, 1) and convs[-1].out_channels == 2
    norms = [m for m in model.modules() if isinstance(m, nn.GroupNorm)]
    assert {n.num_groups for n in norms} == {8} and len(norms) == 2 * 9
    assert len(model.decoder) == 4 and not any(
        isinstance(m, nn.ConvTranspose3d) for m in model.modules()
    )


def test_unet3d_standardises_raw_volumes_per_channel():
    standardize = Standardize3d([0.5, 0.1], [0.25, 2.0])
    volumes = torch.rand(3, 2, 2, 4, 4)
    want = torch.stack([(volumes[:, 0] - 0.5) / 0.25, (volumes[:, 1] - 0.1) / 2.0], dim=1)
    assert torch.allclose(standardize(volumes), want)
    assert standardize.mean.shape == (1, 2, 1, 1, 1)
    assert set(tiny_unet().state_dict()) >= {"standardize.mean", "standardize.std"}


def test_unet3d_takes_sides_pooling_halves_with_a_remainder_and_refuses_too_small_ones():
    model = tiny_unet(levels=3)
    assert model(torch.rand(1, 1, 10, 12, 17)).shape[2:] == (10, 12, 17)
    with pytest.raises(ValueError, match=r"needs D, H, W of at least 8, got \(16, 7, 16\)"):
        model(torch.rand(1, 1, 16, 7, 16))
    with pytest.raises(ValueError, match=r"expects \(B, 1, D, H, W\) inputs"):
        model(torch.rand(1, 2, 16, 16, 16))
    with pytest.raises(ValueError, match="of at least 16"):
        build_unet3d(1, 2, (48, 48, 12))
    assert build_unet3d(1, 2, (50, 48, 16), levels=4).levels == 4


def test_centred_conv3d_centres_each_filter_and_refuses_padding_it_cannot_fold():
    conv = CentredConv3d(3, 4, 3, padding=1)
    assert torch.allclose(conv.centred_weight().mean(dim=(1, 2, 3, 4)), torch.zeros(4), atol=1e-7)
    with pytest.raises(ValueError, match="expected integer zero padding"):
        CentredConv3d(3, 4, 3, padding="same")
    with pytest.raises(ValueError, match="expected integer zero padding"):
        CentredConv3d(3, 4, 3, padding=1, padding_mode="reflect")


# ------------------------------------------------------------------ per-sample gradients


@pytest.mark.parametrize(
    ("conv", "sampler"),
    [
        (CentredConv3d(3, 5, 3, padding=1, bias=False), centred_conv3d_grad_sample),
        (CentredConv3d(4, 6, (3, 1, 2), stride=2, padding=(1, 0, 1), groups=2), None),
        (CentredConv3d(4, 2, 1), None),
        (nn.Conv3d(3, 5, 3, padding=1), conv3d_grad_sample),
        (nn.Conv3d(4, 6, 3, stride=(1, 2, 1), padding=2, dilation=2, groups=2), None),
        (nn.Conv3d(3, 2, 3, padding="same", bias=False), None),
    ],
)
def test_conv3d_grad_samplers_match_torch_func_per_example(conv, sampler):
    sampler = sampler or (
        centred_conv3d_grad_sample if isinstance(conv, CentredConv3d) else conv3d_grad_sample
    )
    torch.manual_seed(0)
    volumes = torch.randn(4, conv.in_channels, 6, 7, 5)
    backprops = torch.randn_like(conv(volumes))
    grads = sampler(conv, [volumes], backprops)
    params = dict(conv.named_parameters())

    def output_dot(parameters, volume, backprop):
        output = torch.func.functional_call(conv, parameters, (volume[None],))
        return (output * backprop[None]).sum()

    want = torch.func.vmap(torch.func.grad(output_dot), in_dims=(None, 0, 0))(
        {k: v.detach() for k, v in params.items()}, volumes, backprops
    )
    assert grads.keys() == set(params.values())
    for name, parameter in params.items():
        assert torch.allclose(grads[parameter], want[name], atol=1e-5), name
    empty = sampler(conv, [volumes[:0]], backprops[:0])
    assert empty.keys() == set(params.values())
    for parameter in params.values():
        assert empty[parameter].shape == (0, *parameter.shape)


def test_importing_the_unet_puts_its_grouped_samplers_in_opacus_registry():
    assert Registry.GRAD_SAMPLERS[CentredConv3d] is centred_conv3d_grad_sample
    assert Registry.GRAD_SAMPLERS[nn.Conv3d] is conv3d_grad_sample


def tiny_batch(count: int, classes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    volumes = torch.rand(count, 1, SIDE, SIDE, SIDE, generator=generator)
    masks = torch.randint(0, classes, (count, SIDE, SIDE, SIDE), generator=generator)
    return volumes, masks


def test_unet3d_per_sample_gradients_under_opacus_equal_single_sample_backward_passes():
    model = tiny_unet(levels=2)
    reference = copy.deepcopy(model)
    criterion = DiceLoss(reduction="sum")
    volumes, masks = tiny_batch(3)
    wrapped = GradSampleModule(model, batch_first=True, loss_reduction="sum")
    criterion(wrapped(volumes), masks).backward()
    for index in range(len(volumes)):
        reference.zero_grad()
        criterion(reference(volumes[index : index + 1]), masks[index : index + 1]).backward()
        for (name, parameter), expected in zip(
            model.named_parameters(), reference.parameters(), strict=True
        ):
            assert torch.allclose(parameter.grad_sample[index], expected.grad, atol=1e-5), name
    wrapped.zero_grad()
    criterion(wrapped(volumes[:0]), masks[:0]).backward()
    for parameter in model.parameters():
        assert parameter.grad_sample.shape == (0, *parameter.shape)


def test_a_private_step_clips_a_single_sample_and_survives_an_empty_batch():
    model = tiny_unet(levels=2)
    criterion = DiceLoss(reduction="sum")
    volumes, masks = tiny_batch(4)
    engine = PrivacyEngine(accountant="rdp")
    dp_model, optimizer, _ = engine.make_private(
        module=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=1.0),
        data_loader=DataLoader(TensorDataset(volumes, masks), batch_size=1),
        noise_multiplier=0.0,
        max_grad_norm=1e-3,
        poisson_sampling=False,
        loss_reduction="sum",
    )
    before = [p.detach().clone() for p in model.parameters()]
    criterion(dp_model(volumes[:1]), masks[:1]).backward()
    norm = torch.sqrt(sum(p.grad_sample.pow(2).sum() for p in model.parameters()))
    assert norm > 1e-3  # the clipping bites
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    update = torch.sqrt(
        sum((b - p.detach()).pow(2).sum() for b, p in zip(before, model.parameters(), strict=True))
    )
    assert update == pytest.approx(1e-3, rel=1e-3)  # lr 1, one sample: the clipped gradient
    after = [p.detach().clone() for p in model.parameters()]
    criterion(dp_model(volumes[:0]), masks[:0]).backward()
    optimizer.step()
    for old, parameter in zip(after, model.parameters(), strict=True):
        assert torch.equal(old, parameter.detach())  # σ = 0: nothing to add


# ------------------------------------------------------------------ Dice


def one_hot(masks: torch.Tensor, classes: int) -> torch.Tensor:
    return nn.functional.one_hot(masks, classes).movedim(-1, 1).double()


def test_soft_dice_of_a_perfect_prediction_is_one_and_of_a_disjoint_one_about_zero():
    _, masks = tiny_batch(2, classes=3)
    assert torch.equal(soft_dice_per_class(one_hot(masks, 3), masks, 3), torch.ones(2, 3))
    masks = torch.tensor([[[0, 0], [1, 1]]])
    disjoint = one_hot(1 - masks, 2)
    dice = soft_dice_per_class(disjoint, masks, 2)
    assert dice.shape == (1, 2) and torch.all(dice < 1e-5)


def test_soft_dice_of_a_class_absent_from_mask_and_prediction_is_one():
    masks = torch.tensor([[[0, 1], [1, 1]]])
    probabilities = one_hot(masks, 3)  # class 2 is neither predicted nor present
    assert soft_dice_per_class(probabilities, masks, 3)[0, 2] == 1.0
    probabilities[0, 2, 0, 0], probabilities[0, 0, 0, 0] = 0.5, 0.5  # predicted, absent: ~0
    assert soft_dice_per_class(probabilities, masks, 3)[0, 2].item() == pytest.approx(
        1e-5 / (0.5 + 1e-5)
    )


def test_soft_dice_of_a_two_by_two_case_computed_by_hand():
    masks = torch.tensor([[[0, 1], [1, 1]]])
    foreground = torch.tensor([[0.2, 0.6], [0.9, 0.5]], dtype=torch.float64)
    probabilities = torch.stack([1 - foreground, foreground])[None]
    dice = soft_dice_per_class(probabilities, masks, 2)
    # class 0: I = 0.8, P = 0.8 + 0.4 + 0.1 + 0.5 = 1.8, G = 1 -> 1.6 / 2.8
    # class 1: I = 0.6 + 0.9 + 0.5 = 2.0, P = 2.2, G = 3 -> 4.0 / 5.2
    assert dice[0].tolist() == pytest.approx([1.6 / 2.8, 4.0 / 5.2], abs=1e-5)
    loss = DiceLoss(reduction="sum")(probabilities.log(), masks)  # softmax of log p is p
    assert loss.item() == pytest.approx(1 - (1.6 / 2.8 + 4.0 / 5.2) / 2, abs=1e-5)


def test_dice_loss_is_per_sample_and_reduces_over_the_batch():
    torch.manual_seed(0)
    logits = torch.randn(3, 4, 5, 6, 7, requires_grad=True)
    masks = torch.randint(0, 4, (3, 5, 6, 7))
    per_sample = DiceLoss(reduction="none")(logits, masks)
    assert per_sample.shape == (3,)
    assert DiceLoss(reduction="sum")(logits, masks).item() == pytest.approx(per_sample.sum().item())
    assert DiceLoss()(logits, masks).item() == pytest.approx(per_sample.mean().item())
    # sample 0's loss depends on sample 0 only: its gradient vanishes on the others
    (grad,) = torch.autograd.grad(per_sample[0], logits)
    assert grad[0].abs().sum() > 0 and torch.all(grad[1:] == 0)
    alone = DiceLoss(reduction="none")(logits[:1], masks[:1])
    assert torch.allclose(alone, per_sample[:1])
    confident = 50.0 * one_hot(masks, 4).float()
    assert DiceLoss()(confident, masks).item() == pytest.approx(0.0, abs=1e-6)
    assert DiceLoss(reduction="sum")(logits[:0], masks[:0]).item() == 0.0
    assert math.isnan(DiceLoss()(logits[:0], masks[:0]).item())


def test_soft_dice_refuses_bad_masks():
    probabilities = torch.full((1, 2, 2, 2), 0.5)
    with pytest.raises(ValueError, match=r"class indices must lie in \[0, 2\), got \[0, 2\]"):
        soft_dice_per_class(probabilities, torch.tensor([[[0, 2], [1, 1]]]), 2)
    with pytest.raises(ValueError, match="masks: expected shape"):
        soft_dice_per_class(probabilities, torch.zeros(1, 2, 3, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="integer class indices"):
        soft_dice_per_class(probabilities, torch.zeros(1, 2, 2), 2)
    with pytest.raises(ValueError, match="reduction"):
        DiceLoss(reduction="batch")


def test_segmentation_metrics_by_hand():
    masks = np.array([[[0, 1], [1, 1]], [[0, 0], [0, 0]]])
    foreground = np.array([[[0.2, 0.6], [0.9, 0.5]], [[0.0, 0.0], [0.0, 0.0]]])
    probabilities = np.stack([1 - foreground, foreground], axis=1)
    metrics = segmentation_metrics(masks, probabilities, ["background", "lesion"])
    json.dumps(metrics)
    # sample 2: all background, predicted so -> Dice 1 for both classes (lesion absent on both)
    soft = {"background": (1.6 / 2.8 + 1) / 2, "lesion": (4.0 / 5.2 + 1) / 2}
    assert metrics["dice_per_class"] == pytest.approx(soft, abs=1e-5)
    assert metrics["dice"] == pytest.approx((soft["background"] + soft["lesion"]) / 2, abs=1e-5)
    assert metrics["dice_foreground"] == pytest.approx(soft["lesion"], abs=1e-5)
    # argmax of sample 1: [[0, 1], [1, 0]] -> background 2·1/(2+1), lesion 2·2/(2+3)
    hard = {"background": (2 / 3 + 1) / 2, "lesion": (4 / 5 + 1) / 2}
    assert metrics["hard_dice_per_class"] == pytest.approx(hard, abs=1e-5)
    assert metrics["hard_dice_foreground"] == pytest.approx(hard["lesion"], abs=1e-5)
    assert all(isinstance(metrics[k], float) for k in ("dice", "hard_dice", "dice_foreground"))
    with pytest.raises(ValueError, match="expected \\(N, 3, \\*spatial\\)"):
        segmentation_metrics(masks, probabilities, ["a", "b", "c"])
