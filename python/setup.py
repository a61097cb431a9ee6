"""Installs the sextant package into a Python of your own, with the extension `make build` made:

    make build
    pip install --no-build-isolation ./python          # Debian's setuptools; nothing downloaded

The extension (sextant._core) is taken from $SEXTANT_BUILD/python/sextant (default: ../build),
so it must have been built for the same Python version. Without it only HttpClient works.
"""

import glob
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildWithCore(build_py):
    def run(self):
        super().run()
        build = os.environ.get("SEXTANT_BUILD", os.path.join(HERE, "..", "build"))
        found = glob.glob(os.path.join(build, "python", "sextant", "_core*.so"))
        if not found:
            print(f"sextant: no _core extension under {build}/python/sextant (run make build): "
                  "installing the HTTP client only")
        for so in found:
            shutil.copy2(so, os.path.join(self.build_lib, "sextant"))


setup(
    name="sextant",
    version="0.1.0",
    description="Sextant vector database: embedded and HTTP clients with Chroma's API",
    packages=["sextant"],
    python_requires=">=3.9",
    install_requires=["numpy"],
    cmdclass={"build_py": BuildWithCore},
    zip_safe=False,
)
