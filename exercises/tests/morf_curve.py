from otter.test_files import test_case

OK_FORMAT = False

name = "morf_curve"
points = 1

@test_case(points=None, hidden=False)
def test_morf_curve(morf_curve):
    from xmllib.exercises import assert_passes, check_morf_curve
    assert_passes(check_morf_curve, morf_curve)

