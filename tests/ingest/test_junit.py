"""JUnit XML from pytest and Maven Surefire to run documents; hostile and broken XML refused."""

from __future__ import annotations

import pytest

from auditlog.errors import InvalidInput
from auditlog.evals.runs import normalize_run
from auditlog.ingest import SourceFile, ingest, parse_junit

from .ingest_support import source


def parse(path_or_text, **kwargs):
    src = source(path_or_text) if not isinstance(path_or_text, str) else SourceFile("report.xml",
                                                                                      path_or_text.encode())
    return parse_junit(src, **{"project_id": "unit", "model_id": "agent", **kwargs})


def test_pytest_report_with_failures(outputs):
    doc = parse(outputs / "junit" / "report.xml")
    normalize_run(doc)
    assert doc["metrics"] == {"tests": 3, "passed": 1, "failures": 2, "errors": 0, "skipped": 0,
                              "pass_rate": pytest.approx(1 / 3), "time_s": pytest.approx(0.002)}
    items = {i["item_id"]: i for i in doc["items"]}
    assert list(items) == ["python.test_sample::test_which_succeeds", "python.test_sample::test_which_fails",
                           "python.test_sample::test_with_error"]
    assert items["python.test_sample::test_which_succeeds"]["score"] == 1.0
    failed = items["python.test_sample::test_which_fails"]
    assert (failed["score"], failed["passed"], failed["latency_ms"]) == (0.0, False, 1.0)
    assert failed["error"] == "AssertionError: assert 'test' == 'xyz'\n  - xyz\n  + test"     # &#10; decoded
    assert doc["run_id"] == "agent::unit::junit@sha256:ac39e6460062008c"
    assert "started_at" not in doc                         # the timestamp has no zone
    assert doc["config"]["ingest"]["suites"][0]["timestamp"] == "2020-10-12T18:46:11.226119"


def test_surefire_report_with_a_bare_testsuite_root(outputs):
    doc = parse(outputs / "junit" / "TEST-action.surefire.report.calc.CalcUtilsTest.xml")
    normalize_run(doc)
    assert doc["config"]["junit"] == {"root": "testsuite", "suites": ["action.surefire.report.calc.CalcUtilsTest"]}
    assert [i["item_id"] for i in doc["items"]] == ["action.surefire.report.calc.CalcUtilsTest::test error handling",
                                                   "action.surefire.report.calc.CalcUtilsTest::test scale"]
    scale = doc["items"][1]
    assert scale["error"] == "Expected: <100.10>\n     but: was <100.11>"
    assert scale["extra"]["type"] == "java.lang.AssertionError" and scale["latency_ms"] == 1.0
    assert doc["metrics"]["failures"] == 2 and doc["metrics"]["pass_rate"] == 0.0


def test_skipped_tests_are_counted_but_are_not_items(outputs):
    doc = parse(outputs / "junit" / "junit.gloo.elastic.spark.tf.xml")
    normalize_run(doc)
    assert doc["metrics"]["tests"] == 22 and doc["metrics"]["skipped"] == 2 and doc["metrics"]["passed"] == 20
    assert len(doc["items"]) == 20 and doc["metrics"]["pass_rate"] == 1.0
    items = {i["item_id"]: i for i in doc["items"]}
    name = "test.integration.test_elastic_spark_tensorflow.ElasticSparkTensorflowTests::test_auto_scale_up"
    assert items[name]["latency_ms"] == pytest.approx(30312.0)
    assert items[name]["extra"]["file"] == "test/integration/elastic_spark_common.py"
    assert not any(i.endswith("test_auto_scale_down_by_discovery") for i in items)        # skipped
    assert "suite timestamps have no time zone; started_at and finished_at are not recorded" in \
        doc["config"]["ingest"]["notes"]


