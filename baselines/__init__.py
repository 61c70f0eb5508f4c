"""Reference baselines: training recipes for the registered architectures (the registry
itself, model definitions only, is `sonobench.zoo`),
and the `sonobench baselines` command that reruns them."""
