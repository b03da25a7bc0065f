"""SaslAuthenticate (api key 36): v0-v2, once the connection is authenticated.

Before authentication the tokens go to the connection's authenticator
(L{kafkatwist.security.sasl}). One that reaches the dispatcher is answered
ILLEGAL_SASL_STATE with Kafka's message (C{KafkaApis.handleSaslAuthenticateRequest}).

Version notes:
* v1 adds C{session_lifetime_ms} (KIP-368); v2 is v1 made flexible.
"""

from __future__ import annotations

from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.sasl_authenticate import (
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
)
from kafkatwist.security.sasl import AUTHENTICATE_VERSIONS


async def handle(ctx: RequestContext, request: SaslAuthenticateRequest) -> SaslAuthenticateResponse:
    return SaslAuthenticateResponse(
        error_code=int(ErrorCode.ILLEGAL_SASL_STATE),
        error_message="SaslAuthenticate request received after successful authentication",
        auth_bytes=b"",
        session_lifetime_ms=0,
    )


SPEC = ApiSpec(
    api_key=36,
    versions=AUTHENTICATE_VERSIONS,
    request=SaslAuthenticateRequest,
    response=SaslAuthenticateResponse,
    handle=handle,
)
