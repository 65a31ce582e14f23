"""The pytest plugin (angzarr_testkit.pytest_plugin), driven through pytester.

Each test writes a small project into pytester's temporary directory (the sagas live in
``pp_sagas.py`` there; the kit's own ``tests/sagas.py`` is not importable from it) and runs
pytest on it in-process, or in a subprocess where xdist is involved.
"""

from __future__ import annotations

import importlib.util
import re
import textwrap
from pathlib import Path

import pytest

from angzarr_testkit.framework.findings import KINDS
from angzarr_testkit.pytest_plugin import derive_seed

HELPER = '''
"""Sagas for the plugin tests: clean (deferred) and double-applying (explicit)."""

from angzarr_testkit import Destinations, uuid_for, wire

T, E = wire.types_pb2, wire.examples_pb2


def _reserve(request):
    event = E.OrderCreated()
    request.source.pages[-1].event.Unpack(event)
    cmd = T.CommandBook(
        cover=T.Cover(domain="inventory", root=T.UUID(value=uuid_for(event.sku)))
    )
    cmd.pages.add().command.Pack(
        E.ReserveInventory(order_id=event.order_id, sku=event.sku, quantity=1),
        type_url_prefix=wire.TYPE_URL_PREFIX,
    )
    return cmd


def deferred_saga(request):
    cmd = _reserve(request)
    cmd.pages[0].header.CopyFrom(
        Destinations.deferred_header(request.source.cover, request.source.pages[-1].header.sequence)
    )
    return [cmd]


def explicit_saga(request):
    destinations = Destinations.from_proto(request.destination_sequences)
    return [destinations.stamp_command(_reserve(request), "inventory")]


def one_sku(rng, i):
    return E.OrderCreated(order_id=f"o-{i}", sku="sku-1", quantity=1 + rng.randrange(3))


def order(i=1):
    return E.OrderCreated(order_id=f"o-{i}", sku="sku-1", quantity=1)


ORDER_ROOT = uuid_for("order-1")
IO = dict(source_domain="order", output_domains=["inventory"])
STORM_IO = dict(IO, event_source=one_sku)
'''

PRELUDE = """
import pytest
from pp_sagas import IO, ORDER_ROOT, STORM_IO, deferred_saga, explicit_saga, one_sku, order
from angzarr_testkit import FaultPlan
from angzarr_testkit.errors import UsageError
"""

DOCS = Path(__file__).resolve().parent.parent / "docs" / "pytest.md"
HAS_XDIST = importlib.util.find_spec("xdist") is not None


@pytest.fixture
def project(pytester: pytest.Pytester):
    """Write the helper module; return a function writing a test file after the prelude."""
    pytester.makepyfile(pp_sagas=HELPER)
    # the projects pin the seed protocol (their explicit saga double-applies); the docs
    # example and the default-profile tests run without this file
    pytester.makeini("[pytest]\nangzarr_profile = sequence-map\n")

    def write(body: str, name: str = "test_project") -> Path:
        return pytester.makepyfile(**{name: PRELUDE + textwrap.dedent(body)})

    return write


# Hypothesis's pytest plugin costs ~1s per in-process run and the projects here do not use it.
QUIET = ("-p", "no:hypothesispytest")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # -rN: no short test summary. pytest prints the summary untruncated when it detects CI
    # (CI=true), which would repeat each failure message and skew the counts below.
    return pytester.runpytest(*QUIET, "-rN", *args)


def header_seed(result: pytest.RunResult) -> int:
    match = re.search(
        r"angzarr-testkit: seed (\d+) \(replay with --angzarr-seed \1\), profile ([\w-]+), "
        r"storm scale ([\d.e+-]+)",
        result.stdout.str(),
    )
    assert match, result.stdout.str()
    return int(match.group(1))


def printed(result: pytest.RunResult, tag: str) -> dict[str, str]:
    """``tag nodeid value`` lines a project printed (run with ``-s``)."""
    pairs = re.findall(rf"^{tag} (\S+) (\S+)$", result.stdout.str(), re.M)
    return dict(pairs)


