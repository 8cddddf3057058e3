"""The session runner: training, evaluation, checkpoints, TensorBoard logs, bad feeds."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from graphkit.errors import CheckpointError, DTypeError, FeedError, ModelError, ShapeError
from graphkit.models.graph_model import GraphModel
from graphkit.models.hello_mnist import build_hello_mnist
from graphkit.runtime.model_session import ModelSession

v1 = tf.compat.v1


def small_model(**kwargs):
    return build_hello_mnist(hidden=32, seed=7, **kwargs)


def arrays(data):
    x, labels = data
    return {"x": x, "labels": labels}


@pytest.mark.parametrize("input_mode", ["pipeline", "feed"])
def test_training_drops_loss_and_reaches_high_accuracy(blobs, input_mode):
    with ModelSession(small_model()) as session:
        before = session.evaluate(arrays(blobs))
        results = session.fit(arrays(blobs), epochs=6, batch_size=32, input_mode=input_mode, progress=False)
        after = session.evaluate(arrays(blobs))
        assert session.global_step == 6 * 16  # 512 examples / batch 32 per epoch
    assert [r.epoch for r in results] == [1, 2, 3, 4, 5, 6]
    assert all(r.steps == 16 for r in results)
    assert results[-1].loss < results[0].loss
    assert after["loss"] < 0.5 * before["loss"]
    assert after["accuracy"] > 0.95


def test_evaluate_matches_numpy_on_predictions(blobs):
    with ModelSession(small_model()) as session:
        session.fit(arrays(blobs), epochs=1, progress=False)
        probabilities = session.predict({"x": blobs[0]}, ["probabilities"], batch_size=100)["probabilities"]
        scores = session.evaluate(arrays(blobs), batch_size=100)
    assert probabilities.shape == (512, 10)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
    assert scores["accuracy"] == pytest.approx((probabilities.argmax(-1) == blobs[1]).mean())
    expected_loss = -np.log(probabilities[np.arange(512), blobs[1]]).mean()
    assert scores["loss"] == pytest.approx(expected_loss, rel=1e-4)


def weights(session):
    with session.model.graph.as_default():
        variables = v1.trainable_variables()
    return dict(zip([v.name for v in variables], session.session.run(variables)))


def test_checkpoint_resumes_exactly(blobs, tmp_path):
    checkpoint_dir = str(tmp_path / "ckpt")
    with ModelSession(small_model(), checkpoint_dir=checkpoint_dir) as session:
        session.fit(arrays(blobs), epochs=2, progress=False)
        step, saved = session.global_step, weights(session)
    with ModelSession(small_model(), checkpoint_dir=checkpoint_dir) as resumed:
        assert resumed.epoch == 2 and resumed.global_step == step
        for name, value in weights(resumed).items():
            np.testing.assert_array_equal(value, saved[name])
        assert resumed.fit(arrays(blobs), epochs=2, progress=False) == []  # already done
        more = resumed.fit(arrays(blobs), epochs=3, progress=False)
        assert [r.epoch for r in more] == [3] and resumed.global_step == step + 16
    latest = v1.train.latest_checkpoint(checkpoint_dir)
    assert latest.endswith("model.ckpt-3") and v1.train.checkpoint_exists(latest)


def test_checkpoint_errors(blobs, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with ModelSession(small_model()) as session:
        with pytest.raises(CheckpointError, match=f"{empty}: no checkpoint found"):
            session.restore(str(empty))
    other_dir = str(tmp_path / "other")
    with ModelSession(build_hello_mnist(hidden=16, seed=1), checkpoint_dir=other_dir) as other:
        other.save()
    with ModelSession(small_model()) as session:
        with pytest.raises(CheckpointError, match="does not match this graph"):
            session.restore(other_dir)


def test_tensorboard_events_hold_graph_and_scalars(blobs, tmp_path):
    logdir = str(tmp_path / "logs")
    with ModelSession(small_model(), logdir=logdir) as session:
        session.fit(arrays(blobs), epochs=2, progress=False)
        session.evaluate(arrays(blobs))
    (events_file,) = glob.glob(os.path.join(logdir, "events.out.tfevents.*"))
    graph_seen, scalars = False, {}
    for event in v1.train.summary_iterator(events_file):
        if event.graph_def:
            graph_def = v1.GraphDef.FromString(event.graph_def)
            graph_seen = any(node.name == "dense/kernel" for node in graph_def.node)
        for value in event.summary.value:
            scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    assert graph_seen
    assert [step for step, _ in scalars["loss"]] == [16, 32]
    assert scalars["loss"][1][1] < scalars["loss"][0][1]
    assert 0.0 <= scalars["eval/accuracy"][0][1] <= 1.0


def test_bad_feeds_name_the_tensor(blobs):
    x, labels = blobs
    with ModelSession(small_model(in_graph_pipeline=False)) as session:
        with pytest.raises(ModelError, match="input_mode 'pipeline' needs"):
            session.fit(arrays(blobs), epochs=1, progress=False)
        with pytest.raises(ShapeError, match=r"x: expected shape x:0 \[\?,28,28\] float32, got \[512, 28\]"):
            session.fit({"x": x[:, :, 0], "labels": labels}, epochs=1, input_mode="feed", progress=False)
        with pytest.raises(DTypeError, match="labels: expected dtype int32 .* got float32"):
            session.fit({"x": x, "labels": labels.astype(np.float32)}, epochs=1, input_mode="feed",
                        progress=False)
        with pytest.raises(FeedError, match=r"labels: missing feed for placeholder labels:0 \[\?\] int32"):
            session.fit({"x": x}, epochs=1, input_mode="feed", progress=False)
        with pytest.raises(FeedError, match="images: not a placeholder of this model"):
            session.predict({"images": x})
        with pytest.raises(ShapeError, match="disagree on the number of examples"):
            session.evaluate({"x": x, "labels": labels[:10]})


def test_graph_model_checks_its_tensors():
    model = small_model()
    with pytest.raises(ModelError, match=r"GraphModel.outputs\['probabilities'\]: .* another graph"):
        with tf.Graph().as_default():
            foreign = tf.constant(1.0)
        GraphModel(model.graph, inputs=model.inputs, outputs={"probabilities": foreign})
    with pytest.raises(ModelError, match=r"GraphModel.inputs\['x'\]: is None"):
        GraphModel(model.graph, inputs={"x": None}, outputs=model.outputs)
    with pytest.raises(ModelError, match="needs its loss tensor"):
        GraphModel(model.graph, inputs=model.inputs, outputs=model.outputs, train_op=model.train_op)
    with pytest.raises(ModelError, match="at least one named output"):
        GraphModel(model.graph, inputs=model.inputs, outputs={})


def test_graph_mode_leaves_eager_on():
    build_hello_mnist(hidden=8)
    assert tf.executing_eagerly()
    assert float(tf.constant(2.0) * 3) == 6.0


def _pipeline_epochs(session, pipeline, seeds, shuffle=True, batches=4):
    """Batches of one epoch per seed, each epoch started with that seed."""
    epochs = []
    for seed in seeds:
        session.run(pipeline.start_epoch, {pipeline.batch_size: 32, pipeline.shuffle: shuffle,
                                           pipeline.shuffle_seed: seed})
        epochs.append([session.run(pipeline.next) for _ in range(batches)])
    return epochs


def test_pipeline_visits_every_example_once_per_epoch_in_a_new_order():
    from graphkit.data.pipeline import make_pipeline

    graph = tf.Graph()
    with graph.as_default():
        pipeline = make_pipeline({"x": ([2], tf.float32), "labels": ([], tf.int32)}, seed=3)
        local_init = v1.local_variables_initializer()
    x = np.stack([np.arange(100), -np.arange(100)], 1).astype(np.float32)
    labels = np.arange(100, dtype=np.int32)
    with v1.Session(graph=graph) as session:
        session.run(local_init)
        session.run(pipeline.load, {pipeline.sources["x"]: x, pipeline.sources["labels"]: labels})
        epochs = _pipeline_epochs(session, pipeline, seeds=[5, 6, 5])
        in_order = _pipeline_epochs(session, pipeline, seeds=[5], shuffle=False, batches=5)[0]
    orders = []
    for batches in epochs:
        assert [len(b["labels"]) for b in batches] == [32, 32, 32, 4]  # no batch spans two epochs
        order = np.concatenate([b["labels"] for b in batches])
        rows = np.concatenate([b["x"] for b in batches])
        np.testing.assert_array_equal(rows, x[order])  # rows stay whole
        assert sorted(order) == list(range(100))
        orders.append(order)
    assert not np.array_equal(orders[0], orders[1])  # a new seed, a new order
    np.testing.assert_array_equal(orders[0], orders[2])  # the same seed, the same order
    np.testing.assert_array_equal(np.concatenate([b["labels"] for b in in_order[:4]]), labels)
    np.testing.assert_array_equal(in_order[4]["labels"], labels[:32])  # past the end: starts over


def test_pipeline_with_nothing_loaded_says_so(blobs):
    with ModelSession(small_model()) as session:
        for _ in range(2):  # before any fit, and after one (which releases the data)
            with pytest.raises(tf.errors.InvalidArgumentError, match="input_pipeline: no examples loaded"):
                session.session.run(session.model.loss)
            session.fit(arrays(blobs), epochs=session.epoch + 1, batch_size=64, progress=False)


def test_pipeline_data_is_local_released_after_fit_and_not_checkpointed(blobs, tmp_path):
    model = small_model()
    with model.graph.as_default():
        data_shape = tf.raw_ops.VariableShape(input=model.graph.get_tensor_by_name("input_pipeline/x_data:0"))
    with ModelSession(model, checkpoint_dir=str(tmp_path)) as session:
        session.fit(arrays(blobs), epochs=1, batch_size=64, progress=False)
        shape = session.session.run(data_shape)
    assert list(shape) == [0, 28, 28]  # the preloaded copy is given back
    stored = dict(tf.train.list_variables(str(tmp_path)))
    assert stored and not any(name.startswith("input_pipeline") for name in stored)


def test_training_step_turns_training_on_without_a_feed():
    graph = tf.Graph()
    with graph.as_default():
        counter = v1.get_variable("counter", [], initializer=tf.zeros_initializer())
        training = v1.placeholder_with_default(False, [], name="training")
        loss = tf.cast(training, tf.float32) + 0.0 * counter
        train_op = counter.assign_add(1.0).op
    model = GraphModel(graph, inputs={}, outputs={"loss": loss}, loss=loss, train_op=train_op,
                       training=training)
    with ModelSession(model) as session:
        step = session._training_step()
        assert [float(step()[0]) for _ in range(3)] == [1.0, 1.0, 1.0]
        assert session.run(loss) == 0.0  # outside the step, training stays off
        assert session.run(counter) == 3.0
        session._training_step()  # a second fit's step reuses the constant
    assert sum(op.name.startswith("graphkit_runner/training_on") for op in graph.get_operations()) == 1


def test_run_feeds_by_name_and_turns_dropout_on_for_training(blobs):
    x = blobs[0][:4]
    with ModelSession(small_model(in_graph_pipeline=False)) as session:
        graph = session.model.graph
        hidden = graph.get_tensor_by_name("dense/Relu:0")
        dropped = graph.get_tensor_by_name("dropout/output:0")
        h, inference = session.run([hidden, dropped], {"x": x})
        np.testing.assert_array_equal(inference, h)  # dropout is the identity at inference
        h, trained = session.run([hidden, dropped], {"x": x}, training=True)
        kept = trained != 0
        np.testing.assert_allclose(trained[kept], h[kept] / 0.8, rtol=1e-6)
        assert (trained[h > 0] == 0).any()
        with pytest.raises(ShapeError, match="x: expected shape"):
            session.run(hidden, {"x": x[:, :5]})
