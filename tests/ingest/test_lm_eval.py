"""lm-evaluation-harness results and samples, real files of 0.4.2 to 0.4.13, to run documents."""

from __future__ import annotations

import json

import pytest

from auditlog.errors import InvalidInput
from auditlog.evals.runs import normalize_run
from auditlog.ingest import SourceFile, ingest, parse_lm_eval, source_provenance

from .ingest_support import source

NEGOTIATION = "2026-07-08T18-15-33.115417"
BIAS = "2024-06-17T15-44-37.867068"
MATERIALS = "2025-06-30T19-37-57.457759"
POLYMER = "2025-06-30T19-40-09.461247"
LEGACY = "legacy/v0.4.2-dev_pr1668_gpt-3.5-turbo-0125_wmdp"


def parse(outputs, date, *tasks, **kwargs):
    folder = outputs / "lm-eval"
    samples = [source(next(folder.glob(f"samples_{t}_{date}.json*"))) for t in tasks]
    return parse_lm_eval(source(folder / f"results_{date}.json"), samples, **kwargs)


def test_every_results_file_and_its_samples_make_an_accepted_document(outputs):
    folder = outputs / "lm-eval"
    results = sorted(folder.glob("results_*.json")) + [folder / LEGACY / "results.json"]
    assert len(results) == 7
    for path in results:
        stamp = path.name[len("results_"):-len(".json")]
        samples = sorted(path.parent.glob(f"samples_*_{stamp}.json*") if path.name != "results.json"
                         else path.parent.glob("*.jsonl"))
        doc = parse_lm_eval(source(path), [source(s) for s in samples], project_id="evals")
        run, _ = normalize_run(doc)
        assert run["run_id"].startswith(f"{doc['model_id']}::evals::lm-eval@")
        assert doc["metrics"] and doc["config"]["lm_eval"]["config"]
        assert doc["config"]["ingest"]["format"] == "lm-eval" and "files" not in doc["config"]["ingest"]
        files = source_provenance([source(path), *(source(s) for s in samples)])["files"]
        assert files[0] == {"name": path.name, "sha256": source(path).sha256} and len(files) == 1 + len(samples)


def test_a_group_with_three_subtasks_and_na_stderrs(outputs):
    doc = parse(outputs, NEGOTIATION, "negotiationtom_belief", "negotiationtom_desire", "negotiationtom_intention")
    assert doc["project_id"] == "negotiationtom"            # the one top-level group
    assert doc["model_id"] == "Qwen/Qwen3-8B"                # model_args is a dict here
    assert doc["model_version"] == "b968826d9c46dd6066d109eabc6255188de91218"
    assert doc["dataset"] == {"name": "negotiationtom", "version": "0"}
    assert doc["started_at"] == "2026-07-08T18:13:21.866910Z"
    metrics = doc["metrics"]
    assert metrics["negotiationtom/acc,none"] == 0.525
    assert metrics["negotiationtom_intention/micro_f1,none"] == 0.2857142857142857
    assert metrics["negotiationtom_belief/acc_stderr,none"] == 0.11413288653790232
    assert "negotiationtom_intention/micro_f1_stderr,none" not in metrics          # "N/A"
    assert metrics["total_evaluation_time_seconds"] == pytest.approx(165.4830966689624)
    assert any('"N/A"' in note for note in doc["config"]["ingest"]["notes"])
    items = {i["item_id"]: i for i in doc["items"]}
    assert len(items) == 60
    for task, metric, passed in (("belief", "acc", 9), ("desire", "acc", 12), ("intention", "exact_match", 4)):
        mine = [i for i in doc["items"] if i["extra"]["task"] == f"negotiationtom_{task}"]
        assert len(mine) == 20 and {i["extra"]["metric"] for i in mine} == {metric}
        assert sum(i["passed"] for i in mine) == passed
        assert sum(i["score"] for i in mine) / 20 == metrics[f"negotiationtom_{task}/{metric},none"]
    first = items["negotiationtom_intention/0/none"]
    assert first["score"] == 0.0 and first["extra"]["metrics"]["micro_f1"] == [
        ["Promote-Coordination", "Discover-Preference"], ["Build-Rapport"]]
    assert items["negotiationtom_desire/0/none"]["extra"]["doc_hash"].startswith("2b917e43")


