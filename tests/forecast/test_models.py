"""The two forecasters' shapes and contracts, windows and chunked forecasts (tiny, CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from textrnn_forecast import ForecasterOptions, ar_rnn, block_rnn
from textrnn_forecast.models import split_output
from textrnn_forecast.windows import Layout, WindowSampler, known_features, make_inputs, predict


def build(kind, **kw):
    options = ForecasterOptions(**{"hidden_size": 8, "series_channels": 2, "known_channels": 2, "horizon": 5, **kw})
    torch.manual_seed(0)
    return (block_rnn if kind == "block" else ar_rnn)(0, options)


@pytest.mark.parametrize("kind", ["block", "ar"])
@pytest.mark.parametrize("distribution", ["none", "gaussian"])
def test_output_shapes_and_positive_scale(kind, distribution):
    model = build(kind, distribution=distribution).eval()
    out = model(torch.randn(3, 7, 4), torch.randn(3, 5, 2))
    mean, std = split_output(out, 2)
    assert mean.shape == (3, 5, 2)
    assert (std is None) == (distribution == "none")
    if std is not None:
        assert (std > 0).all()


def test_teacher_forcing_with_its_own_forecast_reproduces_free_running():
    """Fed its own predictions as the 'truth', the teacher-forced pass must equal the
    autoregressive one: the two paths pair values and calendar the same way."""
    model = build("ar").eval()
    past, known = torch.randn(2, 7, 4), torch.randn(2, 5, 2)
    free = model(past, known)
    forced = model(past, known, free[..., :2])
    torch.testing.assert_close(forced, free)


@pytest.mark.parametrize("kind", ["block", "ar"])
def test_every_parameter_gets_a_gradient(kind):
    model = build(kind)
    out = model(torch.randn(3, 7, 4), torch.randn(3, 5, 2), torch.randn(3, 5, 2))
    out.pow(2).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_sample_paths_shape_and_seed():
    model = build("ar", distribution="gaussian").eval()
    past, known = torch.randn(2, 7, 4), torch.randn(2, 5, 2)
    a = model.sample_paths(past, known, 4, generator=torch.Generator().manual_seed(1))
    b = model.sample_paths(past, known, 4, generator=torch.Generator().manual_seed(1))
    assert a.shape == (4, 2, 5, 2) and torch.equal(a, b) and a.std() > 0


def layout(**kw):
    base = dict(frequency="monthly", season=12, horizon=3, context_length=6, calendar=True, series=["s"],
                loc=[[0.0]], scale=[[1.0]], target_column=["y"], covariates=[])
    return Layout(**{**base, **kw})


def test_windows_are_a_pure_function_of_seed_and_step_and_stay_in_the_span():
    lay = layout()
    values = np.arange(30, dtype=np.float32)[:, None]
    sampler = WindowSampler([(values, values[:, 0], known_features(np.arange(30), lay))], lay, seed=3)
    assert len(sampler) == 30 - 9 + 1
    a, b, c = sampler.batch(5, 16), sampler.batch(5, 16), sampler.batch(6, 16)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["past"], c["past"])
    assert (a["future"] + a["level"]).max() <= 29  # never past the span handed in


def test_level_is_removed_from_context_and_truth():
    lay = layout()
    values = (np.arange(9, dtype=np.float32) + 100)[None, :, None]  # (1, C + H, 1)
    batch = make_inputs(values, np.zeros((1, 9, 2), np.float32), lay, target=values[..., 0])
    assert batch["level"][0, 0, 0] == pytest.approx(np.mean(np.arange(6) + 100))  # min(max(season, 3), context)
    np.testing.assert_allclose(batch["future"][0, :, 0] + batch["level"][0, 0, 0], [106, 107, 108])


def test_calendar_features_follow_the_month():
    lay = layout()
    feats = known_features(np.array([0, 12, 3]), lay)  # ordinal 0 and 12 are both January
    np.testing.assert_allclose(feats[0], feats[1])
    np.testing.assert_allclose(feats[2], [1.0, 0.0], atol=1e-12)  # April: a quarter turn
    assert known_features(np.arange(4), layout(frequency="yearly")).shape == (4, 0)


def test_a_longer_horizon_is_forecast_in_chunks():
    """A block model of horizon 3 asked for 7 steps: the first 3 equal a single call."""
    lay = layout(covariates=[])
    torch.manual_seed(0)
    model = block_rnn(0, ForecasterOptions(hidden_size=8, series_channels=1, known_channels=2, horizon=3)).eval()
    history = [np.sin(np.arange(20, dtype=np.float32))[:, None]]
    point7, _ = predict(model, history, [np.arange(20, 27)], lay, 7)
    point3, _ = predict(model, history, [np.arange(20, 23)], lay, 3)
    assert point7.shape == (1, 7)
    np.testing.assert_allclose(point7[0, :3], point3[0], rtol=1e-6)
    # the first chunk is the model's output plus the context's level
    known = known_features(np.arange(14, 23), lay)[None].astype(np.float32)
    batch = make_inputs(history[0][None, -6:], known, lay)
    with torch.no_grad():
        direct = model(torch.as_tensor(batch["past"]), torch.as_tensor(batch["future_known"]))[0, :, 0].numpy()
    np.testing.assert_allclose(point3[0], direct + batch["level"][0, 0, 0], rtol=1e-5)
    # the second chunk reads the first chunk's forecast as history
    extended = [np.concatenate([history[0], point3[0][:, None]])]
    next3, _ = predict(model, extended, [np.arange(23, 26)], lay, 3)
    np.testing.assert_allclose(point7[0, 3:6], next3[0], rtol=1e-5)


@pytest.mark.parametrize("name, options", [
    ("block-rnn", {"cell": "lstm", "distribution": "gaussian", "series_channels": 2}),
    ("ar-rnn", {"cell": "lstm", "distribution": "gaussian", "num_layers": 2, "dropout": 0.3}),
    ("ar-rnn", {"known_channels": 0, "teacher_forcing": False}),
])
def test_forecasters_keep_textrnn_testing_contracts(name, options):
    from textrnn.testing import check_model

    check_model(name, hidden_size=8, **options)


def test_the_forecaster_contract_catches_rows_that_mix():
    from textrnn.testing import check_forecaster

    class Mixing(torch.nn.Module):  # each row's forecast depends on the batch mean
        def __init__(self):
            super().__init__()
            self.inner = block_rnn(0, ForecasterOptions(hidden_size=8))

        def forward(self, past, future_known, future_values=None):
            out = self.inner(past, future_known)
            return out + out.mean(dim=0, keepdim=True)

    with pytest.raises(AssertionError, match="contract 'batch independence' failed"):
        check_forecaster(lambda vocab_size, options: Mixing(), ForecasterOptions(hidden_size=8))
