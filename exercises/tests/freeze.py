from otter.test_files import test_case

OK_FORMAT = False

name = "freeze"
points = 1

@test_case(points=None, hidden=False)
def test_freeze(prepare_phase):
    from xmllib.exercises import assert_passes, check_freeze
    assert_passes(check_freeze, prepare_phase)

