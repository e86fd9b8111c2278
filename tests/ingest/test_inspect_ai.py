"""inspect_ai logs, JSON and .eval archives of inspect 0.3.41 to 0.3.138, to run documents."""

from __future__ import annotations

import io
import json
import struct
import sys
import warnings
import zipfile
import zlib

import pytest

from auditlog.errors import InvalidInput
from auditlog.evals.runs import normalize_run
from auditlog.ingest import SourceFile, ingest, parse_inspect
from auditlog.ingest.inspect_ai import to_float

from .ingest_support import source

POPULARITY = "2025-02-11T15-18-04-05-00_popularity_mj7khqpMM4GBCfVQozKgzB.eval"
UNSCORED = "edge/2025-02-11T15-17-00-05-00_popularity_dPiJifoWeEQBrfWsAopzWr.eval"
CANCELLED = "edge/2025-05-12T20-28-13-04-00_popularity.json"


@pytest.mark.parametrize("name", [POPULARITY, "log_streaming.eval", "log_formats.eval", "log_formats.json",
                                  "data_arc_sonnet.json"])
def test_every_finished_log_makes_an_accepted_document(outputs, name):
    doc = parse_inspect(source(outputs / "inspect" / name))
    normalize_run(doc)
    accuracy = next(v for k, v in doc["metrics"].items() if k.endswith("/accuracy"))
    assert sum(i["score"] for i in doc["items"]) / len(doc["items"]) == pytest.approx(accuracy)
    assert doc["metrics"]["completed_samples"] == len(doc["items"])


def test_an_eval_archive(outputs):
    doc = parse_inspect(source(outputs / "inspect" / POPULARITY))
    assert (doc["project_id"], doc["model_id"]) == ("popularity", "openai/gpt-4o-mini")
    assert doc["run_id"] == "openai/gpt-4o-mini::popularity::inspect@2wRuCQ9hGYaGPyAdoobgYV/mj7khqpMM4GBCfVQozKgzB"
    assert (doc["started_at"], doc["finished_at"]) == ("2025-02-11T15:18:04-05:00", "2025-02-11T15:18:08-05:00")
    assert doc["metrics"] == {"match/accuracy": 0.8, "match/stderr": 0.13333333333333333, "total_samples": 10,
                              "completed_samples": 10, "input_tokens": 620, "output_tokens": 20, "total_tokens": 640}
    assert [i["item_id"] for i in doc["items"]] == [f"{n}#1" for n in range(1, 11)]
    assert sum(i["passed"] for i in doc["items"]) == 8
    nine = doc["items"][8]
    assert nine["extra"]["scores"] == {"match": "C"} and nine["tokens"] == 63
    assert doc["config"]["inspect"]["task"] == "popularity" and doc["dataset"] == {"name": "popularity"}


def test_epochs_are_items_of_their_own(outputs):
    doc = parse_inspect(source(outputs / "inspect" / "log_streaming.eval"))
    assert [(i["item_id"], i["score"]) for i in doc["items"]] == [("1#1", 0.0), ("1#2", 1.0), ("2#1", 1.0),
                                                                  ("2#2", 1.0)]
    assert doc["items"][1]["extra"]["sample_id"] == 1 and doc["items"][1]["extra"]["epoch"] == 2


def test_a_json_log_with_timing_and_the_same_run_as_an_archive(outputs):
    arc = parse_inspect(source(outputs / "inspect" / "data_arc_sonnet.json"))
    assert arc["project_id"] == "inspect_evals/arc_easy" and arc["dataset"] == {"name": "allenai/ai2_arc"}
    assert arc["run_id"].endswith("::inspect@dkwsqaUCsNeFReCeVkJ4Nj")
    assert arc["items"][0] == {"item_id": "1#1", "score": 1.0, "passed": True, "latency_ms": 7899.0, "tokens": 485,
                               "extra": {"sample_id": 1, "epoch": 1, "scorer": "choice", "scores": {"choice": "C"}}}
    as_json = parse_inspect(source(outputs / "inspect" / "log_formats.json"))
    as_eval = parse_inspect(source(outputs / "inspect" / "log_formats.eval"))
    assert as_json["run_id"] == as_eval["run_id"]
    assert as_json["items"] == as_eval["items"] and as_json["metrics"] == as_eval["metrics"]


def test_a_cancelled_log_is_refused_unless_incomplete_logs_are_allowed(outputs):
    path = outputs / "inspect" / CANCELLED
    with pytest.raises(InvalidInput, match="is 'cancelled'.*--allow-incomplete.*3 samples"):
        parse_inspect(source(path))
    doc = parse_inspect(source(path), allow_incomplete=True)
    assert doc["tags"] == {"inspect_status": "cancelled"} and len(doc["items"]) == 3
    assert doc["metrics"]["match/accuracy"] == pytest.approx(2 / 3)
    assert doc["items"][0]["extra"]["metadata"] == {"label_confidence": 0.8860552919198255}   # scalars only


