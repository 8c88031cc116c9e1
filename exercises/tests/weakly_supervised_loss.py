from otter.test_files import test_case

OK_FORMAT = False

name = "weakly_supervised_loss"
points = 1

@test_case(points=None, hidden=False)
def test_weakly_supervised_loss(weakly_supervised):
    from xmllib.exercises import assert_passes, check_weakly_supervised_loss
    assert_passes(check_weakly_supervised_loss, weakly_supervised)

