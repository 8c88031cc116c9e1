from otter.test_files import test_case

OK_FORMAT = False

name = "inside_mask_loss"
points = 1

@test_case(points=None, hidden=False)
def test_inside_mask_loss(inside_mask):
    from xmllib.exercises import assert_passes, check_inside_mask_loss
    assert_passes(check_inside_mask_loss, inside_mask)

