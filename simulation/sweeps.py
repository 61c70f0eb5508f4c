"""A simulated tracked-sweep set: 3D bone specimens swept by the bone task's linear probe, frozen as
a test-only child task of the bone task (`<parent id>-sweeps/v<parent version>`).

Each specimen (`sweep_geometry`: a tibia-like shaft, a condyle, a flat plate) is swept twice:
**along** the bone (transverse images, the probe moving along the bone's axis) and **across** it
(longitudinal images, the probe moving sideways). The probe is held freehand: its true pose wobbles
(tilt and drift, `FREEHAND`), each frame is simulated at its true pose with the bone task's image
formation (its physics and a backend, both parameters: `backend`, `image_formation`), and the pose
recorded in `sweep.json` is the true pose seen through optical tracking: independent Gaussian
errors per frame of `TRACKING.translation_mm` per axis and `TRACKING.rotation_deg` per axis (about
the probe face's centre). Labels are exact: the bone's probe-facing surface as the bone task draws
it (a 0.5 mm band under the first bone pixel of each column) of the mesh's own section by the true
image plane; the mesh is exact (it is the specimen).

The soft tissue of a frame (gel, skin, fat, muscle, ligaments) is the bone task's, drawn once per
specimen and laid along each frame's lateral axis: only the bone is a 3D volume. The specimens are
new geometries, none of the bone task's, so no specimen is shared with its train split.

Generation is resumable like `sonobench simulate`: a frame whose meta file exists is skipped, and a
run with other settings than the folder's `run.json` is refused."""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sonobench.evaluator.sweeps import Mesh, Sweep, SweepFrame, write_sweep
from sonobench.evaluator.tasks import Task, write_task
from sonobench.kernel.errors import SonoBenchError

from . import beamform, image_formation, phantom
from .dataset import config_differences, one_thread_here
from .physics import Physics
from .presets import get_preset
from .sample import NOISE_STD, Backend, NoiseLevel, parse_enum
from .sweep_geometry import build_mesh, draw_params, section_mask, section_segments

PRESET = "bone-surface"
DEFAULT_SEED = 2029
DEFAULT_FRAMES = 8
TOLERANCE_MM = 1.0           # τ of the 3D metrics: a few pixels, several times the tracking error
LABEL_BAND_MM = 0.5          # the bone task's label band (presets: lesions.label_surface_mm)
# (specimen, shape): the committed set's specimens
SPECIMENS = (("tibia-1", "shaft"), ("tibia-2", "shaft"), ("condyle-1", "condyle"), ("condyle-2", "condyle"),
             ("plate-1", "plate"))
DIRECTIONS = ("along", "across")


class SweepSetError(SonoBenchError):
    """A sweep set that cannot be made as asked (a parent without simulation source, changed settings)."""


@dataclass(frozen=True)
class Tracking:
    """Optical tracking's error on each recorded pose: Gaussian, independent per frame and axis."""
    translation_mm: float = 0.2
    rotation_deg: float = 0.2


@dataclass(frozen=True)
class Freehand:
    """How a hand holds the probe during a sweep (the true poses): a smooth random tilt about each
    axis and a drift of the probe face, each a random walk of these step sizes per frame."""
    tilt_deg: float = 0.8
    drift_mm: float = 0.25


TRACKING, FREEHAND = Tracking(), Freehand()


def _rotation(angles_rad) -> np.ndarray:
    """Rotation matrix of small angles about x, then y, then z."""
    ax, ay, az = angles_rad
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _rigid(rotation: np.ndarray, translation, about=(0.0, 0.0, 0.0)) -> np.ndarray:
    """4x4: rotate about the point `about`, then translate."""
    m = np.eye(4)
    about = np.asarray(about, float)
    m[:3, :3] = rotation
    m[:3, 3] = about - rotation @ about + np.asarray(translation, float)
    return m


