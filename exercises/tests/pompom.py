from otter.test_files import test_case

OK_FORMAT = False

name = "pompom"
points = 1

@test_case(points=None, hidden=False)
def test_pompom(pompom):
    from xmllib.exercises import assert_passes, check_pompom
    assert_passes(check_pompom, pompom)

