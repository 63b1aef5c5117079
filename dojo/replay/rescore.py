"""Re-scoring stored decisions under a reward config, vectorised over Arrow and numpy.

This is :func:`dojo.reward.attribute_episode` (see its module docstring for the
formula) computed for a batch of decisions at once, never a Python loop per
decision:

* DuckDB's ``json_each`` turns the stored signals and the verdicts' scores into
  long rows ``(decision, key, value)``, joined on the key with the reward
  config's components (a judge score counts for a J or T+J component, a signal for
  every kind but J, a T+J component with both is their mean — exactly
  :func:`dojo.reward.behaviour_scores`);
* the weighted mean per (decision, behaviour) is a pair of ``numpy.bincount``
  sums over the distinct ``decision × behaviour`` cells;
* an episode's decisions are contiguous and in step order, so a decision's
  index, the episode's length and its last decision (which carries the outcome
  credit) come from the boundaries between episodes;
* the vector (a map per decision) and ``components_present`` (a list per
  decision) are Arrow arrays assembled from offsets, their keys dictionary
  encoded.

Inputs are Arrow tables (:data:`DECISION_COLUMNS`, :data:`EPISODE_COLUMNS`);
the output has one row per decision, in input order (:func:`rescore`). Memory
grows with the batch: :func:`batches` cuts history into batches of whole
episodes.
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dojo.reward import RewardConfig

#: decision_id, episode_id, step, signals (JSON text), transition, transition_correct, and
#: scores: the judge's verdict on the decision (JSON text; NULL when it has none)
DECISION_COLUMNS = (
    "decision_id",
    "episode_id",
    "step",
    "signals",
    "transition",
    "transition_correct",
    "scores",
)
#: episode_id, episode_type, stage, baseline_actions, outcome (JSON text of the outcome signals)
EPISODE_COLUMNS = ("episode_id", "episode_type", "stage", "baseline_actions", "outcome")

_FIXED = ("behaviour", "behaviour_credit", "transition_bonus", "efficiency_penalty")
_OUTCOME = ("outcome", "outcome_credit")

_LONG_SQL = """
SELECT t.rid, c.code, s.value::DOUBLE AS value
FROM rows t, json_each(t.doc) s JOIN codes c ON c.key = s.key
"""


class RewardTables:
    """The reward config as lookup arrays indexed by key code."""

    def __init__(self, config: RewardConfig) -> None:
        self.config = config
        self.behaviours = sorted(config.behaviours)
        position = {code: i for i, code in enumerate(self.behaviours)}
        weights = config.signal_weights()
        keys = sorted(weights)  # every component's key, J or not
        self.behaviour = np.array([position[weights[k][0]] for k in keys], np.int64)
        self.weight = np.array([weights[k][1].weight for k in keys], np.float64)
        self.penalty = np.array([weights[k][1].penalty for k in keys], bool)
        self.from_judge = np.array([weights[k][1].from_judge for k in keys], bool)
        self.judge_scores_it = np.array([weights[k][1].judge_scores_it for k in keys], bool)
        #: T+J: the only components that may have two sources on one decision
        self.two_sources = self.judge_scores_it & ~self.from_judge
        self.keys = len(keys)
        self.codes = pa.table({"key": keys, "code": pa.array(range(len(keys)), pa.int64())})
        outcome_keys = sorted(config.outcome)
        self.outcome_weight = np.array([config.outcome[k] for k in outcome_keys], np.float64)
        self.outcome_codes = pa.table(
            {"key": outcome_keys, "code": pa.array(range(len(outcome_keys)), pa.int64())}
        )
        #: names of components_present entries: component keys, then outcome/<signal>
        self.present_names = pa.array(keys + [f"outcome/{k}" for k in outcome_keys], pa.string())
        #: names of vector entries: behaviour/<code> by position, then the fixed parts
        self.vector_names = pa.array(
            [f"behaviour/{b}" for b in self.behaviours] + list(_FIXED + _OUTCOME), pa.string()
        )
        self.transitions = pa.array(sorted(config.transitions), pa.string())
        self.bonus = np.array([config.transitions[t] for t in sorted(config.transitions)])
        stages = sorted(config.stages)
        self.first_stage = stages[0]
        self.stage_behaviour = np.array([config.stages[s].behaviour for s in stages])
        self.stage_outcome = np.array([config.stages[s].outcome for s in stages])


def _long(
    conn: duckdb.DuckDBPyConnection, rid: np.ndarray, docs: pa.Array, codes: pa.Table
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, key code, value) for each key ``codes`` knows of each JSON object in ``docs``
    (row ``rid[i]`` for ``docs[i]``, ``rid`` ascending); sorted by row, keys of a row in
    document order.

    Each distinct document is parsed once: the simulator's signals take few distinct
    values, so a history repeats the same few thousand documents over and over.
    """
    encoded = pc.dictionary_encode(docs)
    encoded = encoded.combine_chunks() if isinstance(encoded, pa.ChunkedArray) else encoded
    distinct = encoded.dictionary
    conn.register(
        "rows",
        pa.table({"rid": pa.array(np.arange(len(distinct)), pa.int64()), "doc": distinct}),
    )
    conn.register("codes", codes)
    try:
        long = conn.sql(_LONG_SQL).to_arrow_table()
    finally:
        conn.unregister("rows")
        conn.unregister("codes")
    doc = long.column("rid").to_numpy()
    code = long.column("code").to_numpy()
    value = long.column("value").to_numpy()
    if len(doc) > 1 and np.any(doc[1:] < doc[:-1]):  # DuckDB may return chunks out of order
        order = np.argsort(doc, kind="stable")
        doc, code, value = doc[order], code[order], value[order]
    # expand: row i gets the entries of its document, in order
    per_doc = np.bincount(doc, minlength=len(distinct))
    doc_start = np.cumsum(per_doc) - per_doc
    of_row = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    entries = per_doc[of_row]
    row = np.repeat(rid, entries)
    first = np.cumsum(entries) - entries
    at = doc_start[of_row][np.repeat(np.arange(len(rid)), entries)] + (
        np.arange(len(row)) - np.repeat(first, entries)
    )
    return row, code[at], value[at]


