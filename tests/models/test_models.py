"""Models: Opacus compatibility, output shapes, parameter count, built-in z-scoring, the
weight-centred convolution and its per-sample gradients."""

from __future__ import annotations

import pytest
import torch
from opacus.validators import ModuleValidator

from rero.models.layers import CentredConv2d, Standardize, centred_conv2d_grad_sample
from rero.models.registry import MODELS, build_model

CLASSIFIERS = sorted(name for name, entry in MODELS.items() if entry.axes == 2)


@pytest.mark.parametrize("name", CLASSIFIERS)
@pytest.mark.parametrize(("channels", "size", "classes"), [(1, 28, 3), (3, 32, 2)])
def test_model_is_opacus_valid_and_has_right_output_shape(name, channels, size, classes):
    model = build_model(name, channels, classes, size)
    assert ModuleValidator.validate(model, strict=True) == []
    with torch.no_grad():
        assert model(torch.rand(5, channels, size, size)).shape == (5, classes)


def test_small_cnn_has_about_34k_parameters():
    model = build_model("small_cnn", 1, 3, 28)
    assert sum(p.numel() for p in model.parameters()) == 33_987


def test_resnet9_has_the_papers_channels_and_groupnorm():
    model = build_model("resnet9", 1, 3, 28)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 128, 128, 256, 256, 256, 256]
    assert all(type(c) is CentredConv2d and c.bias is None for c in convs)
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in model.modules()) == 3
    norms = [m for m in model.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert {n.num_groups for n in norms} == {32}
    assert any(isinstance(m, torch.nn.Mish) for m in model.modules())


def test_standardize_z_scores_per_channel():
    layer = Standardize([0.5, 0.2], [0.25, 0.1])
    images = torch.tensor([0.75, 0.3]).reshape(1, 2, 1, 1).expand(1, 2, 2, 2)
    assert torch.allclose(layer(images), torch.ones(1, 2, 2, 2))


def test_statistics_are_saved_buffers_not_parameters():
    model = build_model("small_cnn", 1, 3, 28, mean=[0.6], std=[0.27])
    state = model.state_dict()
    assert state["standardize.mean"].item() == pytest.approx(0.6)
    assert not any("standardize" in name for name, _ in model.named_parameters())
    # a model rebuilt without the statistics gets them back from the state_dict
    rebuilt = build_model("small_cnn", 1, 3, 28)
    rebuilt.load_state_dict(state)
    images = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model(images), rebuilt(images))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "vgg"}, "unknown model"),
        ({"image_size": 2}, "at least"),
        ({"mean": [0.1, 0.2]}, "one value per input channel"),
        ({"std": [0.0]}, "std must be positive"),
        ({"num_classes": 1}, "num_classes >= 2"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, message):
    arguments = {"name": "small_cnn", "in_channels": 1, "num_classes": 3, "image_size": 28}
    with pytest.raises(ValueError, match=message):
        build_model(**(arguments | kwargs))


def test_single_logit_model_has_one_output_and_needs_two_classes():
    model = build_model("resnet9", 3, 2, 16, single_logit=True)
    with torch.no_grad():
        assert model(torch.rand(4, 3, 16, 16)).shape == (4, 1)
    with pytest.raises(ValueError, match="single_logit needs num_classes = 2, got 3"):
        build_model("small_cnn", 1, 3, 16, single_logit=True)


def test_centred_conv_convolves_with_the_filters_minus_their_fan_in_mean():
    torch.manual_seed(0)
    conv = CentredConv2d(3, 4, 3, padding=1, bias=False)
    images = torch.rand(2, 3, 6, 6)
    weight = conv.weight.detach()
    centred = weight - weight.mean(dim=(1, 2, 3), keepdim=True)
    assert torch.allclose(centred.sum(dim=(1, 2, 3)), torch.zeros(4), atol=1e-6)
    want = torch.nn.functional.conv2d(images, centred, padding=1)
    assert torch.allclose(conv(images), want, atol=1e-6)
    with torch.no_grad():
        conv.weight += torch.arange(4.0).view(4, 1, 1, 1)  # a constant per filter changes nothing
    assert torch.allclose(conv(images), want, atol=1e-5)


@pytest.mark.parametrize(
    "conv",
    [
        CentredConv2d(3, 5, 3, padding=1, bias=False),
        CentredConv2d(4, 6, (3, 1), stride=2, padding=(1, 0), groups=2),
    ],
)
def test_centred_conv_grad_sample_matches_torch_func_per_example(conv):
    torch.manual_seed(0)
    images = torch.randn(5, conv.in_channels, 7, 8)
    backprops = torch.randn_like(conv(images))
    grads = centred_conv2d_grad_sample(conv, [images], backprops)
    params = dict(conv.named_parameters())

    def output_dot(parameters, image, backprop):
        output = torch.func.functional_call(conv, parameters, (image[None],))
        return (output * backprop[None]).sum()

    want = torch.func.vmap(torch.func.grad(output_dot), in_dims=(None, 0, 0))(
        {k: v.detach() for k, v in params.items()}, images, backprops
    )
    assert grads.keys() == set(params.values())
    for name, parameter in params.items():
        assert torch.allclose(grads[parameter], want[name], atol=1e-5), name
    empty = centred_conv2d_grad_sample(conv, [images[:0]], backprops[:0])
    assert empty[conv.weight].shape == (0, *conv.weight.shape)


def test_centred_conv_refuses_padding_its_sampler_cannot_fold():
    with pytest.raises(ValueError, match="expected integer zero padding, got padding 'same'"):
        CentredConv2d(2, 2, 3, padding="same")


def test_the_registry_builds_the_3d_unet_from_a_volume_size_and_names_a_wrong_one():
    model = build_model("unet3d", 1, 4, [16, 16, 16])
    with torch.no_grad():
        assert model(torch.rand(2, 1, 16, 16, 16)).shape == (2, 4, 16, 16, 16)
    with pytest.raises(ValueError, match="'unet3d' takes inputs with 3 spatial axes, got"):
        build_model("unet3d", 1, 4, [28, 28])
    with pytest.raises(ValueError, match="needs images of at least 16px"):
        build_model("unet3d", 1, 4, [8, 16, 16])


def test_every_model_names_its_task():
    from rero.study.engines import MODEL_TASKS

    assert set(MODEL_TASKS) == set(MODELS)
