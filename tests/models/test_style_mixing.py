"""MixStyle: statistics mixed in training only, content kept, a network loadable without it."""

from __future__ import annotations

import pytest
import torch

from crackscope.models import create_model
from crackscope.models.style_mixing import MixStyle


def test_identity_outside_training() -> None:
    layer = MixStyle(p=1.0).eval()
    x = torch.randn(4, 3, 5, 5)
    assert layer(x) is x


def test_never_mixes_with_p_zero_one_photo_or_one_pixel() -> None:
    x = torch.randn(4, 3, 5, 5)
    assert MixStyle(p=0.0).train()(x) is x
    one = torch.randn(1, 3, 5, 5)
    assert MixStyle(p=1.0).train()(one) is one
    pixels = torch.randn(4, 3, 1, 1)  # no spread to take
    assert MixStyle(p=1.0).train()(pixels) is pixels


def test_two_photos_take_statistics_between_their_own() -> None:
    torch.manual_seed(0)
    a = torch.randn(1, 2, 6, 6) * 0.5 + 1.0
    b = torch.randn(1, 2, 6, 6) * 3.0 - 4.0
    x = torch.cat([a, b])
    out = MixStyle(p=1.0, alpha=1.0).train()(x)
    mean_in, mean_out = x.mean(dim=(2, 3)), out.mean(dim=(2, 3))
    low, high = mean_in.min(dim=0).values, mean_in.max(dim=0).values
    assert ((mean_out >= low - 1e-5) & (mean_out <= high + 1e-5)).all()
    assert not torch.allclose(out, x)  # a Beta(1, 1) weight is never exactly 0 or 1

    # the content (each photo normalised per channel) is kept
    def normalised(t: torch.Tensor) -> torch.Tensor:
        return (t - t.mean(dim=(2, 3), keepdim=True)) / t.std(dim=(2, 3), keepdim=True, unbiased=True)

    assert torch.allclose(normalised(out), normalised(x), atol=1e-4)


def test_gradient_flows_through_the_content_and_dtype_is_kept() -> None:
    x = torch.randn(4, 3, 5, 5, requires_grad=True)
    out = MixStyle(p=1.0).train()(x.to(torch.bfloat16))
    assert out.dtype == torch.bfloat16
    out.float().sum().backward()
    assert x.grad is not None


def test_seeded_mixing_repeats() -> None:
    x = torch.randn(8, 3, 5, 5)
    layer = MixStyle(p=1.0).train()
    torch.manual_seed(3)
    one = layer(x)
    torch.manual_seed(3)
    assert torch.equal(layer(x), one)


@pytest.mark.parametrize(("kwargs", "match"), [({"p": 1.5}, "p must"), ({"alpha": 0.0}, "alpha"), ({"eps": -1}, "eps")])
def test_bad_settings_are_refused(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        MixStyle(**kwargs)


def test_crackfast_mixstyle_shares_crackfasts_weights() -> None:
    mixed = create_model("crackfast-mixstyle")
    plain = create_model("crackfast")
    assert sum(isinstance(m, MixStyle) for m in mixed.modules()) == 2
    assert mixed.state_dict().keys() == plain.state_dict().keys()
    plain.load_state_dict(mixed.state_dict())
    x = torch.rand(2, 3, 64, 64) * 255
    with torch.no_grad():
        assert torch.equal(mixed.eval()(x), plain.eval()(x))


def test_a_mixstyle_run_trains_with_the_layers_and_predicts_and_explains_as_crackfast(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crackscope.cam.methods import explain
    from crackscope.data.synth import synthesize
    from crackscope.training import TrainOptions, train
    from crackscope.training.run import load_run

    in_training: list[bool] = []  # the mode of every call of a MixStyle layer
    real_forward = MixStyle.forward

    def spy(self: MixStyle, x: torch.Tensor) -> torch.Tensor:
        in_training.append(self.training)
        return real_forward(self, x)

    monkeypatch.setattr(MixStyle, "forward", spy)
    data = synthesize(tmp_path / "data", n=24, size=48, seed=1)
    options = TrainOptions(model="crackfast-mixstyle", epochs=1, image_size=32, batch_size=8, patch_size=48, seed=0)
    train(data, out=tmp_path / "run", options=options)
    assert any(in_training)  # the layers ran in training mode

    run = load_run(tmp_path / "run", device="cpu")
    assert run.name == "crackfast-mixstyle"
    in_training.clear()
    images = [(torch.rand(40, 40, 3) * 255).to(torch.uint8).numpy() for _ in range(3)]
    probabilities = run.predict_proba(images)
    assert probabilities.shape == (3,) and ((probabilities >= 0) & (probabilities <= 1)).all()
    explanation = explain(run.model.eval(), torch.rand(2, 3, 32, 32) * 255)
    assert explanation.maps.shape[0] == 2
    assert in_training and not any(in_training)  # predicting and explaining pass through them, never mixing
