#!/usr/bin/env python3
"""The shortest wall time any client can reach on the `faults-*` scenarios of bench/limits.sh
while it waits what the server asks: a lower bound to read the measured figures against.

Each of N calls is answered 429 (`retry-after: 1`) with probability P429, 500 with probability
P500, else 200, independently per attempt, as `fake-openai --fail-429 --fail-500` does. The model
gives the client every advantage: unlimited calls in flight, no time to send or parse, a 429
waited exactly what it says (times a jitter factor drawn like evalgate's, 1 + 0-25%, or none),
and a 500 backed off like evalgate's default (0.5 s doubling, shortened by up to a quarter). The
run ends when the unluckiest call is answered, so the bound is the longest chain of waits among
N calls.

Usage: python3 bench/faults-floor.py [N] [RUNS]   (defaults 2000 and 1000)
"""

import random
import sys

LATENCY = 0.020
P429, P500 = 0.20, 0.10


def longest_chain(rng: random.Random, n: int, jitter: float) -> float:
    worst = 0.0
    for _ in range(n):
        t, fives = 0.0, 0
        while True:
            t += LATENCY
            x = rng.random()
            if x < P429:
                t += 1.0 * (1 + jitter * rng.random())
            elif x < P429 + P500:
                fives += 1
                t += min(0.5 * 2 ** (fives - 1), 8.0) * (1 - 0.25 * rng.random())
            else:
                break
        worst = max(worst, t)
    return worst


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    rng = random.Random(1)
    for label, jitter in (("evalgate's jitter (+0-25%)", 0.25), ("no jitter", 0.0)):
        walls = sorted(longest_chain(rng, n, jitter) for _ in range(runs))
        pick = lambda q: walls[min(int(q * runs), runs - 1)]
        print(
            f"{n} calls, {label}: median {pick(0.5):.1f} s, "
            f"10th-90th percentile {pick(0.1):.1f}-{pick(0.9):.1f} s over {runs} runs"
        )


if __name__ == "__main__":
    main()