def test_errors_reruns_duplicates_zones_and_collection_errors():
    doc = parse("""<?xml version="1.0"?>
<testsuites>
  <testsuite name="a" tests="6" failures="0" errors="2" skipped="1" time="3.5" timestamp="2026-03-01T10:00:00+01:00">
    <testcase classname="m.T" name="t1" time="1.5"/>
    <testcase classname="m.T" name="t1" time="0.5"/>
    <testcase classname="m.T" name="t2" time="1"><error message="" type="RuntimeError">boom
  at line 3</error></testcase>
    <testcase classname="m.T" name="t3" time="x"><flakyFailure message="once"/></testcase>
    <testcase classname="" name="tests/test_bad.py"><error message="collection failure"/></testcase>
    <testcase classname="m.T" name="t4"><skipped message="later"/></testcase>
  </testsuite>
</testsuites>""")
    assert [i["item_id"] for i in doc["items"]] == ["m.T::t1", "m.T::t1#2", "m.T::t2", "m.T::t3", "tests/test_bad.py"]
    t2 = doc["items"][2]
    assert (t2["passed"], t2["error"], t2["extra"]["outcome"]) == (False, "boom", "error")
    assert doc["items"][3]["passed"] and doc["items"][3]["extra"]["reruns"] == 1 and "latency_ms" not in doc["items"][3]
    assert doc["items"][4]["error"] == "collection failure"
    assert (doc["started_at"], doc["finished_at"]) == ("2026-03-01T10:00:00+01:00", "2026-03-01T10:00:03.500000+01:00")
    notes = doc["config"]["ingest"]["notes"]
    assert any("time attributes" in n for n in notes)
    assert not any("declare" in n for n in notes)      # the declared counts match the testcases
    normalize_run(doc)


def test_declared_counts_that_disagree_are_noted():
    doc = parse('<testsuite name="s" tests="5" failures="0" errors="0" skipped="0"><testcase name="a"/></testsuite>')
    assert doc["metrics"]["tests"] == 1
    assert any("declare" in n for n in doc["config"]["ingest"]["notes"])


TRUNCATED = """<testsuite name="evals" tests="30">
  <testcase classname="evals.test_tools" name="test_lookup" time="0.1"/>
  <testcase classname="evals.test_tools" name="test_sum" time="0.1"/>
  <testcase classname="evals.test_tools" name="test_plan" time="0.2"><failure message="wrong answer"/></testcase>
</testsuite>"""


def test_a_declared_count_is_compared_though_others_are_missing():
    """A truncated report: the suite declares 30 tests and holds 3; it declares no failures/errors/skipped."""
    doc = parse(TRUNCATED)
    assert doc["metrics"]["tests"] == 3
    assert doc["config"]["ingest"]["notes"] == [
        "the suites declare {'tests': 30} but the testcases count {'tests': 3}; the counts are used"]
    one = parse(TRUNCATED.replace('tests="30"', 'tests="3" failures="2"'))  # tests agree, failures do not
    assert one["config"]["ingest"]["notes"] == [
        "the suites declare {'tests': 3, 'failures': 2} but the testcases count {'tests': 3, 'failures': 1}; "
        "the counts are used"]
    agree = parse(TRUNCATED.replace('tests="30"', 'tests="3" failures="1"'))
    assert "notes" not in agree["config"]["ingest"]


NESTED = """<testsuites>
 <testsuite name="root" tests="2">
  <testsuite name="a" tests="1" failures="0" errors="0" skipped="0" timestamp="2026-03-01T10:00:00+00:00" time="2"
             hostname="ci-a">
   <testcase classname="a" name="t1" time="2"/>
  </testsuite>
  <testsuite name="b" tests="1" failures="1" errors="0" skipped="0" timestamp="2026-03-01T10:05:00+00:00" time="3">
   <testcase classname="b" name="t2" time="3"><failure message="x"/></testcase>
  </testsuite>
 </testsuite>
</testsuites>"""


def test_nested_suites_give_their_times_names_and_facts():
    doc = parse(NESTED)
    assert (doc["started_at"], doc["finished_at"]) == ("2026-03-01T10:00:00+00:00", "2026-03-01T10:05:03+00:00")
    assert doc["config"]["junit"] == {"root": "testsuites", "suites": ["root", "a", "b"]}
    assert doc["config"]["ingest"]["suites"] == [
        {"name": "root", "tests": "2"},
        {"name": "a", "timestamp": "2026-03-01T10:00:00+00:00", "time": "2", "hostname": "ci-a", "tests": "1",
         "failures": "0", "errors": "0", "skipped": "0", "in": "root"},
        {"name": "b", "timestamp": "2026-03-01T10:05:00+00:00", "time": "3", "tests": "1", "failures": "1",
         "errors": "0", "skipped": "0", "in": "root"}]
    # the inner suites' declarations (2 tests, 1 failure) agree: the outer total is not added to them
    assert "notes" not in doc["config"]["ingest"]
    assert [i["extra"]["suite"] for i in doc["items"]] == ["a", "b"]
    normalize_run(doc)


