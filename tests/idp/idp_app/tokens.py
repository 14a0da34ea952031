"""Access tokens as RS256 JWTs signed with the provider's OIDC key (its JWKS publishes the key id)."""

import json
import time
import uuid

from django.conf import settings
from jwcrypto import jwk, jwt
from oauth2_provider.settings import oauth2_settings


def jwt_access_token(request, refresh_token: bool = False) -> str:
    key = jwk.JWK.from_pem(oauth2_settings.OIDC_RSA_PRIVATE_KEY.encode())
    now = int(time.time())
    claims = {
        "iss": settings.ISSUER,
        "aud": settings.IDP_ACCESS_TOKEN_AUDIENCE,
        "sub": str(request.user.pk) if request.user else f"client:{request.client.client_id}",
        "azp": request.client.client_id,
        "scope": " ".join(request.scopes or []),
        "iat": now,
        "exp": now + oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS,
        "jti": uuid.uuid4().hex,
    }
    token = jwt.JWT(
        header={"alg": "RS256", "kid": key.thumbprint(), "typ": "at+jwt"}, claims=json.dumps(claims)
    )
    token.make_signed_token(key)
    return token.serialize()
