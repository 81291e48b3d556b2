"""The entropy figures of the source paper beside cnetwin's (docs/entropy.md).

Prints Table 1's four rows with the entropy and the state type cnetwin gives each, H*, and
the mean compute entropy of simulated nodes of each type over sliding 24 h windows of two
days at the default 10 s telemetry period (slot counts as in the example fleet)::

    python bench/paper_entropy.py [--seed N]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from collectors.simulate import hourly_engine_util
from twin.models.entropy import (
    H_STAR_BITS,
    TABLE_1,
    entropy_of,
    interval_probabilities,
    state_entropy,
    state_type,
)

CAPACITIES = (16, 16, 16, 16, 16, 16, 4, 32)
"""Slots of the simulated nodes of each type [count]: the example fleet's mix."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=11, help="random seed (11)")
    args = parser.parse_args()
    print("Table 1 row          entropy [bits]  cnetwin type")
    for label, row in TABLE_1.items():
        print(f"{label} {row!s:22} {entropy_of(row):8.3f}        {state_type(row)}")
    print(f"H* = {H_STAR_BITS:.3f} bits")
    codes = [c for c in TABLE_1 for _ in CAPACITIES]
    hourly = hourly_engine_util(
        codes, list(CAPACITIES) * len(TABLE_1), 48, np.random.default_rng(args.seed)
    )
    print("simulated type  mean H [bits] (min-max over nodes and windows)  labels")
    for i, code in enumerate(TABLE_1):
        columns = slice(i * len(CAPACITIES), (i + 1) * len(CAPACITIES))
        windows = [pd.DataFrame(hourly[end - 24 : end, columns]) for end in range(24, 49, 4)]
        bits = np.concatenate([state_entropy(w).to_numpy() for w in windows])
        labels = pd.concat([state_type(interval_probabilities(w)) for w in windows])
        print(
            f"{code:15} {bits.mean():.3f} ({bits.min():.3f}-{bits.max():.3f})"
            f"  {labels.value_counts().to_dict()}"
        )


if __name__ == "__main__":
    main()