SEED_TESTS = """
import hashlib
from pathlib import Path

def note(request, angzarr_seed, angzarr_session_seed):
    # xdist workers' output never reaches the controller: leave a file per test
    nodeid = request.node.nodeid
    line = f"{nodeid} {angzarr_seed} {angzarr_session_seed}"
    print(f"\\nSEED {nodeid} {angzarr_seed}\\nSESSION {nodeid} {angzarr_session_seed}")
    seeds = Path(request.config.rootpath, "seeds")
    seeds.mkdir(exist_ok=True)
    (seeds / hashlib.sha1(nodeid.encode()).hexdigest()).write_text(line)

def test_a(angzarr_seed, angzarr_session_seed, request):
    note(request, angzarr_seed, angzarr_session_seed)

def test_b(angzarr_seed, angzarr_session_seed, request):
    note(request, angzarr_seed, angzarr_session_seed)

@pytest.mark.parametrize("shard", range(3))
def test_shard(angzarr_seed, angzarr_session_seed, request, shard):
    note(request, angzarr_seed, angzarr_session_seed)
"""


def noted(pytester: pytest.Pytester) -> dict[str, tuple[int, int]]:
    """nodeid -> (test seed, session seed) as the SEED_TESTS left them on disk."""
    out = {}
    for path in (pytester.path / "seeds").iterdir():
        nodeid, seed, session = path.read_text().split()
        out[nodeid] = (int(seed), int(session))
    return out


# -- seeds ----------------------------------------------------------------------------------


def test_header_shows_a_random_seed_that_the_tests_derive_from(project, pytester):
    project(SEED_TESTS)
    first = run(pytester, "-s")
    first.assert_outcomes(passed=5)
    seed = header_seed(first)
    assert "profile sequence-map, storm scale 1" in first.stdout.str()  # from the ini file
    seeds = printed(first, "SEED")
    assert len(seeds) == 5
    assert set(printed(first, "SESSION").values()) == {str(seed)}
    for nodeid, value in seeds.items():
        assert int(value) == derive_seed(seed, nodeid)
    second = run(pytester, "-s")
    assert header_seed(second) != seed  # chosen at random once per session


def test_fixed_seed_gives_each_test_its_own_reproducible_seed(project, pytester):
    project(SEED_TESTS)
    runs = [printed(run(pytester, "-s", "--angzarr-seed", "5"), "SEED") for _ in range(2)]
    assert runs[0] == runs[1]
    assert len(set(runs[0].values())) == 5  # different tests (and shards) differ
    alone = run(pytester, "-s", "--angzarr-seed", "5", "test_project.py::test_b")
    assert printed(alone, "SEED") == {"test_project.py::test_b": runs[0]["test_project.py::test_b"]}
    other = printed(run(pytester, "-s", "--angzarr-seed", "6"), "SEED")
    assert other["test_project.py::test_a"] != runs[0]["test_project.py::test_a"]