def test_multiple_choice_samples_in_a_json_named_file(outputs):
    doc = parse(outputs, BIAS, "bias_classification")
    assert len(doc["items"]) == 609 and sum(i["passed"] for i in doc["items"]) == 311
    assert doc["metrics"]["bias_classification/acc,none"] == pytest.approx(311 / 609, rel=1e-12)
    first = doc["items"][0]
    assert first["item_id"] == "bias_classification/0/none" and first["score"] == 1.0
    assert first["extra"]["metrics"] == {"f1": [1, 1], "acc_norm": 1.0}
    chosen = parse(outputs, BIAS, "bias_classification", primary_metric="acc_norm")
    assert {i["extra"]["metric"] for i in chosen["items"]} == {"acc_norm"}
    with pytest.raises(InvalidInput, match="'f1' cannot be an item score"):
        parse(outputs, BIAS, "bias_classification", primary_metric={"bias_classification": "f1"})


def test_samples_without_filter_keys(outputs):
    doc = parse(outputs, "2024-08-21T03-44-09.494230", "asdiv")
    assert doc["model_id"] == "meta-llama/Meta-Llama-3-8B-Instruct"
    assert [i["item_id"] for i in doc["items"][:2]] == ["asdiv/0/none", "asdiv/1/none"]
    assert sum(i["passed"] for i in doc["items"]) == 46 and doc["metrics"]["asdiv/acc,none"] == 0.92


def test_legacy_layout_results_json_and_an_array_in_a_jsonl_file(outputs):
    folder = outputs / "lm-eval" / LEGACY
    doc = parse_lm_eval(source(folder / "results.json"), [source(folder / "model__gpt-3.5-turbo-0125_wmdp_bio.jsonl")])
    assert (doc["project_id"], doc["model_id"]) == ("wmdp", "gpt-3.5-turbo-0125")    # from model_args "model=..."
    assert doc["run_id"] == "gpt-3.5-turbo-0125::wmdp::lm-eval@2024-04-04T00:44:35.137071Z"
    assert doc["metrics"]["wmdp_chem/exact_match,none"] == 1.0 and doc["metrics"]["wmdp/exact_match,none"] == 1.0
    assert len(doc["items"]) == 100 and all(i["passed"] for i in doc["items"])
    assert doc["items"][99]["item_id"] == "wmdp_bio/99/none"


def test_nan_and_infinity_are_left_out_with_a_note(outputs):
    doc = parse(outputs, POLYMER, "polymer_tg_prediction")
    assert doc["metrics"] == {"total_evaluation_time_seconds": pytest.approx(13.477185819298029)}
    notes = doc["config"]["ingest"]["notes"]
    assert "metric polymer_tg_prediction/mae,none is Infinity in the results file; left out" in notes
    assert "metric polymer_tg_prediction/mae_stderr,none is NaN in the results file; left out" in notes
    # mae is lower-is-better and unbounded: no item scores can be made of it.
    assert "items" not in doc or doc["items"] == []
    assert any("no per-sample metric" in n and "24 samples are not items" in n for n in notes)
    json.dumps(doc, allow_nan=False)


def test_several_top_level_tasks_need_a_project(outputs):
    with pytest.raises(InvalidInput, match="12 top-level tasks .*give --project \\(project_id\\)"):
        parse(outputs, MATERIALS)
    doc = parse(outputs, MATERIALS, project_id="materials")
    assert doc["metrics"]["mof_water_stability/exact_match,xml-extract"] == 0.8
    assert doc["metrics"]["corrosion_prediction/exact_match,none"] == 0.65
    assert doc["metrics"]["pxrd_lattice_prediction/mae,none"] == 3.9685864222222222
    assert "dataset" not in doc


def test_a_truncated_samples_file_is_noted(outputs):
    doc = parse(outputs, "2026-01-21T03-44-18.458309", "math_perturbed_full", project_id="math")
    assert len(doc["items"]) == 10 and not any(i["passed"] for i in doc["items"])
    assert "task math_perturbed_full: the samples file has 10 documents, the results count 5000" in \
        doc["config"]["ingest"]["notes"]