def test_an_unscored_log_is_refused(outputs):
    with pytest.raises(InvalidInput, match="without scoring"):
        parse_inspect(source(outputs / "inspect" / UNSCORED))


@pytest.mark.parametrize("value, expected", [
    ("C", 1.0), ("P", 0.5), ("I", 0.0), ("N", 0.0), ("yes", 1.0), ("FALSE", 0.0), ("0.25", 0.25), (True, 1.0),
    (3, 3.0), ("maybe", None), ([1, 0], None), ({"a": 1}, None), ("inf", None),
])
def test_score_values_are_read_as_inspect_reads_them(value, expected):
    assert to_float(value) == expected


# -- hand-written logs --------------------------------------------------------------

def sample(sid, value, epoch=1, **more):
    return {"id": sid, "epoch": epoch, "input": "q", "target": "a", "scores": {"match": {"value": value}}, **more}


def log(samples, status="success", **more):
    return {"version": 2, "status": status,
            "eval": {"eval_id": "E1", "run_id": "R1", "task_id": "T1", "task": "quiz", "model": "m/x",
                     "created": "2026-01-01T00:00:00+00:00", "dataset": {"name": "quiz"}, "config": {}},
            "results": {"total_samples": len(samples), "completed_samples": len(samples),
                        "scores": [{"name": "match", "scorer": "match",
                                    "metrics": {"accuracy": {"name": "accuracy", "value": 0.5}}}]},
            "stats": {"started_at": "2026-01-01T00:00:00+00:00", "completed_at": "2026-01-01T00:01:00+00:00",
                      "model_usage": {}},
            "samples": samples, **more}


def json_log(content, name="log.json"):
    return SourceFile(name, json.dumps(content).encode())


def archive(members, name="log.eval"):
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")             # duplicate member names are the point of one test
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            for member, content in members:
                z.writestr(member, content if isinstance(content, (bytes, str)) else json.dumps(content))
    return SourceFile(name, buffer.getvalue())


def header_of(content):
    return {k: v for k, v in content.items() if k != "samples"}


def test_errored_unscored_and_numeric_samples():
    samples = [sample(1, "C"), sample(2, 0.25), {"id": 3, "epoch": 1, "scores": {}, "error": {"message": "boom"}},
               {"id": 4, "epoch": 1, "scores": {}}, sample("b", float("nan"))]
    doc = parse_inspect(SourceFile("log.json", json.dumps(log(samples)).encode()))
    assert [(i["item_id"], i["score"], i["passed"], i.get("error")) for i in doc["items"]] == [
        ("1#1", 1.0, True, None), ("2#1", 0.25, False, None), ("3#1", 0.0, False, "boom")]
    notes = doc["config"]["ingest"]["notes"]
    assert "2 samples have no match score and no error; they are not items" in notes
    assert any("failed with an error" in n for n in notes)
    assert doc["run_id"] == "m/x::quiz::inspect@E1"


def test_scores_outside_zero_one_give_no_items_and_a_note():
    doc = parse_inspect(json_log(log([sample(1, 7), sample(2, 3)])))
    assert "items" not in doc
    assert any("outside [0, 1]" in n for n in doc["config"]["ingest"]["notes"])


def test_a_scorer_can_be_chosen():
    samples = [{"id": 1, "epoch": 1, "scores": {"match": {"value": "I"}, "judge": {"value": "C"}}}]
    doc = parse_inspect(json_log(log(samples)), scorer="judge")
    assert doc["items"][0]["score"] == 1.0 and doc["items"][0]["extra"]["scores"] == {"match": "I", "judge": "C"}
    with pytest.raises(InvalidInput, match="no per-sample scores named 'other'"):
        parse_inspect(json_log(log(samples)), scorer="other")


def test_an_archive_reads_the_last_of_repeated_members_and_falls_back_to_summaries():
    content = log([sample(1, "I"), sample(2, "C")])
    stale = {**header_of(content), "status": "started"}
    members = [("_journal/start.json", {}), ("samples/1_epoch_1.json", sample(1, "C")),
               ("samples/1_epoch_1.json", sample(1, "I")), ("samples/2_epoch_1.json", sample(2, "C")),
               ("header.json", stale), ("header.json", header_of(content))]
    doc = parse_inspect(archive(members))
    assert [(i["item_id"], i["score"]) for i in doc["items"]] == [("1#1", 0.0), ("2#1", 1.0)]
    summaries = parse_inspect(archive([("summaries.json", content["samples"]), ("header.json", header_of(content))]))
    assert [i["item_id"] for i in summaries["items"]] == ["1#1", "2#1"]
    assert any("summaries.json" in n for n in summaries["config"]["ingest"]["notes"])


