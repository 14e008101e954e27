"""laserlab: a notebook-driven research workbench for learned image representations.

Subpackages (see ``DESIGN.md`` for the picture): ``data`` (datasets), ``sparse`` (sparse coding and
dictionary learning), ``bottlenecks``, ``models``, ``perceptual`` (LPIPS, Wasserstein Distortion, quality
metrics), ``spectral``, ``train``, ``viz``, ``widgets``, ``report`` and ``bench``. Import what you need;
nothing heavy is imported here.
"""

__version__ = "0.1.0"
