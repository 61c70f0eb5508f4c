"""Probe registry: real linear arrays as data (image formation 3).

Each entry is a probe as its data sheet gives it; `Physics.probe` names one, and the
k-Wave path then transmits and receives with that probe's elements (element centres,
widths and kerf on the simulation grid, the channel count the scanner beamforms), its
centre frequency, and its fractional bandwidth (the transmit burst and the receive
filter are both the element's one-way response; see `image_formation3`).

Sources of the values:

- ``L7-4``: the ATL/Philips L7-4 (a 128-element 5 MHz general-purpose linear array, the
  probe Verasonics research scanners ship for it). Centre frequency 5.208 MHz, element
  pitch 0.298 mm and 128 elements as in Verasonics' transducer table (`computeTrans`:
  ``Trans.frequency = 5.208``, ``Trans.spacingMm = 0.298``, ``Trans.numelements = 128``);
  element width 0.250 mm (kerf 0.048 mm), elevation aperture 7.5 mm and elevation focus
  25 mm from the same table; pass band 4-7 MHz in ATL's specification, i.e. a -6 dB
  pulse-echo fractional bandwidth of about 0.60 (2 (7 - 4) / (7 + 4) = 0.55 at the
  specification's band edges; 0.60 is the value used in published L7-4 simulation models).
- ``L11-5v``: Verasonics L11-5v, the values MUST/pymust's `getparam('L11-5v')` holds
  (7.6 MHz, 128 elements, pitch 0.300 mm, width 0.270 mm, kerf 0.030 mm, pulse-echo bandwidth 77 %,
  elevation height 5 mm, elevation focus 18 mm). Kept for the comparison with pymust's
  own table; at 7.6 MHz a k-Wave frame costs ~2.9x an L7-4 frame (grid step 0.063 mm).

The elevation height and focus are recorded but do not enter a 2-D simulation (the
image plane is the azimuthal plane; the elevation slice thickness is not modelled).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from sonobench.kernel.registry import Registry


@dataclass(frozen=True)
class Probe:
    name: str
    n_elements: int
    pitch_m: float
    kerf_m: float
    f0_hz: float
    bandwidth: float          # -6 dB fractional bandwidth of the pulse-echo (two-way) response, as data sheets give it
    elevation_focus_m: float
    elevation_height_m: float
    source: str

    @property
    def element_width_m(self) -> float:
        return self.pitch_m - self.kerf_m

    @property
    def aperture_m(self) -> float:
        return self.n_elements * self.pitch_m

    @property
    def one_way_bandwidth(self) -> float:
        """-6 dB fractional bandwidth of the element's one-way response: transmit and receive
        multiply the (Gaussian) one-way spectrum, whose square has a sqrt(2) narrower -6 dB band."""
        return math.sqrt(2) * self.bandwidth

    @property
    def burst_cycles(self) -> float:
        """FWHM (in cycles at f0) of the Gaussian burst whose amplitude spectrum is the one-way
        response: sigma_f = B1 f0 / 2.3548, sigma_t = 1 / (2 pi sigma_f), FWHM_t = 2.3548 sigma_t,
        so cycles = 2.3548^2 / (2 pi B1)."""
        return 2.3548 ** 2 / (2 * math.pi * self.one_way_bandwidth)

    def to_json(self) -> dict:
        return asdict(self)


PROBES: Registry[Probe] = Registry("probe")
PROBES.register("L7-4", Probe(
    name="L7-4", n_elements=128, pitch_m=0.298e-3, kerf_m=0.048e-3, f0_hz=5.208e6, bandwidth=0.60,
    elevation_focus_m=25e-3, elevation_height_m=7.5e-3,
    source="ATL/Philips L7-4; Verasonics transducer table (computeTrans) and ATL specification (4-7 MHz)"))
PROBES.register("L11-5v", Probe(
    name="L11-5v", n_elements=128, pitch_m=0.300e-3, kerf_m=0.030e-3, f0_hz=7.6e6, bandwidth=0.77,
    elevation_focus_m=18e-3, elevation_height_m=5e-3,
    source="Verasonics L11-5v as tabulated by MUST/pymust getparam"))


def get_probe(name: str) -> Probe:
    return PROBES.get(name)


def element_centres_m(probe: Probe, field_width_m: float, n_active: int | None = None) -> "list[float]":
    """Lateral centres (m, from the field's left edge) of the active elements, the
    aperture centred on the field. `n_active` (default all) takes the middle elements."""
    n = probe.n_elements if not n_active else int(n_active)
    left = field_width_m / 2 - (n - 1) * probe.pitch_m / 2
    return [left + i * probe.pitch_m for i in range(n)]
