import datetime as dt
import random

import pytest

from models.seq2seq.tasks import DATE_FORMATS, copy_task, dates_task, make_task, render_date, reversal_task


@pytest.mark.parametrize("name", ["reversal", "copy", "dates"])
def test_deterministic_per_seed_and_disjoint(name):
    kwargs = {"n_train": 300, "n_dev": 50, "n_test": 50}
    a, b, c = (
        make_task(name, seed=3, **kwargs),
        make_task(name, seed=3, **kwargs),
        make_task(name, seed=4, **kwargs),
    )
    assert a.train == b.train and a.dev == b.dev and a.test == b.test
    assert a.train != c.train
    assert (len(a.train), len(a.dev), len(a.test)) == (300, 50, 50)
    srcs = [{e.source for e in split} for split in (a.train, a.dev, a.test)]
    assert not (srcs[0] & srcs[1]) and not (srcs[0] & srcs[2]) and not (srcs[1] & srcs[2])


def test_reversal_and_copy_links():
    for ex in reversal_task(50, 5, 5, seed=1).train:
        n = len(ex.source)
        assert ex.target == ex.source[::-1]
        assert all(ex.source[s] == ex.target[t] and t == n - 1 - s for s, t in ex.links)
        assert len(ex.links) == n
    for ex in copy_task(50, 5, 5, seed=1).train:
        assert ex.target == ex.source and ex.links == tuple((i, i) for i in range(len(ex.source)))


def test_date_links_point_at_equal_digits():
    task = dates_task(n_train=500, n_dev=50, n_test=50, seed=2)
    linked = 0
    for ex in task.train + task.dev + task.test:
        assert dt.date.fromisoformat(ex.target).isoformat() == ex.target
        if ex.links is None:
            continue
        linked += 1
        for s, t in ex.links:
            assert ex.source[s] == ex.target[t] and ex.source[s].isdigit()
        # every year digit is linked
        assert {t for _, t in ex.links} >= {0, 1, 2, 3}
    assert linked == 600


def test_each_format_renders_the_same_date():
    d = dt.date(2026, 11, 26)
    sources = set()
    for fmt in DATE_FORMATS:
        ex = render_date(d, fmt(d, random.Random(0)))
        assert ex.target == "2026-11-26"
        sources.add(ex.source.lower())
    assert (
        "26 november 2026" in sources and "2026.11.26" in sources and "thursday, november 26 2026" in sources
    )


def test_unknown_task():
    with pytest.raises(ValueError):
        make_task("sorting")


def test_dates_cover_upper_case_names_and_iso_input():
    task = dates_task(n_train=2000, n_dev=10, n_test=10, seed=0)
    sources = [e.source for e in task.train]
    months = ("JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER")
    assert any(m in src for src in sources for m in months)  # UPPER case, as documented
    iso = [e for e in task.train if e.source == e.target]
    assert iso and all(e.links and len(e.links) == 8 for e in iso)  # "2026-11-26" -> itself, digits linked
    d = dt.date(2026, 11, 26)
    styles = set()
    for seed in range(30):
        styles.add(render_date(d, DATE_FORMATS[0](d, random.Random(seed))).source)
    assert styles == {"26 november 2026", "26 November 2026", "26 NOVEMBER 2026"}


def test_g2p_split_by_word_with_every_pronunciation():
    from models.seq2seq.tasks import g2p_task

    a = make_task("g2p", n_train=200, n_dev=50, n_test=100, seed=1)
    assert a.tokenization == {"source": "char", "target": "word"}
    assert (len(a.train), len(a.dev), len(a.test)) == (200, 50, 100)
    assert a.test == g2p_task(n_train=200, n_dev=50, n_test=100, seed=1).test
    assert a.test != g2p_task(n_train=200, n_dev=50, n_test=100, seed=2).test
    words = [{e.source for e in split} for split in (a.train, a.dev, a.test)]
    assert not (words[0] & words[1]) and not (words[0] & words[2]) and not (words[1] & words[2])
    for e in a.train + a.dev + a.test:
        assert e.source.isascii() and e.source.isalpha() and e.source.islower()
        assert e.links is None and e.target not in e.alternatives
        assert not any(ch.isdigit() for ch in e.target)  # stress removed
    # the default split sizes, and the dictionary's several pronunciations as alternatives
    full = make_task("g2p")
    assert (len(full.dev), len(full.test)) == (1000, 3000) and len(full.train) > 100_000
    assert any(e.alternatives for e in full.test)
    stressed = make_task("g2p", n_train=200, n_dev=50, n_test=100, seed=1, keep_stress=True)
    assert [e.source for e in stressed.test] == [e.source for e in a.test]
    assert any(ch.isdigit() for e in stressed.test for ch in e.target)
    short = make_task("g2p", n_train=100, n_dev=10, n_test=10, max_len=4)
    assert all(len(e.source) <= 4 for e in short.train + short.dev + short.test)
    with pytest.raises(ValueError, match="g2p has"):
        make_task("g2p", n_test=10, n_dev=10, n_train=10**6)
