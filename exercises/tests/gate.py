from otter.test_files import test_case

OK_FORMAT = False

name = "gate"
points = 1

@test_case(points=None, hidden=False)
def test_gate(apply_gate):
    from xmllib.exercises import assert_passes, check_gate
    assert_passes(check_gate, apply_gate)

