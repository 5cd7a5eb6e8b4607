"""`/auth/*`: register, login, refresh, logout, email verification and the current user."""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.bodies import read_model
from api.context import api_context
from api.errors import ApiError
from api.identity import require_principal
from api.schemas import (
    AuthResponseOut,
    LoginRequest,
    LogoutRequest,
    MessageResponseOut,
    RefreshRequest,
    RegisterRequest,
    UserOut,
    dump,
)
from auth.accounts import SignedIn
from auth.errors import (
    AccountDisabledError,
    EmailInUseError,
    InvalidCredentialsError,
    RefreshTokenReusedError,
    TokenError,
    TokenExpiredError,
    TooManyAttemptsError,
)


def _auth_response(signed_in: SignedIn) -> dict[str, object]:
    return dump(
        AuthResponseOut(
            access_token=signed_in.access_token,
            refresh_token=signed_in.refresh_token,
            expires_in=signed_in.expires_in,
            user=UserOut.of(signed_in.user),
        )
    )


async def register(request: Request) -> JSONResponse:
    body = await read_model(request, RegisterRequest)
    accounts = api_context(request).accounts
    try:
        signed_in = await accounts.register(body.email, body.password, body.full_name)
    except EmailInUseError as error:
        raise ApiError(400, "email_taken", str(error), field="email") from error
    return JSONResponse(
        _auth_response(signed_in),
        status_code=201,
        background=BackgroundTask(accounts.send_verification_email, signed_in.user),
    )


async def login(request: Request) -> JSONResponse:
    body = await read_model(request, LoginRequest)
    try:
        signed_in = await api_context(request).accounts.login(body.email, body.password)
    except InvalidCredentialsError as error:
        raise ApiError(401, "invalid_credentials", str(error)) from error
    except TooManyAttemptsError as error:
        seconds = error.retry_after_s
        raise ApiError(
            429,
            "too_many_attempts",
            str(error),
            headers={"Retry-After": str(seconds)},
            retryAfter=seconds,
        ) from error
    except AccountDisabledError as error:
        raise ApiError(403, "account_disabled", str(error)) from error
    return JSONResponse(_auth_response(signed_in))


async def refresh(request: Request) -> JSONResponse:
    body = await read_model(request, RefreshRequest)
    try:
        signed_in = await api_context(request).accounts.refresh(body.refresh_token)
    except AccountDisabledError as error:
        raise ApiError(403, "account_disabled", str(error)) from error
    except RefreshTokenReusedError as error:
        raise ApiError(401, "refresh_token_reused", str(error)) from error
    except TokenExpiredError as error:
        raise ApiError(401, "token_expired", str(error)) from error
    except TokenError as error:
        raise ApiError(401, "invalid_token", str(error)) from error
    return JSONResponse(_auth_response(signed_in))


async def logout(request: Request) -> JSONResponse:
    principal = require_principal(request)
    body = await read_model(request, LogoutRequest, optional=True)
    await api_context(request).accounts.logout(principal, body.refresh_token)
    return JSONResponse(dump(MessageResponseOut(message="Signed out")))


async def verify_email(request: Request) -> JSONResponse:
    token = request.query_params.get("token")
    if not token:
        raise ApiError(400, "validation_error", "token: the link has no token", field="token")
    try:
        await api_context(request).accounts.verify_email(token)
    except TokenExpiredError as error:
        raise ApiError(
            400, "token_expired", "This verification link has expired: request a new one"
        ) from error
    except TokenError as error:
        raise ApiError(400, "invalid_token", "This verification link is not valid") from error
    return JSONResponse(dump(MessageResponseOut(message="Email address verified")))


async def me(request: Request) -> JSONResponse:
    principal = require_principal(request)
    user = await api_context(request).accounts.user(principal.user_id)
    if user is None:
        raise ApiError(401, "invalid_token", "This account no longer exists: sign in again")
    return JSONResponse(dump(UserOut.of(user)))


routes = [
    Route("/auth/register", register, methods=["POST"]),
    Route("/auth/login", login, methods=["POST"]),
    Route("/auth/refresh", refresh, methods=["POST"]),
    Route("/auth/logout", logout, methods=["POST"]),
    Route("/auth/verify-email", verify_email, methods=["GET"]),
    Route("/auth/me", me, methods=["GET"]),
]
