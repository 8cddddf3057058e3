"""tf_error_line: one informative line out of a real TensorFlow runtime error."""

import pytest
import tensorflow as tf

from graphkit.errors import tf_error_line

v1 = tf.compat.v1


def test_runtime_error_gives_its_cause_not_the_stack():
    graph = tf.Graph()
    with graph.as_default():
        weight = v1.get_variable("w", [2], initializer=v1.zeros_initializer())
        doubled = weight * 2.0
    with v1.Session(graph=graph) as session, pytest.raises(tf.errors.FailedPreconditionError) as caught:
        session.run(doubled)  # never initialised
    assert caught.value.message.count("\n") > 0  # TensorFlow's message is many lines
    line = tf_error_line(caught.value)
    assert "\n" not in line and "w" in line and "uninitialized" in line.lower()
    assert not line.startswith(("Graph execution error", "File ", "Node:"))


def test_plain_messages_and_empty_errors():
    assert tf_error_line("Graph execution error:\n\nFile x.py\nNode: 'a'\nreal cause\n") == "real cause"
    assert tf_error_line("single line") == "single line"
    assert tf_error_line(ValueError()) == "ValueError"


def test_grpc_separator_and_trailer_are_left_out():
    message = "\n".join([
        "Graph execution error:", "", "=====================",
        "UNAVAILABLE: From /job:worker/replica:0/task:0:", "recvmsg:Connection reset by peer",
        "Additional GRPC error information from remote target /job:ps/replica:0/task:0:",
        ":UNKNOWN:Error received from peer  {grpc_status:14}"])
    assert tf_error_line(message) == "UNAVAILABLE: From /job:worker/replica:0/task:0:"
