"""The privacy plan: the one record that calibration writes and training, bounds, attacks and the
summary read (σ, q, T, δ, the accountant and the ε it certifies).

DP-SGD with Poisson sampling at rate q = B/N, T steps, per-sample clipping to C and Gaussian noise
N(0, σ²C²) on the clipped sum (Abadi et al. 2016). The guarantee depends on the noise multiplier
σ, not on C (the sensitivity C scales signal and noise alike), so the plan holds no C: training
and the attacks take the clip norm as their own setting, and a changed C reruns only them. A plan
with target ε = inf is the non-private baseline: same schedule, σ = 0, no clipping.
:func:`read_plan` is the only reader of a plan file; :meth:`PrivacyPlan.from_dict` checks every
key, type and range and names the one that is wrong.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields
from typing import Any

from rero.privacy.accounting.base import require_positive_int, sampling_schedule
from rero.runtime.io import read_json, write_json

NON_PRIVATE_ACCOUNTANT = "none"
#: ``prv_note`` of a plan made without the PRV estimate (a σ lookup, a plan given by hand)
PRV_NOT_ESTIMATED = "PRV estimate not computed for this plan"


def check_schedule(
    sample_rate: float,
    steps: int,
    delta: float,
    dataset_size: int | None,
    batch_size: int | None,
    epochs: int | None,
) -> None:
    """δ < 1/N when N is known; q and T must match N, B and epochs when all three are given."""
    if dataset_size is None:
        return
    require_positive_int("dataset_size", dataset_size)
    if delta >= 1 / dataset_size:
        raise ValueError(
            f"delta={delta} must be smaller than 1/N = {1 / dataset_size:.3g} "
            f"for dataset_size N={dataset_size}"
        )
    if batch_size is not None and epochs is not None:
        expected_rate, expected_steps = sampling_schedule(dataset_size, batch_size, epochs)
        if not math.isclose(sample_rate, expected_rate, rel_tol=1e-9) or steps != expected_steps:
            raise ValueError(
                f"sample_rate={sample_rate}, steps={steps} do not match N={dataset_size}, "
                f"batch_size={batch_size}, epochs={epochs} (expected q={expected_rate}, "
                f"T={expected_steps})"
            )


@dataclass(frozen=True)
class PrivacyPlan:
    """The noise, schedule and accounting of one DP-SGD run (one dataset and target ε).

    ``epsilon`` is the achieved ε at ``delta``, an upper bound from ``accountant``;
    ``epsilon_lower`` its lower bound where the accountant gives one (all but RDP). A result
    that is cross-checked before it is reported (PRV) records the check: ``check_accountant``
    and its bracket [``check_epsilon_lower``, ``check_epsilon``]. ``prv_epsilon_estimate`` is
    the PRV accountant's own estimate of ε at δ (Gopi, Lee & Wutschitz 2021), recorded beside
    the certified bracket and never reported as ε; ``prv_note`` says where it lies against the
    bracket, or why there is none. ``dataset`` names the prepared dataset the plan was made for
    (None for a plan from flags alone). The non-private plan has target ε = inf, σ = 0 and
    accountant "none".
    """

    target_epsilon: float
    epsilon: float
    epsilon_lower: float | None
    sigma: float
    sample_rate: float
    steps: int
    delta: float
    accountant: str
    dataset: str | None
    dataset_size: int | None
    batch_size: int | None
    epochs: int | None
    note: str
    check_accountant: str | None = None
    check_epsilon: float | None = None
    check_epsilon_lower: float | None = None
    prv_epsilon_estimate: float | None = None
    prv_note: str = PRV_NOT_ESTIMATED

    def __post_init__(self) -> None:
        if math.isnan(self.target_epsilon) or self.target_epsilon <= 0:
            raise ValueError(f"target_epsilon={self.target_epsilon}: expected ε > 0 or inf")
        if not (math.isfinite(self.sample_rate) and 0 < self.sample_rate <= 1):
            raise ValueError(f"sample_rate={self.sample_rate}: expected q = B/N in (0, 1]")
        require_positive_int("steps", self.steps)
        if not 0 < self.delta < 1:
            raise ValueError(f"delta={self.delta}: expected 0 < delta < 1")
        if math.isnan(self.epsilon) or self.epsilon < 0:
            raise ValueError(f"epsilon={self.epsilon}: expected ε >= 0 or inf")
        if self.epsilon_lower is not None and not 0 <= self.epsilon_lower <= self.epsilon:
            raise ValueError(
                f"epsilon_lower={self.epsilon_lower}: expected a value in "
                f"[0, epsilon={self.epsilon}]"
            )
        checks = (self.check_accountant, self.check_epsilon, self.check_epsilon_lower)
        if any(value is None for value in checks) and any(value is not None for value in checks):
            raise ValueError(
                f"check_accountant={self.check_accountant!r}, check_epsilon={self.check_epsilon}, "
                f"check_epsilon_lower={self.check_epsilon_lower}: give all three or none"
            )
        if (
            self.check_epsilon is not None
            and not 0 <= self.check_epsilon_lower <= self.check_epsilon
        ):
            raise ValueError(
                f"check_epsilon_lower={self.check_epsilon_lower}: expected a value in "
                f"[0, check_epsilon={self.check_epsilon}]"
            )
        estimate = self.prv_epsilon_estimate
        if estimate is not None and not (math.isfinite(estimate) and estimate >= 0):
            raise ValueError(f"prv_epsilon_estimate={estimate}: expected a finite ε >= 0 or None")
        if self.private:
            if not (math.isfinite(self.sigma) and self.sigma > 0):
                raise ValueError(f"sigma={self.sigma}: a private plan needs a noise multiplier > 0")
        elif (self.sigma, self.accountant) != (0.0, NON_PRIVATE_ACCOUNTANT):
            raise ValueError(
                "target_epsilon=inf (non-private) needs sigma=0 and accountant 'none', got "
                f"sigma={self.sigma}, accountant={self.accountant!r}"
            )
        for name in ("dataset_size", "batch_size", "epochs"):
            if getattr(self, name) is not None:
                require_positive_int(name, getattr(self, name))
        check_schedule(
            self.sample_rate,
            self.steps,
            self.delta,
            self.dataset_size,
            self.batch_size,
            self.epochs,
        )

    # -- what consumers derive -----------------------------------------------------------------

    @property
    def private(self) -> bool:
        """True for DP-SGD (finite target ε); False for the non-private baseline."""
        return math.isfinite(self.target_epsilon)

    def check_dataset(self, num_train: int) -> None:
        """ValueError unless the plan was accounted for a training set of ``num_train`` examples."""
        if self.dataset_size is not None and self.dataset_size != num_train:
            raise ValueError(
                f"privacy plan: dataset_size {self.dataset_size} differs from the training set "
                f"({num_train} examples); the plan was accounted for another dataset"
            )

    def expected_batch_size(self, num_train: int) -> float:
        """qN, the expected Poisson batch size (what DP-SGD divides the noisy sum by)."""
        self.check_dataset(num_train)
        return self.sample_rate * num_train

    def logical_batch_size(self, num_train: int) -> int:
        """B: the configured batch size, else round(qN) (the non-private minibatch size)."""
        self.check_dataset(num_train)
        return self.batch_size or max(1, round(self.sample_rate * num_train))

    def steps_per_epoch(self, num_train: int) -> int:
        """⌈N/B⌉ logical steps make one epoch."""
        return math.ceil(num_train / self.logical_batch_size(num_train))

    # -- the file format -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON (``rero.runtime.io.write_json`` writes inf as "inf")."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> PrivacyPlan:
        """Strict inverse of :meth:`to_dict`: exactly the plan's keys, each of its type."""
        if not isinstance(data, dict):
            raise ValueError(f"a privacy plan is a JSON object, got {type(data).__name__}")
        names = [field.name for field in fields(cls)]
        missing = [name for name in names if name not in data]
        unknown = sorted(set(data) - set(names))
        if missing or unknown:
            raise ValueError(
                f"privacy plan: missing key(s) {missing}, unknown key(s) {unknown}; "
                f"expected exactly {', '.join(names)}"
            )
        values = {name: _PARSERS[name](name, data[name]) for name in names}
        return cls(**values)


