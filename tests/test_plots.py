from tap import plots


def test_parameter_sweep_joins_settings_of_one_method_but_not_different_methods():
    points = {"methods": [(1e3, 70.0, "probe"), (1e5, 75.0, "LoRA")]}
    assert plots.parameter_sweep(points).axes[0].lines[0].get_linestyle() == "-"
    assert plots.parameter_sweep(points, joined=False).axes[0].lines[0].get_linestyle() == "None"