def test_ini_options_are_read_and_the_command_line_wins(project, pytester):
    project(SEED_TESTS)
    pytester.makeini(
        """
        [pytest]
        angzarr_seed = 77
        angzarr_profile = deferred-rewrite
        angzarr_storm_scale = 0.5
        """
    )
    result = run(pytester)
    result.stdout.fnmatch_lines(
        [
            "angzarr-testkit: seed 77 (replay with --angzarr-seed 77), profile deferred-rewrite, "
            "storm scale 0.5"
        ]
    )
    assert header_seed(run(pytester, "--angzarr-seed", "78")) == 78


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--angzarr-seed", "abc"], "--angzarr-seed must be a non-negative integer seed"),
        (["--angzarr-seed", "-3"], "--angzarr-seed must be a non-negative integer seed"),
        (["--angzarr-storm-scale", "0"], "--angzarr-storm-scale must be a number greater than 0"),
        (["--angzarr-storm-scale", "lots"], "--angzarr-storm-scale must be a number greater"),
        (["--angzarr-storm-scale", "nan"], "--angzarr-storm-scale must be a number greater"),
        (["--angzarr-profile", "legacy"], "--angzarr-profile must be one of core, sequence-map, "),
    ],
)
def test_bad_option_values_are_usage_errors(project, pytester, args, message):
    project(SEED_TESTS)
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_bad_ini_value_is_a_usage_error_naming_the_ini_option(project, pytester):
    project(SEED_TESTS)
    pytester.makeini("[pytest]\nangzarr_storm_scale = -2\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "ini option angzarr_storm_scale must be a number greater than 0" in result.stderr.str()


# -- saga_harness ----------------------------------------------------------------------------


DOUBLE_APPLY = """
def test_redelivery(saga_harness):
    h = saga_harness(explicit_saga, **IO)
    h.redeliver(h.deliver(order(), root=ORDER_ROOT), times=2)
"""


def test_double_applying_harness_fails_the_test_with_a_readable_block(project, pytester):
    project(DOUBLE_APPLY)
    result = run(pytester, "--angzarr-seed", "5")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "ERROR at teardown" not in out
    result.stdout.fnmatch_lines(
        [
            "*angzarr-testkit: saga harness #1 (explicit_saga, profile sequence-map) is not "
            "clean: 1 double-apply*",
            "*[[]double-apply[]] *ReserveInventory*",
            "*delivery:*#2*",
            "*target:*inventory/*",
            "*sequences:*",
            '*angzarr_allow("double-apply")*',
            "*angzarr-testkit seed: 5 (replay: pytest --angzarr-seed 5 "
            "test_project.py::test_redelivery)",
            f"this test's angzarr_seed: {derive_seed(5, 'test_project.py::test_redelivery')}",
        ]
    )
    assert "type_url" not in out and "pages {" not in out  # never a protobuf dump
    assert out.count("angzarr-testkit seed: 5") == 1  # no extra section on our own failure


def test_angzarr_allow_accepts_the_kind(project, pytester):
    project('@pytest.mark.angzarr_allow("double-apply")' + DOUBLE_APPLY)
    run(pytester).assert_outcomes(passed=1)


def test_angzarr_allow_without_kinds_accepts_every_kind(project, pytester):
    project("@pytest.mark.angzarr_allow" + DOUBLE_APPLY)
    run(pytester).assert_outcomes(passed=1)


def test_angzarr_allow_of_another_kind_still_fails(project, pytester):
    project('@pytest.mark.angzarr_allow("lost-command")' + DOUBLE_APPLY)
    run(pytester).assert_outcomes(failed=1)


def test_clean_harness_passes_and_the_test_sees_its_records(project, pytester):
    project(
        """
        def test_clean(saga_harness):
            h = saga_harness(deferred_saga, **IO)
            assert h.profile == "sequence-map"
            h.redeliver(h.deliver(order(), root=ORDER_ROOT), times=5)
            assert len(h.deliveries) == 6
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_profile_option_reaches_harnesses_and_storms(project, pytester):
    project(
        """
        def test_profile(saga_harness, storm):
            h = saga_harness(explicit_saga, **IO)
            assert h.profile == "deferred-rewrite"
            # the 2026 coordinator rewrites explicit sequences: redelivery is deduped
            h.redeliver(h.deliver(order(), root=ORDER_ROOT), times=3)
            assert storm(deferred_saga, events=5, **STORM_IO).run().options["profile"] == (
                "deferred-rewrite"
            )

        def test_explicit_profile_wins(saga_harness):
            assert saga_harness(explicit_saga, profile="sequence-map", **IO).profile == (
                "sequence-map"
            )
        """
    )
    run(pytester, "--angzarr-profile", "deferred-rewrite").assert_outcomes(passed=2)
    run(pytester).assert_outcomes(passed=1, failed=1)  # default profile: double-apply


def test_a_test_failing_on_its_own_gets_the_seed_but_no_second_report(project, pytester):
    project(
        """
        def test_own_assertion(saga_harness):
            h = saga_harness(explicit_saga, **IO)
            h.redeliver(h.deliver(order(), root=ORDER_ROOT))
            assert h.aggregate("inventory", h.deliveries[0].command("inventory").root).applied == 1
        """
    )
    result = run(pytester, "--angzarr-seed", "11")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "[double-apply]" not in out
    result.stdout.fnmatch_lines(
        [
            "*- angzarr-testkit -*",
            "angzarr-testkit seed: 11 (replay: pytest --angzarr-seed 11 "
            "test_project.py::test_own_assertion)",
        ]
    )


def test_findings_made_during_fixture_teardown_are_a_labelled_teardown_error(project, pytester):
    project(
        """
        @pytest.fixture
        def late(saga_harness):
            h = saga_harness(explicit_saga, **IO)
            yield h
            h.redeliver(h.deliver(order(), root=ORDER_ROOT))

        def test_late(late):
            pass
        """
    )
    result = run(pytester, "--angzarr-seed", "3")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_late*",
            "*angzarr-testkit: saga harness #1*double-apply*",
            "*angzarr-testkit seed: 3 (replay: pytest --angzarr-seed 3 test_project.py::test_late)",
        ]
    )


def test_unknown_kind_in_angzarr_allow_is_a_usage_error(project, pytester):
    project('@pytest.mark.angzarr_allow("double-aply")' + DOUBLE_APPLY)
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "angzarr_allow got unknown finding kind(s) 'double-aply'" in err
    assert "known kinds: " + ", ".join(KINDS) in err


def test_markers_are_listed(pytester):
    result = run(pytester, "--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.angzarr_allow(*kinds): accept these finding kinds*",
            "@pytest.mark.angzarr_storm(**storm_kwargs): defaults for storms*",
        ]
    )


def test_destinations_fixture(project, pytester):
    project(
        """
        from angzarr_testkit import Destinations

        def test_destinations(destinations):
            d = destinations({"inventory": 5})
            assert isinstance(d, Destinations) and d.sequences == {"inventory": 5}
            assert destinations(payment=2).sequence_for("payment") == 2
        """
    )
    run(pytester).assert_outcomes(passed=1)


# -- storm -----------------------------------------------------------------------------------


STORM_OPTIONS = """
@pytest.mark.angzarr_storm(events=40, roots=3, faults={"duplicate": 0.5}, concurrency=2)
class TestStorms:
    def test_marker_defaults(self, storm, angzarr_seed):
        s = storm(deferred_saga, **STORM_IO)
        print(f"\\nEVENTS marker {s.events}")
        assert (s.roots, s.faults.duplicate, s.concurrency, s.seed) == (3, 0.5, 2, angzarr_seed)
        assert s.run().counts["published"] == s.events

    def test_explicit_overrides(self, storm):
        s = storm(deferred_saga, events=10, faults=FaultPlan(reorder=True), seed=42, **STORM_IO)
        print(f"\\nEVENTS explicit {s.events}")
        assert (s.roots, s.faults.reorder, s.faults.duplicate, s.seed) == (3, True, 0.0, 42)
        s.run()

    @pytest.mark.angzarr_storm(events=7)
    def test_closest_marker_wins(self, storm):
        s = storm(deferred_saga, **STORM_IO)
        print(f"\\nEVENTS closest {s.events}")
        assert s.roots == 3

def test_no_marker_uses_storm_defaults(storm):
    s = storm(deferred_saga, **STORM_IO)
    print(f"\\nEVENTS default {s.events}")
"""


def test_storm_marker_defaults_overrides_and_scale(project, pytester):
    project(STORM_OPTIONS)
    result = run(pytester, "-s")
    result.assert_outcomes(passed=4)
    assert printed(result, "EVENTS") == {
        "marker": "40",
        "explicit": "10",
        "closest": "7",
        "default": "1000",
    }
    scaled = run(pytester, "-s", "--angzarr-storm-scale", "0.1")
    scaled.assert_outcomes(passed=4)
    assert "storm scale 0.1" in scaled.stdout.str()
    assert printed(scaled, "EVENTS") == {
        "marker": "4",
        "explicit": "1",
        "closest": "1",  # never below one event
        "default": "100",
    }
    bigger = run(pytester, "-s", "--angzarr-storm-scale", "2.5", "-k", "explicit")
    assert printed(bigger, "EVENTS") == {"explicit": "25"}


FAILING_STORM = """
@pytest.mark.angzarr_storm(events=30, faults=FaultPlan(duplicate=0.5))
def test_storm(storm):
    report = storm(explicit_saga, **STORM_IO).run()
    print(f"\\nSTORMSEED {report.seed} {report.ok}")
"""


def test_failing_storm_fails_the_test_with_the_seeds(project, pytester):
    project(FAILING_STORM)
    result = run(pytester, "-s", "--angzarr-seed", "5")
    result.assert_outcomes(failed=1)
    test_seed = derive_seed(5, "test_project.py::test_storm")
    assert printed(result, "STORMSEED") == {str(test_seed): "False"}
    result.stdout.fnmatch_lines(
        [
            f"*angzarr-testkit: storm #1 (explicit_saga, seed {test_seed}, 30 events, profile "
            "sequence-map) is not clean: * double-apply*",
            "*[[]double-apply[]] *",
            "*angzarr-testkit seed: 5 (replay: pytest --angzarr-seed 5 "
            "test_project.py::test_storm)",
            f"this test's angzarr_seed: {test_seed}",
        ]
    )
    out = result.stdout.str()
    # a long storm is summarised: the same defect is one line with its count
    shown = re.findall(r"^E?\s*\[double-apply\] x(\d+):", out, re.M)
    assert len(shown) == 1 and int(shown[0]) > 1, out
    assert re.search(rf"is not clean: {shown[0]} double-apply \(1 distinct\)", out), out


def test_failing_storm_with_allowed_kinds_passes(project, pytester):
    project(
        FAILING_STORM.replace(
            "def test_storm", '@pytest.mark.angzarr_allow("double-apply")\ndef test_storm'
        )
    )
    run(pytester).assert_outcomes(passed=1)


def test_missing_required_coverage_is_one_vacuous_run_finding(project, pytester):
    project(
        """
        @pytest.mark.angzarr_allow("double-apply")
        def test_nothing_injected(storm):
            storm(deferred_saga, events=20, require=["crash-before-ack"], **STORM_IO).run()
        """
    )
    result = run(pytester, "--angzarr-seed", "8")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*angzarr-testkit: storm #1 (deferred_saga, seed *, 20 events, profile sequence-map)"
            " is not clean: 1 vacuous-run",
            "*[[]vacuous-run[]]*required fault classes never occurred*crash-before-ack*",
            "*angzarr-testkit seed: 8 (replay: pytest --angzarr-seed 8 "
            "test_project.py::test_nothing_injected)",
        ]
    )
    # said once: as the finding, not again as a separate note
    assert result.stdout.str().count("required fault classes never occurred") == 1


def test_missing_required_coverage_is_waived_only_by_allowing_vacuous_run(project, pytester):
    project(
        """
        @pytest.mark.angzarr_allow("vacuous-run")
        def test_nothing_injected(storm):
            storm(deferred_saga, events=20, require=["crash-before-ack"], **STORM_IO).run()
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_every_unclean_harness_and_storm_run_of_a_test_is_reported(project, pytester):
    project(
        """
        def test_many(saga_harness, storm):
            clean = saga_harness(deferred_saga, **IO)
            clean.redeliver(clean.deliver(order(), root=ORDER_ROOT))
            bad = saga_harness(explicit_saga, **IO)
            bad.redeliver(bad.deliver(order(), root=ORDER_ROOT))
            s = storm(explicit_saga, events=20, faults={"duplicate": 1.0}, trace="t", **STORM_IO)
            s.run()
            s.run()
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "angzarr-testkit: saga harness #2 (explicit_saga, profile sequence-map) is not clean*",
            "storm #1 (explicit_saga, seed *, 20 events, *) is not clean: 20 double-apply "
            "(1 distinct)",
            "  trace: t",
            "[[]double-apply[]] x20: *ReserveInventory to inventory/*",
            "    also: *",
            "                ... and 17 more",
            "storm #1 run 2 (explicit_saga, *) is not clean: 20 double-apply (1 distinct)",
        ]
    )
    assert "saga harness #1" not in result.stdout.str()


def test_a_storm_that_is_never_run_is_not_judged(project, pytester):
    project(
        """
        def test_built_only(storm):
            storm(explicit_saga, events=5, faults={"duplicate": 1.0}, **STORM_IO)
        """
    )
    run(pytester).assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("angzarr_storm(event=3)", "angzarr_storm got unknown option(s) event; Storm options:"),
        ("angzarr_storm(3)", "angzarr_storm takes keyword arguments only"),
        ('angzarr_storm(faults={"dupe": 0.1})', "angzarr_storm faults: unknown fault option"),
        ("angzarr_allow(kind='double-apply')", "angzarr_allow takes finding kinds as positional"),
        (
            "angzarr_allow(['double-aply'])",
            "angzarr_allow got unknown finding kind(s) 'double-aply'",
        ),
        ("angzarr_allow(3)", "angzarr_allow got unknown finding kind(s) 3; known kinds:"),
        (
            "angzarr_storm(require='duplicate')",
            "angzarr_storm require takes a list of names, got the string 'duplicate'; write "
            "require=['duplicate']",
        ),
        (
            "angzarr_storm(output_domains='inventory')",
            "angzarr_storm output_domains takes a list of names, got the string 'inventory'",
        ),
        (
            "angzarr_storm(require=['dupe'])",
            "angzarr_storm require got 'dupe'; it takes a list of fault classes: duplicate,",
        ),
    ],
)
def test_malformed_markers_are_usage_errors(project, pytester, marker, message):
    project(f"@pytest.mark.{marker}\ndef test_x(storm):\n    pass\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


# -- findings that read true: summary, fail_on, order and grouping -----------------------------

REJECTIONS = """
def refuse(ctx):
    raise ValueError("out of stock")


def test_rejections(storm):
    # every command refused: a vacuous storm, allowed on purpose (the point is the warnings)
    report = storm(
        deferred_saga,
        events=20,
        setup=lambda h: h.given_aggregate("inventory", refuse),
        allow_vacuous=True,
        **STORM_IO,
    ).run()
    assert report.counts["rejected"] == 20
"""


def test_summary_section_lists_warnings_of_passing_tests_grouped(project, pytester):
    project(REJECTIONS + "\n\ndef test_quiet():\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*= angzarr-testkit: warnings and notes =*",
            "test_project.py::test_rejections",
            "  storm #1: [[]rejected-command[]] x20 (warning): *ReserveInventory to inventory/* "
            "was rejected: *out of stock*",
            "(these did not fail the tests; to make a kind fail them: --angzarr-fail-on KIND)",
        ]
    )
    out = result.stdout.str()
    assert out.count("[rejected-command]") == 1  # one line for the defect, not twenty
    assert "test_quiet" not in out.split("warnings and notes")[1]


def test_summary_section_shows_allowed_errors_and_nothing_when_all_is_quiet(project, pytester):
    project('@pytest.mark.angzarr_allow("double-apply")' + DOUBLE_APPLY)
    result = run(pytester)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["  saga harness #1: [[]double-apply[]] (error, allowed): *applied by business logic*"]
    )
    project("def test_clean():\n    pass\n")
    assert "warnings and notes" not in run(pytester).stdout.str()


def test_a_test_failing_on_its_own_still_lists_its_warnings(project, pytester):
    project(REJECTIONS.replace("== 20", "== 21"))
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["  storm #1: [[]rejected-command[]] x20 (warning): *"])


@pytest.mark.parametrize(
    ("how", "header"),
    [
        (("--angzarr-fail-on", "rejected-command"), "rejected-command"),
        (("--angzarr-fail-on", "lost-command,rejected-command"), "lost-command, rejected-command"),
        (
            ("--angzarr-fail-on", "rejected-command", "--angzarr-fail-on", "lost-command"),
            "lost-command, rejected-command",
        ),
        ((), "lost-command, rejected-command"),
    ],
    ids=["option", "comma-list", "repeated", "ini"],
)
def test_fail_on_makes_a_rejected_command_test_fail(project, pytester, how, header):
    project(REJECTIONS)
    if not how:
        pytester.makeini("[pytest]\nangzarr_fail_on = rejected-command lost-command\n")
    result = run(pytester, *how)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"angzarr-testkit: seed *, storm scale 1, fail on {header}",
            "*storm #1 (deferred_saga, *) is not clean: 20 rejected-command (1 distinct)",
            "[[]rejected-command[]] x20: *out of stock*",
            '(if these are expected: @pytest.mark.angzarr_allow("rejected-command"))',
        ]
    )
    assert "warnings and notes" not in result.stdout.str()  # it failed: no summary line


def test_angzarr_allow_wins_over_fail_on(project, pytester):
    project(
        REJECTIONS.replace(
            "def test_rejections",
            '@pytest.mark.angzarr_allow("rejected-command")\ndef test_rejections',
        )
    )
    result = run(pytester, "--angzarr-fail-on", "rejected-command")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["  storm #1: [[]rejected-command[]] x20 (warning, allowed): *"])


def test_failure_text_lists_root_causes_first_one_entry_per_defect(project, pytester):
    project(
        """
        from angzarr_testkit import uuid_for, wire
        from pp_sagas import _reserve


        def stale_saga(request):
            cmd = _reserve(request)
            cmd.pages[0].header.sequence = 2
            cmd.pages[0].merge_strategy = wire.types_pb2.MERGE_STRICT
            return [cmd]


        def test_stale(saga_harness):
            h = saga_harness(stale_saga, **IO)
            for i in range(4):
                h.deliver(order(i), root=uuid_for(f"order-{i}"))
            assert [f.kind for f in h.findings][:4] == ["sequence-mismatch"] * 4
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "angzarr-testkit: saga harness #1 (stale_saga, profile sequence-map) is not clean: "
            "4 sequence-mismatch, 4 lost-command (2 distinct)",
            "[[]sequence-mismatch[]] x4: *ReserveInventory to inventory/* was refused "
            "(Sequence mismatch: command expects 2, aggregate at 0)*",
            "    also: *",
            "                ... and 1 more",
            "[[]lost-command[]] x4: *was emitted*never applied nor rejected*",
            '(if these are expected: @pytest.mark.angzarr_allow("sequence-mismatch", '
            '"lost-command"))',
        ]
    )
    out = result.stdout.str()
    assert out.count("[sequence-mismatch]") == 1 and out.count("[lost-command]") == 1


def test_angzarr_allow_takes_a_list_and_the_new_kinds(project, pytester):
    project('@pytest.mark.angzarr_allow(["double-apply"])' + DOUBLE_APPLY)
    run(pytester).assert_outcomes(passed=1)
    project('@pytest.mark.angzarr_allow("vacuous-run", "double-apply")' + DOUBLE_APPLY)
    run(pytester).assert_outcomes(passed=1)


@pytest.mark.skipif(not HAS_XDIST, reason="pytest-xdist is not installed")
def test_xdist_summary_reaches_the_controller(project, pytester):
    project(REJECTIONS + "\n\ndef test_fine():\n    pass\n")
    result = pytester.runpytest_subprocess("-n", "2", *QUIET)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*= angzarr-testkit: warnings and notes =*",
            "test_project.py::test_rejections",
            "  storm #1: [[]rejected-command[]] x20 (warning): *",
        ]
    )


