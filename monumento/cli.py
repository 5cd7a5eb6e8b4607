"""The `monumento` command: `serve`, `migrate` and `users set-role|disable|enable`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Sequence

from redis.asyncio import Redis

from auth.roles import Role
from config import Settings, load_settings
from monumento.app import build_revocations, create_app, open_database
from monumento.drain import node_drain
from monumento.logs import configure_logging
from monumento.sentry import init_sentry
from monumento.server import DrainingServer, uvicorn_config
from store.users import UserStore


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    settings = load_settings()
    if settings.node_id is None:  # one name for this process: in Redis, logs, error reports
        settings = settings.model_copy(update={"node_id": uuid.uuid4().hex})
    assert settings.node_id is not None
    configure_logging(settings.log_level, as_json=settings.log_json, node=settings.node_id)
    return int(args.run(args, settings) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monumento", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the server (migrates the database first)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on")
    serve.add_argument("--no-migrate", action="store_true", help="do not migrate on start")
    serve.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        help="proxies whose X-Forwarded-For is trusted (comma-separated, or *)",
    )
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="apply pending database migrations")
    migrate.set_defaults(run=_migrate)

    users = commands.add_parser("users", help="manage accounts")
    user_commands = users.add_subparsers(required=True, metavar="ACTION")
    set_role = user_commands.add_parser("set-role", help="give an account a role")
    set_role.add_argument("email")
    set_role.add_argument("role", choices=[role.value for role in Role])
    set_role.set_defaults(run=_set_role)
    disable = user_commands.add_parser(
        "disable", help="stop an account signing in and end its sign-ins at once"
    )
    disable.add_argument("email")
    disable.set_defaults(run=_set_disabled, disabled=True)
    enable = user_commands.add_parser("enable", help="let a disabled account sign in again")
    enable.add_argument("email")
    enable.set_defaults(run=_set_disabled, disabled=False)
    return parser


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.no_migrate:
        settings = settings.model_copy(update={"migrate_on_start": False})
    assert settings.node_id is not None  # `main` named the process
    init_sentry(settings, settings.node_id)
    app = create_app(settings)
    config = uvicorn_config(
        app,
        host=args.host,
        port=args.port,
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
    )
    DrainingServer(config, drain=node_drain(app)).run()
    return 0


def _migrate(_args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> None:
        database = open_database(settings)
        try:
            await database.migrate()
        finally:
            await database.close()

    asyncio.run(run())
    print("database is up to date")
    return 0


def _set_role(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> bool:
        database = open_database(settings)
        try:
            return await UserStore(database).set_role(args.email.strip().lower(), args.role)
        finally:
            await database.close()

    if not asyncio.run(run()):
        print(f"no account with the email {args.email}", file=sys.stderr)
        return 1
    print(f"{args.email} is now {args.role}")
    return 0


def _set_disabled(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> bool:
        database = open_database(settings)
        # Through Redis's cache too, when it is set, so every node refuses the tokens at once.
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        revocations = build_revocations(settings, database, redis)
        email = args.email.strip().lower()
        try:
            if args.disabled:
                return await revocations.disable(email)
            return await revocations.enable(email)
        finally:
            if redis is not None:
                await redis.aclose()
            await database.close()

    if not asyncio.run(run()):
        print(f"no account with the email {args.email}", file=sys.stderr)
        return 1
    print(f"{args.email} is now {'disabled' if args.disabled else 'enabled'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
