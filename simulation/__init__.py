"""Physics-guided ultrasound simulation: phantom presets (data), a k-Wave backend
(k-wave-python's k-space solver with a float32 real-FFT loop, plane-wave channel RF,
delay-and-sum), a fast convolution backend, and resumable dataset generation
(`sonobench simulate`). See splits/sim-breast-lesion/v1/README.md for the physics."""
