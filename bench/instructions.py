"""N in-process turns of the bench mix and nothing else, for counting instructions under callgrind.

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python -m bench.instructions --turns 0
    valgrind --tool=callgrind --callgrind-out-file=/dev/null python -m bench.instructions --turns 80

(with ``PYTHONHASHSEED=0``). The difference of the two "Collected" totals over 80 is the instructions one
turn costs: repeatable to about 0.02% between runs of the same code, whatever else the machine is doing,
where wall-clock figures on a shared 2-core machine move by 20% from minute to minute. That makes it the
way to A/B a change to the turn's CPU cost (``docs/performance.md``); the bench's figures stay the ones
that count for latency.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from bench.run import Options, Script, Side, agent_turn, local_stack


async def turns(n: int, patients: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with local_stack(Options(http=False, patients=patients), Path(tmp)) as local:
            script, side = Script("instructions", local.patients), Side()
            for _ in range(n):
                thread, patient, text = script.next()
                await agent_turn(local.agent, thread, patient, text, side)
            if side.errors:
                raise SystemExit(f"turns failed: {side.errors[:3]}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=80, help="turns of the mix (default 80: four cycles)")
    parser.add_argument("--patients", type=int, default=40, help="demo patients seeded (default 40)")
    args = parser.parse_args()
    asyncio.run(turns(args.turns, args.patients))


if __name__ == "__main__":
    main()