def base_frames(direction: str, n: int, mesh: Mesh, width_mm: float) -> list[np.ndarray]:
    """The planned poses (frame (u lateral, v depth, w) mm -> world) of one sweep, before the hand's
    wobble: `along` = transverse planes stepping along the bone's middle half; `across` = longitudinal
    planes stepping over the bone's middle 60 % of its width, the field centred on its length."""
    lo, hi = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
    centre_x, length = (lo[0] + hi[0]) / 2, hi[1] - lo[1]
    out = []
    for s in np.linspace(0, 1, n):
        m = np.eye(4)
        if direction == "along":  # u -> +x, v -> +z, w = u x v = -y
            m[:3, :3] = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]]).T  # columns: u, v, w
            m[:3, 3] = (centre_x - width_mm / 2, lo[1] + length * (0.25 + 0.5 * s), 0.0)
        else:  # u -> +y, v -> +z, w = +x
            m[:3, :3] = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]]).T
            half = 0.3 * (hi[0] - lo[0])
            m[:3, 3] = (centre_x - half + 2 * half * s, lo[1] + length / 2 - width_mm / 2, 0.0)
        out.append(m)
    return out


def hand_and_tracker(planned: list[np.ndarray], width_mm: float, rng: np.random.Generator,
                     freehand: Freehand = FREEHAND, tracking: Tracking = TRACKING):
    """(true poses, tracked poses) of a sweep's planned poses (frame -> world, 4x4)."""
    face = (width_mm / 2, 0.0, 0.0)  # the probe face's centre, in frame coordinates
    tilt, drift = np.zeros(3), np.zeros(3)
    true, tracked = [], []
    for m in planned:
        tilt += np.radians(freehand.tilt_deg) * rng.standard_normal(3)
        drift += freehand.drift_mm * rng.standard_normal(3) * (1, 0, 1)  # sideways and out of plane: the face stays on the skin
        t = m @ _rigid(_rotation(tilt), drift, face)
        error = _rigid(_rotation(np.radians(tracking.rotation_deg) * rng.standard_normal(3)),
                       tracking.translation_mm * rng.standard_normal(3), face)
        true.append(t)
        tracked.append(t @ error)
    return true, tracked


def pixel_to_frame(phys: Physics) -> np.ndarray:
    """4x4 (column, row, 0, 1) -> frame mm, pixel centres at (i + 1/2) pixels as the phantom draws them."""
    dz, dx = phys.pixel_mm
    return np.array([[dx, 0, 0, dx / 2], [0, dz, 0, dz / 2], [0, 0, 1, 0], [0, 0, 0, 1.0]])


@dataclass(frozen=True)
class Specimen:
    name: str
    shape: str
    params: dict
    soft: dict          # the bone task's soft-tissue phantom (layers, ligaments), no bone
    bone_tissue: dict
    mesh: Mesh


def make_specimen(name: str, shape: str, number: int, seed: int, phys: Physics) -> Specimen:
    """Specimen `number` of the set: its shape, soft tissue, bone tissue and mesh (a function of
    (seed, number) only)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(number), 0x5BEE]))
    soft = phantom.draw_phantom(PRESET, rng, phys, phantom.specimen_rng(seed, number))
    soft = {**soft, "lesions": [], "has_lesion": False}
    spec = get_preset(PRESET)
    lesion, host = spec["lesions"], spec["tissues"][spec["lesions"]["within"]]
    shadow, echo = lesion["posterior"]["shadowing"], lesion["echogenicity"]["hyper"]
    u = lambda lo_hi: float(rng.uniform(*lo_hi))  # noqa: E731
    bone = {"c": u(lesion["c"]), "rho": u(lesion["rho"]), "alpha": u(shadow["alpha"]),
            "scat_amp": host["scat_amp"] * u(echo["amp_factor"]),
            "scat_density": min(1.0, host["scat_density"] * u(echo["density_factor"]))}
    deepest = soft["boundaries"][-1]
    # anywhere in the upper muscle, as the bone task's bones: a depth prior must not find the surface
    top = deepest["base_mm"] + sum(abs(w[0]) for w in deepest["wobble"]) + 2.0 + u((0.0, 10.0))
    params = draw_params(shape, rng)
    return Specimen(name, shape, params, soft, bone, build_mesh(shape, params, 0.0, top))


def _grid(shape, phys: Physics):
    rows, cols = shape
    z = (np.arange(rows) + 0.5) * phys.depth_m * 1e3 / rows
    x = (np.arange(cols) + 0.5) * phys.width_m * 1e3 / cols
    return np.meshgrid(z, x, indexing="ij")


def frame_label(specimen: Specimen, true_pose: np.ndarray, phys: Physics) -> np.ndarray:
    """The exact label of a frame at `true_pose`: the probe-facing band of the mesh's section."""
    segments = section_segments(specimen.mesh, np.linalg.inv(true_pose))
    mask = section_mask(segments, phys.out_shape, phys.depth_m * 1e3, phys.width_m * 1e3)
    z, _ = _grid(phys.out_shape, phys)
    return phantom.top_surface(mask, z, LABEL_BAND_MM).astype(np.uint8)


