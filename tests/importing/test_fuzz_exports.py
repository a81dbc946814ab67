"""Property-based fuzzing of the importers (issue 14): every generated export is accepted or refused cleanly.

Bounded for CI (100 cases: about 10 s on a quiet 2-core box); `benchmarks/bench_fuzz.py`
runs 10,000 with the same strategies and records memory.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, given, settings

from agent.scrub import Scrubber
from core.store import Store
from tests.fakes.export_fuzz import Case, export_cases, run_case


def test_generated_exports_never_raise_unhandled_and_refusals_store_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = Store.open(f"sqlite:///{tmp_path / 'fuzz.db'}")
    scrubber = Scrubber()
    outcomes: Counter[str] = Counter()

    @settings(max_examples=100, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(case=export_cases(huge=100_000, deep=2_000))
    def check(case: Case) -> None:
        outcomes[(case.variant, run_case(case, tmp_path, store, scrubber))] += 1

    try:
        check()
    finally:
        store.close()
    # Both outcomes occur, and malformed variants are among the refused ones.
    assert any(k[1] == "accepted" for k in outcomes) and any(k[1] == "refused" for k in outcomes), outcomes
