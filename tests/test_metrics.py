"""The runtime's NumPy metrics equal scikit-learn's (which stays in the train extra only)."""

import numpy as np
import pytest

from asl_edge.runtime.metrics import classification_metrics

sk = pytest.importorskip("sklearn.metrics")


def _sklearn_metrics(y_true, y_pred, n):
    labels = list(range(n))
    p, r, f, s = sk.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    macro = sk.precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    weighted = sk.precision_recall_fscore_support(y_true, y_pred, labels=labels, average="weighted", zero_division=0)
    return {"accuracy": sk.accuracy_score(y_true, y_pred), "macro_precision": macro[0], "macro_recall": macro[1],
            "macro_f1": macro[2], "weighted_f1": weighted[2], "per_class": (p, r, f, s),
            "confusion_matrix": sk.confusion_matrix(y_true, y_pred, labels=labels).tolist()}


# (samples, classes, share without a hand): many samples, few samples (classes never seen or never
# predicted), one class, and a localiser that misses most hands.
CASES = [(500, 10, 0.0), (7, 10, 0.0), (40, 1, 0.0), (300, 10, 0.1), (25, 4, 0.8), (3, 3, 1.0)]


@pytest.mark.filterwarnings("ignore:A single label")  # scikit-learn on the one-class case
@pytest.mark.parametrize("read_whole", [False, True])
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("samples", "classes", "no_hand"), CASES)
def test_every_figure_equals_scikit_learn_on_random_labels(samples, classes, no_hand, seed, read_whole):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, classes, samples)
    # half the predictions right, the rest random: every kind of cell of the confusion matrix
    probs = rng.random((samples, classes))
    right = rng.random(samples) < 0.5
    probs[right, y_true[right]] += 2.0
    found = rng.random(samples) >= no_hand if no_hand else None
    ours = classification_metrics(y_true, probs, [f"c{i}" for i in range(classes)], found=found,
                                  read_whole=read_whole)

    # without a hand: no prediction (counted wrong), or the whole picture's reading, which counts
    y_pred = probs.argmax(axis=1) if found is None or read_whole else np.where(found, probs.argmax(axis=1), -1)
    if found is not None:
        assert (ours["no_hand"], ours["no_hand_read_whole"]) == (int((~found).sum()), read_whole)
        assert ours["no_hand_share"] == pytest.approx((~found).mean())
    want = _sklearn_metrics(y_true, y_pred, classes)
    for key in ("accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_f1"):
        assert ours[key] == pytest.approx(want[key], abs=1e-12), key
    p, r, f, s = want["per_class"]
    got = np.array([[c["precision"], c["recall"], c["f1"], c["support"]] for c in ours["per_class"].values()])
    np.testing.assert_allclose(got, np.stack([p, r, f, s], axis=1), atol=1e-12)
    assert ours["confusion_matrix"] == want["confusion_matrix"]


def test_labels_outside_the_classes_are_left_out_of_every_count():
    from asl_edge.runtime.metrics import confusion_matrix, precision_recall_f1

    y_true, y_pred = [0, 1, 2, 1], [0, 2, 1, 1]  # 2 is no class of 2: a pair with it counts nowhere
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, 2), [[1, 0], [0, 1]])
    p, r, f, s = precision_recall_f1(y_true, y_pred, 2)
    np.testing.assert_array_equal(s, [1, 2])  # true 2 is no one's support
    np.testing.assert_allclose(p, [1.0, 0.5])  # predicted 1 twice (once for the true 2), right once
    np.testing.assert_allclose(r, [1.0, 0.5])  # the true 1 predicted as 2 is a miss


def test_labels_as_floats_count_as_their_classes():
    from asl_edge.runtime.metrics import confusion_matrix, precision_recall_f1

    y_true, y_pred = np.array([0.0, 1.0, 1.0]), np.array([1.0, 1.0, 0.0])  # as read back from JSON or CSV
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, 2), [[0, 1], [1, 1]])
    np.testing.assert_allclose(precision_recall_f1(y_true, y_pred, 2)[0], [0.0, 0.5])


def test_no_samples_give_zero_accuracy_without_a_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no mean of an empty slice
        m = classification_metrics(np.array([], np.int64), np.zeros((0, 3)), ["a", "b", "c"])
    assert (m["accuracy"], m["num_samples"], m["macro_f1"]) == (0.0, 0, 0.0)


def test_found_as_ones_and_zeros_reads_as_true_and_false():
    # a found flag given as integers (a list of 0/1 from JSON) marks the same images as the booleans
    y, probs = np.array([0, 1, 1, 0]), np.eye(2)[[0, 1, 0, 0]]
    want = classification_metrics(y, probs, ["a", "b"], found=np.array([True, False, True, True]))
    got = classification_metrics(y, probs, ["a", "b"], found=[1, 0, 1, 1])
    assert got == want and (got["no_hand"], got["accuracy"]) == (1, 0.5)
