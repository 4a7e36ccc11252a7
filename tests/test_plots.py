from tap.pages import plots


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


def _drawn(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def test_interval_bars_start_at_zero_and_the_legend_sits_beside_them():
    values = {"full fine-tuning": (88.0, 87.0, 89.0), "LoRA": (86.5, 85.5, 87.5), "probe": (67.0, 66.0, 68.0)}
    fig = plots.interval_bars(values, "test accuracy (%)", reference=("chance (50%)", 50.0))
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    assert low == 0 and high > 89.0  # bar lengths compare as the values do; every interval is on the axis
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["chance (50%)"]
    fig.canvas.draw()
    legend, axes = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 >= axes.x1  # beside the axes: it hides no bar
    assert plots.interval_bars(values, "test accuracy (%)").axes[0].get_legend() is None


def test_parameter_sweep_legend_hides_no_point_and_labels_do_not_overlap():
    series = {
        "pre-trained model": [
            (1.1e5, 86.0, "LoRA (tap and peft)"),
            (1.2e5, 86.2, "adapters (tap)"),
            (1.5e3, 80.0, "linear probe"),
            (2.2e7, 88.0, "full fine-tuning"),
        ],
        "the book's encoder, from scratch (ch. 01)": [(1.4e6, 84.0, "from scratch")],
    }
    refs = {"TF-IDF + logistic regression, 25,000 reviews": (3.0e4, 88.5), "TF-IDF, 2,000 reviews": (2.0e4, 82.0)}
    fig = plots.parameter_sweep(series, refs, joined=False)
    renderer = _drawn(fig)
    ax = fig.axes[0]
    legends = [*fig.legends, *([ax.get_legend()] if ax.get_legend() else [])]
    boxes = [legend.get_window_extent(renderer) for legend in legends]
    points = [(x, y) for pts in series.values() for x, y, _ in pts] + list(refs.values())
    for x, y in points:
        px, py = ax.transData.transform((x, y))
        assert not any(box.contains(px, py) for box in boxes), (x, y)
    labels = [text.get_window_extent(renderer) for text in ax.texts]
    assert len(labels) == 5
    assert not any(a.overlaps(b) for i, a in enumerate(labels) for b in labels[i + 1 :])


def test_separate_labels_moves_only_a_label_that_collides():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.subplots()
    ax.set(xlim=(0, 10), ylim=(0, 10))
    texts = [ax.annotate(name, (5, 5), textcoords="offset points", xytext=(4, 6)) for name in ("first", "second")]
    alone = ax.annotate("far away", (1, 1), textcoords="offset points", xytext=(4, 6))
    plots.separate_labels(fig, [*texts, alone])
    assert texts[0].xyann == (4, 6) and alone.xyann == (4, 6) and texts[1].xyann != (4, 6)


def test_an_evaluation_a_few_steps_before_the_final_one_is_not_drawn_twice():
    history = [{"step": s, "epoch": s / 157} for s in (39, 78, 117, 156, 157)]
    assert [p["step"] for p in plots.spaced_evaluations(history)] == [39, 78, 117, 157]
    even = [{"step": s, "epoch": s / 156} for s in (39, 78, 117, 156)]
    assert plots.spaced_evaluations(even) == even


def test_tradeoff_names_each_method_by_its_own_marker_in_a_legend_that_covers_no_point():
    # Chapter 08's accuracy-against-time figure: four methods within 15% of each other's time,
    # where labels beside the points were read as their neighbours' and covered error bars.
    points = {
        "linear probe": (3.9, 86.0, 83.7, 88.0),
        "BitFit": (6.2, 85.1, 82.8, 87.2),
        "adapters (tap)": (6.6, 86.2, 83.9, 88.2),
        "LoRA (tap)": (6.5, 86.0, 83.7, 88.0),
        "(IA)³ (peft)": (7.2, 86.3, 84.0, 88.3),
        "full fine-tuning": (13.8, 86.8, 84.6, 88.8),
        "TF-IDF + logistic regression": (0.39, 78.6, 76.0, 81.0),
    }
    fig = plots.tradeoff(points, xlabel="training time (s, log scale)")
    renderer = _drawn(fig)
    ax = fig.axes[0]
    assert not ax.texts  # no label beside a point
    (legend,) = fig.legends
    assert set(points) <= {text.get_text() for text in legend.get_texts()}
    drawn = {c.get_label(): c.lines[0] for c in ax.containers}  # each method's error bar and marker
    markers = [drawn[name].get_marker() for name in points]
    assert len(set(markers)) == len(points)  # one marker per method
    front = set(plots.pareto_front({n: (x, y) for n, (x, y, _, _) in points.items()}))
    for name in points:  # red on the front, blue off it, as the page says
        assert (drawn[name].get_color() == "C3") == (name in front), name
    box = legend.get_window_extent(renderer)
    assert not box.overlaps(ax.get_window_extent(renderer))  # beside the axes, over no point
    same = plots.tradeoff({n: (1e3 * (i + 1), y, lo, hi) for i, (n, (_, y, lo, hi)) in enumerate(points.items())}, "x")
    again = {c.get_label(): c.lines[0].get_marker() for c in same.axes[0].containers}
    assert [again[name] for name in points] == markers  # the page's second figure marks each method alike


def test_comparison_bar_names_do_not_run_into_each_other():
    values = {
        "BERT\nMLM pre-trained": 75.9,
        "ch01 encoder\nAG News + fine-tuned": 80.9,
        "TF-IDF +\nlogistic regression": 87.9,
    }
    for names in (values, {name.replace("\n", " "): v for name, v in values.items()}):
        fig = plots.comparison_bars(names, "test accuracy (%)", reference=("chance (50%)", 50.0))
        renderer = _drawn(fig)
        boxes = [label.get_window_extent(renderer) for label in fig.axes[0].get_xticklabels()]
        assert not any(a.overlaps(b) for a, b in zip(boxes, boxes[1:])), names
