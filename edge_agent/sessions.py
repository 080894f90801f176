"""Which onnxruntime session options serve the student fastest on this host, measured at load.

Session options picked by hand are host-specific: one thread, no spinning and sequential
execution were the fastest on the AMD EPYC the agent was tuned on, and slower than onnxruntime's
defaults on an Intel Xeon with AVX-512 VNNI (2.86 ms against 2.11 ms per ticket,
benchmarks/results/edge-3000-xeon-remeasured.json). So at load the agent builds the student under
a few candidate option sets, times them in turn on the same synthetic inputs, and keeps the
fastest. The agent's own settings leave out onnxruntime's SkipLayerNormalization fusion, which
cost a one-layer student a fifth of its session.run on an Intel Xeon with AMX; a candidate keeps
it for a host where it pays. The candidates meet in duels, the best so far against the next, so
that two sessions are alive at most; the first (the agent's own settings, which take the fewest
cores from the site) is kept unless another is faster by more than ``MARGIN``, so that noise does
not flip the choice between equals. The timing is bounded (``ROUNDS`` rounds a duel, stopped early past its
share of ``BUDGET_S``) and costs a fraction of a second; ``TICKETAI_EDGE_SESSION=<name>`` pins a
candidate and skips it.
"""

import logging
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort

logger = logging.getLogger("edge_agent")

ENV_PIN = "TICKETAI_EDGE_SESSION"
ROUNDS = 9  # rounds of timings, each running every candidate on every input once
MIN_ROUNDS = 3  # rounds always run, whatever the budget
BUDGET_S = 0.4  # no further round starts once the timed rounds have taken this long
MARGIN = 0.05  # another candidate replaces the first only when its median is this much lower
OUTPUTS = ["logits"]

Feeds = dict[str, np.ndarray]


class Runner(Protocol):
    def run(self, output_names: list[str], input_feed: Feeds) -> Any: ...


# onnxruntime's fusion of a residual Add and the LayerNormalization after it into one
# SkipLayerNormalization: that operator took 72 us a call on an Intel Xeon (Sapphire Rapids, AMX)
# where the Add and LayerNormalization it replaces take about 15, a fifth of a one-layer student's
# session.run (0.30 against 0.25 ms a ticket, the same answers to 1e-6).
SKIP_LAYER_NORM_FUSION = "SkipLayerNormFusion"


@dataclass(frozen=True)
class Candidate:
    """A named set of session options; ``build(threads)`` makes them (``threads``: the agent's
    configured thread count, which only the agent's own settings use). ``disabled_optimizers``
    names onnxruntime graph rewrites left out when the session is built."""

    name: str
    build: Callable[[int], ort.SessionOptions]
    disabled_optimizers: tuple[str, ...] = ()


def agent_options(threads: int = 1) -> ort.SessionOptions:
    """The agent's own settings: one ticket at a time on a CPU it shares with the site's work.

    One thread and sequential execution: a 2-layer student's operators are small, and a spinning
    pool of threads takes cores from the rest of the host.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


def default_options(threads: int = 1) -> ort.SessionOptions:
    """onnxruntime's defaults: a spinning pool of one thread per physical core, every optimisation."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return options


def all_cores_options(threads: int = 1) -> ort.SessionOptions:
    """The agent's settings on every logical core, without spinning."""
    return agent_options(max(threads, os.cpu_count() or 1))


def basic_graph_options(threads: int = 1) -> ort.SessionOptions:
    """The agent's settings with only the basic graph rewrites (no fused transformer operators)."""
    options = agent_options(threads)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return options


CANDIDATES: tuple[Candidate, ...] = (
    Candidate("agent", agent_options, disabled_optimizers=(SKIP_LAYER_NORM_FUSION,)),
    Candidate("agent_skip_layer_norm", agent_options),
    Candidate("onnxruntime_default", default_options),
    Candidate("all_cores", all_cores_options),
    Candidate("basic_graph", basic_graph_options),
)


