from otter.test_files import test_case

OK_FORMAT = False

name = "aopc"
points = 1

@test_case(points=None, hidden=False)
def test_aopc(aopc):
    from xmllib.exercises import assert_passes, check_aopc
    assert_passes(check_aopc, aopc)

