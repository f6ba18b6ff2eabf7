"""The sandbox: what expressions and scripts may do, the deploy-time scan, and the helpers."""

import ast
import sys
import time
from decimal import Decimal

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.spiff.parser import SpiffBpmnParser

from engine.errors import BundleError, ExpressionError, ForbiddenCode
from engine.procedure import scripts
from engine.running import sandbox


@pytest.fixture
def env():
    return sandbox.SandboxEnvironment()


@pytest.mark.parametrize(("expression", "data", "expected"), [
    ("score >= 90", {"score": 91}, True),
    ("Decimal('89.99') >= 90", {}, False),
    ("Decimal(score) >= 90", {"score": "90.00"}, True),
    ("opinion == 'agree' and not veto", {"opinion": "agree", "veto": False}, True),
    ("d.get('missing', 'x')", {"d": {}}, "x"),
    ("len([u for u in units if u.startswith('a')])", {"units": ["aqsiq", "miit"]}, 1),
    ("sorted(rs, key=lambda r: Decimal(r['score']))[0]['region']",
     {"rs": [{"region": "b", "score": "9"}, {"region": "a", "score": "10"}]}, "b"),
    ("max(int(s) for s in xs)", {"xs": ["3", "7"]}, 7),
    ("f'{year}—{year + 1}年度'", {"year": 2025}, "2025—2026年度"),
    ("total_score(us)", {"us": [{"unit": "u", "scores": [{"indicator": "T1", "score": "40"}]}]}, "40"),
    ("isinstance(x, str) and x.strip().isdigit()", {"x": " 42 "}, True),
    ("2 ** 10", {}, 1024),
    ("'-' * 3 + str(n)", {"n": 1}, "---1"),
    ("\n    score >= 90\n  ", {"score": 91}, True),  # pretty-printed XML
])
def test_allowed_expressions_evaluate(env, expression, data, expected):
    assert env.evaluate(expression, data) == expected


def test_script_sets_only_data_variables(env):
    data = {"results": [1]}
    assert env.execute("results.append(2)\ntotal = sum(results)\nsquare = lambda x: x * x\n"
                       "big = [square(r) for r in results]", data)
    assert data == {"results": [1, 2], "total": 3, "big": [1, 4]}


def test_script_may_not_shadow_a_helper(env):
    with pytest.raises(ExpressionError, match="rank"):
        env.execute("x = 1", {"rank": 3})


@pytest.mark.parametrize(("source", "mode", "named"), [
    ("__import__('os')", "eval", "'__import__'"),
    ("().__class__.__bases__", "eval", "'__bases__'"),
    ("x.__dict__", "eval", "'__dict__'"),
    ("open('/etc/passwd')", "eval", "call of 'open'"),
    ("exec('1')", "eval", "call of 'exec'"),
    ("eval", "eval", "name 'eval'"),
    ("getattr(x, 'y')", "eval", "call of 'getattr'"),
    ("type(x)", "eval", "call of 'type'"),
    ("__builtins__", "eval", "'__builtins__'"),
    ("'{0.__class__}'.format(x)", "eval", "attribute 'format'"),
    ("fmt.format_map(d)", "eval", "attribute 'format_map'"),
    ("dict.fromkeys(x)", "eval", "attribute 'fromkeys'"),
    ("(x for x in y).gi_frame", "eval", "attribute 'gi_frame'"),
    ("f(_secret=1)", "eval", "keyword '_secret'"),
    ("lambda _x: 0", "eval", "argument '_x'"),
    ("[x async for x in y]", "eval", "async comprehension"),
    ("9**9**9", "eval", "nested '**'"),
    ("(9**99)**99", "eval", "nested '**'"),
    ("10 ** 1000", "eval", "exponent 1000"),
    ("1 << 10**9", "eval", "shift"),
    ("'a' * 10**9", "eval", "repetition"),
    ("'a' * 10000 * 10000", "eval", "repetition"),
    ("[0] * 100001", "eval", "repetition"),
    ("-" * 9990 + "1", "eval", "nested"),
    ("not " * 200 + "x", "eval", "nested"),
    ("x" * 10001, "eval", "too long"),
    ("import os", "exec", "import"),
    ("from os import path", "exec", "import"),
    ("def f(): pass", "exec", "def"),
    ("class A: pass", "exec", "class"),
    ("global x", "exec", "global"),
    ("with x: pass", "exec", "with"),
    ("try:\n    x = 1\nexcept:\n    pass", "exec", "try"),
    ("raise x", "exec", "raise"),
    ("match x:\n    case str(__class__=c):\n        pass", "exec", "match"),
    ("_hidden = 1", "exec", "name '_hidden'"),
    ("x.__class__ = y", "exec", "'__class__'"),
])
def test_forbidden_code_is_refused_by_name(source, mode, named):
    with pytest.raises(ForbiddenCode) as caught:
        sandbox.check(source, mode)
    assert named in caught.value.message