def synthetic_feeds(input_names: Sequence[str], max_length: int, vocab_size: int) -> list[Feeds]:
    """A few inputs of a third, two thirds and all of ``max_length`` tokens: the int8 kernels cost
    the same whatever the ids, so fixed ids stand for tickets."""
    feeds = []
    for n in sorted({max(2, max_length // 3), max(2, 2 * max_length // 3), max(2, max_length)}):
        ids = ((1000 + np.arange(n, dtype=np.int64)) % max(vocab_size, 1)).reshape(1, n)
        feed = {"input_ids": ids, "attention_mask": np.ones((1, n), dtype=np.int64)}
        if "token_type_ids" in input_names:
            feed["token_type_ids"] = np.zeros((1, n), dtype=np.int64)
        feeds.append(feed)
    return feeds


def choose(
    runners: Mapping[str, Runner],
    feeds: Sequence[Feeds],
    *,
    timer: Callable[[], float] = time.perf_counter,
    rounds: int = ROUNDS,
    min_rounds: int = MIN_ROUNDS,
    budget_s: float = BUDGET_S,
    margin: float = MARGIN,
) -> tuple[str, dict[str, float], int]:
    """(the fastest runner's name, each one's median ms per round, rounds run).

    Every runner first runs each input once untimed (the first runs plan memory). Then, round by
    round, each runs every input once, in an order rotated every round so that none always
    follows the same one; a runner's figure is the median of its rounds' totals. The first
    runner is kept unless the fastest of the others beats it by more than ``margin``.
    """
    names = list(runners)
    if not names:
        raise ValueError("no candidate to choose from")
    for name in names:
        for feed in feeds:
            runners[name].run(OUTPUTS, feed)
    totals: dict[str, list[float]] = {name: [] for name in names}
    started, done = timer(), 0
    while done < rounds and (done < min_rounds or timer() - started < budget_s):
        for name in names[done % len(names) :] + names[: done % len(names)]:
            runner, begin = runners[name], timer()
            for feed in feeds:
                runner.run(OUTPUTS, feed)
            totals[name].append((timer() - begin) * 1000)
        done += 1
    medians = {name: round(statistics.median(totals[name]), 4) for name in names}
    first, best = names[0], min(names[1:], key=lambda name: medians[name], default=names[0])
    return (best if medians[best] < medians[first] * (1 - margin) else first), medians, done


def tuned_session(
    model: bytes,
    *,
    threads: int = 1,
    max_length: int = 128,
    vocab_size: int = 30522,
    candidates: Sequence[Candidate] = CANDIDATES,
    pin: str | None = None,
    timer: Callable[[], float] = time.perf_counter,
) -> tuple[ort.InferenceSession, dict[str, Any]]:
    """The student's session under the fastest candidate options, and a record of the choice.

    ``pin`` (default: the TICKETAI_EDGE_SESSION variable) names the candidate to use without
    timing; an unknown name is logged and ignored. The record says which options serve, how
    they were chosen ("pinned", "only", "timed"), and, when timed, each candidate's median ms for
    one round of the synthetic inputs (``round_ms``: the incumbent's from its first duel) and each
    duel's own pair of medians with its winner (``duels``), the figures that decided.
    """
    by_name = {candidate.name: candidate for candidate in candidates}
    if pin is None:
        pin = os.environ.get(ENV_PIN) or None
    if pin is not None and pin not in by_name:
        logger.warning("%s=%s names no session candidate (%s); timing them", ENV_PIN, pin, ", ".join(by_name))
        pin = None
    if pin is not None or len(by_name) == 1:
        name = pin if pin is not None else next(iter(by_name))
        session = _session(model, by_name[name], threads)
        return session, _record(session, by_name[name], "pinned" if pin is not None else "only", {}, 0)
    started = time.perf_counter()
    # Duels, the current best against one challenger at a time: two sessions live at most, not
    # one per candidate (four held at once cost the agent's peak RSS 29 MB).
    names = list(by_name)
    name, session = names[0], _session(model, by_name[names[0]], threads)
    feeds = synthetic_feeds([i.name for i in session.get_inputs()], max_length, vocab_size)
    medians: dict[str, float] = {}
    duels: list[dict[str, Any]] = []
    rounds = 0
    for challenger in names[1:]:
        runners = {name: session, challenger: _session(model, by_name[challenger], threads)}
        winner, duel, done = choose(runners, feeds, timer=timer, budget_s=BUDGET_S / (len(names) - 1))
        medians.setdefault(name, duel[name])
        medians[challenger] = duel[challenger]
        # Only the two medians of one duel compare: the incumbent's time moves between duels.
        duels.append({"round_ms": duel, "winner": winner})
        rounds += done
        name, session = winner, runners[winner]
        runners.clear()  # the loser's memory goes back now
    record = _record(session, by_name[name], "timed", medians, rounds)
    record["duels"] = duels
    record["tuning_ms"] = round((time.perf_counter() - started) * 1000, 1)
    logger.info("session options %s chosen: median ms per round %s", name, medians)
    return session, record


def _session(model: bytes, candidate: Candidate, threads: int) -> ort.InferenceSession:
    return ort.InferenceSession(
        model,
        candidate.build(threads),
        providers=["CPUExecutionProvider"],
        disabled_optimizers=list(candidate.disabled_optimizers) or None,
    )


def _record(
    session: ort.InferenceSession, candidate: Candidate, how: str, medians: dict[str, float], rounds: int
) -> dict[str, Any]:
    options = session.get_session_options()
    record: dict[str, Any] = {
        "name": candidate.name,
        "how": how,
        "intra_op_threads": options.intra_op_num_threads,
        "execution_mode": options.execution_mode.name,
        "graph_optimization_level": options.graph_optimization_level.name,
        "disabled_optimizers": list(candidate.disabled_optimizers),
    }
    if medians:
        record.update(round_ms=medians, rounds=rounds)
    return record