def frame_maps(specimen: Specimen, true_pose: np.ndarray, phys: Physics, rng: np.random.Generator) -> dict:
    """Acoustic maps of a frame (as `phantom.acoustic_maps`): the soft tissue, the bone's section in it."""
    tissues = get_preset(PRESET)["tissues"]
    names = list(tissues)
    z, x = _grid((phys.rows, phys.cols), phys)
    idx = phantom.tissue_index(specimen.soft, z, x, names)
    segments = section_segments(specimen.mesh, np.linalg.inv(true_pose))
    idx[section_mask(segments, (phys.rows, phys.cols), phys.depth_m * 1e3, phys.width_m * 1e3)] = len(names)
    props = [tissues[n] for n in names] + [specimen.bone_tissue]
    table = lambda key: np.array([p[key] for p in props], dtype=np.float64)[idx]  # noqa: E731
    fluct = table("scat_amp") * rng.standard_normal(idx.shape) * (rng.random(idx.shape) < table("scat_density"))
    positions = None
    if phys.image_formation == 3:  # off the grid lattice, as phantom.acoustic_maps (the same draws)
        from . import image_formation3 as if3

        positions = if3.scatterer_positions(fluct, rng)
        fluct = if3.render_scatterers(positions, fluct.shape)
    maps = {"sound_speed": np.clip(table("c") * (1 + fluct), phys.c_min, phys.c_max),
            "density": table("rho") * (1 + fluct), "alpha_coeff": table("alpha"), "tissue_index": idx}
    if positions is not None:  # the k-Wave path's own, axially finer grid (if3.AXIAL_REFINE says why)
        base = {"c": table("c"), "rho": table("rho"), "alpha": table("alpha")}
        maps["kwave"] = if3.kwave_maps(base, positions, phys)
    return maps


def frame_image(maps: dict, phys: Physics, backend: Backend, noise_std: float, rng: np.random.Generator,
                soft: np.ndarray | None = None) -> np.ndarray:
    """B-mode (uint8) of a frame's maps through the bone task's image formation and `backend`. With
    `soft` (output-grid pixels of soft tissue), the log compression's 0 dB is set from their median as
    the bone task's frames have it from the whole image's: a frame whose width is all bone would
    otherwise lift its shadow's noise to mid-grey (a scanner's gain does not follow the shadow)."""
    tissue = maps.pop("tissue_index")
    if backend == Backend.KWAVE:
        from .sample import kwave_envelope

        env = kwave_envelope(maps, phys, noise_std, rng)
    else:
        from .fast_backend import fast_envelope

        env = fast_envelope(maps, phys, noise_std, rng, tissue_index=tissue)
    if phys.image_formation == 1:
        return beamform.log_compress(env, phys)
    reference = None
    if soft is not None and soft.any():
        reference = float(np.median(image_formation.apply_tgc(env, phys)[soft])) * 10 ** (-phys.median_db / 20)
    return image_formation.bmode(env, phys, reference)


def soft_tissue(label: np.ndarray, phys: Physics, below_mm: float = 3.0) -> np.ndarray:
    """Output-grid pixels deeper than `below_mm` (past gel and skin) and above the bone's surface."""
    z, _ = _grid(phys.out_shape, phys)
    first = np.where(label.any(axis=0), label.argmax(axis=0), label.shape[0])
    return (z > below_mm) & (np.arange(label.shape[0])[:, None] < first[None, :])


def parent_physics(parent: Task, image_formation: int | None = None) -> tuple[Physics, Backend]:
    src = parent.source or {}
    if src.get("generator") != "sonobench simulate" or src.get("preset") != PRESET or "physics" not in src:
        raise SweepSetError(f"{parent.ref} is not a simulated bone-surface task (its task.json source names no "
                            f"'{PRESET}' simulation): sweeps are imaged with the bone task's physics")
    phys = Physics.from_json(src["physics"])
    if image_formation is not None and image_formation != phys.image_formation:
        phys = phys.scaled(image_formation=int(image_formation))
    return phys, Backend(src["backend"])


