"""The evaluation's image sample: stratified by label, seeded, every class in proportion."""

import pytest
import torch

from xmllib.data import stratified_sample


@pytest.mark.parametrize("counts, n, expected", [
    ((40, 40), 5, (3, 2)),          # a tie of remainders goes to the first class
    ((30, 60, 10), 10, (3, 6, 1)),
    ((3, 7, 1), 4, (1, 3, 0)),      # largest remainders: 0.55 (class 1) before 0.36 and 0.09
    ((5, 5), 20, (5, 5)),           # more than there are: all of them
])
def test_each_class_gets_its_share_by_largest_remainder(counts, n, expected):
    labels = torch.cat([torch.full((count,), label) for label, count in enumerate(counts)])
    labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(1))]
    chosen = stratified_sample(labels, n, seed=0)
    assert tuple(torch.bincount(labels[chosen], minlength=len(counts)).tolist()) == expected
    assert chosen.tolist() == sorted(set(chosen.tolist()))


def test_the_seed_decides_the_draw():
    labels = torch.tensor([0] * 40 + [1] * 40)
    assert torch.equal(stratified_sample(labels, 10, seed=4), stratified_sample(labels, 10, seed=4))
    draws = {tuple(stratified_sample(labels, 10, seed=seed).tolist()) for seed in range(5)}
    assert len(draws) == 5


def test_a_negative_size_is_refused():
    with pytest.raises(ValueError, match="0 or more"):
        stratified_sample(torch.tensor([0, 1]), -1)