def _number(name: str, value: Any, *, allow_inf: bool = False) -> float:
    if isinstance(value, str) and allow_inf and value == "inf":
        return math.inf
    if isinstance(value, bool) or not isinstance(value, int | float):
        expected = 'a number or "inf"' if allow_inf else "a number"
        raise ValueError(f"privacy plan: {name} must be {expected}, got {value!r}")
    return float(value)


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"privacy plan: {name} must be an integer, got {value!r}")
    return value


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"privacy plan: {name} must be a string, got {value!r}")
    return value


def _optional(parse: Any) -> Any:
    return lambda name, value: None if value is None else parse(name, value)


_PARSERS: dict[str, Any] = {
    "target_epsilon": lambda name, value: _number(name, value, allow_inf=True),
    "epsilon": lambda name, value: _number(name, value, allow_inf=True),
    "epsilon_lower": _optional(_number),
    "sigma": _number,
    "sample_rate": _number,
    "steps": _integer,
    "delta": _number,
    "accountant": _text,
    "dataset": _optional(_text),
    "dataset_size": _optional(_integer),
    "batch_size": _optional(_integer),
    "epochs": _optional(_integer),
    "note": _text,
    "check_accountant": _optional(_text),
    "check_epsilon": _optional(_number),
    "check_epsilon_lower": _optional(_number),
    "prv_epsilon_estimate": _optional(_number),
    "prv_note": _text,
}


def read_plan(path: str | os.PathLike[str]) -> PrivacyPlan:
    """The plan in a JSON file written by :func:`write_plan`; errors name the file."""
    data = read_json(path)
    try:
        return PrivacyPlan.from_dict(data)
    except ValueError as error:
        raise ValueError(f"{path}: not a valid privacy plan ({error})") from None


def write_plan(path: str | os.PathLike[str], plan: PrivacyPlan) -> None:
    """Write ``plan`` as JSON, atomically."""
    write_json(path, plan.to_dict())
