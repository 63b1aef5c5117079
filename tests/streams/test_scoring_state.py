"""The scoring app's state rows: where they live, how two writes of one merge, and how
stale episodes are swept."""

from __future__ import annotations

import time

from aiokafka.partitioner import DefaultPartitioner

from dojo.topics import EPISODE_PARTITIONS
from streams.assembler import AssemblyEpisode, RewardEntry
from streams.attribution import AttributionEpisode
from streams.state import episode_partition, merge_rows, row_key, sweep


def test_a_row_lives_on_its_episodes_partition() -> None:
    # the producer of the episode's events (aiokafka's, or Kafka's Java client)
    # picks this partition for the key; rows of the episode must follow it
    partitioner = DefaultPartitioner()
    partitions = list(range(EPISODE_PARTITIONS))
    seen = set()
    for i in range(200):
        episode = f"ep-{i:020x}"
        expected = partitioner(episode.encode(), partitions, partitions)
        assert episode_partition(row_key(episode)) == expected
        assert episode_partition(row_key(episode).split(b"|")[0]) == expected
        seen.add(expected)
    assert seen == set(partitions)


def header(touched: float, finished: bool = False) -> bytes:
    return AttributionEpisode(touched=touched, finished=finished).model_dump_json().encode()


def test_sweep_drops_stale_episodes_of_owned_partitions_only() -> None:
    now = time.time()
    episodes = {f"ep-{i}": episode_partition(f"ep-{i}".encode()) for i in range(40)}
    mine = {p for p in range(EPISODE_PARTITIONS) if p % 2 == 0}
    table: dict[bytes, bytes] = {}
    for i, episode in enumerate(episodes):
        stale = i % 3 == 0
        table[row_key(episode)] = header(now - 100 if stale else now, finished=i % 5 == 0)
        table[row_key(episode, f"{episode}/000")] = b"{}"  # an item row goes with its header

    swept = dict(sweep(table, mine, older_than=now - 50))

    expected = {e for i, e in enumerate(episodes) if i % 3 == 0 and episodes[e] in mine}
    assert set(swept) == expected
    assert {e for e, h in swept.items() if h.finished} == {
        e for i, e in enumerate(episodes) if e in expected and i % 5 == 0
    }
    for episode in episodes:
        kept = episode not in expected
        assert (row_key(episode) in table) == kept
        assert (row_key(episode, f"{episode}/000") in table) == kept


def test_a_stale_write_that_reaches_the_changelog_last_loses_nothing() -> None:
    # the member that took the partition over applied decision d2 and both rewards; the
    # one the group had dropped woke and wrote its row, from before, after it
    current = AssemblyEpisode(
        touched=20.0,
        steps={"d1": 0, "d2": 1},
        due=["d2"],
        answered=["d2"],
        rewards={
            "d1": RewardEntry(scalar=1.0, vector={}),
            "d2": RewardEntry(scalar=0.5, vector={}),
        },
    )
    stale = AssemblyEpisode(
        touched=30.0, steps={"d1": 0}, rewards={"d1": RewardEntry(scalar=1.0, vector={})}
    )
    merged = merge_rows(current, stale)
    assert merged.steps == current.steps
    assert merged.rewards == current.rewards
    assert (merged.due, merged.answered) == (["d2"], ["d2"])
    assert merged.touched == 30.0
    # completion comes on top, from whichever write
    assert merge_rows(merged, AssemblyEpisode(announced=2, touched=1.0)).announced == 2
    # a finished episode stays finished, whatever stale write follows
    assert merge_rows(AssemblyEpisode(finished=True), stale).finished
