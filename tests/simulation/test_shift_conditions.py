"""Each acquisition-shift condition does what its name says, measured on simulated frames
(fast backend, image formation 3 with the L7-4 on a smaller field) by the same checks
(`sonobench.simulation.shift_checks`) the lead runs on a committed shift set and its parent."""
import math

import numpy as np
import pytest

from sonobench.simulation import dataset, shift_checks, shifts
from sonobench.simulation.physics import imaging_preset
from sonobench.simulation.shift_physics import FOCUS_C_KEY, add_image_noise, defocus_widening
from sonobench.simulation.task import freeze_task

from .psf_tools import fwhm


def if3_small():
    """The L7-4 system on a 24.8 x 19.4 mm field (64 of its elements), pixels as the full preset's."""
    return imaging_preset("if3-l7-4").scaled(rows=276, cols=216, out_shape=(188, 130), extra={"elements": 64})


@pytest.fixture(scope="module")
def if3_task(tmp_path_factory):
    root = tmp_path_factory.mktemp("shift-conditions")
    dataset.generate("breast-lesion", 12, root / "data", backend="fast", seed=7, phys=if3_small(),
                     noise_levels=("low",), progress=False)
    task = freeze_task(root / "data", root / "tasks" / "if3-small" / "v1", "if3-small")
    return task, root / "tasks"


@pytest.fixture(scope="module")
def checked(if3_task):
    task, root = if3_task
    mp = pytest.MonkeyPatch()
    mp.setenv("SONOBENCH_TASKS_PATH", str(root))
    results = {}
    for name in shifts.CONDITIONS.names():
        folder = shifts.shift_folder(root, task, name)
        shifts.make_shift_set(task, name, folder, n=len(task.split("test")))
        results[name] = shift_checks.check_shift_set(task.folder, folder)
        print(results[name].line(), results[name].per_case)
    mp.undo()
    return results


@pytest.mark.parametrize("name", ["unshifted", "high-noise", "low-dynamic-range", "strong-attenuation",
                                  "low-frequency", "sound-speed-mismatch"])
def test_condition_does_what_its_name_says(checked, name):
    assert checked[name].passed, checked[name].line()


def test_every_condition_states_its_claim_in_its_task(if3_task, checked):
    from sonobench.evaluator.tasks import load_task_folder

    task, root = if3_task
    for name, condition in shifts.CONDITIONS.items():
        child = load_task_folder(shifts.shift_folder(root, task, name))
        assert condition.claim and condition.claim in child.description
        assert child.condition["claim"] == condition.claim


def test_image_noise_has_the_stated_snr():
    phys = if3_small()
    env = np.random.default_rng(0).rayleigh(1.0, phys.out_shape)
    noisy = add_image_noise(env, phys, 3.0, np.random.default_rng(1))
    # |s + n|^2 averages |s|^2 + |n|^2 for independent circular noise; noise power = median(|s|^2) / 10^0.3
    expected = np.mean(env ** 2) + np.median(env ** 2) / 10 ** 0.3
    assert np.mean(noisy ** 2) == pytest.approx(expected, rel=0.05)


def test_dynamic_range_change_keeps_the_median_place():
    phys = if3_small()
    shifted = shifts.condition_physics(phys, shifts.CONDITIONS.get("low-dynamic-range"))
    grey = lambda p: (p.dynamic_range_db + p.median_db) / p.dynamic_range_db  # noqa: E731
    assert shifted.dynamic_range_db == 30.0 and grey(shifted) == pytest.approx(grey(phys))


def _point_lateral_widths(phys, depth_m):
    from sonobench.simulation.fast_backend import fast_envelope

    aberrated = shifts.condition_physics(phys, shifts.CONDITIONS.get("sound-speed-mismatch"))
    assert aberrated.extra[FOCUS_C_KEY] == 1400.0
    shape = (phys.rows, phys.cols)
    maps = {"sound_speed": np.full(shape, 1540.0), "density": np.full(shape, 1000.0), "alpha_coeff": np.zeros(shape)}
    maps["density"][int(depth_m / phys.dx_m), phys.cols // 2] *= 1.05
    widths = []
    for p in (phys, aberrated):
        env = fast_envelope(maps, p, 0.0, np.random.default_rng(0), tissue_index=np.zeros(shape, dtype=np.int64))
        r, _ = np.unravel_index(int(np.argmax(env)), env.shape)
        widths.append(fwhm(env[r], p.pixel_mm[1]))
    return widths, aberrated


def test_focusing_error_widens_a_gaussian_psf_as_predicted():
    """Image formation 2's Gaussian PSF, a point at 15 mm: the width with the focusing error
    over the width without, against sqrt(1 + (eps lambda z / 2 pi sigma^2)^2)."""
    from .conftest import small_physics

    phys = small_physics(rows=160, cols=96, tgc_spreading=False)
    (w0, w1), aberrated = _point_lateral_widths(phys, 15e-3)
    predicted = defocus_widening(aberrated, 15e-3)
    assert predicted > 1.05 and not math.isnan(w1)
    assert w1 / w0 == pytest.approx(predicted, rel=0.15)


def test_focusing_error_widens_the_probe_psf_more_with_depth():
    """Image formation 3 (rectangular aperture, compounding): the quadratic phase error at the
    aperture's edge grows with depth (F fixed), so does the widening."""
    phys = if3_small().scaled(tgc_spreading=False)
    ratios = [w1 / w0 for (w0, w1), _ in (_point_lateral_widths(phys, z) for z in (8e-3, 22e-3))]
    assert ratios[0] < 1.05 < 1.12 < ratios[1]
