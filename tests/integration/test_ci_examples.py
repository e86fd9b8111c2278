"""docs/examples/*.yml run end to end, step by step as written, under bash, as a runner would.

What a runner does that is not a script is simulated here, and only that: `actions/checkout`
copies the repository (a tiny one with an `evals/` test suite) into an empty workspace; the
artifact steps (GitHub) and the cache and artifacts (GitLab) copy the declared paths between
the workspace and a store that outlives the job; secrets and variables become environment
variables; GitHub's `if:` conditions are evaluated for the few forms the example uses. The
install step (`pip install "auditlog-evals @ git+..."`) is not run: the package under test is
already installed, and it is on PATH.

Three days of a pipeline: the first run in an empty workspace creates the log and passes with
no baseline; the second gates against the first (a regression: BLOCK, and the verdict is kept);
the third finds its artifact or cache expired and fails loudly instead of starting a new log.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.support.cli import cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
PASSPHRASE = "correct horse battery staple"
pytestmark = pytest.mark.slow  # about fifteen real processes per job


@dataclass
class Job:
    """What a finished job leaves: each step's name, exit code and output; whether it failed."""

    steps: list[tuple[str, int, str]] = field(default_factory=list)
    failed: bool = False

    def step(self, name: str) -> tuple[int, str]:
        [found] = [(code, out) for step, code, out in self.steps if step == name]
        return found

    def output(self) -> str:
        return "\n".join(f"--- {name}: exit {code}\n{out}" for name, code, out in self.steps)


def repository(tmp_path: Path, failing: set[int]) -> Path:
    """The project's repository: an eval suite of 40 tests, `failing` of them failing."""
    repo = tmp_path / "repo"
    shutil.rmtree(repo, ignore_errors=True)
    (repo / "evals").mkdir(parents=True)
    body = "".join(f"def test_case_{i}():\n    assert {i not in failing}\n\n\n" for i in range(40))
    (repo / "evals" / "test_evals.py").write_text(body)
    return repo


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AUDITLOG_", "GITHUB_", "CI_", "GITLAB_", "PYTEST_")) and k != "CI"}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def shell(script: str, workspace: Path, env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=workspace,
                          env=env, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


def skip_install(script: str) -> bool:
    """The install step: checked for the honest distribution name, not run (the package is installed)."""
    if not script.lstrip().startswith("pip install"):
        return False
    assert "auditlog-evals" in script and not re.search(r"pip install\s+[\"']?auditlog[\"']?\s*$", script), script
    return True


# -- GitHub Actions ---------------------------------------------------------------------------------------------

EXPRESSION = re.compile(r"\$\{\{\s*(vars|secrets)\.(\w+)\s*\}\}")


def github_condition(condition: str | None, failed: bool, context: dict[str, dict[str, str]]) -> bool:
    """The `if:` forms the example uses: always(), success() implied, `a == 'b'` terms joined by &&."""
    if condition is None:
        return not failed
    terms = [t.strip() for t in condition.split("&&")]
    result = "always()" in terms or not failed
    for term in terms:
        if term == "always()":
            continue
        left, op, right = term.partition("==")
        assert op and right.strip().startswith("'"), f"the simulation does not know the condition {term!r}"
        scope, _, name = left.strip().partition(".")
        result = result and context[scope].get(name, "") == right.strip().strip("'")
    return result


