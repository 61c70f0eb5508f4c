"""Acquisition physics shared by the k-Wave and fast backends.

One frozen dataclass holds every physical and imaging parameter; it is saved in
each sample's metadata, so a sample can be regenerated from its JSON alone.
The defaults are the settings of the `sim-breast-lesion` benchmark (see its README
for the reasoning: 2 CPU cores, ~300 frames in ~90 minutes), except the image-formation
version: new data get version 2; v1's recorded physics (no `image_formation` key) reads as 1.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from sonobench.kernel.errors import SonoBenchError


class InvalidPhysics(SonoBenchError):
    """A physics setting would give an unresolved or unstable simulation."""


# Image-formation (B-mode pipeline) versions. 1: analytic DAS straight onto the pixel grid,
# white channel noise, partial TGC (sim-breast-lesion@1). 2: RF DAS on a fine grid, Hilbert
# envelope there, anti-aliased resampling, band-limited noise, attenuation-matched TGC.
# 3: a named probe (`Physics.probe`, simulation/probes.py) with its real elements on transmit and
# receive, the probe's band on both, IQ delay-and-sum of the channels, coherent plane-wave
# compounding, scatterers off the grid lattice (`image_formation3.py`).
IMAGE_FORMATIONS = (1, 2, 3)


@dataclass(frozen=True)
class Physics:
    f0_hz: float = 3.0e6            # transmit centre frequency
    cycles: float = 1.5             # burst length: FWHM of its Gaussian envelope, in cycles at f0
    dx_m: float = 1.5e-4            # simulation grid step (both axes)
    pml: int = 16                   # PML thickness in grid points (inside the grid)
    pml_alpha: float = 2.0          # PML absorption (Np per grid point)
    cfl: float = 0.3                # c_max * dt / dx
    c_min: float = 1440.0           # slowest medium speed allowed (resolution check)
    c_max: float = 1650.0           # fastest medium speed allowed (time step)
    c_beamform: float = 1540.0      # speed assumed by the beamformer
    rows: int = 224                 # simulation grid interior: depth points
    cols: int = 224                 # simulation grid interior: lateral points (= array elements)
    tx_tukey: float = 0.5           # transmit apodisation across the aperture (Tukey alpha)
    angles_deg: tuple[float, ...] = (0.0,)  # plane-wave steering angles (compounded)
    alpha_power: float = 1.1        # attenuation frequency power law exponent y
    f_number: float = 1.0           # receive aperture F-number (dynamic aperture)
    out_shape: tuple[int, int] = (256, 256)  # B-mode pixel grid (rows = depth)
    dynamic_range_db: float = 50.0  # log compression: [-DR, 0] dB maps to [0, 255]
    median_db: float = -24.0        # log compression: where the image's median envelope lands
    tgc_db_per_cm: float = 2.5      # image formation 1 only: partial TGC (two-way, per cm depth)
    image_formation: int = 2        # pipeline version (see simulation/image_formation.py); 1 = sim-breast-lesion@1
    tgc_alpha: float = 0.75         # image formation 2: attenuation the TGC compensates, dB/(MHz^y cm)
    tgc_spreading: bool = True      # image formation 2: the TGC also compensates 2-D spreading (10 log10 z)
    probe: str = ""                 # image formation 3: a probe of simulation/probes.py ("" = one element per column)
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        ppw = self.points_per_wavelength
        if ppw < 3.0:
            raise InvalidPhysics(
                f"{ppw:.2f} grid points per wavelength at {self.f0_hz / 1e6:g} MHz and c={self.c_min:g} m/s; "
                "k-space PSTD needs at least 3. Lower f0_hz or dx_m."
            )
        if self.image_formation not in IMAGE_FORMATIONS:
            raise InvalidPhysics(f"image_formation={self.image_formation} is unknown; valid: "
                                 f"{', '.join(map(str, IMAGE_FORMATIONS))}.")
        if (self.image_formation == 3) != bool(self.probe):
            raise InvalidPhysics("image_formation=3 needs a probe (Physics.probe, e.g. 'L7-4') and a probe needs "
                                 "image_formation=3; use imaging_preset('if3-l7-4').")
        if self.probe:
            from .probes import get_probe

            probe = get_probe(self.probe)
            aperture = (self.extra.get("elements") or probe.n_elements) * probe.pitch_m
            if aperture > self.width_m + 1e-9:
                raise InvalidPhysics(f"probe {self.probe} ({aperture * 1e3:.2f} mm) is wider "
                                     f"than the field ({self.width_m * 1e3:.2f} mm); raise cols.")
        if not 0 < self.cfl <= 0.5:
            raise InvalidPhysics(f"cfl={self.cfl} is outside (0, 0.5]; use 0.3 (k-Wave's default).")

    @property
    def points_per_wavelength(self) -> float:
        return self.c_min / self.f0_hz / self.dx_m

    @property
    def dt_s(self) -> float:
        return self.cfl * self.dx_m / self.c_max

    @property
    def grid_shape(self) -> tuple[int, int]:
        return (self.rows + 2 * self.pml, self.cols + 2 * self.pml)

    @property
    def depth_m(self) -> float:
        return self.rows * self.dx_m

    @property
    def width_m(self) -> float:
        return self.cols * self.dx_m

    @property
    def pixel_mm(self) -> tuple[float, float]:
        return (self.depth_m * 1e3 / self.out_shape[0], self.width_m * 1e3 / self.out_shape[1])

    @property
    def pulse_sigma_s(self) -> float:
        return self.cycles / self.f0_hz / 2.3548

    @property
    def wavelength_m(self) -> float:
        return self.c_beamform / self.f0_hz

    @property
    def pulse_s(self) -> float:
        """Duration of the transmit burst (its Gaussian window spans +-3 sigma)."""
        return 6.0 * self.pulse_sigma_s

    def record_s(self) -> float:
        """Time to the last echo any pixel needs: steering delay + down + back to the
        farthest element inside the receive aperture + the burst."""
        import math

        z, half_ap = self.depth_m, min(self.width_m, self.depth_m / self.f_number) / 2
        steer = max((abs(math.sin(math.radians(a))) for a in self.angles_deg), default=0.0) * self.width_m
        return (steer + z + math.hypot(z, half_ap)) / self.c_min + self.pulse_s

    def n_steps(self) -> int:
        return int(self.record_s() / self.dt_s) + 1

    def to_json(self) -> dict:
        d = asdict(self)
        d["angles_deg"] = list(self.angles_deg)
        d["out_shape"] = list(self.out_shape)
        if not self.probe:
            del d["probe"]  # image formations 1 and 2 record the physics they always recorded
        d["derived"] = {"dt_s": self.dt_s, "n_steps": self.n_steps(), "grid_shape": list(self.grid_shape),
                        "points_per_wavelength": round(self.points_per_wavelength, 3),
                        "pixel_mm": list(self.pixel_mm)}
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Physics":
        d = {k: v for k, v in d.items() if k != "derived"}
        # Physics recorded before image formation was versioned (sim-breast-lesion@1) used version 1.
        d.setdefault("image_formation", 1)
        d["angles_deg"] = tuple(d.get("angles_deg", (0.0,)))
        d["out_shape"] = tuple(d.get("out_shape", (256, 256)))
        return cls(**d)

    def scaled(self, **changes) -> "Physics":
        return replace(self, **changes)


DEFAULT_PHYSICS = Physics()


def _if3_l7_4() -> Physics:
    """Image formation 3 with the L7-4 (see `image_formation3` for why this probe and these
    numbers): 5.208 MHz, grid step 0.09 mm (3.07 points per wavelength at 1440 m/s), a
    400 x 448 grid with a 12-point PML (2^4 5^2 x 2^6 7: small primes for the FFTs),
    field 33.84 mm deep x 38.16 mm wide (the 128-element aperture, 38.14 mm), three
    compounded plane waves at -8, 0, +8 degrees, receive F-number 1.5."""
    from .probes import get_probe

    probe = get_probe("L7-4")
    return Physics(f0_hz=probe.f0_hz, cycles=probe.burst_cycles, dx_m=0.09e-3, pml=12, rows=376, cols=424,
                   angles_deg=(-8.0, 0.0, 8.0), f_number=1.5, tx_tukey=0.25, image_formation=3, probe=probe.name)


IMAGING_PRESETS = {"if2": lambda: DEFAULT_PHYSICS, "if3-l7-4": _if3_l7_4}


def imaging_preset(name: str) -> Physics:
    """The physics of a named image formation: 'if2' (the committed tasks' image formation 2,
    3 MHz, one element per grid column) or 'if3-l7-4' (image formation 3 with the L7-4)."""
    from sonobench.kernel.errors import UnknownName

    if name not in IMAGING_PRESETS:
        raise UnknownName(f"Unknown imaging preset '{name}'. Valid: {', '.join(IMAGING_PRESETS)}.")
    return IMAGING_PRESETS[name]()
