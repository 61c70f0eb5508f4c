"""Build glue (the metadata is in pyproject.toml): the checkout's package folders install under
the one `sonobench` import namespace, so a wheel puts no generic top-level names (`evaluator`,
`simulation`, ...) into site-packages. The checkout keeps its folders; `sonobench/__init__.py`
serves them under the same names when the checkout's root is on the path."""
from setuptools import find_packages, setup

FOLDERS = ("evaluator", "simulation", "adapters", "baselines", "leaderboard_app")

package_dir = {"sonobench": "sonobench", "sonobench.splits": "splits",
               **{f"sonobench.{folder}": folder for folder in FOLDERS}}
packages = ["sonobench", *(f"sonobench.{p}" for p in find_packages("sonobench")), "sonobench.splits"]
for folder in FOLDERS:
    packages += [f"sonobench.{folder}", *(f"sonobench.{folder}.{p}" for p in find_packages(folder))]

setup(packages=packages, package_dir=package_dir)
