"""`auditlog project configure` and `auditlog project show`: a project's configuration, which is
history too (a project.configured event each time it changes; see docs/configure.md)."""

from __future__ import annotations

from typing import Any

import click

from auditlog import errors
from auditlog.cli.base import EXIT_CODES, cli, lock_option, log_option, open_log, output_option
from auditlog.render import json_text, safe_text


@cli.group(epilog=EXIT_CODES)
def project() -> None:
    """A project's configuration: its experiment groups, the metrics better when lower, metric bounds."""


@project.command(name="configure", epilog=EXIT_CODES)
@click.argument("project_id", metavar="PROJECT")
@click.option("--groups", multiple=True, metavar="GROUP[,GROUP...]",
              help="The experiment groups a run may name (experiment.group); a comma separates groups; "
                   "repeatable; \"\" for any.")
@click.option("--lower-is-better", "lower", multiple=True, metavar="METRIC",
              help="A metric where less is better (compare and ab report it so); repeatable. A value with commas "
                   "is one lm-eval metric (task/mae,none) when it has that form, a list when no part has a '/' "
                   "(latency_ms,cost_usd), else refused; \"\" for none declared.")
@click.option("--metric-bounds", "bounds", multiple=True, metavar="METRIC=LO..HI",
              help="Inclusive bounds a run's metric must stay within; either side may be left out "
                   "(latency_ms=0..); the name is what comes before the last '=', so lm-eval's task/acc,none=0..1 "
                   "works; comma-separated or repeated; \"\" for none.")
@click.option("--clear", is_flag=True, help="Start from an empty configuration (alone: clear it).")
@log_option
@lock_option
@output_option("text", "json", default="text")
def configure(project_id: str, groups: tuple[str, ...], lower: tuple[str, ...], bounds: tuple[str, ...], clear: bool,
              log_path: str, lock_timeout: float, output: str) -> None:
    """Set the configuration of PROJECT from now on: runs in an undeclared group, or with a metric
    outside its bounds, are refused (exit 2). The parts not given are kept from the configuration in
    force; --clear starts from none. The same configuration again appends nothing."""
    from auditlog.evals.config import ProjectConfig, parse_bounds, parse_metric_names, parse_names
    from auditlog.evals.runs import check_identifier
    if not (clear or groups or lower or bounds):
        raise errors.InvalidInput("PROJECT", "give --groups, --lower-is-better, --metric-bounds or --clear "
                                             "(`auditlog project show` prints the configuration in force)")
    check_identifier(project_id, "PROJECT")
    parts: dict[str, Any] = {  # every option checked before the log is opened: bad input writes nothing
        "groups": parse_names(groups, "--groups") if groups else None,
        "lower_is_better": parse_metric_names(lower, "--lower-is-better") if lower else None,
        "metric_bounds": parse_bounds(bounds) if bounds else None,
    }
    with open_log(log_path, create=True, lock_timeout=lock_timeout) as log:
        with log.writer() as w:
            current = w.configuration(project_id)
            start = ProjectConfig() if clear or current is None else current.config
            config = start.replaced(**parts)
            receipt = w.configure(project_id, config)
    if output == "json":
        click.echo(json_text({"project": project_id, "seq": None if receipt is None else receipt.seq,
                              "new": bool(receipt and receipt.new), "config": config.to_data()}, indent=2))
    elif receipt is None:
        click.echo(safe_text(f"project {project_id}: no configuration in force; nothing appended", limit=1000))
    else:
        what = "configured" if receipt.new else "already configured so"
        click.echo(safe_text(f"project {project_id} {what} at seq {receipt.seq} ({receipt.hash[:12]}): "
                             f"{config.describe()}", limit=1000))


@project.command(name="show", epilog=EXIT_CODES)
@click.argument("project_id", metavar="PROJECT")
@log_option
@output_option("text", "json", default="text")
def show_project(project_id: str, log_path: str, output: str) -> None:
    """Print the configuration of PROJECT in force now, and the event that set it."""
    from auditlog.app.configs import configuration_now
    from auditlog.app.verified import verified_tree
    with open_log(log_path) as log:  # the event read once, checked to be in the verified tree
        in_force = configuration_now(log, verified_tree(log, log_path), project_id)
    if output == "json":
        click.echo(json_text(None if in_force is None else {"project": project_id, "seq": in_force.seq,
                                                            "hash": in_force.hash, "config": in_force.config.to_data()},
                             indent=2))
    elif in_force is None:
        click.echo(safe_text(f"project {project_id}: no configuration", limit=1000))
    else:
        click.echo(safe_text(f"project {project_id}: config seq {in_force.seq} ({in_force.hash[:12]}): "
                             f"{in_force.config.describe()}", limit=1000))
