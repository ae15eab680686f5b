"""Which copy of a story is its original publication: time first, then fullness.

docs/dedup.md ("Which copy is the original") explains the order of the rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from pipeline.config import DedupConfig
from pipeline.dedup.shingles import unique_sorted
from pipeline.dedup.verification import Text

DAY_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Window:
    """When a page may have been published, in POSIX seconds (a point when the page says so)."""

    earliest: float
    latest: float

    @property
    def middle(self) -> float:
        return self.latest if self.earliest == -math.inf else (self.earliest + self.latest) / 2

    def precedes(self, other: Window) -> bool:
        """Certainly published before `other`."""
        return self.latest < other.earliest


def _seconds(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def publication_window(published_at: str | None, fetched_at: str, unzoned_hours: float) -> Window:
    """The window a page's publication lies in.

    A time with a zone is a point; a time without one is read as UTC, give or take
    `unzoned_hours`, and so are the ends of a bare day. With no usable date, the page was
    out by the time it was fetched.
    """
    fetched = _seconds(datetime.fromisoformat(fetched_at.replace("Z", "+00:00")))
    try:
        moment = datetime.fromisoformat((published_at or "").replace("Z", "+00:00"))
    except ValueError:
        return Window(-math.inf, fetched)
    slack = unzoned_hours * 3600
    if len(published_at or "") <= len("2020-09-14"):  # a bare day
        start = _seconds(moment)
        return Window(start - slack, start + DAY_SECONDS - 1 + slack)  # the last second of the day
    if moment.tzinfo is None:
        return Window(_seconds(moment) - slack, _seconds(moment) + slack)
    return Window(_seconds(moment), _seconds(moment))


@dataclass
class Candidate:
    """A member of a story as the canonical choice sees it."""

    window: Window
    text: Text


def _reserve(array: np.ndarray, size: int) -> np.ndarray:
    """`array` with room for at least `size` items, doubling so that growing costs O(1) amortised."""
    if size <= len(array):
        return array
    grown = np.zeros(max(size, 2 * len(array)), dtype=array.dtype)
    grown[: len(array)] = array
    return grown


class _Tally:
    """For each distinct shingle of a story's members: how many members have it, and its weight
    (the sum of 1/size over them); for each member, how many of its shingles no other has.

    A member is kept as its difference from the first member, whose shingles are the first
    columns: a member's total weight is the first member's plus that of what it added, minus
    that of what it lacks. Copies differ from each other in a few shingles, so recomputing
    every member's total costs the differences, not all members' text.
    """

    def __init__(self) -> None:
        self.known = np.zeros(0, dtype=np.uint32)  # every distinct shingle so far, sorted
        self.known_columns = np.zeros(0, dtype=np.intp)  # the column of each
        self.weight = np.zeros(0, dtype=np.float64)
        self.holders = np.zeros(0, dtype=np.int64)
        self.owner = np.zeros(0, dtype=np.int64)  # the member that has a column, while it is the only one
        self.sizes: list[int] = []  # distinct shingles of each member
        self.alone = np.zeros(0, dtype=np.int64)  # each member's shingles that no other member has
        self.first_columns = 0
        # what each member added to (+1) or lacks of (-1) the first member: column, sign, member
        self._difference_rows = (np.zeros(0, np.intp), np.zeros(0, np.float64), np.zeros(0, np.intp))

    def _columns(self, distinct: np.ndarray) -> np.ndarray:
        """The column of each of these distinct sorted shingles, new ones given the next free ones."""
        places = np.searchsorted(self.known, distinct)
        found = places < len(self.known)
        found[found] = self.known[places[found]] == distinct[found]
        columns = np.empty(len(distinct), dtype=np.intp)
        columns[found] = self.known_columns[places[found]]
        new = ~found
        columns[new] = np.arange(len(self.known), len(self.known) + np.count_nonzero(new))
        self.known = np.insert(self.known, places[new], distinct[new])
        self.known_columns = np.insert(self.known_columns, places[new], columns[new])
        return columns

    def add(self, shingles: np.ndarray) -> None:
        member, known = len(self.sizes), len(self.known)
        distinct = unique_sorted(shingles)
        columns = self._columns(distinct)
        self.weight = _reserve(self.weight, len(self.known))
        self.holders = _reserve(self.holders, len(self.known))
        self.owner = _reserve(self.owner, len(self.known))
        self.alone = _reserve(self.alone, member + 1)
        old, new = columns[columns < known], columns[columns >= known]
        self.alone -= np.bincount(self.owner[old[self.holders[old] == 1]], minlength=len(self.alone))
        self.owner[new] = member
        self.alone[member] = len(new)
        self.holders[columns] += 1
        self.weight[columns] += 1.0 / max(1, len(distinct))
        self.sizes.append(len(distinct))
        if member == 0:
            self.first_columns = len(distinct)
        lacking = np.ones(self.first_columns, dtype=bool)
        lacking[columns[columns < self.first_columns]] = False
        added = columns[columns >= self.first_columns]
        missing = np.flatnonzero(lacking)
        columns_so_far, signs, owners = self._difference_rows
        self._difference_rows = (
            np.concatenate((columns_so_far, added, missing)),
            np.concatenate((signs, np.ones(len(added)), -np.ones(len(missing)))),
            np.concatenate((owners, np.full(len(added) + len(missing), member, dtype=np.intp))),
        )

    def support(self) -> np.ndarray:
        """Each member's mean share of each other member's shingles that it has."""
        columns, signs, owners = self._difference_rows
        count = len(self.sizes)
        totals = self.weight[: self.first_columns].sum() + np.bincount(
            owners, weights=signs * self.weight[columns], minlength=count
        )
        sizes = np.array(self.sizes, dtype=np.float64)
        return (totals - sizes / np.maximum(1.0, sizes)) / (count - 1)

    def added_share(self) -> np.ndarray:
        """Each member's share of its shingles that no other member has."""
        return self.alone[: len(self.sizes)] / np.maximum(1.0, np.array(self.sizes, dtype=np.float64))


