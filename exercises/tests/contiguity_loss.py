from otter.test_files import test_case

OK_FORMAT = False

name = "contiguity_loss"
points = 1

@test_case(points=None, hidden=False)
def test_contiguity_loss(contiguity):
    from xmllib.exercises import assert_passes, check_contiguity_loss
    assert_passes(check_contiguity_loss, contiguity)

