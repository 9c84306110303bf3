"""Loaders, the built-in set, preprocessing parity, signer splits and balancing, on tiny data."""

import numpy as np
import pytest
from PIL import Image

from asl_edge.data import load_dataset
from asl_edge.data.balance import class_weights, resample_index
from asl_edge.data.builtin import BUILTIN_FILE, load_builtin, signer_ids
from asl_edge.data.split import split_dataset
from asl_edge.runtime.errors import DataError
from asl_edge.runtime.preprocess import Preprocessing

PP = Preprocessing(image_size=(16, 16))


def make_tree(root, classes=("a", "b"), per_class=3, size=(20, 30), mode="RGB"):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
            Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).convert(mode).save(root / c / f"{i}.png")
    return root


def test_folder_tree_any_size_and_mode(tmp_path):
    make_tree(tmp_path / "d", size=(40, 25), mode="L")
    ds = load_dataset(tmp_path / "d", PP)
    assert ds.images.shape == (6, 16, 16, 3) and ds.images.dtype == np.uint8
    assert ds.class_names == ("a", "b") and list(np.bincount(ds.labels)) == [3, 3]


def test_grayscale_preprocessing_gives_one_channel(tmp_path):
    make_tree(tmp_path / "d")
    ds = load_dataset(tmp_path / "d", Preprocessing(image_size=(12, 12), color_mode="grayscale"))
    assert ds.images.shape == (6, 12, 12, 1)


def test_folder_streaming_keeps_paths_and_decodes_lazily(tmp_path):
    make_tree(tmp_path / "d")
    ds = load_dataset(tmp_path / "d", PP, stream=True)
    assert ds.streaming and ds.images is None and len(ds.paths) == 6
    assert ds.load_images(np.array([0, 5])).shape == (2, 16, 16, 3)


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "data not found"),
    (lambda p: p.mkdir(), "no class sub-folders"),
    (lambda p: (p / "a").mkdir(parents=True), "no images found"),
    (lambda p: make_tree(p, classes=("only",)), "only one class"),
])
def test_bad_folders(tmp_path, setup, message):
    target = tmp_path / "d"
    setup(target)
    with pytest.raises(DataError, match=message):
        load_dataset(target, PP)