# -- xdist -----------------------------------------------------------------------------------


@pytest.mark.skipif(not HAS_XDIST, reason="pytest-xdist is not installed")
def test_xdist_workers_share_the_session_seed(project, pytester):
    project(
        SEED_TESTS
        + """
def test_storm_on_a_worker(storm):
    assert storm(deferred_saga, events=20, faults={"duplicate": 0.2}, **STORM_IO).run().ok
"""
    )
    result = pytester.runpytest_subprocess("-n", "2", *QUIET)
    result.assert_outcomes(passed=6)
    seed = header_seed(result)
    seeds = noted(pytester)
    assert len(seeds) == 5
    for nodeid, (test_seed, session_seed) in seeds.items():
        assert session_seed == seed  # the header's seed is the workers' seed
        assert test_seed == derive_seed(seed, nodeid)  # independent of the scheduling
    assert len({test_seed for test_seed, _ in seeds.values()}) == 5


@pytest.mark.skipif(not HAS_XDIST, reason="pytest-xdist is not installed")
def test_xdist_failure_carries_the_replay_line(project, pytester):
    project(DOUBLE_APPLY + "\n\ndef test_fine():\n    pass\n")
    result = pytester.runpytest_subprocess("-n", "2", *QUIET)
    result.assert_outcomes(failed=1, passed=1)
    seed = header_seed(result)
    result.stdout.fnmatch_lines(
        [
            "*[[]double-apply[]]*",
            f"*angzarr-testkit seed: {seed} (replay: pytest --angzarr-seed {seed} "
            "test_project.py::test_redelivery)",
        ]
    )


