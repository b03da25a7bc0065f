"""The handled APIs: one module each, and REGISTRY, the single list of them.

Adding an API means adding its module and one line here; ApiVersions,
dispatch, version checks and error replies all derive from this tuple.
"""

from __future__ import annotations

from kafkatwist.apis import api_versions
from kafkatwist.apis._spec import ApiSpec

REGISTRY: tuple[ApiSpec, ...] = (
    api_versions.SPEC,
)

__all__ = ["REGISTRY", "ApiSpec"]
