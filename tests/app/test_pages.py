"""One AppTest per results page: it renders without an exception and shows its key elements."""
import json

import pytest

from sonobench.evaluator.store import ReadOnlyStore
from sonobench.evaluator.tasks import get_task
from sonobench.leaderboard_app import data, ui

from .conftest import open_page


def _charts(at):
    return at.get("plotly_chart")


def _captions(at):
    return [c for image in at.image for c in image.captions]


def test_efficiency_page_plots_quality_against_gflops_with_a_pareto_front(app_env):
    at = open_page("efficiency")
    assert at.title[0].value == "Efficiency"
    charts = _charts(at)
    assert len(charts) == 1
    fig = json.loads(charts[0].proto.spec)
    names = [t.get("name") for t in fig["data"]]
    assert {"submissions", "baselines", "Pareto front"} <= set(names)
    assert fig["layout"]["xaxis"]["type"] == "log"
    hover = " ".join(" ".join(t.get("hovertext") or []) for t in fig["data"])
    assert "unet-baseline" in hover and "smooth-0.30" in hover
    assert any("Pareto front" in m.value for m in at.markdown)


def test_submission_page_shows_distribution_worst_cases_and_only_validation_images(app_env):
    ids = app_env["ids"]
    at = open_page("submission")
    at.selectbox(key="sub_pick").set_value(ids["smooth-0.30"]).run()
    assert not at.exception
    assert at.header[0].value == ui.plain("#%d smooth-0.30" % ids["smooth-0.30"])
    assert len(_charts(at)) == 2  # violins of Dice, IoU, HD95; the primary metric by case strata
    worst = at.dataframe[-1].value
    assert list(worst["dice"]) == sorted(worst["dice"])  # worst first: Dice is higher-is-better
    assert worst["dice"].notna().all()  # lesion-free images have no Dice: not listed among the worst
    captions = _captions(at)
    assert all("(val)" in c for c in captions)  # never a test image
    preds = [c for c in captions if c.endswith("prediction")]
    assert len(preds) == len([c for c in captions if c.endswith("ground truth")]) >= 1
    assert not any("No prediction overlays" in i.value for i in at.info)
    cards = [m.label for m in at.metric]  # the task's declared metrics, primary first; tolerances in the row's unit
    assert cards[0] == "Dice ↑ · primary" and "NSD ↑ @ τ = 0.4 mm" in cards and "Specificity ↑" in cards
    assert not any(c.startswith(("Surface F1", "Mean dist")) for c in cards)  # thin-structure: not declared here


def test_submission_page_per_class_table_for_multiclass(app_env):
    at = open_page("submission")
    at.selectbox(key="sub_task").set_value("toy-bands@1").run()
    assert not at.exception
    per_class = at.dataframe[0].value
    assert list(per_class["Class"]) == ["upper", "lower"]


def test_compare_page_pair_view_is_the_librarys_compare_results(app_env):
    from sonobench.evaluator.ranking.compare import compare_results

    ids = app_env["ids"]
    at = open_page("compare")
    at.selectbox(key="cmp_a").set_value(ids["smooth-0.20"]).run()
    at.selectbox(key="cmp_b").set_value(ids["smooth-0.45"]).run()
    assert not at.exception
    expected = compare_results(ReadOnlyStore(app_env["db"]), ids["smooth-0.20"], ids["smooth-0.45"], "dice")
    labels = {m.label: m.value for m in at.metric}
    # paired on the applicable cases: the toy's 6 test images less its lesion-free ones
    assert labels["Paired cases"] == str(expected["n_cases"]) and 0 < expected["n_cases"] < 6
    assert labels["p (A better)"] == f"{expected['p_a_better']:.3g}"
    assert labels["p (B better)"] == f"{expected['p_b_better']:.3g}"
    assert labels["Mean difference A − B (positive favours A)"] == f"{expected['mean_difference']:+.3f}"
    assert any(f"[{expected['ci_low']:+.3f}, {expected['ci_high']:+.3f}]" in m.value for m in at.markdown)
    assert len(_charts(at)) == 3  # the significance map, the scatter, the histogram


def test_baselines_page_has_curves_and_the_gap_table(app_env):
    at = open_page("baselines")
    table = next(m.value for m in at.markdown if "Train→Test ΔDice" in m.value)
    assert ui.plain("unet-baseline") in table and " → " in table and "**" in table
    test_dice = ReadOnlyStore(app_env["db"]).result_for(app_env["ids"]["baseline"])["dice_mean"]
    assert f"0.7400 → {test_dice:.4f} = **{0.74 - test_dice:.4f}**" in table  # train Dice at best epoch 4
    assert len(_charts(at)) == 3  # loss, Dice, IoU


def test_tasks_page_shows_facts_digest_and_training_samples(app_env):
    at = open_page("tasks")
    at.selectbox(key="tasks_task").set_value("toy-lesion@1").run()
    assert not at.exception
    task = get_task("toy-lesion")
    assert at.code[0].value == task.digest
    facts = next(m.value for m in at.markdown if "Primary metric" in m.value)
    assert "**Primary metric:** Dice · **Leaderboard metrics:** Dice, Specificity, HD95, NSD" in facts
    splits = at.dataframe[0].value
    assert dict(zip(splits["Split"], splits["Cases"])) == {s: len(task.split(s)) for s in ("train", "val", "test")}
    captions = _captions(at)
    assert len(captions) == 8 and all(c.endswith("(train)") for c in captions)


def test_test_split_images_are_never_served(app_env):

    task = get_task("toy-lesion")
    image, label = data.case_arrays("toy-lesion@1", task.split("val")[0].id, True)
    assert image.shape == label.shape
    with pytest.raises(PermissionError, match="never shows test cases"):
        data.case_arrays("toy-lesion@1", task.split("test")[0].id, False)