@pytest.mark.skipif(not HAS_XDIST, reason="pytest-xdist is not installed")
def test_xdist_unknown_kind_errors_the_test_with_the_message(project, pytester):
    project(
        '@pytest.mark.angzarr_allow("double-aply")'
        + DOUBLE_APPLY
        + "\ndef test_fine():\n    pass\n"
    )
    result = pytester.runpytest_subprocess("-n", "2", *QUIET)
    result.assert_outcomes(errors=1, passed=1)
    result.stdout.fnmatch_lines(
        ["*angzarr-testkit usage error: *angzarr_allow got unknown finding kind(s) 'double-aply'*"]
    )


# -- the docs --------------------------------------------------------------------------------


def test_the_docs_example_runs_as_written(pytester):
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    assert blocks, "docs/pytest.md has no python example"
    pytester.makepyfile(test_docs_example=blocks[0])
    result = run(pytester, "--angzarr-storm-scale", "0.2")
    # the example shows one clean harness, one allowed double-apply and a sharded storm
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.stdout.str()
    assert outcomes["passed"] >= 3


def test_a_storms_own_fail_on_counts_when_the_test_fails_on_its_own(project, pytester):
    # The storm raises rejected-command to an error, so a test failing on its own does not
    # list those rejections in the summary as mere warnings (as the verdict would not).
    project(
        REJECTIONS.replace("== 20", "== 21").replace(
            "**STORM_IO", 'fail_on=["rejected-command"], **STORM_IO'
        )
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    assert "[rejected-command] x20 (warning)" not in result.stdout.str()
    # without the storm's fail_on, the same test lists them (see the test above)
    project(REJECTIONS.replace("== 20", "== 21"))
    run(pytester).stdout.fnmatch_lines(["  storm #1: [[]rejected-command[]] x20 (warning): *"])


def test_storm_fixture_takes_shards_and_workers(project, pytester):
    project(
        """
        def test_sharded(storm, tmp_path):
            reports = []
            for workers in (1, 2):
                s = storm(
                    deferred_saga, events=30, roots=4, shards=2, workers=workers,
                    trace=tmp_path / f"w{workers}.jsonl", **STORM_IO
                )
                reports.append(s.run())
            assert [r.ok for r in reports] == [True, True]
            assert reports[0].counts == reports[1].counts
            assert reports[0].counts["deliveries"] >= 30
            one, two = (tmp_path / "w1.jsonl").read_bytes(), (tmp_path / "w2.jsonl").read_bytes()
            assert one == two and b'"type":"shard"' in one

        def test_workers_above_shards_is_a_usage_error(storm):
            with pytest.raises(UsageError, match="shards"):
                storm(deferred_saga, shards=1, workers=2, **STORM_IO)
        """
    )
    run(pytester).assert_outcomes(passed=2)
