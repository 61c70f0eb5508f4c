"""Fast checks of the training building blocks: profiles, folds, augmentation,
losses, and that the trainer's Dice/IoU are the evaluator's."""
import numpy as np
import pytest
import torch

from sonobench.baselines.recipes import Augment, InvalidProfile, Profile, UnknownProfile, get_profile, list_profiles
from sonobench.baselines.training.augment import augment, make_batch
from sonobench.baselines.training.data import Samples, cv_splits, eval_subset, stratified_folds, stratum
from sonobench.baselines.training.losses import SegLoss, batch_scores, inverse_frequency_weights
from sonobench.baselines.training.scoring import case_scores
from sonobench.evaluator.metrics import score_case


def test_profiles_are_data_and_round_trip():
    assert [p.name for p in list_profiles()] == ["anatosegnet-paper", "converged", "full", "paper", "pretrain", "quick"]
    for p in list_profiles():
        assert Profile.from_dict(p.to_dict()) == p
    quick, full, paper = get_profile("quick"), get_profile("full"), get_profile("paper")
    assert quick.threads == 1 and quick.crop == (128, 128) and paper.crop is None and paper.epochs == 100
    # `full` is the CPU-sized reference: quick's recipe, longer, gaps on every training case
    assert full.crop == quick.crop and full.threads == 1 and full.train_eval_cases is None
    assert 1.4 < full.epochs * full.samples_per_epoch / (quick.epochs * quick.samples_per_epoch) < 1.5
    # `converged`: whole images, 2 threads, channels-last, smoothed early stopping long enough to judge
    conv = get_profile("converged")
    assert conv.crop is None and conv.threads == 2 and conv.channels_last and conv.early_stop_patience >= 10
    assert conv.lr / conv.batch_size == pytest.approx(paper.lr / paper.batch_size)  # linear lr scaling
    assert paper.amp_dtype == "bfloat16" and 0 < conv.ema < 1 and conv.min_delta == 0.005
    with pytest.raises(InvalidProfile, match="amp_dtype must be one of float16, bfloat16, got 'bf16'"):
        paper.replace(amp_dtype="bf16")


def test_profile_errors_name_the_choices():
    with pytest.raises(UnknownProfile, match="Valid choices: anatosegnet-paper, converged, full, paper, pretrain, quick. Did you mean 'quick'"):
        get_profile("quik")
    with pytest.raises(InvalidProfile, match="Expected `epochs` to be a positive integer, but got 0"):
        get_profile("quick").replace(epochs=0)
    with pytest.raises(InvalidProfile, match="Unknown profile field"):
        Profile.from_dict({**get_profile("quick").to_dict(), "epoch": 3})


def test_stratified_folds_are_balanced_disjoint_and_seeded():
    strata = ["normal"] * 10 + ["classes:1"] * 30
    fold = stratified_folds(strata, 5, seed=0)
    assert fold == stratified_folds(strata, 5, seed=0) and fold != stratified_folds(strata, 5, seed=1)
    for k in range(5):
        members = [s for s, f in zip(strata, fold) if f == k]
        assert members.count("normal") == 2 and members.count("classes:1") == 6


def _samples(n=12, size=16, seed=0):
    rng = np.random.default_rng(seed)
    targets = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        if i % 3:
            targets[i, 4:10, 3:9] = 1
    images = rng.random((n, 1, size, size), dtype=np.float32)
    return Samples([f"c{i}" for i in range(n)], images, targets, list(targets), [stratum(t) for t in targets])


def test_cv_splits_cover_the_development_data_once():
    dev = _samples()
    splits = cv_splits(dev, 3, seed=0)
    held_out = sorted(i for _, val in splits for i in val.ids)
    assert held_out == sorted(dev.ids)
    for train, val in splits:
        assert not set(train.ids) & set(val.ids) and len(train) + len(val) == len(dev)
    small = eval_subset(dev, 5, seed=0)
    assert len(small) <= 5 and {"normal", "classes:1"} <= set(small.strata)


def test_augment_is_seeded_and_keeps_labels_aligned():
    s = _samples()
    aug = Augment(hflip=1.0, affine=0.0, intensity=0.0, speckle=0.0)
    x, y = make_batch(s.images, s.targets, [1, 2], None, 0.0, torch.Generator().manual_seed(0))
    fx, fy = augment(x.clone(), y.clone(), aug, torch.Generator().manual_seed(0))
    assert torch.equal(fx, x.flip(-1)) and torch.equal(fy, y.flip(-1))
    full = Augment(hflip=0.5, affine=1.0, intensity=1.0, speckle=1.0)
    a = augment(x.clone(), y.clone(), full, torch.Generator().manual_seed(3))
    b = augment(x.clone(), y.clone(), full, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0].min() >= 0 and a[0].max() <= 1 and set(a[1].unique().tolist()) <= {0, 1}


def test_foreground_crops_contain_lesion_pixels():
    s = _samples(size=32)
    g = torch.Generator().manual_seed(0)
    _, y = make_batch(s.images, s.targets, [1, 2, 4, 5], (8, 8), 1.0, g)
    assert y.shape == (4, 8, 8) and all(t.sum() > 0 for t in y)
    x, _ = make_batch(s.images, s.targets, [1], (64, 64), 1.0, g)  # a crop never exceeds the image
    assert x.shape == (1, 1, 32, 32)


