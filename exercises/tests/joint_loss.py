from otter.test_files import test_case

OK_FORMAT = False

name = "joint_loss"
points = 1

@test_case(points=None, hidden=False)
def test_joint_loss(joint):
    from xmllib.exercises import assert_passes, check_joint_loss
    assert_passes(check_joint_loss, joint)

