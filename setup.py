"""Ship the top-level conf/ and firmware/ inside the wheel, as tinyexp/conf and tinyexp/firmware.

In a checkout they stay at the top level, where people edit them; an installed tinyexp finds
them inside its package (tinyexp.core.resources looks in both places). pyproject.toml holds
everything else; this file only adds the copy step to the build.
"""

from pathlib import Path
from shutil import copytree, ignore_patterns

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
RESOURCES = ("conf", "firmware")
NOT_SHIPPED = ignore_patterns("build", "__pycache__", "*.o", "*.pyc")


class BuildPyWithResources(build_py):
    """build_py, then copy conf/ and firmware/ into the built package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return  # an editable install reads them from the checkout itself
        for name in RESOURCES:
            copytree(ROOT / name, Path(self.build_lib) / "tinyexp" / name, ignore=NOT_SHIPPED,
                     dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildPyWithResources})
