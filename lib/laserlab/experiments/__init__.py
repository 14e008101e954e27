"""Experiments that are more than orchestration, kept out of the notebooks so they are tested and reusable.

- :mod:`~laserlab.experiments.pixels`: VQ vs matching pursuit vs exact OMP on RGB pixels and patches
  (notebook ``02_pixel_bottlenecks``).
"""
