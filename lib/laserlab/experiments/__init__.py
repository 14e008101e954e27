"""Experiments that are more than orchestration, kept out of the notebooks so they are tested and reusable.

- :mod:`~laserlab.experiments.pixels`: VQ vs matching pursuit vs exact OMP on RGB pixels and patches
  (notebook ``02_pixel_bottlenecks``).
- :mod:`~laserlab.experiments.spectral`: spectral regularisation on learned codecs — baseline vs phase 1
  vs phase 2 vs phase 1+2 over seeds and λ, steps to the baseline's final R-D loss, BD-rate, cross-scale
  redundancy (notebook ``07_spectral_regularisation``).
"""