def _within(rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For sorted ``rows``: entries per row (length n) and each entry's rank within its row."""
    per_row = np.bincount(rows, minlength=n)
    first = np.cumsum(per_row) - per_row
    return per_row, np.arange(len(rows)) - first[rows]


def _scatter(
    n: int, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets, codes and values of per-row lists built from ``parts`` of (sorted rows, codes,
    values or None), each part's entries after the previous part's, in order."""
    counts = [_within(rows, n) for rows, _, _ in parts]
    offsets = np.zeros(n + 1, np.int64)
    offsets[1:] = np.cumsum(sum(per_row for per_row, _ in counts))
    codes = np.empty(int(offsets[-1]), np.int64)
    values = np.empty(int(offsets[-1]), np.float64)
    filled = np.zeros(n, np.int64)
    for (rows, code, value), (per_row, rank) in zip(parts, counts, strict=True):
        at = offsets[rows] + filled[rows] + rank
        codes[at] = code
        if value is not None:
            values[at] = value
        filled += per_row
    return offsets, codes, values


def _dictionary(codes: np.ndarray, names: pa.Array) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int16)), names)


def rescore(
    decisions: pa.Table,
    episodes: pa.Table,
    tables: RewardTables,
    judge_version: str | None,
    conn: duckdb.DuckDBPyConnection,
) -> pa.Table:
    """One reward row per decision, in input order.

    ``decisions`` are grouped by episode, in step order within each, and
    ``episodes`` holds their episodes one row each, in the same order (see
    :func:`batches`). ``judge_version`` names the judge whose verdicts are in
    the decisions' ``scores``; a row carries it when a judge score fed it (as
    attribution decides: a component present whose key the judge scored).

    Columns: decision_id, episode_id, step, episode_type, stage, judge_version,
    scalar, vector (map of name to value), components_present (list of names).
    """
    config = tables.config
    n = decisions.num_rows
    b_count = len(tables.behaviours)
    ids = decisions.column("episode_id").combine_chunks()
    steps = decisions.column("step").to_numpy()

    # --- where each decision stands in its episode --------------------------------------
    starts = np.ones(n, bool)
    if n > 1:
        starts[1:] = ~pc.equal(ids.slice(1), ids.slice(0, n - 1)).to_numpy(zero_copy_only=False)
        if np.any(~starts[1:] & (steps[1:] <= steps[:-1])):
            raise ValueError("decisions must be in step order within each episode")
    first = np.flatnonzero(starts)
    if (
        len(first) != episodes.num_rows
        or not pc.all(pc.equal(ids.take(pa.array(first)), episodes.column("episode_id"))).as_py()
    ):
        raise ValueError("episodes must list the decisions' episodes, once each, in their order")
    counts = np.diff(np.append(first, n))
    run = np.repeat(np.arange(len(first)), counts)
    index = np.arange(n) - first[run]
    last = index == counts[run] - 1
    stage = episodes.column("stage").to_numpy(zero_copy_only=False).astype(np.int64)[run]
    baseline = np.maximum(
        1, episodes.column("baseline_actions").to_numpy(zero_copy_only=False).astype(np.int64)
    )[run]
    if not np.isin(stage, list(config.stages)).all():
        raise ValueError(f"an episode's stage lies outside the config's {sorted(config.stages)}")

    # --- behaviour scores: weighted means over the components present ------------------
    rid = np.arange(n, dtype=np.int64)
    s_row, s_code, s_value = _long(conn, rid, decisions.column("signals"), tables.codes)
    scores = decisions.column("scores")
    has = pc.is_valid(scores).to_numpy(zero_copy_only=False)
    j_row, j_code, j_value = _long(conn, rid[has], scores.filter(pa.array(has)), tables.codes)
    s_keep = ~tables.from_judge[s_code]
    j_keep = tables.judge_scores_it[j_code]
    row = np.concatenate([s_row[s_keep], j_row[j_keep]])
    code = np.concatenate([s_code[s_keep], j_code[j_keep]])
    value = np.concatenate([s_value[s_keep], j_value[j_keep]])
    value = np.where(tables.penalty[code], 1.0 - value, value)
    weight = tables.weight[code]
    # a T+J component with both sources is their mean: each carries half its weight
    both = np.flatnonzero(tables.two_sources[code])
    if len(both):
        _, of_pair, sources = np.unique(
            row[both] * tables.keys + code[both], return_inverse=True, return_counts=True
        )
        weight[both] = weight[both] / sources[of_pair]
    cells, cell_of = np.unique(row * b_count + tables.behaviour[code], return_inverse=True)
    num = np.bincount(cell_of, weights=weight * value, minlength=len(cells))
    den = np.bincount(cell_of, weights=weight, minlength=len(cells))
    score = np.divide(num, den, out=np.zeros(len(cells)), where=den > 0)
    c_row, c_behaviour = cells // b_count, cells % b_count
    touched = np.bincount(c_row, minlength=n)
    mean = np.divide(
        np.bincount(c_row, weights=score, minlength=n), touched, out=np.zeros(n), where=touched > 0
    )
    # "fed": a component present whose key the judge also scored on the decision
    size = n * tables.keys
    judged_keys = np.zeros(size, bool)
    judged_keys[j_row * tables.keys + j_code] = True
    fed = np.zeros(n, bool)
    fed[row[judged_keys[row * tables.keys + code]]] = True

    # --- outcome credit on each episode's last decision ----------------------------------
    e_count = episodes.num_rows
    o_row, o_code, o_value = _long(
        conn, np.arange(e_count, dtype=np.int64), episodes.column("outcome"), tables.outcome_codes
    )
    o_weight = tables.outcome_weight[o_code]
    o_num = np.bincount(o_row, weights=o_weight * o_value, minlength=e_count)
    o_den = np.bincount(o_row, weights=o_weight, minlength=e_count)
    outcome_of_episode = np.divide(o_num, o_den, out=np.full(e_count, np.nan), where=o_den > 0)
    outcome = np.where(last, outcome_of_episode[run], np.nan)

    # --- the scalar ------------------------------------------------------------------------
    per_max = tables.stage_behaviour[stage - tables.first_stage] / baseline
    credit = per_max * mean
    bonus = _transition_bonus(decisions, tables)
    penalty = np.where(index >= baseline, config.efficiency.beyond_baseline_rate * per_max, 0.0)
    outcome_credit = tables.stage_outcome[stage - tables.first_stage] * outcome
    scalar = credit + bonus - penalty + np.nan_to_num(outcome_credit, nan=0.0)

    # --- the vector: behaviour/<code> of the behaviours touched, then the fixed parts ----
    with_outcome = np.flatnonzero(~np.isnan(outcome))
    fixed = len(_FIXED)
    v_offsets, v_codes, v_values = _scatter(
        n,
        [
            (c_row, c_behaviour, score),
            (
                np.repeat(rid, fixed),
                np.tile(np.arange(b_count, b_count + fixed), n),
                np.column_stack([mean, credit, bonus, penalty]).ravel(),
            ),
            (
                np.repeat(with_outcome, 2),
                np.tile(np.arange(b_count + fixed, b_count + fixed + 2), len(with_outcome)),
                np.column_stack([outcome[with_outcome], outcome_credit[with_outcome]]).ravel(),
            ),
        ],
    )
    vector = pa.MapArray.from_arrays(
        pa.array(v_offsets, pa.int32()),
        _dictionary(v_codes, tables.vector_names),
        pa.array(v_values, pa.float64()),
    )

    # --- components present: signals, then judge scores, then (last decision) outcome ---
    last_of_episode = np.flatnonzero(last)  # run i's last decision, by run
    p_offsets, p_codes, _ = _scatter(
        n,
        [
            (s_row[s_keep], s_code[s_keep], None),
            (j_row[j_keep], j_code[j_keep], None),
            (last_of_episode[o_row], o_code + tables.keys, None),
        ],
    )
    present = pa.ListArray.from_arrays(
        pa.array(p_offsets, pa.int32()), _dictionary(p_codes, tables.present_names)
    )

    judge = pa.nulls(n, pa.string())
    if judge_version is not None:
        judge = pc.if_else(pa.array(fed), judge_version, pa.scalar(None, pa.string()))
    return pa.table(
        {
            "decision_id": decisions.column("decision_id"),
            "episode_id": ids,
            "step": decisions.column("step"),
            "episode_type": episodes.column("episode_type").take(pa.array(run)),
            "stage": pa.array(stage, pa.int32()),
            "judge_version": judge,
            "scalar": pa.array(scalar, pa.float64()),
            "vector": vector,
            "components_present": present,
        }
    )


def _transition_bonus(decisions: pa.Table, tables: RewardTables) -> np.ndarray:
    """The bonus for a correct phase transition, a fraction of it off for a wrong one."""
    transition = decisions.column("transition")
    correct = decisions.column("transition_correct")
    n = decisions.num_rows
    scored = pc.and_(pc.is_valid(transition), pc.is_valid(correct)).to_numpy(zero_copy_only=False)
    if not scored.any():
        return np.zeros(n)
    at = pc.index_in(transition, tables.transitions)
    unknown = pc.and_(pc.is_null(at), pc.is_valid(transition))
    if pc.any(unknown).as_py():
        seen = sorted(pc.unique(transition.filter(unknown)).to_pylist())
        raise ValueError(f"the reward config has no bonus for transitions {seen}")
    full = tables.bonus[pc.fill_null(at, 0).to_numpy(zero_copy_only=False)]
    right = pc.fill_null(correct, False).to_numpy(zero_copy_only=False)
    signed = np.where(right, full, -tables.config.wrong_transition_factor * full)
    return np.where(scored, signed, 0.0)


def batches(
    decisions: pa.Table, episodes: pa.Table, size: int
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """(decisions, episodes) of about ``size`` decisions each, never splitting an episode.

    Both tables sorted by episode id (decisions in step order within each);
    episodes without decisions are skipped.
    """
    n = decisions.num_rows
    if n == 0:
        return
    ids = decisions.column("episode_id").combine_chunks()
    starts = np.ones(n, bool)
    starts[1:] = ~pc.equal(ids.slice(1), ids.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    first = np.flatnonzero(starts)
    at = pc.index_in(ids.take(pa.array(first)), episodes.column("episode_id"))
    if at.null_count:
        missing = ids.take(pa.array(first)).filter(pc.is_null(at))[0].as_py()
        raise ValueError(f"decisions of episode {missing}, which is not in the episodes table")
    ordered = episodes.take(at)
    run = 0
    while run < len(first):
        begin = int(first[run])
        # the first episode boundary at or after begin + size
        end_run = int(np.searchsorted(first, begin + size, side="left"))
        end_run = max(end_run, run + 1)
        end = int(first[end_run]) if end_run < len(first) else n
        yield decisions.slice(begin, end - begin), ordered.slice(run, end_run - run)
        run = end_run
