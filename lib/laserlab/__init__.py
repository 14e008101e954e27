"""laserlab: a notebook-driven research workbench for learned image representations.

Subpackages, in the order data flows through them: ``data`` (datasets, distortions), ``sparse`` (sparse
coding and dictionary learning as tensor functions), ``bottlenecks`` (modules over ``sparse``), ``models``,
``perceptual`` (LPIPS, Wasserstein Distortion, quality metrics), ``spectral``, ``train`` (Lightning),
``viz`` (figures) and ``widgets`` (explorers), ``report`` (notebooks to HTML with provenance) and
``bench`` (benchmarks). Import what you need; nothing heavy is imported here.
"""

__version__ = "0.1.0"
