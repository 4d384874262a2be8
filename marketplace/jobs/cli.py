"""``flask worker`` (the job worker) and ``flask jobs`` (inspect the queue, retry the dead-letter list)."""

from __future__ import annotations

import signal
from types import FrameType

import click
from flask.cli import AppGroup, with_appcontext

from marketplace.extensions import db
from marketplace.jobs import services
from marketplace.uow import transactional


@click.command("worker")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between two looks at the queue when idle.")
@click.option("--burst", is_flag=True, help="Run the due jobs, then exit (for cron or a one-off drain).")
@with_appcontext
def worker(interval: float, burst: bool) -> None:
    """Run background jobs: e-mail, passport republishing, search sync, reservation expiry, reminders,
    premium dues. Several workers may run at once (PostgreSQL); SIGTERM finishes the current job first."""
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"Job worker {services.worker_name()}: {len(services.HANDLERS)} kinds of job, "
               f"{len(services.SCHEDULES)} scheduled; idle poll every {interval}s")
    services.work(interval=interval, stopping=lambda: stopping, burst=burst)


jobs = AppGroup("jobs", help="The background job queue: counts, the dead-letter list, retries.")


@jobs.command("status")
def status() -> None:
    """How many jobs are pending, running and dead, by kind, and how long the oldest due one waited."""
    found = services.stats()
    for (state, kind), count in sorted(found["by_kind"].items()):
        click.echo(f"{state:8} {kind:36} {count}")
    click.echo(", ".join(f"{n} {state}" for state, n in found["by_status"].items())
               + f"; oldest due job waited {found['oldest_due_seconds']:.0f}s")


@jobs.command("dead")
def dead() -> None:
    """The dead-letter list: jobs that failed every attempt."""
    rows = services.dead()
    for job in rows:
        click.echo(f"{job.id:6} {job.kind:36} attempts={job.attempts} {job.last_error}")
    if not rows:
        click.echo("No dead jobs.")


@jobs.command("retry")
@click.argument("job_ids", nargs=-1, type=int)
@click.option("--all", "every", is_flag=True, help="Every dead job.")
@transactional
def retry(job_ids: tuple[int, ...], every: bool) -> None:
    """Queue dead jobs again (after fixing their cause)."""
    ids = [job.id for job in services.dead(limit=100_000)] if every else list(job_ids)
    for job_id in ids:
        try:
            services.retry_dead(job_id)
        except services.JobError:
            raise click.ClickException(f"Job {job_id} is not in the dead-letter list.") from None
    click.echo(f"{len(ids)} job(s) queued again.")


@jobs.command("run")
def run() -> None:
    """Run the due jobs (and the due scheduled ones) in this process, then exit."""
    counts = services.run_pending(limit=100_000, schedules=True)
    db.session.remove()
    click.echo(", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "No job was due.")
