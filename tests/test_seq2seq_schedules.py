import math

import pytest
import torch

from models.seq2seq.schedules import ScheduleConfig, build_scheduler, lr_at


def test_warmup_ramps_linearly_to_lr():
    cfg = ScheduleConfig(name="constant", lr=0.01, warmup_steps=4)
    assert [lr_at(s, cfg) for s in range(6)] == pytest.approx([0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01])


def test_step_schedule_after_warmup():
    cfg = ScheduleConfig(name="step", lr=1.0, warmup_steps=2, rate=0.5, step_size=3)
    # t = step - 2: floor(t / 3) halvings
    expected = [0.5, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
    assert [lr_at(s, cfg) for s in range(9)] == pytest.approx(expected)


def test_exponential_schedule():
    cfg = ScheduleConfig(name="exponential", lr=0.1, warmup_steps=10, rate=0.1, decay_steps=100)
    for step in (10, 35, 110, 510):
        assert lr_at(step, cfg) == pytest.approx(0.1 * 0.1 ** ((step - 10) / 100))


def test_linear_schedule_clamps_at_min_lr():
    cfg = ScheduleConfig(name="linear", lr=1.0, warmup_steps=10, min_lr=0.1, total_steps=110)
    assert lr_at(10, cfg) == pytest.approx(1.0)
    assert lr_at(60, cfg) == pytest.approx(1.0 - 0.5 * 0.9)
    assert lr_at(110, cfg) == pytest.approx(0.1)
    assert lr_at(500, cfg) == pytest.approx(0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1)  # warmup: lr * 1 / 10


def test_no_warmup_starts_at_lr():
    cfg = ScheduleConfig(name="step", lr=0.3, rate=0.1, step_size=1)
    assert lr_at(0, cfg) == pytest.approx(0.3)
    assert lr_at(2, cfg) == pytest.approx(0.3 * 0.01)


def test_lambda_lr_follows_lr_at():
    cfg = ScheduleConfig(name="exponential", lr=0.02, warmup_steps=3, rate=0.5, decay_steps=2)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=123.0)
    sched = build_scheduler(opt, cfg)
    seen = []
    for _ in range(8):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([lr_at(s, cfg) for s in range(8)])
    assert math.isclose(seen[3], 0.02)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "cosine"},
        {"lr": 0},
        {"name": "linear", "total_steps": 0},
        {"warmup_steps": -1},
        {"min_lr": 5.0},
    ],
)
def test_bad_config(kwargs):
    with pytest.raises(ValueError):
        ScheduleConfig(**kwargs)