def sweep_folder(root, parent: Task) -> Path:
    """<root>/<parent id>-sweeps/v<parent version>."""
    return Path(root) / f"{parent.id}-sweeps" / f"v{parent.version}"


def make_sweep_set(parent: Task, folder, *, backend: str | None = None, image_formation: int | None = None,
                   frames: int = DEFAULT_FRAMES, specimens=SPECIMENS, seed: int = DEFAULT_SEED,
                   noise: str = "low", progress=None) -> Task:
    """Simulate (or finish) and freeze the sweep set of `parent` in `folder` (`sweep_folder`)."""
    phys, parent_backend = parent_physics(parent, image_formation)
    chosen = Backend(backend) if backend else parent_backend
    level = parse_enum(NoiseLevel, noise, "noise level")
    folder, config = Path(folder), {
        "parent": parent.ref, "backend": chosen.value, "image_formation": phys.image_formation, "frames": int(frames),
        "specimens": [list(s) for s in specimens], "seed": int(seed), "noise": level.value,
        "tracking": asdict(TRACKING), "freehand": asdict(FREEHAND), "physics": phys.to_json()}
    data = folder / "data"
    diff = config_differences(data, config)
    if diff:
        raise SweepSetError(f"{data} was generated with other settings ({', '.join(diff)}): finish it with the same "
                            "options or write to another folder")
    if diff is None:
        (data / "run.json").write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")
    entries, sweep_docs, total = [], [], len(specimens) * len(DIRECTIONS) * frames
    with one_thread_here():
        for number, (name, shape) in enumerate(specimens):
            specimen = make_specimen(name, shape, number, seed, phys)
            for d, direction in enumerate(DIRECTIONS):
                sweep, new = _sweep(specimen, number, d, direction, phys, chosen, level, frames, seed, data)
                entries += new
                write_sweep(data / "sweeps" / sweep.sweep_id, sweep, mesh_name=f"../../meshes/{name}.stl")
                sweep_docs.append(f"sweeps/{sweep.sweep_id}")
                if progress:
                    progress(len(entries), total)
    return write_task(folder, _spec(parent, folder, sweep_docs, chosen, phys, config), entries, data_root="data")


def _sweep(specimen: Specimen, number: int, d: int, direction: str, phys: Physics, backend: Backend,
           noise: NoiseLevel, n: int, seed: int, data: Path) -> tuple[Sweep, list[dict]]:
    from PIL import Image

    width = phys.width_m * 1e3
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), number, d, 0x7AC]))
    true, tracked = hand_and_tracker(base_frames(direction, n, specimen.mesh, width), width, rng)
    to_frame = pixel_to_frame(phys)
    sweep_id = f"{specimen.name}-{direction}"
    frames, entries = [], []
    for d_dir in ("images", "labels", "meta"):
        (data / d_dir).mkdir(parents=True, exist_ok=True)
    for k, (t, r) in enumerate(zip(true, tracked)):
        case = f"{sweep_id}-{k:02d}"
        meta_path = data / "meta" / f"{case}.json"
        if not meta_path.exists():  # resumable: the meta file is written last
            t0 = time.perf_counter()
            frame_rng, noise_rng = (np.random.default_rng(s) for s in
                                    np.random.SeedSequence([int(seed), number, d, k, 0xF4]).spawn(2))
            label = frame_label(specimen, t, phys)
            image = frame_image(frame_maps(specimen, t, phys, frame_rng), phys, backend, NOISE_STD[noise], noise_rng,
                                soft_tissue(label, phys))
            Image.fromarray(image).save(data / "images" / f"{case}.png", optimize=True)
            Image.fromarray(label).save(data / "labels" / f"{case}.png", optimize=True)
            meta_path.write_text(json.dumps({"seconds": round(time.perf_counter() - t0, 3), "backend": backend.value,
                                             "true_pose": (t @ to_frame).round(9).tolist()}) + "\n")
        frames.append(SweepFrame(case, r @ to_frame, tuple(phys.out_shape)))
        entries.append({"id": case, "split": "test", "image": f"images/{case}.png", "label": f"labels/{case}.png",
                        "meta": {"specimen": specimen.name, "shape": specimen.shape, "sweep": sweep_id,
                                 "direction": direction, "frame": k}})
    return Sweep(sweep_id, specimen.name, tuple(frames), specimen.mesh), entries