def test_losses_prefer_the_right_answer():
    target = torch.zeros(2, 8, 8, dtype=torch.long)
    target[:, 2:6, 2:6] = 1
    good = (target.float() * 20 - 10)[:, None]
    assert SegLoss(2)(good, target) < SegLoss(2)(-good, target)
    multi = torch.nn.functional.one_hot(target, 3).permute(0, 3, 1, 2).float() * 20
    assert SegLoss(3, [1.0, 2.0, 1.0])(multi, target) < SegLoss(3)(multi.flip(1), target)
    w = inverse_frequency_weights(np.array([0, 0, 0, 1]), 3)
    assert w[1] > w[0] and w[2] == 1.0


def test_trainer_scores_equal_the_evaluator():
    rng = np.random.default_rng(0)
    for trial in range(20):
        gt = (rng.random((24, 24)) < 0.2).astype(np.uint8) * (trial % 4 != 0)
        logits = rng.normal(size=(1, 24, 24)).astype(np.float32) - (2.0 if trial % 5 == 0 else 0.0)
        got = case_scores(logits, gt, 2)
        ref = score_case((logits[0] > 0).astype(np.uint8), gt, 2)[1]
        assert (got["dice"], got["iou"]) == (ref["dice"], ref["iou"])
        batch = batch_scores(torch.from_numpy((logits > 0).astype(np.int64)), torch.from_numpy(gt[None]).long(), 2)
        assert (batch[0]["dice"], batch[0]["iou"]) == (ref["dice"], ref["iou"])


def test_unknown_exporter_is_named():
    from sonobench.zoo import create_model
    from sonobench.zoo.export import ExportFailed, export_onnx
    with pytest.raises(ExportFailed, match="Unknown exporter 'tflite'. Valid choices: dynamo, torchscript"):
        export_onnx(create_model("unext"), "never-written.onnx", exporter="tflite")


def _row(model, profile, device="cpu"):
    return {"model": model, "profile": profile,
            "provenance": {"hardware": {"device": device, "cpu": "Xeon", "gpu": "H100" if device == "cuda" else None,
                                        "threads": 1}}}


def test_reference_note_says_what_the_rows_are():
    from sonobench.baselines.reference import describe

    only_quick = describe([_row("unet", "quick")])
    assert "smoke-level" in only_quick and "No 'full'" in only_quick
    cpu_full = describe([_row("unet", "quick"), _row("unet", "full"), _row("unext", "full")])
    assert "Profile 'full' (unet, unext) was trained on cpu" in cpu_full and "sized for a CPU" in cpu_full
    assert "No 'full'" not in cpu_full
    gpu_full = describe([_row("unet", "full", "cuda")])
    assert "sized for a CPU" not in gpu_full and "H100" in gpu_full


def _old_trainer_case_scores(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> tuple:
    """The trainer's Dice/IoU code, kept here as an independent reference: per-class counts from
    the masks, 2TP/(2TP+FP+FN) and TP/(TP+FP+FN) over the classes the reference has (the
    class-absent policy), macro mean; (None, None) for a reference without foreground."""
    dice, iou = [], []
    for c in range(1, num_classes):
        p, g = pred == c, gt == c
        tp = int((p & g).sum()); fp = int((p & ~g).sum()); fn = int((~p & g).sum())
        if tp + fn == 0:
            continue
        dice.append(2.0 * tp / (2 * tp + fp + fn))
        iou.append(tp / float(tp + fp + fn))
    return (float(np.mean(dice)), float(np.mean(iou))) if dice else (None, None)


def test_the_trainers_validation_scores_are_the_evaluators_and_equal_the_old_code():
    from sonobench.baselines.training.scoring import label_scores, summarize

    rng = np.random.default_rng(7)
    cases, old = [], []
    for trial in range(12):
        k = 2 + trial % 3
        gt = rng.integers(0, k, size=(20, 28)).astype(np.uint8) * (trial % 4 != 0)
        pred = np.where(rng.random((20, 28)) < 0.7, gt, rng.integers(0, k, size=(20, 28))).astype(np.uint8)
        if trial == 5:
            pred[:] = 0  # an empty prediction
        got = label_scores(pred, gt, k)
        ref = {c: r for c, r in score_case(pred, gt, k).items() if r["tp"] + r["fn"] > 0}
        want = _old_trainer_case_scores(pred, gt, k)
        if not ref:  # trial % 4 == 0: an all-background reference has no Dice (whatever is predicted)
            assert got == {"dice": None, "iou": None} and want == (None, None) and pred.any()
            continue
        assert got == {"dice": float(np.mean([r["dice"] for r in ref.values()])),
                       "iou": float(np.mean([r["iou"] for r in ref.values()]))}
        assert (got["dice"], got["iou"]) == pytest.approx(want, abs=1e-15)
        cases.append(got); old.append(want)
    s = summarize(cases + [{"dice": None, "iou": None}])
    assert s["n"] == 10 and len(old) == 9 and s["dice"] == pytest.approx(np.mean([o[0] for o in old]), abs=1e-15)
    assert s["iou"] == pytest.approx(np.mean([o[1] for o in old]), abs=1e-15)
