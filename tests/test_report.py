import numpy as np
import pytest

import myst_nb

from tap.report import glue


@pytest.mark.parametrize("value", [np.float64(73.25), np.float32(0.5), np.int64(12)])
def test_glued_numpy_scalars_format_like_python_numbers(monkeypatch, value):
    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, v, display: glued.update({name: v}))
    glue("x", value)
    assert type(glued["x"]) in (float, int)
    assert f"{float(repr(glued['x'])):.1f}" == f"{float(value):.1f}"  # what {glue:text}`x:.1f` does