def test_nested_suites_that_disagree_with_the_testcases_are_noted():
    inner_wrong = parse(NESTED.replace('name="b" tests="1" failures="1"', 'name="b" tests="4" failures="1"'))
    assert inner_wrong["config"]["ingest"]["notes"] == [
        "the suites declare {'tests': 5, 'failures': 1, 'errors': 0, 'skipped': 0} but the testcases count "
        "{'tests': 2, 'failures': 1, 'errors': 0, 'skipped': 0}; the counts are used"]
    # inner suites that declare no tests: the outer suite's own total is compared
    bare = parse(NESTED.replace(' tests="1"', "").replace('<testsuite name="root" tests="2">',
                                                          '<testsuite name="root" tests="7">'))
    assert "the suites declare {'tests': 7, 'failures': 1, 'errors': 0, 'skipped': 0}" in \
        bare["config"]["ingest"]["notes"][0]


def test_an_inner_suite_that_ends_later_decides_finished_at():
    doc = parse(NESTED.replace('<testsuite name="root" tests="2">',
                               '<testsuite name="root" tests="2" timestamp="2026-03-01T09:59:00+00:00" time="5">'))
    assert (doc["started_at"], doc["finished_at"]) == ("2026-03-01T09:59:00+00:00", "2026-03-01T10:05:03+00:00")


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
]>
<testsuites><testsuite name="&lol2;"/></testsuites>"""


@pytest.mark.parametrize("text, where, match", [
    (BILLION_LAUGHS, "report.xml line 2", "DOCTYPE"),
    ('<?xml version="1.0"?>\n<!DOCTYPE testsuites SYSTEM "http://example.invalid/x.dtd">\n<testsuites/>',
     "report.xml line 2", "DOCTYPE"),
    ('<testsuites>\n  <testsuite name="a">\n    <testcase name="x">\n  </testsuite>\n</testsuites>',
     "report.xml line 4 column 5", "mismatched tag"),
    ('<testsuites><testsuite name="a">', "report.xml line 1 column", "no element found"),
    ("", "report.xml", "is empty"),
    ('<?xml version="1.0"?>\n<html><body/></html>', "report.xml line 2 <html>", "root element"),
    ('<testsuite name="s">\n<testcase classname="c"/>\n</testsuite>', "report.xml line 2 <testcase>", "no name"),
])
def test_hostile_and_broken_xml_is_refused_with_its_position(text, where, match):
    with pytest.raises(InvalidInput, match=match) as error:
        parse(text)
    assert error.value.field.startswith(where)


def test_project_and_model_are_required():
    with pytest.raises(InvalidInput) as error:
        parse_junit(SourceFile("r.xml", b"<testsuite name='s'/>"), project_id="p")
    assert error.value.field == "--model"
    with pytest.raises(InvalidInput) as error:
        ingest("junit", [SourceFile("r.xml", b"<testsuite name='s'/>")], model_id="m")
    assert error.value.field == "--project"


def test_ingest_dispatches_to_junit_and_retries_are_identical():
    report = SourceFile("r.xml", b"<testsuite name='s'><testcase classname='c' name='n'/></testsuite>")
    first = ingest("junit", [report], project_id="p", model_id="m", tags={"branch": "main"})
    assert first == ingest("junit-xml", [report], project_id="p", model_id="m", tags={"branch": "main"})
    assert first["items"] == [{"item_id": "c::n", "score": 1.0, "passed": True,
                               "extra": {"outcome": "passed", "suite": "s", "classname": "c"}}]
    assert first["tags"] == {"branch": "main"}


@pytest.mark.parametrize("encoding", ["klingon", "utf-7"])
def test_an_encoding_expat_cannot_read_is_invalid_input(encoding):
    """Found by the fuzzer: an unknown (or multi-byte) encoding in the XML declaration raised
    LookupError/ValueError from expat instead of a clear refusal."""
    data = f"<?xml version='1.0' encoding='{encoding}'?><testsuite name='x'><testcase name='a'/></testsuite>"
    with pytest.raises(InvalidInput, match="names an encoding that cannot be read"):
        parse_junit(SourceFile("r.xml", data.encode()), project_id="p", model_id="m", run_id="r")


def test_a_report_without_project_or_model_names_the_option_to_give(tmp_path) -> None:
    """A JUnit report names neither: the CLI says which option is missing, and writes nothing."""
    from tests.integration.cli_support import cli

    report = tmp_path / "report.xml"
    report.write_text('<testsuite name="s" tests="1"><testcase classname="c" name="t"/></testsuite>')
    for given, missing in ((["--model", "m"], "--project"), (["--project", "p"], "--model")):
        refused = cli("ingest", "junit", report, *given, "--log", tmp_path / "evals.db")
        assert refused.code == 2 and f"{missing}: is required for a JUnit report" in refused.err, refused
        assert "Traceback" not in refused.err and not (tmp_path / "evals.db").exists()