@pytest.mark.parametrize("expression", ["__import__('os')", "open('/etc/passwd')", "x.__class__"])
def test_runtime_refuses_too(env, expression):
    with pytest.raises(ForbiddenCode):
        env.evaluate(expression, {"x": 1})


@pytest.mark.parametrize("name", ["print", "pow", "id", "iter", "next", "repr", "chr", "format", "exit"])
def test_other_builtins_do_not_exist(env, name):
    with pytest.raises(NameError):
        env.evaluate(f"{name}", {})
    assert env.evaluate(name, {name: "data"}) == "data"


def test_runtime_builtins_hold_even_without_the_static_check(env, monkeypatch):
    # Defence in depth: if a check were missed, the real builtins are still out of reach.
    monkeypatch.setattr(sandbox, "_parse", lambda source, mode: ast.parse(source, mode=mode))
    sandbox._compiled.cache_clear()
    try:
        for expression in ("open", "__import__('os')", "globals()"):
            with pytest.raises(NameError):
                env.evaluate(expression, {"__builtins__": __builtins__})
        data = {"__builtins__": __builtins__}
        with pytest.raises(NameError):
            env.execute("x = open", data)
        assert "__builtins__" not in data
    finally:
        sandbox._compiled.cache_clear()


def test_a_syntax_error_is_a_syntax_error():
    with pytest.raises(SyntaxError):
        sandbox.check("a ==", "eval")


def test_compiled_code_is_cached(env):
    sandbox._compiled.cache_clear()
    for _ in range(3):
        env.evaluate("a + 1", {"a": 1})
    assert sandbox._compiled.cache_info().hits == 2


BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="grading" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="compute" />
    <bpmn:scriptTask id="compute">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="compute" targetRef="decide" />
    <bpmn:businessRuleTask id="decide">
      <bpmn:extensionElements>
        <spiffworkflow:calledDecisionId>grade</spiffworkflow:calledDecisionId>
        <spiffworkflow:postScript>graded = True</spiffworkflow:postScript>
      </bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:businessRuleTask>
    <bpmn:sequenceFlow id="f3" sourceRef="decide" targetRef="gateway" />
    <bpmn:exclusiveGateway id="gateway" default="fail">
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>pass</bpmn:outgoing><bpmn:outgoing>fail</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="pass" sourceRef="gateway" targetRef="passed">
      <bpmn:conditionExpression>Decimal(total) &gt;= 60</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="fail" sourceRef="gateway" targetRef="failed" />
    <bpmn:scriptTask id="passed">
      <bpmn:incoming>pass</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:script>outcome = 'passed'</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:scriptTask id="failed">
      <bpmn:incoming>fail</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>
      <bpmn:script>outcome = 'failed'</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f4" sourceRef="passed" targetRef="end" />
    <bpmn:sequenceFlow id="f5" sourceRef="failed" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""

DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="grades" name="grades"
             namespace="http://camunda.org/schema/1.0/dmn">
  <decision id="grade" name="grade">
    <decisionTable id="table" hitPolicy="UNIQUE">
      <input id="in_total" label="total">
        <inputExpression id="in_expr" typeRef="string"><text>Decimal(total)</text></inputExpression>
      </input>
      <output id="out_grade" name="grade" typeRef="string" />
      <rule id="r1">
        <inputEntry id="r1_in"><text>&gt;= 90</text></inputEntry>
        <outputEntry id="r1_out"><text>'A'</text></outputEntry>
      </rule>
      <rule id="r2">
        <inputEntry id="r2_in"><text>60 &lt;= ? &lt; 90</text></inputEntry>
        <outputEntry id="r2_out"><text>'B'</text></outputEntry>
      </rule>
      <rule id="r3">
        <inputEntry id="r3_in"><text>-</text></inputEntry>
        <outputEntry id="r3_out"><text>{cell}</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""

SCORES = ("unit_scores = [{{'unit': 'u', 'scores': [{{'indicator': 'T1', 'score': '{a}'}},"
          " {{'indicator': 'T2', 'score': '{b}'}}]}}]\ntotal = total_score(unit_scores)")


