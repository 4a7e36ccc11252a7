from tap import plots


def test_parameter_sweep_joins_settings_of_one_method_but_not_different_methods():
    points = {"methods": [(1e3, 70.0, "probe"), (1e5, 75.0, "LoRA")]}
    assert plots.parameter_sweep(points).axes[0].lines[0].get_linestyle() == "-"
    assert plots.parameter_sweep(points, joined=False).axes[0].lines[0].get_linestyle() == "None"


def test_a_short_last_window_of_training_loss_is_merged_into_the_one_before():
    # 157 steps an epoch, a point every 39: the last point (step 314) averages 2 steps only.
    history = [{"step": s, "epoch": s / 157, "train_loss": 0.5} for s in range(39, 313, 39)]
    history.append({"step": 314, "epoch": 2.0, "train_loss": 0.1})
    points = plots.logged_train_loss(history)
    assert len(points) == len(history) - 1
    assert points[-1] == (2.0, (0.5 * 39 + 0.1 * 2) / 41)  # the exact mean over the last 41 steps
    even = [{"step": s, "epoch": s / 4, "train_loss": 0.3} for s in (2, 4, 6, 8)]
    assert plots.logged_train_loss(even) == [(p["epoch"], 0.3) for p in even]


def test_training_curves_keep_the_legend_off_the_panels_and_draw_a_fitted_run_dotted():
    trained = {
        "history": [
            {
                "step": s,
                "epoch": s / 4,
                "train_loss": 0.7 - s / 20,
                "val_loss": 0.7 - s / 30,
                "val_accuracy": 0.5 + s / 20,
            }
            for s in (2, 4, 6, 8)
        ]
    }
    fitted = {"history": [{"step": 40, "epoch": 1.0, "train_loss": 0.6, "val_loss": 0.62, "val_accuracy": 0.68}]}
    fig = plots.training_curves({"trained": trained, "probe": fitted})
    assert all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[0] == "trained" and labels[1].startswith("probe (fitted")
    loss, accuracy = fig.axes
    assert [line.get_linestyle() for line in loss.lines] == ["--", "-", ":"]
    assert accuracy.lines[-1].get_ydata()[0] == 68.0
