"""Helpers shared by the group APIs: the coordinator, the client host, per-partition codes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from kafkatwist.apis._spec import RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.groups.coordinator import GroupCoordinator
from kafkatwist.security.session import java_host_address

_P = TypeVar("_P")
_P_contra = TypeVar("_P_contra", contravariant=True)
_P_co = TypeVar("_P_co", covariant=True)
_T_co = TypeVar("_T_co", covariant=True)
_T = TypeVar("_T")


def coordinator_of(ctx: RequestContext) -> GroupCoordinator:
    """The broker's group coordinator."""
    return ctx.broker.groups


def client_host(ctx: RequestContext) -> str:
    """
    The client's address as Kafka reports it (``InetAddress.toString``:
    ``/127.0.0.1``, ``/0:0:0:0:0:0:0:1``).
    """
    host = ctx.peer.rsplit(":", 1)[0] if ctx.peer else ""
    return "/" + java_host_address(host.strip("[]"))


class _RequestPartition(Protocol):
    @property
    def partition_index(self) -> int: ...


class _RequestTopic(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def partitions(self) -> Sequence[_RequestPartition]: ...


class _PartitionResult(Protocol[_P_co]):
    """A response partition struct: C{(partition_index, error_code)}."""

    def __call__(self, *, partition_index: int, error_code: int) -> _P_co: ...


class _TopicResult(Protocol[_P_contra, _T_co]):
    """A response topic struct: C{(name, partitions)}."""

    def __call__(self, *, name: str, partitions: tuple[_P_contra, ...]) -> _T_co: ...


def partition_codes(
    topics: Sequence[_RequestTopic],
    topic_result: _TopicResult[_P, _T],
    partition_result: _PartitionResult[_P],
    code_of: Callable[[str, int], ErrorCode],
) -> tuple[_T, ...]:
    """
    An error code for every requested partition, by topic, in request order.

    OffsetCommit and OffsetDelete answer this way (so do their
    C{error_response}s, with one code for all).
    """
    return tuple(
        topic_result(
            name=t.name,
            partitions=tuple(
                partition_result(
                    partition_index=p.partition_index,
                    error_code=int(code_of(t.name, p.partition_index)),
                )
                for p in t.partitions
            ),
        )
        for t in topics
    )
