"""k-Wave backend: plane-wave channel RF from k-wave-python's k-space solver.

We drive k-wave-python's own pure-Python solver (`kwave.solvers.kspace_solver.
Simulation`): its `setup()` builds the k-Wave operators (staggered-grid k-space
gradients with the kappa correction, split-field PML, power-law absorption
coefficients, source scaling), unchanged. What we replace is the time loop:
`_FastLoop.step` applies the same first-order equations in float32 with real
FFTs (half the spectrum; torch's MKL FFTs when torch is installed, else
scipy.fft, see `arrays.py`) and in-place updates; k-wave-python's loop uses
complex full-size `numpy.fft.fftn` in float64 by default. The k-space operators
are cached between calls with the same grid, time step and reference speed (the
maps are clipped to `Physics.c_max`, so the reference speed rarely changes).
The loop covers what our simulations use: 2-D, linear, additive pressure source,
power-law absorption without dispersion; anything else is refused. Its fields carry a
leading batch axis: image formation 3 runs every compounding angle of a frame as one
batch (`source.p_batch`), so each step's FFTs cover all angles in one call; image
formations 1 and 2 run a batch of one per angle, as before.

Geometry: grid rows are depth, columns are lateral. The PML is inside the grid;
the linear array is the first interior row, one element per grid column. Each
element transmits the same Gaussian-windowed burst with plane-wave steering
delays, and records pressure on receive.
"""
from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import numpy as np
from scipy.signal.windows import tukey

from . import arrays
from .kwave_offline import import_kwave, kspace_simulation_class
from .physics import Physics

SOURCE_PA = 1.0e5  # linear acoustics: the amplitude only sets the float scale


