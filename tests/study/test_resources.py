"""GPU job time limits from their work (rero.study.resources), on known answers."""

from __future__ import annotations

from rero.study import resources


def test_per_sample_gradients_are_steps_times_batch_times_views_times_runs():
    # N = 10, B = 4: T = 2 epochs x ceil(10 / 4) = 6 steps; K = 3 views; 2 runs
    assert resources.per_sample_gradients(10, 4, 2, 3, runs=2) == 2 * 6 * 4 * 3


def test_a_long_job_is_cut_into_submissions_of_at_most_the_limit():
    rate = resources.ASSUMED_THROUGHPUT["resnet9"]
    # one hour of work: 60 min x 1.25 + 15 min of start-up
    hour = int(rate * 3600)
    assert resources.attempt_minutes(hour, "resnet9") == 90
    assert resources.submissions(hour, "resnet9") == 1
    # 100 hours: 7,515 min, three submissions of 48 h
    assert resources.total_minutes(100 * hour, "resnet9") == 7515
    assert resources.attempt_minutes(100 * hour, "resnet9") == 2880
    assert resources.submissions(100 * hour, "resnet9") == 3
