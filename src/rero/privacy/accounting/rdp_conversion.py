"""The Rényi orders rero's RDP accountant uses and the least ε its (ε, δ) conversion can give.

numpy only, so the workflow can refuse an unreachable budget before any job starts; the RDP
accountant itself is :mod:`rero.privacy.accounting.rdp`.
"""

from __future__ import annotations

import numpy as np

RDP_ORDERS = tuple(1 + x / 10 for x in range(1, 100)) + tuple(range(11, 64)) + (128, 256, 512, 1024)
"""Rényi orders: Opacus' defaults (1.1-10.9, 12-63, the paper's) plus 11 and 128-1024."""


def rdp_epsilon_floor(delta: float) -> float:
    """The smallest ε the RDP accountant can return at ``delta``: as σ → ∞ the RDP terms
    vanish and the (ε, δ) conversion term is left (Canonne, Kamath & Steinke 2020, Prop. 12)."""
    orders = np.array(RDP_ORDERS, dtype=float)
    conversion = np.log1p(-1 / orders) - np.log(delta * orders) / (orders - 1)
    return float(max(np.min(conversion), 0.0))
