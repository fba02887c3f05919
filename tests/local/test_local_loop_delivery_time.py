"""The whole loop on the local platform for projects/delivery-time (the scenario: loop_scenario.py)."""

import pytest
from loop_scenario import drift_retrain_ab_promote_loop

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(1500)]


def test_drift_retrain_ab_promote_loop(tmp_path):
    drift_retrain_ab_promote_loop("delivery-time", tmp_path)
