"""A Ray cluster on this machine for the scale-out tests: started by the tests themselves
(`ray.init(num_cpus=2)`), shared by this folder's tests, shut down after them."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'sonobench[ray]')")
    node_home = tmp_path_factory.mktemp("ray-node-home")
    # Ray's workers keep the environment of the moment the cluster starts; give them a home of
    # their own (their per-node task cache) instead of whatever the first test set.
    # address="local": a new cluster of the test's own, even if another one runs on this machine
    ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False,
             object_store_memory=128 * 1024**2, runtime_env={"env_vars": {"SONOBENCH_HOME": str(node_home)}})
    yield ray
    ray.shutdown()
