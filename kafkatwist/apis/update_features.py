"""UpdateFeatures (api key 57): v0-v2.

Behavior (Kafka's C{QuorumController.updateFeatures} and
C{FeatureControlManager.updateFeatures}, this broker being the controller):
* authorization: ALTER on the cluster (Kafka's
  C{ControllerApis.handleUpdateFeatures}); without it the top-level
  CLUSTER_AUTHORIZATION_FAILED and no results;
* every update is checked against the finalized levels with the request's
  other updates applied (L{kafkatwist.features.FeatureRegistry.update}):
  an unknown upgrade type, a negative level, a level outside this broker's
  supported range ("Local controller N only supports versions A-B", or
  "does not support this feature" for a feature supported at level 0
  only), a downgrade with upgrade type UPGRADE, an "upgrade" with a
  downgrade type, a ``metadata.version`` downgrade across a version that
  changed the metadata (refused, also as UNSAFE_DOWNGRADE: Kafka has no
  unsafe downgrade), an unknown ``metadata.version`` and a level whose
  dependencies (``metadata.version`` >= 7; ``kraft.version`` 1 needs
  ``metadata.version`` 21) do not hold are INVALID_UPDATE_VERSION;
* one failed update fails them all: the top-level error is the first
  failure's code with "The update failed for all features since the
  following feature had an error: " and its message, and no results;
* success: every update's FeatureLevelRecord is written in one batch to the
  metadata log (``validate_only``: nothing is written); v0-v1 list a result
  (NONE) per requested feature, v2 none (KIP-1022);
* ``kraft.version`` is fixed at 1 (Kafka upgrades it in the raft log, not
  with a FeatureLevelRecord): 1 is accepted and changes nothing, 0 is
  INVALID_UPDATE_VERSION;
* the levels are what the services serve: ``transaction.version`` is the
  transaction coordinator's (its record versions), ``group.version`` is
  read through C{broker.features.finalized_level}.

Version notes:
* v0's ``allow_downgrade`` is read as Kafka's C{UpdateFeaturesRequest.getFeature}
  reads it: true is a safe downgrade, false an upgrade; v1+ carry the
  upgrade type; ``timeout_ms`` needs no wait here (the controller is local).
"""

from __future__ import annotations

from kafkatwist.apis._authz import require_cluster
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.features import SAFE_DOWNGRADE, UPGRADE, FeatureUpdate
from kafkatwist.messages.update_features import (
    UpdatableFeatureResult,
    UpdateFeaturesRequest,
    UpdateFeaturesResponse,
)
from kafkatwist.security.acl import AclOperation
from kafkatwist.wire.versions import VersionRange

ALL_FAILED = "The update failed for all features since the following feature had an error: "


def _updates(request: UpdateFeaturesRequest, version: int) -> list[FeatureUpdate]:
    updates: dict[str, FeatureUpdate] = {}
    for key in request.feature_updates:
        if version == 0:
            kind = SAFE_DOWNGRADE if key.allow_downgrade else UPGRADE
        else:
            kind = key.upgrade_type
        updates[key.feature] = FeatureUpdate(key.feature, key.max_version_level, kind)
    return list(updates.values())


async def handle(ctx: RequestContext, request: UpdateFeaturesRequest) -> UpdateFeaturesResponse:
    require_cluster(ctx, AclOperation.ALTER)
    try:
        await ctx.broker.features.update(_updates(request, ctx.api_version), request.validate_only)
    except KafkaError as e:
        return UpdateFeaturesResponse(
            error_code=int(e.code), error_message=ALL_FAILED + (e.message or "")
        )
    results: tuple[UpdatableFeatureResult, ...] = ()
    if ctx.api_version <= 1:
        results = tuple(
            # Kafka sets each message to Errors.NONE.message(), the text "NONE".
            UpdatableFeatureResult(feature=k.feature, error_code=0, error_message="NONE")
            for k in request.feature_updates
        )
    return UpdateFeaturesResponse(error_code=0, error_message=None, results=results)


def error_response(
    request: UpdateFeaturesRequest, version: int, code: ErrorCode
) -> UpdateFeaturesResponse:
    """Kafka's C{UpdateFeaturesResponse.createWithErrors}: the top-level error, no results."""
    return UpdateFeaturesResponse(error_code=int(code), error_message=None)


SPEC = ApiSpec(
    api_key=57,
    versions=VersionRange(0, 2),
    request=UpdateFeaturesRequest,
    response=UpdateFeaturesResponse,
    handle=handle,
    error_response=error_response,
    unused_fields={
        "UpdateFeaturesRequest.timeout_ms": "the answer is immediate "
        "on one broker (at most one local metadata-log append): nothing to wait for",
    },
)

__all__ = ["SPEC"]
