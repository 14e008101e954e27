"""Reading a run's logged curves: :func:`steps_to_reach` and :func:`late_gain` on (step, value) histories."""

import pytest

from laserlab.train import late_gain, steps_to_reach


def test_steps_to_reach_is_the_first_step_at_or_below_the_target():
    history = [(30, 2.0), (10, 5.0), (20, 3.0), (40, 2.5)]  # out of order on purpose
    assert steps_to_reach(history, 3.0) == 20 and steps_to_reach(history, 2.5) == 30
    assert steps_to_reach(history, 1.0) is None and steps_to_reach([], 1.0) is None


def test_late_gain_compares_the_last_window_with_the_one_before():
    flat = [(step, 20.0 + (0.1 if step % 20 else -0.1)) for step in range(0, 101, 10)]
    assert abs(late_gain(flat)) < 0.2
    rising = [(step, step / 10) for step in range(0, 101, 10)]
    # last quarter: steps 80, 90, 100 (mean 9); the quarter before: 60, 70 (mean 6.5)
    assert late_gain(rising) == pytest.approx(9.0 - 6.5)
    assert late_gain(rising, window=0.4) == pytest.approx(8.5 - 4.5)
    assert late_gain([]) is None and late_gain([(100, 1.0)]) is None
    with pytest.raises(ValueError, match="window"):
        late_gain(rising, window=0.6)
