"""Reference baselines: the architecture registry (`baselines.architectures`), their
training recipes, and the `sonobench baselines` command that reruns them."""
