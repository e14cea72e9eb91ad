"""Two registrations of one ticker at the same moment, in real concurrent transactions: the
champion decision is serialised by the ticker's registry lock on both databases."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from app.db.engine import session_scope
from app.registry import versions
from app.training.gate import PromoteMode
from app.training.pipeline import Prices, Registered, build_version, gate_and_register
from app.training.spec import TrainingSpec
from tests.conftest import TINY_REQUEST, WAIT_SECONDS


def register_at_once(
    db_url: str, frame: pd.DataFrame, result: Any, modes: list[PromoteMode]
) -> list[Registered]:
    """Register one version per mode, each in its own thread and transaction, released together."""
    prices = Prices(frame, "XNYS", None)
    start = threading.Barrier(len(modes))
    done: list[Registered] = []
    errors: list[BaseException] = []

    def register(mode: PromoteMode) -> None:
        new = build_version("^GSPC", TrainingSpec.from_dict(TINY_REQUEST), prices, result, None)
        try:
            with session_scope(db_url) as session:
                start.wait(timeout=30)
                done.append(
                    gate_and_register(
                        session,
                        new=new,
                        result=result,
                        prices=prices,
                        mode=mode,
                        alpha=0.10,
                        baseline_champion=False,
                    )
                )
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(mode,)) for mode in modes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=WAIT_SECONDS)
    assert errors == []
    return done


def test_two_promotions_without_a_champion_both_register_and_one_alias_remains(
    db_url: str, register_tiny: Callable[..., Any], sample_frame: pd.DataFrame, tiny_result: Any
) -> None:
    register_tiny("never")  # bars stored, version 1, no champion
    done = register_at_once(
        db_url, sample_frame, tiny_result, [PromoteMode.ALWAYS, PromoteMode.ALWAYS]
    )
    assert sorted(r.version.version for r in done) == [2, 3]
    with session_scope(db_url) as s:
        champion = versions.resolve_alias(s, ticker="^GSPC", alias="champion")
        assert champion is not None and champion.version in (2, 3)
        assert versions.list_version_numbers(s, ticker="^GSPC") == [1, 2, 3]


def test_the_later_decision_is_made_against_the_champion_the_earlier_one_set(
    db_url: str,
    session: Session,
    register_tiny: Callable[..., Any],
    sample_frame: pd.DataFrame,
    tiny_result: Any,
) -> None:
    register_tiny("always")  # version 1 is the sitting champion
    done = register_at_once(
        db_url, sample_frame, tiny_result, [PromoteMode.ALWAYS, PromoteMode.ALWAYS]
    )
    first, second = sorted(done, key=lambda r: r.version.version)
    # Serialised: the second to commit saw the first's promotion, not the old champion.
    assert first.decision.previous_champion == 1
    assert second.decision.previous_champion == first.version.version
    champion = versions.resolve_alias(session, ticker="^GSPC", alias="champion")
    assert champion is not None and champion.version == second.version.version