def test_the_earliest_archive_layout_is_read():
    content = log([sample(1, "C")])
    start = {"version": 1, "eval": content["eval"], "plan": {}}
    results = {"status": "success", "stats": content["stats"], "results": content["results"]}
    doc = parse_inspect(archive([("start.json", start), ("samples/1_epoch_1.json", sample(1, "C")),
                                 ("results.json", results)]))
    assert doc["items"][0]["item_id"] == "1#1"


def zstd_archive(members):
    """A zip whose members use method 93 (zstd) as inspect >= 0.3.207 writes them."""
    import zstandard
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        for name, content in members:
            z.writestr(name, zstandard.ZstdCompressor().compress(json.dumps(content).encode()))
    data = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        infos = z.infolist()
    for info, (_, content) in zip(infos, members):
        raw = json.dumps(content).encode()
        # The local header holds method at +8, CRC and sizes at +14; a central entry at +10 and +16,
        # and its local header's offset at +42. Sizes of the data itself (compressed) stay as written.
        struct.pack_into("<H", data, info.header_offset + 8, 93)
        struct.pack_into("<II", data, info.header_offset + 14, zlib.crc32(raw), info.compress_size)
        struct.pack_into("<I", data, info.header_offset + 22, len(raw))
        central = data.find(b"PK\x01\x02")
        while struct.unpack_from("<I", data, central + 42)[0] != info.header_offset:
            central = data.find(b"PK\x01\x02", central + 4)
        struct.pack_into("<H", data, central + 10, 93)
        struct.pack_into("<II", data, central + 16, zlib.crc32(raw), info.compress_size)
        struct.pack_into("<I", data, central + 24, len(raw))
    return SourceFile("zstd.eval", bytes(data))


def test_zstd_members_are_read_with_the_zstandard_package():
    pytest.importorskip("zstandard", reason="zstd-compressed .eval logs need the optional zstandard package")
    content = log([sample(1, "C"), sample(2, "I")])
    doc = parse_inspect(zstd_archive([("samples/1_epoch_1.json", sample(1, "C")),
                                      ("samples/2_epoch_1.json", sample(2, "I")),
                                      ("header.json", header_of(content))]))
    assert [(i["item_id"], i["score"]) for i in doc["items"]] == [("1#1", 1.0), ("2#1", 0.0)]


def test_zstd_without_a_decoder_says_what_to_install(monkeypatch):
    stored = archive([("header.json", header_of(log([])))])
    data = bytearray(stored.data)
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        struct.pack_into("<H", data, data.find(signature) + offset, 93)
    monkeypatch.setitem(sys.modules, "zstandard", None)          # import zstandard -> ImportError
    with pytest.raises(InvalidInput, match="pip install zstandard") as error:
        parse_inspect(SourceFile("new.eval", bytes(data)))
    assert error.value.field == "new.eval header.json"


@pytest.mark.parametrize("make, where, match", [
    (lambda: archive([("_journal/start.json", {}), ("samples/1_epoch_1.json", sample(1, "C"))]),
     "log.eval header.json", "never finished"),
    (lambda: SourceFile("log.eval", archive([("header.json", {"a": 1})]).data[:-30]), "log.eval", "zip"),
    (lambda: archive([("header.json", "{\"version\": 2,")]), "log.eval!header.json line 1 column 15", "JSON"),
    (lambda: archive([("header.json", [1])]), "log.eval header.json", "JSON object"),
    (lambda: archive([("header.json", header_of(log([]))), ("samples/1_epoch_1.json", [1])]),
     "log.eval samples/1_epoch_1.json", "JSON objects"),
    (lambda: json_log({**log([]), "status": "started"}), "log.json $.status", "has not finished"),
    (lambda: json_log({**log([]), "status": "done"}), "log.json $.status", "must be one of"),
    (lambda: json_log({**log([]), "eval": {"task": "t"}}), "log.json $.eval", "task and model"),
    (lambda: json_log({**log([]), "samples": {"a": 1}}), "log.json $.samples", "list"),
    (lambda: json_log({**log([]), "samples": [1]}), "log.json $.samples[0]", "EvalSample"),
    (lambda: SourceFile("log.json", json.dumps(log([sample(1, "C")]), indent=2).encode()[:200]), "log.json line",
     "not valid JSON"),
])
def test_malformed_logs_name_the_file_and_the_position(make, where, match):
    with pytest.raises(InvalidInput, match=match) as error:
        parse_inspect(make())
    assert error.value.field.startswith(where)


def test_ingest_dispatches_to_inspect():
    doc = ingest("inspect", [json_log(log([sample(1, "C")]))], project_id="p", tags={"branch": "main"})
    assert doc["project_id"] == "p" and doc["tags"] == {"branch": "main"}
    with pytest.raises(InvalidInput, match="one file per run"):
        ingest("inspect", [json_log(log([])), json_log(log([]))])
    with pytest.raises(InvalidInput, match="not an option of inspect"):
        ingest("inspect", [json_log(log([]))], primary_metric="acc")
    with pytest.raises(InvalidInput, match="must be one of"):
        ingest("helm", [json_log(log([]))])
