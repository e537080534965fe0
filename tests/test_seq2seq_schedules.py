import math

import pytest
import torch

from models.seq2seq.schedules import ScheduleConfig, build_scheduler, lr_at, retarget


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


def test_retarget_moves_the_linear_end_without_a_jump():
    cfg = ScheduleConfig(name="linear", lr=1.0, warmup_steps=10, min_lr=0.1, total_steps=1010)
    for step, total in ((10, 60), (500, 600), (500, 5000), (900, 901)):
        new = retarget(cfg, step, total)
        assert lr_at(step, new) == pytest.approx(lr_at(step, cfg))  # same lr where it is moved
        assert lr_at(total, new) == pytest.approx(0.1) and lr_at(total + 50, new) == pytest.approx(0.1)
        assert lr_at(step + 1, new) <= lr_at(step, new)
    # within the warmup only the end moves; the ramp is untouched
    early = retarget(cfg, 3, 100)
    assert early.total_steps == 100 and [lr_at(s, early) for s in range(11)] == [
        lr_at(s, cfg) for s in range(11)
    ]
    # at the floor it stays there; an end before the current step becomes the next step
    done = retarget(cfg, 2000, 1500)
    assert lr_at(2000, done) == pytest.approx(0.1) and lr_at(3000, done) == pytest.approx(0.1)
    assert retarget(cfg, 500, 100).total_steps == 501
    # other schedules only take the new total
    step = ScheduleConfig(name="step", lr=1.0, rate=0.5, step_size=3)
    assert retarget(step, 5, 50) == ScheduleConfig(name="step", lr=1.0, rate=0.5, step_size=3, total_steps=50)
