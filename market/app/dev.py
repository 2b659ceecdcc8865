"""`market dev`: the whole marketplace on one machine, every child stopped on Ctrl-C."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import click

from market.app import processes
from market.app.seed import DEMO_LOGINS, DEMO_PASSWORD
from market.config import Settings


def _stored(path: Path, make: str) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make)
        path.chmod(0o600)
    return path.read_text().strip()


def ensure_secret_key(var_dir: Path) -> str:
    """Generate SECRET_KEY once into var/, so sessions survive restarts of `market dev`."""
    path = var_dir / "secret_key"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def run_dev(*, port: int, demo: bool) -> None:
    processes.install_stop_signals()
    settings = Settings()
    # A real Stripe key without its webhook secret: say so now, not when the web child dies.
    settings.require_webhook_secret()
    var = settings.var_dir
    var.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["MARKET_VAR_DIR"] = str(var)
    env["SECRET_KEY"] = settings.secret_key or ensure_secret_key(var)
    env["BASE_URL"] = f"http://127.0.0.1:{port}"
    children: list[processes.Running] = []
    try:
        if processes.redis_answers(settings.redis_url):
            click.echo(f"redis        {settings.redis_url} (already running)")
        else:
            redis = processes.start_redis(var / "redis", log_path=var / "log" / "redis.log")
            children.append(redis)
            env["REDIS_URL"] = redis.url
            click.echo(f"redis        {redis.url} (private)")

        if "MEILI_URL" in os.environ and processes.http_answers(settings.meili_url + "/health"):
            click.echo(f"meilisearch  {settings.meili_url} (already running)")
        else:
            key = _stored(var / "meili_master_key", secrets.token_urlsafe(24))
            meili = processes.start_meilisearch(
                var / "meili", key, log_path=var / "log" / "meilisearch.log"
            )
            children.append(meili)
            env["MEILI_URL"], env["MEILI_KEY"] = meili.url, key
            click.echo(f"meilisearch  {meili.url}")

        if settings.stripe_secret_key:
            click.echo("stripe       configured by STRIPE_SECRET_KEY")
        else:
            stripe = processes.start_localstripe(log_path=var / "log" / "localstripe.log")
            children.append(stripe)
            env.update(processes.localstripe_env(stripe))
            # An empty one in the environment counts as none: the web process would refuse it.
            if not env.get("STRIPE_WEBHOOK_SECRET", "").strip():
                env["STRIPE_WEBHOOK_SECRET"] = "whsec_" + secrets.token_hex(16)
            processes.point_localstripe_webhook(
                stripe.url, f"http://127.0.0.1:{port}/webhooks/stripe", env["STRIPE_WEBHOOK_SECRET"]
            )
            click.echo(f"stripe       {stripe.url} (localstripe)")

        market = [sys.executable, "-m", "market"]
        _run(market + ["migrate"], env)
        if demo:
            _run(market + ["seed", "--demo"], env)

        children.append(
            processes.start_command(
                "worker", market + ["worker"], env=env, log_path=var / "log" / "worker.log"
            )
        )
        url = f"http://127.0.0.1:{port}"
        children.append(
            processes.start_command(
                "web",
                market + ["serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                url=url,
                ready=lambda r: processes.http_answers(url + "/healthz"),
                log_path=var / "log" / "web.log",
            )
        )
        click.echo(f"\ntechmarket is running at {url}  (logs in {var / 'log'})")
        if demo:
            click.echo(f"demo logins (password {DEMO_PASSWORD}):")
            for email, who in DEMO_LOGINS.items():
                click.echo(f"  {email:30} {who}")
        click.echo("Press Ctrl-C to stop.", nl=True)
        sys.stdout.flush()
        processes.wait_forever(children)
    except KeyboardInterrupt:
        click.echo("\nstopping ...")
    except (processes.ServiceError, RuntimeError) as exc:
        click.echo(f"market: {exc}", err=True)
        raise SystemExit(1) from None
    finally:
        for child in reversed(children):
            child.stop()


def _run(argv: list[str], env: dict[str, str]) -> None:
    import subprocess

    done = subprocess.run(argv, env=env, cwd=processes.ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv[2:])}` failed with code {done.returncode}")
