"""Models: Opacus compatibility, output shapes, parameter count, built-in z-scoring."""

from __future__ import annotations

import pytest
import torch
from opacus.validators import ModuleValidator

from rero.models import MODELS, Standardize, build_model


@pytest.mark.parametrize("name", sorted(MODELS))
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
    assert all(c.bias is None for c in convs)
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
