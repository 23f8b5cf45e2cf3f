"""Connected components of a duplicate-candidate graph, computed in Beam.

Large-star / small-star (Kiveris et al. 2014): each round is two GroupByKeys
over edges, so no worker ever holds the graph. A bounded number of rounds is
unrolled into the pipeline; afterwards every input edge is checked to join two
nodes with the same label, and the pipeline fails loudly if one does not,
rather than emitting wrong clusters.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from winnow.curation import components
from winnow.core.errors import RuntimeFailure

NAMESPACE = "dedup"
UNSETTLED_NODES = "cc_unsettled_nodes"
UNSETTLED_TAG = "unsettled"


class ComponentsDidNotConverge(RuntimeFailure):
    """The unrolled rounds were too few for this graph; raise max_rounds."""


class _LargeStarFn(beam.DoFn):
    def __init__(self, round_index: int):
        self.round_index = round_index
        self._unsettled = Metrics.counter(NAMESPACE, f"{UNSETTLED_NODES}_round_{round_index:02d}")

    def process(self, item: tuple) -> Iterator[Any]:
        node, neighbours = item
        neighbours = set(neighbours)
        if components.is_unsettled(node, neighbours):
            self._unsettled.inc()
            yield pvalue.TaggedOutput(UNSETTLED_TAG, self.round_index)
        yield from components.large_star(node, neighbours)


def _small_star(item: tuple) -> list[tuple]:
    node, smaller = item
    return components.small_star(node, smaller)


class _StarRound(beam.PTransform):
    """One large-star then one small-star step: two GroupByKeys over edges."""

    def __init__(self, round_index: int):
        super().__init__()
        self.round_index = round_index

    def expand(self, edges: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        large = (
            edges
            | "BothWays" >> beam.FlatMap(components.both_directions)
            | "GroupLarge" >> beam.GroupByKey()
            | "LargeStar" >> beam.ParDo(_LargeStarFn(self.round_index)).with_outputs(UNSETTLED_TAG, main="edges")
        )
        small = (
            large.edges
            | "TowardsSmaller" >> beam.Map(components.towards_smaller)
            | "GroupSmall" >> beam.GroupByKey()
            | "SmallStar" >> beam.FlatMap(_small_star)
        )
        return small, large[UNSETTLED_TAG]


def _label(item: tuple) -> tuple:
    node, neighbours = item
    return node, components.star_label(node, neighbours)


def _label_of_source(item: tuple) -> Iterator[tuple]:
    _, grouped = item
    labels = list(grouped["label"])
    for target in grouped["targets"]:
        yield target, labels[0] if labels else None


class _CheckEdge(beam.DoFn):
    def __init__(self, max_rounds: int):
        self.max_rounds = max_rounds

    def process(self, item: tuple) -> Iterator[None]:
        node, grouped = item
        labels = list(grouped["label"])
        for source_label in grouped["source_labels"]:
            if not labels or source_label != labels[0]:
                raise ComponentsDidNotConverge(
                    f"connected components did not converge in {self.max_rounds} rounds: node {node!r} has label "
                    f"{labels[0] if labels else None!r} but its neighbour has {source_label!r}; "
                    "increase max_rounds (--max-rounds)"
                )
        return iter(())


class ConnectedComponents(beam.PTransform):
    """Edges -> (node, label = smallest node of its component) for every node with an edge.

    `max_rounds` large-star/small-star rounds are unrolled; afterwards every input edge is
    checked to join two nodes with the same label, and the pipeline fails if one does not.
    `.unsettled` (set by expand) holds one round index per node still unsettled in that round.
    """

    def __init__(self, max_rounds: int):
        super().__init__()
        self.max_rounds = max_rounds
        self.unsettled: beam.PCollection | None = None

    def expand(self, edges: beam.PCollection) -> beam.PCollection:
        edges = edges | "DropSelfLoops" >> beam.Filter(lambda e: e[0] != e[1])
        current, unsettled = edges, []
        for i in range(self.max_rounds):
            current, stuck = current | f"Round{i:02d}" >> _StarRound(i)
            unsettled.append(stuck)
        self.unsettled = tuple(unsettled) | "AllUnsettled" >> beam.Flatten()
        labels = (
            current
            | "LabelBothWays" >> beam.FlatMap(components.both_directions)
            | "GroupLabel" >> beam.GroupByKey()
            | "Label" >> beam.Map(_label)
        )
        source_labels = (
            {"targets": edges, "label": labels}
            | "JoinSource" >> beam.CoGroupByKey()
            | "SourceLabel" >> beam.FlatMap(_label_of_source)
        )
        _ = (
            {"source_labels": source_labels, "label": labels}
            | "JoinTarget" >> beam.CoGroupByKey()
            | "CheckConverged" >> beam.ParDo(_CheckEdge(self.max_rounds))
        )
        return labels