def test_corrupt_and_non_image_files_are_named(tmp_path):
    root = make_tree(tmp_path / "d")
    (root / "a" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="not an image file: .*notes.txt"):
        load_dataset(root, PP)
    (root / "a" / "notes.txt").unlink()
    good = (root / "b" / "0.png").read_bytes()
    (root / "b" / "0.png").write_bytes(good[: len(good) // 3])
    with pytest.raises(DataError, match="0.png"):
        load_dataset(root, PP)


def _sign_mnist_csv(path, labels):
    header = "label," + ",".join(f"pixel{i}" for i in range(1, 785))
    rows = [f"{lab}," + ",".join(["7"] * 784) for lab in labels]
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_sign_mnist_csv(tmp_path):
    ds = load_dataset(_sign_mnist_csv(tmp_path / "s.csv", [0, 24, 10, 0]), PP)
    assert len(ds.class_names) == 24 and "J" not in ds.class_names and "Z" not in ds.class_names
    assert ds.class_names[ds.labels[1]] == "Y"  # raw label 24 is Y once J (9) is skipped
    assert ds.images.shape == (4, 16, 16, 3)


@pytest.mark.parametrize("labels, message", [([0, 9], "label 9 out of range"), ([0, 25], "label 25 out of range"),
                                             ([0, -1], "out of range")])
def test_sign_mnist_bad_labels(tmp_path, labels, message):
    with pytest.raises(DataError, match=message):
        load_dataset(_sign_mnist_csv(tmp_path / "s.csv", labels), PP)


def test_csv_wrong_columns(tmp_path):
    (tmp_path / "s.csv").write_text("a,b,c\n1,2,3\n")
    with pytest.raises(DataError, match="expected columns label,pixel1..pixel784"):
        load_dataset(tmp_path / "s.csv", PP)


def test_npz(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((6, 10, 10)), y=np.array([0, 1, 2, 0, 1, 2]),
             groups=np.array([1, 1, 2, 2, 3, 3]))
    ds = load_dataset(tmp_path / "d.npz", PP)
    assert ds.images.shape == (6, 16, 16, 3) and ds.num_classes == 3 and list(ds.groups) == [1, 1, 2, 2, 3, 3]
    np.savez(tmp_path / "bad.npz", a=np.zeros(3))
    with pytest.raises(DataError, match="expected arrays"):
        load_dataset(tmp_path / "bad.npz", PP)


def test_groups_file(tmp_path):
    root = make_tree(tmp_path / "d")
    lines = ["path,group"] + [f"{c}/{i}.png,s{i}" for c in "ab" for i in range(3)]
    (tmp_path / "g.csv").write_text("\n".join(lines))
    ds = load_dataset(root, PP, groups_file=tmp_path / "g.csv")
    assert sorted(set(ds.groups)) == ["s0", "s1", "s2"]
    (tmp_path / "g.csv").write_text("\n".join(lines[:-1]))
    with pytest.raises(DataError, match="no group for 1 images"):
        load_dataset(root, PP, groups_file=tmp_path / "g.csv")


def test_builtin_is_compact_and_has_signers():
    assert BUILTIN_FILE.stat().st_size <= 8_000_000
    assert (BUILTIN_FILE.parent / "LICENSE").is_file()
    data = load_builtin(Preprocessing(image_size=(32, 32)))
    assert data["images"].shape == (1882, 32, 32, 3)
    assert data["preprocessing"].resize_chain == (64,)
    assert 150 < len(np.unique(data["groups"])) < 300


def test_signer_rule_from_the_dataset_readme():
    # numbers 1..4 one signer (labels rise), 5 restarts the labels, 9 jumps the number
    ids = signer_ids([1, 2, 3, 4, 5, 6, 9], [0, 1, 2, 3, 0, 1, 2])
    assert list(ids) == [0, 0, 0, 0, 1, 1, 2]


def test_builtin_copy_matches_raw_photographs_exactly():
    """No train/serve skew: a raw photograph, preprocessed as recorded, equals its built-in copy."""
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "asl-digits"
    if not src.is_dir():
        pytest.skip("the original photographs are not beside this checkout")
    pp = Preprocessing(image_size=(48, 48))
    data = load_builtin(pp)
    with np.load(BUILTIN_FILE) as z:
        names = list(z["filenames"])
    recorded = data["preprocessing"]
    for i in (0, 500, 1881):
        raw = recorded.load(src / names[i])
        np.testing.assert_array_equal(raw, data["images"][i])


def test_pack_rebuilds_the_shipped_file_from_the_photographs(tmp_path):
    """``pack`` is how the built-in file was made: on two photographs per digit it stores exactly the
    pixels, labels and names the shipped file holds for them."""
    import io
    import shutil
    from pathlib import Path

    from PIL import Image

    from asl_edge.data.builtin import pack

    src = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "asl-digits"
    if not src.is_dir():
        pytest.skip("the original photographs are not beside this checkout")
    for digit in range(10):
        (tmp_path / "src" / str(digit)).mkdir(parents=True)
        for photo in sorted((src / str(digit)).iterdir())[:2]:
            shutil.copy(photo, tmp_path / "src" / str(digit) / photo.name)

    def decoded(path, names=None):
        with np.load(path) as z:
            blobs, offsets = z["blobs"].tobytes(), z["offsets"]
            pixels = {str(name): np.asarray(Image.open(io.BytesIO(blobs[a:b])))
                      for name, a, b in zip(z["filenames"], offsets[:-1], offsets[1:])
                      if names is None or str(name) in names}
            return pixels, dict(zip(map(str, z["filenames"]), z["labels"].tolist()))

    packed, labels = decoded(pack(tmp_path / "src", tmp_path / "packed.npz"))
    shipped, shipped_labels = decoded(BUILTIN_FILE, set(packed))
    assert len(packed) == 20 and {labels[n] for n in packed} == set(range(10))
    for name, pixels in packed.items():
        assert labels[name] == shipped_labels[name] == int(name.split("/")[0])
        np.testing.assert_array_equal(pixels, shipped[name])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_signer_split_never_shares_a_person(seed):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(60), 10)
    labels = np.tile(np.arange(10), 60)
    rng.shuffle(groups)
    split = split_dataset(labels, groups, 0.15, 0.15, seed)
    parts = [set(groups[getattr(split, k)]) for k in ("train", "val", "test")]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert len(split.train) + len(split.val) + len(split.test) == 600
    assert "group" in split.method
    for k in ("val", "test"):
        assert set(labels[getattr(split, k)]) == set(range(10))  # stratified: every class present


@pytest.mark.parametrize("signers", [4, 12])
def test_few_signers_give_each_small_part_one_whole_signer(signers, caplog):
    # the fast recipe's 5% validation split of a small folder is less than one signer: one, not an error
    groups = np.repeat(np.arange(signers), 10)
    labels = np.tile(np.arange(10), signers)
    split = split_dataset(labels, groups, 0.05, 0.15, 0)
    parts = [set(groups[getattr(split, k)]) for k in ("train", "val", "test")]
    assert len(parts[1]) == 1 and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert len(split.train) + len(split.val) + len(split.test) == 10 * signers
    assert "one signer" in caplog.text


def test_one_signer_cannot_be_split_by_signer():
    with pytest.raises(DataError, match="at least 2"):
        split_dataset(np.arange(10), np.zeros(10, int), 0.15, 0.15, 0)


def test_split_without_groups_says_so():
    split = split_dataset(np.tile(np.arange(4), 25), None)
    assert "image level" in split.method


def test_balancing():
    labels = np.array([0] * 8 + [1] * 2)
    over = resample_index(labels, "oversample")
    under = resample_index(labels, "undersample")
    assert np.bincount(labels[over]).tolist() == [8, 8]
    assert np.bincount(labels[under]).tolist() == [2, 2]
    w = class_weights(labels, 3)
    assert w[1] > w[0] and w[2] == 1.0


def test_preprocessing_round_trip_and_normalize():
    pp = Preprocessing(image_size=(8, 8), mean=(0.5,), std=(0.5,), channel_order="bgr", resize_chain=(64,))
    assert Preprocessing.from_dict(pp.to_dict()) == pp
    x = np.zeros((1, 8, 8, 3), np.uint8)
    x[..., 0] = 255
    out = pp.normalize(x)
    assert out.dtype == np.float32 and out[0, 0, 0].tolist() == [-1.0, -1.0, 1.0]  # BGR: red lands last