def test_reingesting_is_deterministic_and_options_apply(outputs):
    first = parse(outputs, NEGOTIATION, "negotiationtom_belief")
    assert parse(outputs, NEGOTIATION, "negotiationtom_belief") == first
    given = parse(outputs, NEGOTIATION, "negotiationtom_belief", project_id="p", model_id="m", run_id="r",
                  tags={"branch": "main"})
    assert (given["project_id"], given["model_id"], given["run_id"], given["tags"]) == ("p", "m", "r",
                                                                                      {"branch": "main"})
    assert first["config_fingerprint"] == given["config_fingerprint"]      # provenance is not configuration


def test_samples_of_another_run_or_task_are_refused(outputs):
    folder = outputs / "lm-eval"
    results = source(folder / f"results_{NEGOTIATION}.json")
    other = source(folder / "samples_asdiv_2024-08-21T03-44-09.494230.jsonl")
    with pytest.raises(InvalidInput, match="dated 2024-08-21T03-44-09.494230 but the results file"):
        parse_lm_eval(results, [other])
    renamed = SourceFile(f"samples_asdiv_{NEGOTIATION}.jsonl", other.data)
    with pytest.raises(InvalidInput, match="task 'asdiv', which the results file does not have"):
        parse_lm_eval(results, [renamed])
    belief = source(folder / f"samples_negotiationtom_belief_{NEGOTIATION}.jsonl")
    with pytest.raises(InvalidInput, match="second samples file"):
        parse_lm_eval(results, [belief, belief])
    unnamed = SourceFile("mystery.jsonl", belief.data)
    with pytest.raises(InvalidInput, match="does not name a task.*give --samples-task mystery.jsonl=TASK "
                                           "\\(sample_tasks="):
        parse_lm_eval(results, [unnamed])
    doc = parse_lm_eval(results, [unnamed], sample_tasks={"mystery.jsonl": "negotiationtom_belief"})
    assert len(doc["items"]) == 20


def test_a_file_or_task_named_in_the_options_must_be_among_the_samples(outputs):
    """A misspelt sample_tasks file or primary_metric task is refused, not left unused while a default decides."""
    folder = outputs / "lm-eval"
    results = source(folder / f"results_{NEGOTIATION}.json")
    belief, intention = (source(folder / f"samples_negotiationtom_{t}_{NEGOTIATION}.jsonl") for t in ("belief", "intention"))
    with pytest.raises(InvalidInput, match="^--samples-task: 'mystery.jsonl' is not one of the samples files"):
        parse_lm_eval(results, [belief], sample_tasks={"mystery.jsonl": "negotiationtom_belief"})
    with pytest.raises(InvalidInput, match="^--primary-metric: task 'negotiationtom_desire' has no samples file "
                                           "\\(they hold: negotiationtom_belief, negotiationtom_intention;"):
        parse_lm_eval(results, [belief, intention], primary_metric={"negotiationtom_desire": "acc"})
    doc = parse_lm_eval(results, [belief, intention], primary_metric={"negotiationtom_intention": "exact_match"})
    assert {(i["extra"]["task"], i["extra"]["metric"]) for i in doc["items"]} == {
        ("negotiationtom_belief", "acc"), ("negotiationtom_intention", "exact_match")}


# -- hand-written files for what the real ones do not show --------------------------

RESULTS = {
    "results": {"gsm": {"alias": "gsm", "exact_match,strict-match": 0.5, "exact_match_stderr,strict-match": 0.5,
                        "exact_match,flexible-extract": 1.0, "exact_match_stderr,flexible-extract": 0.0}},
    "configs": {"gsm": {}}, "versions": {"gsm": 3}, "n-shot": {"gsm": 5},
    "config": {"model": "hf", "model_args": "pretrained=org/model,dtype=bfloat16", "batch_size": "auto"},
    "git_hash": "abc123", "date": 1700000000.5,
}