class CanonicalChoice:
    """Which member of a story is its original publication, kept up to date as members join.

    Time first: a member that another certainly precedes is out. Among the rest, the
    fullest: the one holding most of the other members' text (a truncated copy does not),
    within `support_tolerance` of the best. Then, when at least three members can tell,
    the one with the least text that no other member has (copies add datelines, trailers,
    notes, local paragraphs); then the longest; then the first added.

    Joining costs the new member's shingles plus the members' differences from the first
    one, not a recount of every member's text: which members may be earliest is updated as
    pages join, and the text counts only start when two members first tie in time (with
    exact times they rarely do).
    """

    def __init__(self, config: DedupConfig) -> None:
        self.config = config
        self.members: list[Candidate] = []
        self.best = 0
        self._first_end = math.inf  # no member can have been published after this
        self._earliest: list[int] = []  # members that no other member certainly precedes
        self._tally: _Tally | None = None

    def add(self, member: Candidate) -> int:
        """Add a member; the index of the original among the members so far."""
        number = len(self.members)
        self.members.append(member)
        if member.window.latest < self._first_end:
            self._first_end = member.window.latest
            self._earliest = [i for i in self._earliest if self.members[i].window.earliest <= self._first_end]
        if member.window.earliest <= self._first_end:
            self._earliest.append(number)
        if self._tally is not None:
            self._tally.add(member.text.shingles)
        elif len(self._earliest) > 1:
            self._tally = _Tally()  # the first tie: count every member once, then keep the counts
            for earlier in self.members:
                self._tally.add(earlier.text.shingles)
        if len(self._earliest) == 1 or self._tally is None:
            self.best = self._earliest[0]
        else:
            self.best = self._fullest(self._tally)
        return self.best

    def _fullest(self, tally: _Tally) -> int:
        """Among the members that may be earliest, the full one with least added, then the longest."""
        earliest = np.array(self._earliest)
        support = tally.support()[earliest]
        full = earliest[support >= support.max() - self.config.support_tolerance]
        added = tally.added_share()[full] if len(self.members) >= 3 else np.zeros(len(full))
        # with two members, what one lacks the other "added": no evidence either way
        words = np.array([self.members[i].text.words for i in full])
        return int(full[np.lexsort((full, -words, added))[0]])
