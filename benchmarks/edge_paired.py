"""Several edge bundles timed against each other on the same tickets, in alternating order.

    python -m benchmarks.edge_paired --work-dir /tmp/edge-bench [--pin agent] [--rounds 7]

``benchmarks.edge`` measures one bundle a run, and on a shared host the whole machine's speed moves
between runs (the same bundle measured 0.71 and 1.11 ms an hour apart), so two students from two runs
do not compare. Here every full bundle a ``benchmarks.edge --work-dir`` folder holds (for example
students distilled with ``--reuse --distil-again --layers N --hidden-size H``) is loaded as the agent
loads it, and in each round each one predicts the same tickets one by one, the order reversed every
other round; a bundle's figure is the median over rounds of its median ms per ticket, and its ratio
to the reference bundle's (``--reference``, else the first) is taken within each round. Prints JSON.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work-dir", required=True, help="The --work-dir of benchmarks.edge runs.")
    parser.add_argument("--pin", default=None, help="Session candidate for every bundle (default: timed).")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument(
        "--reference", default="", help="Ratios to the bundle whose name holds this (e.g. L2H192)."
    )
    parser.add_argument("--json", help="Also write the result here.")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from edge_agent.bundle import load_model

    work = Path(args.work_dir)
    key = (work / "public_key.pem").read_text()
    texts = json.loads((work / "texts.json").read_text())[: args.tickets]
    paths = {}
    for path in sorted((work / "data" / "bundles").glob("t*.zip")):
        if "-from-" not in path.name:  # deltas are not bundles an agent loads
            paths[path.stem] = path
    models = {name: load_model(str(path), key, pin=args.pin) for name, path in paths.items()}
    names = list(models)
    ms = {name: [] for name in names}
    for round_ in range(args.rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            times = []
            for text in texts:
                begin = time.perf_counter()
                models[name].predict_one(text)
                times.append((time.perf_counter() - begin) * 1000)
            ms[name].append(statistics.median(times))
    first = next((name for name in names if args.reference and args.reference in name), names[0])
    result = {
        "bundles": {
            name: {
                "p50_ms": round(statistics.median(ms[name]), 4),
                "rounds_ms": [round(value, 4) for value in ms[name]],
                f"ratio_to_{first}": round(
                    statistics.median(a / b for a, b in zip(ms[name], ms[first], strict=True)), 3
                ),
                "session_options": models[name].session_choice["name"],
            }
            for name in names
        },
        "tickets": len(texts),
        "rounds": args.rounds,
        "pin": args.pin,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