def tone_burst(phys: Physics, delays_s: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-element source signals (n_elem, n_t) and the time of the burst peak."""
    sigma = phys.pulse_sigma_s
    t_peak = 3.0 * sigma  # the window is cut at +-3 sigma
    n_sig = int(math.ceil((2 * t_peak + delays_s.max()) / phys.dt_s)) + 2
    t = np.arange(n_sig) * phys.dt_s
    tau = t[None, :] - t_peak - delays_s[:, None]
    sig = np.exp(-0.5 * (tau / sigma) ** 2) * np.sin(2 * np.pi * phys.f0_hz * tau)
    # Tukey apodisation across the aperture weakens the edge waves that would
    # otherwise run along the array and clutter the near field.
    apod = tukey(delays_s.size, phys.tx_tukey) if delays_s.size > 1 else np.ones(1)
    return (SOURCE_PA * apod[:, None] * sig).astype(np.float32), t_peak


def steering_delays(phys: Physics, angle_deg: float) -> np.ndarray:
    """Transmit delay per element so the wavefront leaves at `angle_deg` (>= 0 s)."""
    x = np.arange(phys.cols) * phys.dx_m
    d = x * math.sin(math.radians(angle_deg)) / phys.c_beamform
    return d - d.min()


def array_mask(phys: Physics) -> np.ndarray:
    mask = np.zeros(phys.grid_shape, dtype=bool)
    mask[phys.pml, phys.pml:phys.pml + phys.cols] = True
    return mask


def _namespaces(phys: Physics, maps: dict, angle_deg: float, n_steps: int):
    kgrid = SimpleNamespace(Nx=phys.grid_shape[0], dx=phys.dx_m, Ny=phys.grid_shape[1], dy=phys.dx_m,
                            Nt=n_steps, dt=phys.dt_s)
    medium = SimpleNamespace(sound_speed=maps["sound_speed"], density=maps["density"],
                             alpha_coeff=maps["alpha_coeff"], alpha_power=phys.alpha_power,
                             alpha_mode="no_dispersion")
    signals, t_peak = tone_burst(phys, steering_delays(phys, angle_deg))
    mask = array_mask(phys)
    source = SimpleNamespace(p_mask=mask, p=signals, p_mode="additive")
    sensor = SimpleNamespace(mask=mask, record=("p",))
    return kgrid, medium, source, sensor, t_peak


def pad_maps(phys: Physics, interior: dict) -> dict:
    """Extend the interior acoustic maps over the PML by edge replication (the arrays; entries
    such as image formation 3's `maps["kwave"]`, the k-Wave path's own grid, are left out)."""
    p = phys.pml
    return {k: np.pad(np.asarray(v, dtype=np.float64), p, mode="edge") for k, v in interior.items()
            if not isinstance(v, dict)}


@functools.lru_cache(maxsize=1)
def _fast_loop_class():
    Simulation = kspace_simulation_class()
    from kwave.solvers.kspace_solver import _noop_source as _noop

    class _FastLoop(Simulation):
        """k-wave-python's Simulation with a float32 real-FFT time loop (same equations)."""

        grid_cache: dict = {}
        array_backend = None  # set per call: arrays.pick()

        def _setup_pml(self):
            # k-Wave's medium.sound_speed_ref: the reference speed of the k-space correction and the
            # PML, by default the medium's highest; image formation 3 fixes it (Physics.c_max,
            # image_formation3.kwave_c_ref) so a frame and its background run
            # (image_formation3.background_rf) share every operator.
            ref = getattr(self.medium, "sound_speed_ref", None)
            if ref is not None:
                self.c_ref = float(ref)
            super()._setup_pml()

        def _setup_kspace_operators(self):
            key = (self.grid_shape, tuple(self.spacing), self.dt, self.c_ref, self.use_sg, self.use_kspace)
            cached = self.grid_cache.get(key)
            if cached is None:
                super()._setup_kspace_operators()
                self.grid_cache.clear()
                self.grid_cache[key] = {k: getattr(self, k) for k in
                                        ("k_list", "_k_mag", "kappa", "source_kappa", "op_grad_list", "op_div_list")}
            else:
                for k, v in cached.items():
                    setattr(self, k, v)

        def setup(self):
            super().setup()
            unsupported = [name for name, bad in (("a non-2-D grid", self.ndim != 2), ("nonlinearity (BonA)", self.BonA is not None),
                                                  ("dispersion", self.eta is not None),
                                                  ("velocity sources", any(op is not _noop for op in self._source_u_ops)))
                           if bad]
            if unsupported:
                raise NotImplementedError(f"The float32 loop does not implement {', '.join(unsupported)}; "
                                          "use channel_rf_plain (k-wave-python's own loop).")
            B = self.array_backend
            shape = self.grid_shape
            # Every spectral operator carries the inverse FFT's 1/(Nx Ny), so the loop's inverse
            # transforms run unscaled (one pass over the field fewer each).
            scale = 1.0 / (shape[0] * shape[1])
            half = lambda op: B.asarray(scale * np.broadcast_to(op, shape)[:, : shape[1] // 2 + 1], complex_=True)
            f32 = lambda a: B.asarray(np.asarray(a, dtype=np.float32))
            # The two axes' fields are stacked (2, Nx, Ny), so each operation of a step covers both:
            # u <- pml_sg * (pml_sg * u - dt/rho0 * grad p), rho <- pml * (pml * rho - dt rho0 div u),
            # with the products of coefficients formed once.
            both = lambda ops: np.stack([np.broadcast_to(np.asarray(op), shape) for op in ops])
            self._h_grad = B.asarray(scale * both(self.op_grad_list)[:, :, : shape[1] // 2 + 1], complex_=True)
            self._h_div = B.asarray(scale * both(self.op_div_list)[:, :, : shape[1] // 2 + 1], complex_=True)
            self._h_skappa = half(self.source_kappa)
            self._h_nabla1 = None if self.nabla1 is None else half(self.nabla1)
            self._rho0 = f32(self.rho0)
            self._tau = None if self.tau is None else f32(self.tau)
            self._c0_sq = f32(self.c0_sq)
            pml_sg, pml = both(self.pml_sg_list), both(self.pml_list)
            self._pml_sg2 = f32(pml_sg ** 2)
            self._pml_sg_dt_over_rho0 = f32(pml_sg * both(self.dt_over_rho0))
            self._pml2 = f32(pml ** 2)
            self._pml_dt_rho0 = f32(pml * self.dt * np.asarray(self.rho0))
            self._src_idx, self._src_sig = self._source_terms()
            n_batch = self._src_sig[0].shape[0]
            self._sensor_idx = B.asarray(np.flatnonzero(np.asarray(self.sensor.mask, dtype=bool)))
            self._rec = B.zeros((n_batch, int(self._sensor_idx.shape[0]), self.Nt))
            self._p = B.zeros((n_batch, *shape))
            self._u = B.zeros((n_batch, 2, *shape))
            self._rho = B.zeros((n_batch, 2, *shape))
            return self

        def _source_terms(self):
            """Additive pressure source, scaled as kspaceFirstOrder_scaleSourceTerms (per axis).
            `source.p_batch` (n_batch, n_src, n_t), when given, replaces `source.p` (its first entry,
            which k-wave-python's set-up checks): one transmit per batch entry (e.g. the
            compounding angles), all run through the solver together."""
            B = self.array_backend
            idx = np.flatnonzero(np.asarray(self.source.p_mask, dtype=bool).ravel())
            p = np.asarray(getattr(self.source, "p_batch", self.source.p), dtype=np.float64)
            sig = p if p.ndim == 3 else p.reshape(1, idx.size if p.ndim > 1 else 1, -1)
            c_src = np.asarray(self.c0).ravel()[idx]
            sigs = [B.asarray((sig * (2 * self.dt / (self.ndim * c_src * d))[None, :, None]).astype(np.float32))
                    for d in self.spacing]
            self._same_axes = len(set(self.spacing)) == 1  # one filtered source serves both axes
            return B.asarray(idx), sigs

        def _rdiff(self, f, op_half):
            B = self.array_backend
            return B.irfft2(op_half * B.rfft2(f), self.grid_shape, scaled=False)

        def _inject(self, t):
            if t >= self._src_sig[0].shape[2]:
                return
            B = self.array_backend
            for i in range(1 if self._same_axes else 2):
                src = B.zeros((self._src_sig[i].shape[0], *self.grid_shape))
                src.reshape(src.shape[0], -1)[:, self._src_idx] = self._src_sig[i][:, :, t]
                filtered = self._rdiff(src, self._h_skappa)
                for axis in ((0, 1) if self._same_axes else (i,)):
                    self._rho[:, axis] += filtered

        def step(self):
            """One leapfrog step of k-Wave's split-field first-order equations
            (momentum, mass conservation with PML, power-law absorption, no dispersion)."""
            B, t = self.array_backend, self.t
            grad = B.irfft2(self._h_grad * B.rfft2(self._p)[:, None], self.grid_shape, scaled=False)
            B.mul_sub_(self._u, self._pml_sg2, self._pml_sg_dt_over_rho0, grad)
            div = B.irfft2(self._h_div * B.rfft2(self._u), self.grid_shape, scaled=False)
            B.mul_sub_(self._rho, self._pml2, self._pml_dt_rho0, div)
            self._inject(t)
            p = self._rho[:, 0] + self._rho[:, 1]
            if self._tau is not None:
                div_total = div[:, 0]
                div_total += div[:, 1]  # div is this step's temporary: summed in place
                div_total *= self._rho0
                B.mul_add_(p, self._tau, self._rdiff(div_total, self._h_nabla1))
            p *= self._c0_sq
            self._p = p
            self._rec[:, :, t] = p.reshape(p.shape[0], -1)[:, self._sensor_idx]
            self.t += 1
            return self

        def run(self):
            if not self._is_setup:
                self.setup()
            while self.t < self.Nt:
                self.step()
            return {"p": self.array_backend.to_numpy(self._rec)}

    return _FastLoop


def channel_rf(phys: Physics, maps: dict, angle_deg: float = 0.0) -> tuple[np.ndarray, float]:
    """Simulate one plane-wave transmit; return channel RF (n_elem, n_t) float32 and
    the burst-peak time offset (s) the beamformer must subtract."""
    loop = _fast_loop_class()
    loop.array_backend = arrays.pick()
    kgrid, medium, source, sensor, t_peak = _namespaces(phys, pad_maps(phys, maps), angle_deg, phys.n_steps())
    sim = loop(kgrid, medium, source, sensor, device="cpu", use_sg=True, use_kspace=True, smooth_p0=False,
               pml_size=(phys.pml, phys.pml), pml_alpha=(phys.pml_alpha, phys.pml_alpha), quiet=True,
               dtype=np.float32)
    return sim.run()["p"][0], t_peak


def channel_rf_plain(phys: Physics, maps: dict, angle_deg: float = 0.0) -> tuple[np.ndarray, float]:
    """The same transmit through plain k-wave-python (`kspaceFirstOrder`, float64,
    set-up per call): the reference our loop is timed and checked against."""
    import_kwave()
    from kwave.kgrid import kWaveGrid
    from kwave.kmedium import kWaveMedium
    from kwave.ksensor import kSensor
    from kwave.ksource import kSource
    from kwave.kspaceFirstOrder import kspaceFirstOrder

    full = pad_maps(phys, maps)
    kgrid = kWaveGrid(list(phys.grid_shape), [phys.dx_m, phys.dx_m])
    kgrid.setTime(phys.n_steps(), phys.dt_s)
    medium = kWaveMedium(sound_speed=full["sound_speed"], density=full["density"],
                         alpha_coeff=full["alpha_coeff"], alpha_power=phys.alpha_power, alpha_mode="no_dispersion")
    signals, t_peak = tone_burst(phys, steering_delays(phys, angle_deg))
    source = kSource()
    source.p_mask = array_mask(phys)
    source.p = signals.astype(np.float64)
    sensor = kSensor(array_mask(phys))
    sensor.record = ["p"]
    out = kspaceFirstOrder(kgrid, medium, source, sensor, pml_size=phys.pml, pml_alpha=phys.pml_alpha,
                           pml_inside=True, backend="python", quiet=True, smooth_p0=False)
    return np.asarray(out["p"]), t_peak
