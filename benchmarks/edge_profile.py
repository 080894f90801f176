"""One student prediction at the edge, stage by stage, and the CPU it was measured on.

The stages are timed inside the agent's own hot path (``edge_agent.bundle.Model.predict_one``
marks the end of each), so the profile measures what the agent runs, not a copy of it:

  serialise         ticket document -> model text (edge_agent.serialization)
  tokenise          the `tokenizers` fast tokenizer, truncation set once at load
  build_arrays      int64 ids, the attention mask (a view of a ones row) and the feeds dict
  session_run       onnxruntime on the int8 student
  softmax_and_head  a local head (when one serves) and the softmax
  python            the rest: calling in and out, ranking the top 3 into the agent's answer

The stages of one call are contiguous, so they add up to that call's total. ``stages_ms`` is the
breakdown of the median call: each stage's mean over the calls whose total lies between the 45th
and 55th percentiles, so it adds up to about ``p50_ms`` (``stages_sum_ms`` says how closely).
``stage_p50_ms``, each stage's own median, does not add up: on a busy host a call is often
descheduled, and the wait lands in whichever stage was running.
"""

import os
import platform
import statistics
import time
from itertools import pairwise
from pathlib import Path

STAGES = ("serialise", "tokenise", "build_arrays", "session_run", "softmax_and_head", "python")
# Flags that decide which int8 kernels onnxruntime can use (x86-64 and ARM).
FLAGS_OF_INTEREST = (
    "sse4_1",
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_int8",
    "amx_bf16",
    "asimd",
    "asimddp",
    "i8mm",
    "sve",
)


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """CPU model, vendor and the SIMD flags int8 kernels use, from /proc/cpuinfo (else platform)."""
    fields: dict[str, str] = {}
    try:
        text = cpuinfo.read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())  # the first processor's
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    return {
        "model": fields.get("model name") or fields.get("cpu model") or platform.processor() or "unknown",
        "vendor": fields.get("vendor_id") or fields.get("cpu implementer") or "unknown",
        "machine": platform.machine(),
        "logical_cpus": os.cpu_count(),
        "flags": sorted(flags & set(FLAGS_OF_INTEREST)),
        "platform": platform.platform(),
    }


def profile(model, documents: list[dict], contexts: list[dict | None], *, count: int = 200) -> dict:
    """Median ms per stage of ``count`` single predictions (documents reused in turn)."""
    from edge_agent.bundle import ranked

    for document, context in zip(documents[:5], contexts[:5], strict=True):  # warm-up
        model.predict_one(model.texts([document], [context])[0])
    samples: dict[str, list[float]] = {stage: [] for stage in (*STAGES, "total")}
    clock = time.perf_counter
    for i in range(count):
        document, context = documents[i % len(documents)], contexts[i % len(documents)]
        started = clock()
        text = model.texts([document], [context])[0]
        marks = [clock()]
        probabilities = model.predict_one(text, marks)
        ranked(model.labels, probabilities)
        ended = clock()
        bounds = [started, *marks, ended]
        for stage, (begin, end) in zip(STAGES, pairwise(bounds), strict=True):
            samples[stage].append((end - begin) * 1000)
        samples["total"].append((ended - started) * 1000)
    totals = sorted(samples["total"])
    p50 = statistics.median(totals)
    low, high = totals[int(len(totals) * 0.45)], totals[min(len(totals) - 1, int(len(totals) * 0.55))]
    band = [i for i, total in enumerate(samples["total"]) if low <= total <= high]
    stages = {stage: statistics.fmean(samples[stage][i] for i in band) for stage in STAGES}
    return {
        "stages_ms": {stage: round(value, 4) for stage, value in stages.items()},
        "p50_ms": round(p50, 4),
        "stages_sum_ms": round(sum(stages.values()), 4),
        "stage_p50_ms": {stage: round(statistics.median(samples[stage]), 4) for stage in STAGES},
        "session_run_share": round(stages["session_run"] / p50, 3),
        "calls": count,
    }