def run(script: str, cell: str = "'D'") -> dict:
    """Run the grading process with the sandboxed engine and return the final data."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(BPMN.replace("{script}", script).encode(), "grading.bpmn")
    parser.add_dmn_str(DMN.replace("{cell}", cell).encode(), "grades.dmn")
    workflow = BpmnWorkflow(parser.get_spec("grading"), parser.get_subprocess_specs("grading"),
                            script_engine=sandbox.script_engine())
    workflow.do_engine_steps()
    assert workflow.is_completed()
    return workflow.data


@pytest.mark.parametrize(("a", "b", "total", "grade", "outcome"), [
    ("89.5", "0.49", "89.99", "B", "passed"),
    ("90", "0.00", "90", "A", "passed"),
    ("59.5", "0.49", "59.99", "D", "failed"),
])
def test_a_real_workflow_runs_in_the_sandbox(a, b, total, grade, outcome):
    data = run(SCORES.format(a=a, b=b))
    assert (data["total"], data["grade"], data["outcome"], data["graded"]) == (total, grade, outcome, True)
    assert "total_score" not in data and "Decimal" not in data


def test_forbidden_code_fails_the_task_at_run_time():
    with pytest.raises(WorkflowTaskException, match="import is not allowed"):
        run("import os")


def test_a_failing_helper_surfaces_as_a_task_error():
    with pytest.raises(WorkflowTaskException) as caught:
        run(SCORES.format(a="x", b="1"))
    assert caught.value.error_type == "ExpressionError"


def where(xml: str, text: str) -> int:
    """The line of `xml` on which `text` first appears."""
    return next(n for n, line in enumerate(xml.splitlines(), 1) if text in line)


def test_scan_accepts_clean_files():
    bpmn = BPMN.replace("{script}", SCORES.format(a="1", b="2"))
    scripts.scan("grading.bpmn", bpmn.encode())
    scripts.scan("grades.dmn", DMN.replace("{cell}", "'D'").encode())


@pytest.mark.parametrize(("filename", "xml", "element", "marker", "named"), [
    ("grading.bpmn", BPMN.replace("{script}", "x = 1\nimport os"), "compute", "<bpmn:script>", "import"),
    ("grading.bpmn", BPMN.replace("{script}", "x = 1").replace("Decimal(total)", "total.__class__"),
     "pass", "total.__class__", "'__class__'"),
    ("grading.bpmn", BPMN.replace("{script}", "x = 1").replace("graded = True", "graded = open('f')"),
     "decide", "graded = open", "call of 'open'"),
    ("grades.dmn", DMN.replace("{cell}", "__import__('os')"), "r3_out", "__import__",
     "'__import__'"),
    ("grades.dmn", DMN.replace("{cell}", "'D'").replace("60 &lt;= ?", "?.__class__ or 60 &lt;= ?"),
     "r2_in", "?.__class__", "'__class__'"),
    ("grades.dmn", DMN.replace("{cell}", "'D'").replace("&gt;= 90", "in eval('[1]')"),
     "r1_in", "in eval", "call of 'eval'"),
    ("grades.dmn", DMN.replace("{cell}", "'D'").replace("Decimal(total)", "globals()"),
     "in_expr", "globals()", "call of 'globals'"),
])
def test_scan_names_file_line_and_element(filename, xml, element, marker, named):
    with pytest.raises(ForbiddenCode) as caught:
        scripts.scan(filename, xml.encode())
    error = caught.value
    assert (error.file, error.element, error.line) == (filename, element, where(xml, marker))
    assert named in error.message and filename in str(error)


def test_scan_reports_a_syntax_error_where_it_is():
    xml = BPMN.replace("{script}", "x = = 1")
    with pytest.raises(BundleError, match="syntax error") as caught:
        scripts.scan("grading.bpmn", xml.encode())
    assert not isinstance(caught.value, ForbiddenCode)
    assert (caught.value.element, caught.value.line) == ("compute", where(xml, "<bpmn:script>"))


LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="p"><bpmn:scriptTask id="s"><bpmn:script>x = '&lol9;'</bpmn:script></bpmn:scriptTask>
  </bpmn:process>
</bpmn:definitions>
"""

EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="p"><bpmn:scriptTask id="s"><bpmn:script>x = '&secret;'</bpmn:script></bpmn:scriptTask>
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.mark.parametrize("xml", [LAUGHS, EXTERNAL, "<definitions><unclosed></definitions>", "", "not xml"])
def test_scan_refuses_entities_and_malformed_xml(xml):
    with pytest.raises(BundleError) as caught:
        scripts.scan("bad.bpmn", xml.encode())
    assert caught.value.file == "bad.bpmn" and "lollol" not in str(caught.value)


