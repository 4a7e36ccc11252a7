"""The book's diagrams draw the dimensions they are given, and refuse dimensions no model has."""

import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from tap.pages import diagrams


def shown(fig: Figure) -> str:
    """Every string drawn on the figure (titles, labels, annotations), as one text."""
    return "\n".join(t.get_text() for t in fig.findobj(Text))


def test_adapter_placement_writes_the_width_and_the_bottleneck():
    fig = diagrams.adapter_placement(hidden=384, bottleneck=24, ffn=1536, layers=6)
    assert isinstance(fig, Figure)
    text = shown(fig)
    assert "384 → 24 → 384" in text and "m = 24" in text and "1536" in text and "L = 6" in text
    assert f"{2 * 384 * 24 + 24 + 384:,}" in text  # one adapter's parameters, 2dm + m + d
    assert "1536" not in shown(diagrams.adapter_placement(384, 24))  # what is not given is not drawn


def test_lora_paths_writes_every_shape_and_the_scaling():
    fig = diagrams.lora_paths(d_in=100, d_out=128, rank=4, alpha=8)
    assert isinstance(fig, Figure)
    text = shown(fig)
    assert "128 × 100" in text and "4 × 100" in text and "128 × 4" in text
    assert "= 2" in text  # alpha / rank
    assert f"{4 * (100 + 128):,}" in text and f"{100 * 128:,}" in text
    assert "merge" in text and "unmerge" in text


def test_ia3_vectors_writes_the_vector_lengths_and_their_count():
    text = shown(diagrams.ia3_vectors(hidden=48, ffn=200, layers=3))
    assert text.count("48 numbers") == 2 and "200 numbers" in text  # l_k, l_v and l_ff
    assert "2h + f = 296" in text and f"{3 * 296:,}" in text
    with_output = shown(diagrams.ia3_vectors(hidden=48, ffn=200, attention_output=True))
    assert with_output.count("48 numbers") == 3 and "3h + f = 344" in with_output


@pytest.mark.parametrize(
    "draw",
    [
        lambda: diagrams.adapter_placement(0, 24),
        lambda: diagrams.adapter_placement(384, -1),
        lambda: diagrams.adapter_placement(384, 24, ffn=0),
        lambda: diagrams.lora_paths(0, 128, 4, 8),
        lambda: diagrams.lora_paths(100, 128, -4, 8),
        lambda: diagrams.lora_paths(100, 128, 4.5, 8),
        lambda: diagrams.ia3_vectors(-48, 200),
        lambda: diagrams.ia3_vectors(48, 0),
        lambda: diagrams.ia3_vectors(48, 200, layers=True),
    ],
)
def test_a_dimension_below_one_or_not_whole_is_refused_by_name(draw):
    with pytest.raises(ValueError, match="must be a whole number of at least 1"):
        draw()


@pytest.mark.parametrize("alpha", [0, -16, float("nan")])
def test_lora_paths_refuses_an_alpha_that_scales_nothing(alpha):
    with pytest.raises(ValueError, match="alpha must be a positive number"):
        diagrams.lora_paths(100, 128, 4, alpha)
