"""MS-SSIM for rate–distortion points, with a rule for images too small for its five scales.

MS-SSIM (Wang, Simoncelli & Bovik 2003) as CompressAI evaluates it (the ``pytorch_msssim`` package):
11-tap Gaussian window (σ = 1.5) applied without padding, K1 = 0.01, K2 = 0.03, data range 1, 2×2 average
pooling between scales (zero-padded by one pixel on an odd side, padding counted in the mean), the
contrast–structure terms of the first s − 1 scales and the full SSIM of the last, each clamped at 0 and
raised to its exponent, multiplied, then averaged over the three channels.

Scales: the standard five exponents (0.0448, 0.2856, 0.3001, 0.2363, 0.1333) need the shorter side above
160 pixels (the window must fit after four halvings: side > 10·2^(s−1) for s scales). Smaller images use
the largest s that fits (s = 4 above 80 px, 3 above 40, 2 above 20, 1 from 11) with the first s exponents
rescaled to the five's sum, so s = 5 is exactly the standard metric; :func:`ms_ssim_scales` gives s.
Images under 11 pixels on a side raise ``ValueError``. Values with different s are different metrics:
report s with them (``codecs.evaluate`` records it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..checks import check_images, check_int, check_same_shape

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03


def ms_ssim_scales(height: int, width: int) -> int:
    """Scales MS-SSIM uses for an image of ``height``×``width``: the largest s ≤ 5 with the shorter side
    > 10·2^(s−1); ``ValueError`` under 11 pixels."""
    side = min(height, width)
    if side < WINDOW:
        raise ValueError(
            f"MS-SSIM needs images at least {WINDOW}×{WINDOW} pixels (its Gaussian window); "
            f"got {height}×{width}"
        )
    scales = 1
    while scales < len(MS_SSIM_WEIGHTS) and side > (WINDOW - 1) * 2**scales:
        scales += 1
    return scales


def ms_ssim_weights(scales: int) -> tuple[float, ...]:
    """Exponents for ``scales`` scales: the first ``scales`` standard ones rescaled to the five's sum."""
    check_int(scales, "scales", minimum=1, maximum=len(MS_SSIM_WEIGHTS))
    head = MS_SSIM_WEIGHTS[:scales]
    scale = sum(MS_SSIM_WEIGHTS) / sum(head)
    return tuple(w * scale for w in head)


def _gaussian_filter(x: torch.Tensor) -> torch.Tensor:
    """Separable 11-tap Gaussian, valid convolution, per channel: (B, C, H, W) → (B, C, H−10, W−10)."""
    coords = torch.arange(WINDOW, dtype=torch.float32) - WINDOW // 2  # built in float32, as pytorch_msssim
    g = torch.exp(-(coords**2) / (2 * SIGMA**2))
    g = (g / g.sum()).to(x).repeat(x.shape[1], 1, 1, 1)  # (C, 1, 1, 11)
    x = F.conv2d(x, g.transpose(2, 3), groups=x.shape[1])
    return F.conv2d(x, g, groups=x.shape[1])


def _ssim_and_cs(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM and contrast–structure per image and channel, (B, C) each, data range 1."""
    c1, c2 = K1**2, K2**2
    mu_x, mu_y = _gaussian_filter(x), _gaussian_filter(y)
    var_x = _gaussian_filter(x * x) - mu_x**2
    var_y = _gaussian_filter(y * y) - mu_y**2
    cov = _gaussian_filter(x * y) - mu_x * mu_y
    cs_map = (2 * cov + c2) / (var_x + var_y + c2)
    ssim_map = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1) * cs_map
    return ssim_map.flatten(2).mean(-1), cs_map.flatten(2).mean(-1)


def ms_ssim(reconstruction: torch.Tensor, target: torch.Tensor, *, scales: int | None = None) -> torch.Tensor:
    """MS-SSIM per image, (B,), of image batches (B, C, H, W) in [0, 1]; see the module docstring.

    ``scales`` defaults to :func:`ms_ssim_scales` of the image size; more than fit is a ``ValueError``.
    """
    check_images(reconstruction, "reconstruction", channels=None)
    check_images(target, "target", channels=None)
    check_same_shape(reconstruction, target, "reconstruction", "target")
    fit = ms_ssim_scales(*target.shape[-2:])
    if scales is None:
        scales = fit
    check_int(scales, "scales", minimum=1, maximum=len(MS_SSIM_WEIGHTS))
    if scales > fit:
        raise ValueError(
            f"{scales} MS-SSIM scales need the shorter side above {(WINDOW - 1) * 2 ** (scales - 1)} pixels; "
            f"got {tuple(target.shape[-2:])} (at most {fit} scale(s) fit)"
        )
    weights = torch.tensor(ms_ssim_weights(scales), dtype=target.dtype, device=target.device)
    x, y = reconstruction, target
    terms = []
    for level in range(scales):
        ssim, cs = _ssim_and_cs(x, y)
        if level < scales - 1:
            terms.append(torch.relu(cs))
            padding = [side % 2 for side in x.shape[2:]]
            x = F.avg_pool2d(x, kernel_size=2, padding=padding)
            y = F.avg_pool2d(y, kernel_size=2, padding=padding)
    terms.append(torch.relu(ssim))
    per_channel = torch.prod(torch.stack(terms) ** weights.view(-1, 1, 1), dim=0)
    return per_channel.mean(1)