def test_scan_ignores_code_lookalikes_in_other_namespaces():
    xml = BPMN.replace("{script}", "x = 1").replace(
        "<bpmn:incoming>f2</bpmn:incoming>", "<other:script xmlns:other='urn:x'>import os</other:script>"
        "<bpmn:incoming>f2</bpmn:incoming>")
    scripts.scan("grading.bpmn", xml.encode())


def test_decimal_helper_is_the_real_decimal(env):
    assert env.evaluate("Decimal('0.1') + Decimal('0.2')", {}) == Decimal("0.3")


# -- limits at run time: a time budget and a size budget per evaluation ---------------------------------------
@pytest.fixture
def quick():
    return sandbox.SandboxEnvironment(limits=sandbox.Limits(seconds=0.5, size=1_000_000))


@pytest.mark.parametrize(("source", "mode", "data", "what"), [
    ("while True: pass", "exec", {}, "time budget"),
    ("while 1:\n    x = 1", "exec", {}, "time budget"),
    ("len([a for a in range(10**6) for b in range(10**6)])", "eval", {}, "time budget"),
    ("n = 10**100; m = n**n", "exec", {}, "size budget"),
    ("x = 'a' * n", "exec", {"n": 10**9}, "size budget"),
    ("x = ['a'] * n", "exec", {"n": 10**9}, "size budget"),
    ("x = n * 'a'", "exec", {"n": 10**9}, "size budget"),
    ("s = 'ab'\nfor i in range(40):\n    s = s + s", "exec", {}, "size budget"),
    ("s = [1]\nfor i in range(40):\n    s += s", "exec", {}, "size budget"),
    ("s = 'ab'\nfor i in range(40):\n    s *= 2", "exec", {}, "size budget"),
    ("list(range(n))", "eval", {"n": 10**9}, "size budget"),
    ("sum(range(n))", "eval", {"n": 10**12}, "size budget"),
    ("1 << n", "eval", {"n": 10**9}, "size budget"),
    ("x ** y", "eval", {"x": 10**100, "y": 10**100}, "size budget"),
])
def test_a_runaway_expression_stops_within_its_budget(quick, source, mode, data, what):
    started = time.monotonic()
    with pytest.raises(ExpressionError, match=what) as caught:
        if mode == "eval":
            quick.evaluate(source, dict(data))
        else:
            quick.execute(source, dict(data))
    assert time.monotonic() - started < 3
    assert caught.value.limit and "表达式超出限制" in caught.value.message


def test_within_the_budgets_everything_computes_as_before(quick):
    data = {"a": 3, "b": "xy", "xs": [1, 2]}
    assert quick.evaluate("a ** 2 + len(b * 2) + len(xs + xs) + (1 << 4)", data) == 9 + 4 + 4 + 16
    context = {"n": 5}
    quick.execute("s = 'ab' * n\nt = s + '!'\nn *= 2\nk = sum(range(1000))", context)
    assert context == {"n": 10, "s": "ab" * 5, "t": "ab" * 5 + "!", "k": 499500}


def test_the_budget_does_not_replace_an_active_tracer(quick):
    """Debuggers and coverage keep their trace function after an evaluation, even one that hit its budget."""
    def tracer(frame, event, arg):
        return None
    sys.settrace(tracer)
    try:
        with pytest.raises(ExpressionError):
            quick.execute("while True: pass", {})
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(None)


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("KAOHE_EXPRESSION_SECONDS", "0.25")
    monkeypatch.setenv("KAOHE_EXPRESSION_SIZE", "1000")
    env = sandbox.SandboxEnvironment()
    assert env.limits == sandbox.Limits(seconds=0.25, size=1000)
    with pytest.raises(ExpressionError, match="size budget"):
        env.evaluate("'a' * n", {"n": 1001})


def test_a_data_key_cannot_replace_a_guard(quick):
    with pytest.raises(ExpressionError, match="size budget"):
        quick.evaluate("'a' * n", {"n": 10**9, "__kaohe_mul": lambda a, b: "x"})


@pytest.mark.parametrize("source", ["f'{x:>{n}}'", "f'{x:>100000000}'"])
def test_a_format_width_beyond_the_budget_is_refused_at_deploy(source):
    with pytest.raises(ForbiddenCode, match="format"):
        sandbox.check(source)