def run_github(workflow: dict, workspace: Path, store: Path, repo: Path, *, variables: dict[str, str],
               secrets: dict[str, str], run_id: int) -> Job:
    [job] = workflow["jobs"].values()
    context = {"vars": variables, "secrets": secrets, "github": {"ref": "refs/heads/main"}}

    def expand(value: str) -> str:
        return EXPRESSION.sub(lambda m: context[m.group(1)].get(m.group(2), ""), str(value))

    env = base_env(GITHUB_ACTIONS="true", CI="true", GITHUB_RUN_ID=str(run_id), GITHUB_RUN_ATTEMPT="1",
                   GITHUB_REF="refs/heads/main", GITHUB_REF_NAME="main", GITHUB_SHA="0" * 40,
                   GITHUB_REPOSITORY="owner/auditlog-example", GITHUB_JOB="evals", GITHUB_WORKFLOW="evals")
    env.update({k: expand(v) for k, v in job.get("env", {}).items()})
    result = Job()
    for number, step in enumerate(job["steps"]):
        name = step.get("name") or step.get("uses") or f"step {number}"
        if not github_condition(step.get("if"), result.failed, context):
            continue
        uses, with_ = step.get("uses", ""), step.get("with", {})
        if uses.startswith("actions/checkout"):
            shutil.copytree(repo, workspace, dirs_exist_ok=True)
        elif uses.startswith("actions/setup-python"):
            pass
        elif uses.startswith("dawidd6/action-download-artifact"):
            artifact = store / with_["name"]
            if artifact.is_dir():
                shutil.copytree(artifact, workspace / with_["path"], dirs_exist_ok=True)
            else:
                assert with_.get("if_no_artifact_found") == "warn"
        elif uses.startswith("actions/upload-artifact"):
            paths = [workspace / p for p in with_["path"].split()]
            found = [p for p in paths if p.exists()]
            if found:  # a new artifact replaces the old one
                common = Path(os.path.commonpath([p.parent for p in found]))
                shutil.rmtree(store / with_["name"], ignore_errors=True)
                for path in found:
                    (store / with_["name"] / path.relative_to(common)).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, store / with_["name"] / path.relative_to(common))
        elif uses:
            raise AssertionError(f"the simulation does not know the action {uses}")
        elif not skip_install(step["run"]):
            step_env = {**env, **{k: expand(v) for k, v in step.get("env", {}).items()}}
            code, out = shell(step["run"], workspace, step_env)
            result.steps.append((name, code, out))
            result.failed = result.failed or code != 0
    return result


# -- GitLab CI ---------------------------------------------------------------------------------------------------