def _spec(parent: Task, folder: Path, sweeps: list[str], backend: Backend, phys: Physics, config: dict) -> dict:
    seconds = [json.loads(p.read_text())["seconds"] for p in sorted((folder / "data" / "meta").glob("*.json"))]
    n_spec = len(config["specimens"])
    return {
        "id": folder.parent.name, "version": int(folder.name.lstrip("v")),
        "title": f"{parent.title}: tracked sweeps ({n_spec} 3D specimens, {len(sweeps)} sweeps)",
        "description": (f"Tracked freehand sweeps of {n_spec} simulated 3D bones (tibia-like shafts, condyles, a "
                        f"plate), each swept along and across, imaged like {parent.ref}. Frames are scored like its "
                        "cases; each sweep's probe-facing edges are placed in 3D with the tracked poses and scored "
                        "against the bone's mesh. Tracking error: Gaussian, "
                        f"{TRACKING.translation_mm} mm and {TRACKING.rotation_deg} deg per axis per frame."),
        "modality": parent.modality, "classes": list(parent.classes),
        "native_size": list(parent.native_size or parent.input_size), "input_size": list(parent.input_size),
        "input_channels": parent.input_channels,
        "spacing_mm": list(parent.spacing_mm) if parent.spacing_mm else None,
        "primary_metric": parent.primary_metric, "metrics": list(parent.metrics),
        "surface_tolerance": parent.surface_tolerance,
        "parent": parent.ref,
        "condition": {"name": "sweeps", "description": "tracked sweeps of new 3D specimens (3D reconstruction metrics)"},
        "sweeps": {"tolerance_mm": TOLERANCE_MM, "folders": sweeps},
        "clusters": {"key": "specimen"},
        "source": {"generator": "sonobench sweeps make", "parent": parent.ref, "backend": backend.value,
                   "image_formation": phys.image_formation, "seed": config["seed"], "frames_per_sweep": config["frames"],
                   "specimens": config["specimens"], "tracking": config["tracking"], "freehand": config["freehand"],
                   "cpu_seconds_per_frame": round(float(np.mean(seconds)), 3) if seconds else None},
    }


def contact_sheet(task: Task, out_png, per_sweep: int = 3, tile: int = 128) -> Path:
    """A contact sheet of a sweep set: one row per sweep, `per_sweep` frames spread over it, each the
    B-mode with its label's outline, `tile` pixels square, captioned with its case id."""
    from PIL import Image, ImageDraw

    from .preview import outlined

    by_sweep: dict[str, list] = {}
    for case in sorted(task.cases, key=lambda c: (c.meta["sweep"], c.meta["frame"])):
        by_sweep.setdefault(case.meta["sweep"], []).append(case)
    rows = []
    for cases in by_sweep.values():
        pick = np.linspace(0, len(cases) - 1, min(per_sweep, len(cases))).round().astype(int)
        tiles = []
        for case in (cases[i] for i in pick):
            image = np.asarray(Image.open(task.image_path(case)))
            im = Image.fromarray(outlined(image, np.asarray(Image.open(task.label_path(case))))).resize((tile, tile))
            ImageDraw.Draw(im).text((3, 2), case.id, fill=(255, 255, 0))
            tiles.append(np.pad(np.asarray(im), ((0, 2), (0, 2), (0, 0))))
        tiles += [np.zeros_like(tiles[0])] * (per_sweep - len(tiles))
        rows.append(np.concatenate(tiles, axis=1))
    Image.fromarray(np.concatenate(rows, axis=0)).save(out_png, optimize=True)
    return Path(out_png)


__all__ = ["DIRECTIONS", "contact_sheet", "SPECIMENS", "TRACKING", "FREEHAND", "Tracking", "Freehand", "SweepSetError", "make_specimen",
           "make_sweep_set", "frame_label", "hand_and_tracker", "base_frames", "pixel_to_frame", "sweep_folder",
           "parent_physics"]
