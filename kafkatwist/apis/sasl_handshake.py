"""SaslHandshake (api key 17): v0-v1, once the connection is authenticated.

Before authentication a SASL listener's connection hands SaslHandshake to
its authenticator (L{kafkatwist.security.sasl}), which picks the mechanism
and also starts a KIP-368 re-authentication. A SaslHandshake that reaches
the dispatcher (on a PLAINTEXT listener, or an authenticated connection
that may not re-authenticate now) is answered ILLEGAL_SASL_STATE, as
Kafka's C{KafkaApis.handleSaslHandshakeRequest} does.

Version notes:
* v1 says the tokens follow in SaslAuthenticate requests (v0: raw frames).
"""

from __future__ import annotations

from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.sasl_handshake import SaslHandshakeRequest, SaslHandshakeResponse
from kafkatwist.security.sasl import HANDSHAKE_VERSIONS


async def handle(ctx: RequestContext, request: SaslHandshakeRequest) -> SaslHandshakeResponse:
    return SaslHandshakeResponse(error_code=int(ErrorCode.ILLEGAL_SASL_STATE), mechanisms=())


SPEC = ApiSpec(
    api_key=17,
    versions=HANDSHAKE_VERSIONS,
    request=SaslHandshakeRequest,
    response=SaslHandshakeResponse,
    handle=handle,
)
