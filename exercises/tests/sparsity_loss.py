from otter.test_files import test_case

OK_FORMAT = False

name = "sparsity_loss"
points = 1

@test_case(points=None, hidden=False)
def test_sparsity_loss(sparsity):
    from xmllib.exercises import assert_passes, check_sparsity_loss
    assert_passes(check_sparsity_loss, sparsity)