def run_gitlab(pipeline: dict, workspace: Path, store: Path, repo: Path, *, variables: dict[str, str],
               job_id: int) -> Job:
    [job] = [v for k, v in pipeline.items() if isinstance(v, dict) and "script" in v]
    env = base_env(GITLAB_CI="true", CI="true", CI_JOB_ID=str(job_id), CI_PIPELINE_ID=str(job_id // 10),
                   CI_COMMIT_REF_NAME="main", CI_COMMIT_SHA="0" * 40, CI_PROJECT_PATH="owner/auditlog-example",
                   CI_JOB_NAME="evals")
    env.update({k: str(v) for k, v in job.get("variables", {}).items()})
    env.update(variables)  # the project's CI/CD variables (masked secrets among them)
    shutil.copytree(repo, workspace, dirs_exist_ok=True)
    cache = store / "cache" / job["cache"]["key"]
    if cache.is_dir():
        shutil.copytree(cache, workspace, dirs_exist_ok=True)
    result = Job()
    script = "\n".join(line for line in job["script"] if not skip_install(line))
    code, out = shell(script, workspace, env)
    result.steps.append(("script", code, out))
    result.failed = code != 0
    code, out = shell("\n".join(job["after_script"]), workspace, env)  # its failure does not fail the job
    result.steps.append(("after_script", code, out))
    if job["cache"].get("when", "on_success") == "always" or not result.failed:
        for path in job["cache"]["paths"]:
            if (workspace / path).exists():
                shutil.rmtree(cache / path, ignore_errors=True)
                shutil.copytree(workspace / path, cache / path)
    if job["artifacts"].get("when") == "always" or not result.failed:
        for path in job["artifacts"]["paths"]:
            if (workspace / path).exists():
                (store / "artifacts" / str(job_id) / path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(workspace / path, store / "artifacts" / str(job_id) / path)
    return result


# -- three days of a pipeline ---------------------------------------------------------------------------------


@pytest.fixture
def signing_key(tmp_path) -> tuple[str, Path]:
    """The repository secret: the whole key file (made with a passphrase), and the verifier key beside it."""
    keys = tmp_path / "keys"
    keys.mkdir()
    done = cli("keygen", "--name", "ci.example.org", "--out", keys / "ci.key", env=base_env(
        AUDITLOG_KEY_PASSPHRASE=PASSPHRASE))
    assert done.code == 0, done
    return (keys / "ci.key").read_text(), keys / "ci.vkey"


def log_id(output: str) -> str:
    [found] = re.findall(r"log id ([0-9a-f]{32})", output)
    return found


def verify_kept(log: Path, checkpoint: Path, vkey: Path, runs: int) -> None:
    """What the store keeps is a log that verifies against the checkpoint the job signed."""
    done = cli("verify", "--log", log, "--checkpoint", checkpoint, "--vkey", vkey)
    assert done.code == 0, done
    history = cli("history", "--output", "json", "--log", log)
    assert history.code == 0 and len(history.json()) == runs, history


@pytest.mark.parametrize("system", ["github-actions.yml", "gitlab-ci.yml"])
def test_the_example_pipeline_first_day_second_day_and_an_expired_store(tmp_path, system, signing_key):
    example = yaml.safe_load((EXAMPLES / system).read_text())
    store = tmp_path / "store"
    store.mkdir()
    key, vkey = signing_key
    secrets = {"AUDITLOG_SIGNING_KEY": key, "AUDITLOG_KEY_PASSPHRASE": PASSPHRASE}

    def run(day: int, failing: set[int], variables: dict[str, str]) -> tuple[Job, Path]:
        workspace = tmp_path / f"workspace-{day}"
        workspace.mkdir()
        repo = repository(tmp_path, failing)
        if system.startswith("github"):
            job = run_github(example, workspace, store, repo, variables=variables, secrets=secrets, run_id=100 + day)
        else:
            job = run_gitlab(example, workspace, store, repo, variables={**variables, **secrets}, job_id=1000 + day)
        assert "Traceback" not in job.output(), job.output()
        return job, workspace

    if system.startswith("github"):
        kept = store / "evals-log"
        first_vars: dict[str, str] = {}
    else:
        kept = store / "cache" / "evals-log" / "evals-log"
        first_vars = {}

    # Day 1: an empty workspace, no log anywhere, the log id not known yet.
    job, _ = run(1, set(), first_vars)
    assert not job.failed, job.output()
    the_id = log_id(job.output())
    assert "ALLOW: No baseline: no earlier active run" in job.output()
    verify_kept(kept / "evals.db", kept / "checkpoint.txt", vkey, runs=1)

    # Day 2: the id is now a variable of the project; the restored log gates the new run against day 1's.
    variables = {"AUDITLOG_LOG_ID": the_id} if system.startswith("github") else {"AUDITLOG_EXPECT_LOG_ID": the_id}
    job, _ = run(2, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, variables)
    assert job.failed, job.output()
    assert "BLOCK:" in job.output() and "baseline: my-agent::unit-evals::g" in job.output()
    verify_kept(kept / "evals.db", kept / "checkpoint.txt", vkey, runs=2)
    events = cli("events", "--log", kept / "evals.db")
    assert events.out.count('"type":"verdict.recorded"') == 2  # the BLOCK is kept, not lost with the job

    # Day 3: the artifact or cache expired. The job fails loudly and starts no new log.
    shutil.rmtree(kept)
    job, workspace = run(3, set(), variables)
    assert job.failed, job.output()
    assert f"holds no log, not the expected log {the_id}" in job.output()
    assert not (workspace / "evals-log" / "evals.db").exists()
    assert not (kept / "evals.db").exists()
