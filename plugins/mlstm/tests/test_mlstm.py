"""The contracts textrnn relies on, checked by textrnn.testing."""

import pytest

from textrnn.testing import check_language_model, check_model

# run from this folder after `pip install -e .` here (textrnn's own install does not include it)
textrnn_mlstm = pytest.importorskip("textrnn_mlstm", reason="textrnn-mlstm is not installed: pip install -e plugins/mlstm")
MLSTMOptions, build = textrnn_mlstm.MLSTMOptions, textrnn_mlstm.build


@pytest.mark.parametrize("options", [
    {"embedding_dim": 8, "hidden_size": 16},
    {"embedding_dim": 12, "hidden_size": 12, "num_layers": 2, "dropout": 0.2, "embedding_dropout": 0.1,
     "output_dropout": 0.1, "tie_weights": True},
])
def test_model_keeps_the_textrnn_contracts(options):
    check_language_model(build, MLSTMOptions(**options), name="mlstm")


def test_plugin_is_registered():
    # textrnn finds the model through the entry point once the package is installed (pip install -e .)
    check_model("mlstm", embedding_dim=8, hidden_size=16)


def test_options_reject_out_of_range_values():
    with pytest.raises(ValueError, match="hidden_size"):
        MLSTMOptions(hidden_size=0)
    with pytest.raises(ValueError, match="tie_weights"):
        MLSTMOptions(embedding_dim=8, hidden_size=16, tie_weights=True)
