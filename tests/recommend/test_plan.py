"""`sizer plan`: hardware for a model and a load, ranked by price, with cost against an API."""

from __future__ import annotations

import pytest

from sizer.recommend.plan import monthly_cost, plan


def test_owning_costs_amortized_price_plus_power_while_busy():
    cost = monthly_cost(3600.0, 450.0, amortization_months=36, kwh_price=0.2, utilization=0.5,
                        api_price_per_mtok=1.0, monthly_tokens=2e8, capacity_tokens_per_s=100.0)
    power = 0.45 * 730 * 0.5 * 0.2
    assert cost.monthly_own_usd == pytest.approx(100 + power, abs=0.01)
    assert cost.monthly_api_usd == pytest.approx(200.0)
    assert cost.break_even_tokens_per_month == pytest.approx((100 + power) / 1.0 * 1e6, rel=1e-6)
    assert cost.capacity_tokens_per_month == pytest.approx(100 * 3600 * 730 * 0.5)


def test_unknown_price_leaves_owning_cost_unknown_and_says_so():
    cost = monthly_cost(None, 700.0, amortization_months=36, kwh_price=0.15, utilization=1.0,
                        api_price_per_mtok=1.0, monthly_tokens=None, capacity_tokens_per_s=50.0)
    assert cost.monthly_own_usd is None and cost.break_even_tokens_per_month is None
    assert any("no price" in note for note in cost.notes)


def test_a_break_even_beyond_what_the_hardware_generates_is_flagged():
    cost = monthly_cost(100_000.0, 1000.0, amortization_months=12, kwh_price=0.15, utilization=1.0,
                        api_price_per_mtok=0.1, monthly_tokens=1e6, capacity_tokens_per_s=1.0)
    assert any("the API stays cheaper" in note for note in cost.notes)


@pytest.fixture(scope="module")
def apple_plan():
    return plan("qwen2.5-7b-instruct", tokens_per_s=10, kinds={"apple-silicon"}, top=50)


def test_every_option_meets_the_speed_asked(apple_plan):
    assert apple_plan.options and all(o.meets_target for o in apple_plan.options)
    assert all((o.throughput.decode_tokens_per_s or 0) >= 10 for o in apple_plan.options)


def test_options_are_ranked_by_known_price_first(apple_plan):
    prices = [o.price_usd for o in apple_plan.options]
    known = [p for p in prices if p is not None]
    assert known == sorted(known) and prices[: len(known)] == known


def test_too_slow_hardware_is_rejected_with_its_speed(apple_plan):
    assert any("below the 10 asked" in r.reason for r in apple_plan.rejected)
