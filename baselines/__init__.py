"""Reference baselines: training recipes for the registered architectures (the registry
itself, model definitions only, is `evaluator.architectures`),
and the `sonobench baselines` command that reruns them."""