def text_file(name, value):
    return SourceFile(name, (value if isinstance(value, str) else json.dumps(value)).encode())


def test_repeated_doc_ids_without_filter_follow_the_results_order():
    lines = [{"doc_id": 0, "exact_match": 0.0}, {"doc_id": 0, "exact_match": 1.0},
             {"doc_id": 1, "exact_match": 1.0}, {"doc_id": 1, "exact_match": 1.0}]
    samples = text_file("samples_gsm_2023-11-14T22-13-20.500000.jsonl", "\n".join(json.dumps(x) for x in lines))
    doc = parse_lm_eval(text_file("results_2023-11-14T22-13-20.500000.json", RESULTS), [samples])
    assert [(i["item_id"], i["score"]) for i in doc["items"]] == [
        ("gsm/0/strict-match", 0.0), ("gsm/0/flexible-extract", 1.0),
        ("gsm/1/strict-match", 1.0), ("gsm/1/flexible-extract", 1.0)]
    assert doc["model_id"] == "org/model" and doc["dataset"] == {"name": "gsm", "version": "3"}
    assert any("repeated doc_ids" in n for n in doc["config"]["ingest"]["notes"])


@pytest.mark.parametrize("content, where", [
    ('{"results": {"gsm": {"acc,none": 0.5}}', "line 1 column 39"),              # truncated
    ('{"results": [1, 2]}', "$.results"),
    ('{"results": {"gsm": 0.5}}', "$.results['gsm']"),
    ('[]', "$.results"),
    (b'{"results": {"\xff": 1}}', "byte 14"),
])
def test_malformed_results_name_the_file_and_the_position(content, where):
    data = content if isinstance(content, bytes) else content.encode()
    with pytest.raises(InvalidInput) as error:
        parse_lm_eval(SourceFile("out/results_x.json", data), project_id="p", model_id="m")
    assert error.value.field.startswith("out/results_x.json") and where in error.value.field


@pytest.mark.parametrize("content, where", [
    ('{"doc_id": 0, "exact_match": 1.0}\n{"doc_id": 1, "exact_match": ', "line 2 column"),
    ('{"doc_id": 0, "exact_match": 1.0}\n[1]\n', "line 2"),
    ('{"doc_id": 0, "exact_match": 1.0}\n\n{"exact_match": 1.0}\n', "line 3 doc_id"),
    ('[{"doc_id": 0}, 7]', "$[1]"),
    ('{"doc_id": 0, "filter": "strict-match", "exact_match": 1}\n{"doc_id": 0, "filter": "strict-match", '
     '"exact_match": 1}', "line 2"),
])
def test_malformed_samples_name_the_file_and_the_position(content, where):
    samples = text_file("samples_gsm_2023-11-14T22-13-20.500000.jsonl", content)
    with pytest.raises(InvalidInput) as error:
        parse_lm_eval(text_file("results_2023-11-14T22-13-20.500000.json", RESULTS), [samples])
    assert error.value.field.startswith("samples_gsm_") and where in error.value.field


def test_results_of_lm_eval_before_0_4_are_refused():
    old = {"results": {"hellaswag": {"acc": 0.5, "acc_stderr": 0.01}}, "config": {"model": "gpt2"}}
    with pytest.raises(InvalidInput, match="before 0.4"):
        parse_lm_eval(text_file("results.json", old))


def test_a_file_without_a_model_needs_model_id():
    bare = {"results": {"t": {"acc,none": 1.0}}}
    with pytest.raises(InvalidInput, match="give --model \\(model_id\\)"):
        parse_lm_eval(text_file("results.json", bare))
    doc = parse_lm_eval(text_file("results.json", bare), model_id="m")
    assert doc["project_id"] == "t" and doc["run_id"].startswith("m::t::lm-eval@sha256:")


def test_ingest_dispatches_to_lm_eval():
    doc = ingest("lm-eval", [text_file("results.json", RESULTS)], project_id="math")
    assert doc["project_id"] == "math" and doc["metrics"]["gsm/exact_match,flexible-extract"] == 1.0
    assert doc["run_id"] == "org/model::math::lm-eval@2023-11-14T22:13:20.500000Z"
