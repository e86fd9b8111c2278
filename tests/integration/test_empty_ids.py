"""An id given empty is refused, never read as "not given": ci.md's job runs `--run-id "$RUN_ID"`, and
with the variable unset the run was recorded under a derived id with exit 0 (new-user review), so the
gate of "$RUN_ID" after it failed. Every ingest command, every run id argument or option: exit 2,
one line naming it and saying it is empty, nothing written; the Python parsers refuse it too."""

from __future__ import annotations

import pytest

from auditlog.errors import InvalidInput
from auditlog.ingest import ingest
from tests.ingest.ingest_support import EVAL_OUTPUTS, source
from tests.support.cli import cli

JUNIT = EVAL_OUTPUTS / "junit" / "report.xml"
INSPECT = EVAL_OUTPUTS / "inspect" / "2025-02-11T15-18-04-05-00_popularity_mj7khqpMM4GBCfVQozKgzB.eval"
LM_EVAL = EVAL_OUTPUTS / "lm-eval" / "results_2024-08-21T03-44-09.494230.json"
EMPTY = "is empty (a variable that expanded to nothing?)"


@pytest.mark.parametrize("kind, path, extra", [("junit", JUNIT, ["--project", "p", "--model", "m"]),
                                               ("inspect", INSPECT, []), ("lm-eval", LM_EVAL, [])])
@pytest.mark.parametrize("option", ["--run-id", "--project", "--model"])
@pytest.mark.parametrize("empty", ["", " "])
def test_an_empty_id_on_any_ingest_is_refused_and_writes_nothing(tmp_path, kind, path, extra, option, empty):
    args = [a for a in extra if a != option]
    args = [a for i, a in enumerate(args) if not (i > 0 and args[i - 1] == option)]  # drop the given one
    done = cli("ingest", kind, str(path), *args, option, empty, "--log", "e.db", cwd=tmp_path)
    assert done.code == 2, done
    [line] = done.err.splitlines()
    assert line.startswith(f"auditlog: error: {option}: {EMPTY}: "), line
    assert not (tmp_path / "e.db").exists() and done.out == ""


def test_an_empty_run_id_argument_or_baseline_is_refused(tmp_path):
    items = '[{"item_id": "q1", "score": 1, "passed": true}]'
    (tmp_path / "r.json").write_text('{"run_id": "r", "project_id": "p", "model_id": "m", "items": ' + items + "}")
    assert cli("append", "run", "r.json", "--log", "e.db", cwd=tmp_path).code == 0
    for args, name in ((["gate", "", "--baseline-latest"], "RUN_ID"), (["gate", "r", "--baseline", ""], "--baseline"),
                       (["show", ""], "RUN_ID"), (["compare", "r", " "], "RUN_B"), (["prove", ""], "RUN_ID"),
                       (["supersede", "r", "--by", "", "--reason", "x"], "--by"),
                       (["annotate", "", "--note", "x"], "RUN_ID"), (["baseline", "pin", "", "--project", "p"], "RUN_ID"),
                       (["append", "run", "r.json", "--gate-against", ""], "--gate-against")):
        done = cli(*args, "--log", "e.db", cwd=tmp_path)
        assert done.code == 2 and done.err.strip() == f"auditlog: error: {name}: {EMPTY}", (args, done)
    assert len(cli("events", "--log", "e.db", cwd=tmp_path).out.splitlines()) == 2  # genesis and r: nothing more


@pytest.mark.parametrize("name, option", [("run_id", "--run-id"), ("project_id", "--project"),
                                          ("model_id", "--model")])
def test_the_python_parsers_refuse_an_empty_id(name, option):
    for kind, path in (("inspect", INSPECT), ("lm-eval", LM_EVAL)):
        with pytest.raises(InvalidInput) as refused:
            ingest(kind, [source(path)], **{name: ""})
        assert refused.value.field == option and f"({name} in Python)" in refused.value.reason
    with pytest.raises(InvalidInput) as refused:
        ingest("junit", [source(JUNIT)], project_id="p", model_id="m", run_id="")
    assert refused.value.field == "--run-id"


@pytest.mark.parametrize("args", [["append", "run", "r.json"], ["init"], ["verify"], ["history"],
                                  ["ingest", "junit", str(JUNIT), "--project", "p", "--model", "m"]],
                         ids=lambda a: " ".join(a[:2]))
def test_an_empty_log_is_refused_not_read_as_the_default(tmp_path, args):
    """`--log "$LOG"` with the variable unset started a new ./auditlog.db (new-user review 3). An empty
    $AUDITLOG_DB is "not set", as CI writes an unset variable: the default, as before."""
    (tmp_path / "r.json").write_text('{"project_id": "p", "model_id": "m", "items": []}')
    done = cli(*args, "--log", "", cwd=tmp_path)
    assert done.code == 2, done
    [line] = done.err.splitlines()
    assert line.startswith(f"auditlog: error: --log: {EMPTY}: "), line
    assert not (tmp_path / "auditlog.db").exists() and done.out == ""
    from tests.support.cli import clean_env
    assert cli("verify", cwd=tmp_path, env=clean_env(AUDITLOG_DB="")).err.startswith("auditlog: error: no log at auditlog.db")
