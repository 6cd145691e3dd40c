#!/usr/bin/env python3
"""The shortest wall time any client can reach on the `faults-*` scenarios of bench/limits.sh
while it waits what the server asks: a lower bound to read the measured figures against.

Each of N calls is answered 429 (`retry-after: 1`, at once) with probability P429, 500 (after the
latency) with probability P500, else 200 (after the latency), independently per attempt, as
`fake-openai 0 20 --fail-429 0.2 --fail-500 0.1` does. The simulated client gets every advantage
evalgate's design allows and more: C calls in flight, no time to send or parse anything, a call
waiting out a 429 or a backoff holds no place, retries go first when a place frees, a 429 is
waited exactly what it says (times a jitter factor drawn like evalgate's, 1 + 0-25%, or none),
and a 500 is backed off like evalgate's default (0.5 s doubling, shortened by up to a quarter).
The same client without faults gives the clean run, so the ratio is the best one reachable.

Usage: python3 bench/faults-floor.py [N] [RUNS]   (defaults 2000 and 200)
"""

import heapq
import random
import sys

LATENCY = 0.020
P429, P500 = 0.20, 0.10


def run(rng: random.Random, n: int, slots: int, jitter: float, faults: bool) -> float:
    """Wall time of one simulated run: an event loop over calls that are ready to be sent."""
    now = 0.0
    ready = []  # (time ready, order, call): retries carry their original order, so go first
    for i in range(n):
        heapq.heappush(ready, (0.0, i, i))
    in_flight = []  # (time done, call, outcome)
    fives = [0] * n
    end = 0.0
    while ready or in_flight:
        # Send while places are free and calls are ready.
        while ready and len(in_flight) < slots and ready[0][0] <= now:
            _, order, call = heapq.heappop(ready)
            x = rng.random() if faults else 1.0
            if x < P429:
                heapq.heappush(in_flight, (now, call, "429"))
            elif x < P429 + P500:
                heapq.heappush(in_flight, (now + LATENCY, call, "500"))
            else:
                heapq.heappush(in_flight, (now + LATENCY, call, "200"))
        # Advance to the next event: an answer, or a retry becoming ready.
        nexts = [t for t in (in_flight[0][0] if in_flight else None,) if t is not None]
        if ready and (len(in_flight) < slots):
            nexts.append(ready[0][0])
        now = max(now, min(nexts))
        while in_flight and in_flight[0][0] <= now:
            done, call, outcome = heapq.heappop(in_flight)
            if outcome == "200":
                end = max(end, done)
            elif outcome == "429":
                heapq.heappush(ready, (done + 1.0 * (1 + jitter * rng.random()), call, call))
            else:
                fives[call] += 1
                wait = min(0.5 * 2 ** (fives[call] - 1), 8.0) * (1 - 0.25 * rng.random())
                heapq.heappush(ready, (done + wait, call, call))
    return end


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    rng = random.Random(1)
    for slots in (8, 50):
        clean = run(rng, n, slots, 0.0, faults=False)
        for label, jitter in (("jitter +0-25%", 0.25), ("no jitter", 0.0)):
            walls = sorted(run(rng, n, slots, jitter, faults=True) for _ in range(runs))
            pick = lambda q: walls[min(int(q * runs), runs - 1)]
            print(
                f"{n} calls, concurrency {slots}, {label}: clean {clean:.2f} s; with faults "
                f"median {pick(0.5):.1f} s ({pick(0.5) / clean:.1f}x), "
                f"10th-90th percentile {pick(0.1):.1f}-{pick(0.9):.1f} s over {runs} runs"
            )


if __name__ == "__main__":
    main()
