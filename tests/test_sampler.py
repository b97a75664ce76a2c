"""Deterministic, resumable sharding."""

from wilss.data.sampler import ShardSampler


def epoch(sampler, e, skip=0):
    sampler.set_epoch(e, skip)
    return list(sampler)


def test_same_epoch_same_order_other_epoch_other_order():
    sampler = ShardSampler(50, global_batch=8, seed=1)
    assert epoch(sampler, 0) == epoch(sampler, 0)
    assert epoch(sampler, 0) != epoch(sampler, 1)
    assert len(epoch(sampler, 0)) == 48  # remainder dropped


def test_resuming_inside_an_epoch_yields_the_rest_of_that_epoch():
    sampler = ShardSampler(50, global_batch=8, seed=1)
    assert epoch(sampler, 3, skip=2) == epoch(sampler, 3)[16:]


def test_two_ranks_together_see_the_global_batches_of_one_rank():
    single = epoch(ShardSampler(40, global_batch=8, seed=5), 2)
    r0 = epoch(ShardSampler(40, rank=0, world_size=2, global_batch=8, seed=5), 2)
    r1 = epoch(ShardSampler(40, rank=1, world_size=2, global_batch=8, seed=5), 2)
    merged = [x for b in range(5) for x in r0[4 * b: 4 * b + 4] + r1[4 * b: 4 * b + 4]]
    assert merged == single


def test_eval_sharding_is_exact_without_duplicates():
    r0 = [i for i, _ in ShardSampler(7, rank=0, world_size=2)]
    r1 = [i for i, _ in ShardSampler(7, rank=1, world_size=2)]
    assert sorted(r0 + r1) == list(range(7))


def test_max_batches_caps_the_epoch():
    sampler = ShardSampler(100, global_batch=10, max_batches=3)
    assert sampler.batches_per_epoch() == 3 and len(epoch(sampler, 0)) == 30
