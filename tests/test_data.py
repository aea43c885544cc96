"""Tests of knas.data: tiny files in each official format, read through the product code.

Nothing here touches the network: downloads use ``file://`` URLs of files the tests write, and
the offline error uses a refused loopback port.
"""
from __future__ import annotations

import importlib
import io
import json
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest
import torch

from knas import data
from knas.data import DownloadError, MissingRawDataError

RNG = np.random.default_rng(1234)


# ---------------------------------------------------------------------------------------------
# fixtures: fake raw files in the official layouts


def _batch(n: int, pixels: int, label_key: bytes, labels) -> dict:
    return {
        b"batch_label": b"fake batch",
        label_key: list(int(v) for v in labels),
        b"data": RNG.integers(0, 256, size=(n, pixels), dtype=np.uint8),
        b"filenames": [b"img_%d.png" % i for i in range(n)],
    }


def _add(tf: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tf.addfile(info, io.BytesIO(payload))


@pytest.fixture(scope="module")
def cifar10_raw(tmp_path_factory):
    """cifar-10-python.tar.gz with 5 train batches of 8 images and a test batch of 10 (protocol-2 pickles)."""
    root = tmp_path_factory.mktemp("c10")
    batches = {f"data_batch_{i}": _batch(8, 3072, b"labels", RNG.integers(0, 10, 8)) for i in range(1, 6)}
    batches["test_batch"] = _batch(10, 3072, b"labels", RNG.integers(0, 10, 10))
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tf:
        _add(tf, "cifar-10-batches-py/batches.meta", pickle.dumps({b"label_names": [b"a"] * 10}, protocol=2))
        for name, b in batches.items():
            _add(tf, f"cifar-10-batches-py/{name}", pickle.dumps(b, protocol=2))
    return root, batches


def _py2_pickle(d: dict) -> bytes:
    """A Python-2 cPickle protocol-2 stream, as the official CIFAR files are: py2 ``str`` keys and
    array bytes (SHORT_BINSTRING/BINSTRING), ``numpy.core.multiarray._reconstruct``. Values: uint8
    2-D arrays or int lists."""
    out = io.BytesIO()
    w = out.write

    def py2str(b: bytes) -> None:
        w(b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b)

    w(b"\x80\x02}(")
    for k, v in d.items():
        py2str(k.encode())
        if isinstance(v, np.ndarray):
            w(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85")
            py2str(b"b")
            w(b"\x87R(K\x01(" + b"".join(b"J" + struct.pack("<i", n) for n in v.shape) + b"tcnumpy\ndtype\n")
            py2str(b"u1")
            w(b"K\x00K\x01\x87R(K\x03")
            py2str(b"|")
            w(b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89")
            py2str(v.tobytes())
            w(b"tb")
        else:
            w(b"](" + b"".join(b"J" + struct.pack("<i", int(x)) for x in v) + b"e")
    w(b"u.")
    return out.getvalue()


@pytest.fixture(scope="module")
def cifar100_raw(tmp_path_factory):
    """cifar-100-python.tar.gz with Python-2 pickles (train 12 images, test 10)."""
    root = tmp_path_factory.mktemp("c100")
    train = {"data": RNG.integers(0, 256, (12, 3072), dtype=np.uint8), "fine_labels": RNG.integers(0, 100, 12).tolist(),
             "coarse_labels": [0] * 12}
    test = {"data": RNG.integers(0, 256, (10, 3072), dtype=np.uint8), "fine_labels": RNG.integers(0, 100, 10).tolist()}
    with tarfile.open(root / "cifar-100-python.tar.gz", "w:gz") as tf:
        _add(tf, "cifar-100-python/train", _py2_pickle(train))
        _add(tf, "cifar-100-python/test", _py2_pickle(test))
    return root, train, test


@pytest.fixture(scope="module")
def imagenet16_raw(tmp_path_factory):
    """ImageNet16/train_data_batch_1..10 + val_data; labels 1..1000 (1-indexed), many beyond 120."""
    root = tmp_path_factory.mktemp("in16")
    folder = root / "ImageNet16"
    folder.mkdir()
    files = {}
    for f in [f"train_data_batch_{i}" for i in range(1, 11)] + ["val_data"]:
        n = 12 if f == "val_data" else 6
        labels = RNG.choice([1, 2, 60, 119, 120, 121, 500, 1000], size=n)
        labels[0], labels[1] = 1, 121  # every file keeps one image and drops one
        d = {"data": RNG.integers(0, 256, size=(n, 768), dtype=np.uint8), "labels": [int(v) for v in labels],
             "mean": np.zeros(768)}
        (folder / f).write_bytes(pickle.dumps(d))  # default protocol, str keys
        files[f] = d
    return root, files


def _official_split_file(path, table: dict) -> None:
    """Write a split file as AutoDL-Projects does: ``"key" : ["int", ["0", "5", ...]]``."""
    lines = [f'  "{k}"{" " * (20 - len(k))}: ["int"   , [{", ".join(json.dumps(str(i)) for i in v)}]]' for k, v in table.items()]
    path.write_text("{\n" + ",\n".join(lines) + "\n}")


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits") / "digits.npz"
    data.prepare("digits", None, out, seed=0)
    return out


# ---------------------------------------------------------------------------------------------
# download


def test_download_md5_atomic_and_reuse(tmp_path):
    src = tmp_path / "remote.bin"
    payload = os.urandom(3 * (1 << 20) + 17)  # several chunks
    src.write_bytes(payload)
    md5 = data.md5sum(src)
    dest = tmp_path / "dl" / "file.bin"
    assert data.download(src.as_uri(), dest, md5) == dest
    assert dest.read_bytes() == payload
    # an existing file with the right md5 is verified, not downloaded again
    src.write_bytes(b"changed upstream")
    data.download(src.as_uri(), dest, md5)
    assert dest.read_bytes() == payload
    # wrong md5 while downloading: error, nothing written, no temp file left
    other = tmp_path / "dl" / "other.bin"
    with pytest.raises(DownloadError, match="md5"):
        data.download(src.as_uri(), other, md5)
    assert sorted(p.name for p in other.parent.iterdir()) == ["file.bin"]
    # an existing corrupt file is reported, never silently replaced
    with pytest.raises(DownloadError, match="exists but its md5"):
        data.download(src.as_uri(), dest, "0" * 32)
    assert dest.read_bytes() == payload


def test_download_offline_names_url_and_path(tmp_path):
    url = "http://127.0.0.1:9/cifar-10-python.tar.gz"  # port 9 on loopback: connection refused
    dest = tmp_path / "raw" / "cifar-10-python.tar.gz"
    with pytest.raises(DownloadError) as err:
        data.download(url, dest, "c58f30108f718f92721af3b95e74349a", timeout=5)
    msg = str(err.value)
    assert url in msg and str(dest.resolve()) in msg and "put it at" in msg
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_download_raw_imagenet16_has_no_url(tmp_path):
    assert data.url_of("ImageNet16-120", "ImageNet16/val_data") is None
    with pytest.raises(DownloadError) as err:
        data.download_raw("ImageNet16-120", "ImageNet16/val_data", tmp_path)
    msg = str(err.value)
    assert "val_data" in msg and "image-net.org" in msg and str((tmp_path / "ImageNet16").resolve()) in msg


def test_specs_names_and_raw_files():
    assert data.raw_files("cifar10") == ["cifar-10-python.tar.gz"]
    assert data.url_of("cifar100", "cifar-100-python.tar.gz") == "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    assert data.md5_of("cifar100", "cifar-100-python.tar.gz") == "eb9058c3a382ffc7106e4002c42a8d85"
    assert len(data.raw_files("ImageNet16-120")) == 11 and data.raw_files("digits") == []
    with pytest.raises(ValueError, match="allowed: cifar10, cifar100, ImageNet16-120, digits"):
        data.get_spec("mnist")
    with pytest.raises(ValueError, match="cifar-10-python.tar.gz"):
        data.url_of("cifar10", "nope.tar.gz")


# ---------------------------------------------------------------------------------------------
# readers


def test_cifar10_from_tarball_and_extracted_folder(cifar10_raw, tmp_path):
    root, batches = cifar10_raw
    raw = data.read_cifar("cifar10", root, verify_md5=False)
    x, y = raw["train"]
    assert x.shape == (40, 3, 32, 32) and x.dtype == np.uint8 and y.dtype == np.int64
    # batches concatenated in order 1..5, rows reshaped CHW-planar
    exp = np.concatenate([batches[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    np.testing.assert_array_equal(x.reshape(40, -1), exp)
    np.testing.assert_array_equal(x[9, 1, 0, :], exp[9, 1024:1056])  # channel 1 starts at 1024
    np.testing.assert_array_equal(y, np.concatenate([batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)]))
    np.testing.assert_array_equal(raw["test"][0].reshape(10, -1), batches["test_batch"][b"data"])
    # the extracted folder gives the same arrays
    with tarfile.open(root / "cifar-10-python.tar.gz") as tf:
        tf.extractall(tmp_path, filter="data")
    raw2 = data.read_cifar("cifar10", tmp_path, verify_md5=False)
    for s in ("train", "test"):
        for a, b in zip(raw[s], raw2[s]):
            np.testing.assert_array_equal(a, b)
    # the fake archive is not the official one: md5 verification catches it
    with pytest.raises(ValueError, match="c58f30108f718f92721af3b95e74349a"):
        data.read_cifar("cifar10", root)


def test_cifar100_python2_pickles_use_fine_labels(cifar100_raw):
    root, train, test = cifar100_raw
    raw = data.read_cifar("cifar100", root, verify_md5=False)
    np.testing.assert_array_equal(raw["train"][1], train["fine_labels"])
    np.testing.assert_array_equal(raw["test"][0].reshape(10, -1), test["data"])


def test_imagenet16_keeps_first_120_classes(imagenet16_raw):
    root, files = imagenet16_raw
    raw = data.read_imagenet16(root, verify_md5=False)
    x, y = raw["train"]
    exp_x, exp_y = [], []
    for i in range(1, 11):
        d = files[f"train_data_batch_{i}"]
        lab = np.array(d["labels"])
        keep = lab <= 120
        exp_x.append(d["data"][keep])
        exp_y.append(lab[keep] - 1)
    np.testing.assert_array_equal(x.reshape(len(x), -1), np.concatenate(exp_x))
    np.testing.assert_array_equal(y, np.concatenate(exp_y))
    assert x.shape[1:] == (3, 16, 16) and y.min() >= 0 and y.max() <= 119 and 0 in y and 119 in y
    vy = np.array(files["val_data"]["labels"])
    np.testing.assert_array_equal(raw["val"][1], vy[vy <= 120] - 1)


def test_pickles_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    (folder / "train").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    (folder / "test").write_bytes(pickle.dumps({b"data": 0}, protocol=2))
    with pytest.raises(ValueError, match="refusing to load global"):
        data.read_cifar("cifar100", tmp_path, verify_md5=False)
    assert not (tmp_path / "pwned").exists()


def test_missing_raw_files_name_file_url_and_path(tmp_path):
    with pytest.raises(MissingRawDataError) as err:
        data.prepare("cifar10", tmp_path, tmp_path / "out.npz")
    msg = str(err.value)
    assert "cifar-10-python.tar.gz" in msg and "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in msg
    assert str((tmp_path / "cifar-10-python.tar.gz").resolve()) in msg
    with pytest.raises(MissingRawDataError) as err:
        data.prepare("ImageNet16-120", tmp_path, tmp_path / "out.npz", download=True)
    msg = str(err.value)
    assert "train_data_batch_1" in msg and "val_data" in msg and str((tmp_path / "ImageNet16").resolve()) in msg
    assert not (tmp_path / "out.npz").exists()


def test_prepare_downloads_missing_tarball(cifar10_raw, tmp_path, monkeypatch):
    """download=True goes through download() with the official URL and md5 (redirected to a local file)."""
    root, _ = cifar10_raw
    calls = []
    real = data.download

    def local(url, dest, md5, **kw):
        calls.append((url, md5))
        return real((root / "cifar-10-python.tar.gz").as_uri(), dest, data.md5sum(root / "cifar-10-python.tar.gz"))

    # the package attribute ``download`` is the function, so patch it in its module
    monkeypatch.setattr(importlib.import_module("knas.data.download"), "download", local)
    out = data.prepare("cifar10", tmp_path / "raw", tmp_path / "c10.npz", download=True, verify_md5=False)
    assert calls == [(data.url_of("cifar10", "cifar-10-python.tar.gz"), "c58f30108f718f92721af3b95e74349a")]
    assert (tmp_path / "raw" / "cifar-10-python.tar.gz").exists() and out.exists()


# ---------------------------------------------------------------------------------------------
# splits and the prepared cache


def test_prepare_cifar10_with_official_split_file(cifar10_raw, tmp_path):
    root, _ = cifar10_raw
    train_idx = [0, 3, 4, 7, 10, 11, 15, 20, 21, 22, 30, 33, 34, 35, 38, 39]
    valid_idx = [i for i in range(40) if i not in train_idx]
    split = tmp_path / "cifar-split.txt"
    _official_split_file(split, {"train": train_idx, "valid": valid_idx})
    assert data.read_split_file(split)["train"].tolist() == train_idx
    out = data.prepare("cifar10", root, tmp_path / "c10.npz", split_file=split, verify_md5=False)
    d = data.load_prepared(out)
    raw = data.read_cifar("cifar10", root, verify_md5=False)
    x, y = d.split("train")
    np.testing.assert_array_equal(x.numpy(), raw["train"][0][train_idx])
    np.testing.assert_array_equal(y.numpy(), raw["train"][1][train_idx])
    np.testing.assert_array_equal(d.split("valid")[0].numpy(), raw["train"][0][valid_idx])
    np.testing.assert_array_equal(d.split("test")[1].numpy(), raw["test"][1])
    assert d.split("train+valid")[0].shape[0] == 40 and d.size("train+valid") == 40
    assert d.num_classes == 10 and d.input_shape == (3, 32, 32) and (d.padding, d.flip) == (4, True)
    np.testing.assert_allclose(d.mean, [125.3 / 255, 123.0 / 255, 113.9 / 255])
    np.testing.assert_allclose(d.std, [63.0 / 255, 62.1 / 255, 66.7 / 255])
    assert d.split_source == "file:cifar-split.txt"
    with pytest.raises(ValueError, match="allowed: train, valid, test, train\\+valid"):
        d.split("val")


def test_split_file_errors(cifar10_raw, cifar100_raw, tmp_path):
    wrong = tmp_path / "cifar-split.txt"
    _official_split_file(wrong, {"train": [0, 1], "valid": [1, 2]})
    with pytest.raises(ValueError, match="overlap"):
        data.prepare("cifar10", cifar10_raw[0], tmp_path / "a.npz", split_file=wrong, verify_md5=False)
    # cifar100 needs xvalid/xtest, not train/valid
    with pytest.raises(ValueError, match="xvalid"):
        data.prepare("cifar100", cifar100_raw[0], tmp_path / "b.npz", split_file=wrong, verify_md5=False)
    big = tmp_path / "cifar100-test-split.txt"
    _official_split_file(big, {"xvalid": [0, 1], "xtest": [2, 10]})  # the fake test set has 10 images
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        data.prepare("cifar100", cifar100_raw[0], tmp_path / "c.npz", split_file=big, verify_md5=False)
    with pytest.raises(ValueError, match="no official split file"):
        data.prepare("digits", None, tmp_path / "d.npz", split_file=big)
    assert not any(p.suffix == ".npz" for p in tmp_path.iterdir())


def test_cifar100_and_imagenet16_splits(cifar100_raw, imagenet16_raw, tmp_path):
    root, train, test = cifar100_raw
    split = tmp_path / "cifar100-test-split.txt"
    xvalid = [1, 3, 4, 5, 8]
    _official_split_file(split, {"xvalid": xvalid, "xtest": [0, 2, 6, 7, 9]})
    d = data.load_prepared(data.prepare("cifar100", root, tmp_path / "c100.npz", split_file=split, verify_md5=False))
    assert d.size("train") == 12 and d.num_classes == 100
    np.testing.assert_array_equal(d.split("valid")[1].numpy(), np.array(test["fine_labels"])[xvalid])
    # seeded halves of the ImageNet16-120 val set, reproducible from the seed
    iroot, files = imagenet16_raw
    a = data.load_prepared(data.prepare("ImageNet16-120", iroot, tmp_path / "a.npz", seed=3, verify_md5=False))
    b = data.load_prepared(data.prepare("ImageNet16-120", iroot, tmp_path / "b.npz", seed=3, verify_md5=False))
    n_val = int((np.array(files["val_data"]["labels"]) <= 120).sum())
    assert a.size("valid") + a.size("test") == n_val and abs(a.size("valid") - a.size("test")) <= 1
    assert torch.equal(a.split("valid")[0], b.split("valid")[0]) and a.input_shape == (3, 16, 16)
    assert (a.padding, a.flip) == (2, True)


def test_seeded_cifar10_halves(cifar10_raw, tmp_path):
    root, _ = cifar10_raw
    splits = {s: data.make_splits("cifar10", {"train": 40, "test": 10}, seed=s) for s in (0, 0, 1)}
    tr, va = splits[0]["train"][1], splits[0]["valid"][1]
    assert len(tr) == len(va) == 20 and np.array_equal(np.sort(np.concatenate([tr, va])), np.arange(40))
    assert np.array_equal(tr, np.sort(tr))
    assert not np.array_equal(tr, data.make_splits("cifar10", {"train": 40, "test": 10}, seed=1)["train"][1])
    d = data.load_prepared(data.prepare("cifar10", root, tmp_path / "s.npz", seed=0, verify_md5=False))
    assert d.split_source == "seeded:0" and d.size("train") == 20 and d.size("test") == 10


def test_prepare_is_atomic(cifar10_raw, tmp_path, monkeypatch):
    def broken_savez(fh, **arrays):
        fh.write(b"PK partial")
        raise OSError("disk full")

    monkeypatch.setattr("knas.data.prepared.np.savez", broken_savez)
    out = tmp_path / "out" / "cifar10.npz"
    with pytest.raises(OSError, match="disk full"):
        data.prepare("cifar10", cifar10_raw[0], out, verify_md5=False)
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_load_prepared_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((1, 3, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="not a knas prepared dataset"):
        data.load_prepared(bad)
    with pytest.raises(FileNotFoundError, match="prepare"):
        data.load_prepared(tmp_path / "none.npz")


def test_digits_end_to_end(digits_npz):
    from sklearn.datasets import load_digits

    d = data.load_prepared(digits_npz)
    sizes = {s: d.size(s) for s in ("train", "valid", "test")}
    assert sum(sizes.values()) == 1797 and sizes["train"] == 1079 and abs(sizes["valid"] - 359) <= 5
    assert d.input_shape == (3, 8, 8) and (d.padding, d.flip) == (1, False) and d.num_classes == 10
    x, y = d.split("train")
    assert x.dtype == torch.uint8 and int(x.max()) == 255 and int(x.min()) == 0
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])
    # stratified: every class has ~60% of its images in train
    counts = np.bincount(y.numpy(), minlength=10) / np.bincount(load_digits().target, minlength=10)
    assert np.all(np.abs(counts - 0.6) < 0.02)
    # values are round(v * 255 / 16) of the sklearn images, at the recorded source indices
    with np.load(digits_npz) as z:
        idx = z["idx_train"]
    ref = np.rint(load_digits().images[idx] * 255 / 16).astype(np.uint8)
    np.testing.assert_array_equal(x[:, 0].numpy(), ref)
    # mean/std computed on the train split
    xt = x.double() / 255
    np.testing.assert_allclose(d.mean, [xt.mean().item()] * 3, rtol=1e-12)
    np.testing.assert_allclose(d.std, [xt.std(unbiased=False).item()] * 3, rtol=1e-9)
    # one shuffled, augmented epoch visits every train image exactly once
    g = torch.Generator().manual_seed(0)
    ys = [yb for _, yb in data.iterate_batches(d, "train", 100, shuffle=True, augment=True, generator=g)]
    assert [len(b) for b in ys] == [100] * 10 + [79]
    assert torch.equal(torch.cat(ys).sort().values, y.sort().values)


# ---------------------------------------------------------------------------------------------
# transforms and batching


def test_normalize_matches_formula():
    x = torch.randint(0, 256, (4, 3, 5, 5), dtype=torch.uint8)
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)
    out = data.normalize(x, mean, std)
    ref = (x.double() / 255 - torch.tensor(mean, dtype=torch.float64).view(3, 1, 1)) / torch.tensor(std, dtype=torch.float64).view(3, 1, 1)
    assert out.dtype == torch.float32 and torch.allclose(out.double(), ref, atol=1e-6)
    assert torch.equal(data.normalize(x[0], mean, std), out[0])
    with pytest.raises(ValueError, match="uint8"):
        data.normalize(x.float(), mean, std)
    with pytest.raises(ValueError, match="mean"):
        data.normalize(x, mean[:2], std[:2])


def test_crop_flip_identity_and_flip():
    x = torch.randint(0, 256, (64, 3, 6, 6), dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(data.random_crop_flip(x, 0, False, g), x)
    out = data.random_crop_flip(x, 0, True, g)
    flipped = torch.tensor([torch.equal(o, f) and not torch.equal(o, i) for o, i, f in zip(out, x, x.flip(-1))])
    same = torch.tensor([torch.equal(o, i) for o, i in zip(out, x)])
    assert bool((flipped | same).all()) and 10 < int(flipped.sum()) < 54


def test_crop_flip_is_a_zero_padded_crop_and_deterministic():
    pad, n = 2, 200
    x = torch.randint(1, 256, (n, 2, 5, 4), dtype=torch.uint8)  # no zeros inside the images
    out = data.random_crop_flip(x, pad, True, torch.Generator().manual_seed(7))
    assert out.shape == x.shape and out.dtype == torch.uint8
    xp = np.pad(x.numpy(), ((0, 0), (0, 0), (pad, pad), (pad, pad)))  # reference: numpy zero padding
    seen = set()
    for k in range(n):
        hits = [(i, j, f) for i in range(2 * pad + 1) for j in range(2 * pad + 1) for f in (0, 1)
                if np.array_equal(out[k].numpy(), (lambda c: c[..., ::-1] if f else c)(xp[k, :, i:i + 5, j:j + 4]))]
        assert hits, f"image {k} is not a crop of its zero-padded original"
        seen.update(hits)
    assert {(i, j) for i, j, _ in seen} == {(i, j) for i in range(5) for j in range(5)} and {f for *_, f in seen} == {0, 1}
    again = data.random_crop_flip(x, pad, True, torch.Generator().manual_seed(7))
    other = data.random_crop_flip(x, pad, True, torch.Generator().manual_seed(8))
    assert torch.equal(out, again) and not torch.equal(out, other)
    with pytest.raises(ValueError, match="padding"):
        data.random_crop_flip(x, -1, True, torch.Generator())


def test_iterate_batches_deterministic_and_sample_batch(digits_npz):
    d = data.load_prepared(digits_npz)

    def run(seed):
        g = torch.Generator().manual_seed(seed)
        return list(data.iterate_batches(d, "valid", 64, shuffle=True, augment=True, generator=g, drop_last=True))

    a, b, c = run(5), run(5), run(6)
    assert len(a) == d.size("valid") // 64 and all(xb.shape == (64, 3, 8, 8) and xb.dtype == torch.float32 for xb, _ in a)
    assert all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) for p, q in zip(a, b))
    assert not torch.equal(a[0][0], c[0][0])
    # no shuffle, no augmentation: source order, plain normalisation
    xb, yb = next(data.iterate_batches(d, "test", 16, shuffle=False, augment=False))
    x, y = d.split("test")
    assert torch.equal(yb, y[:16]) and torch.equal(xb, data.normalize(x[:16], d.mean, d.std))
    # sample_batch: the first batch of a seeded shuffled loader, same for every call
    xs, ys = data.sample_batch(d, "train", 32, seed=11, augment=True)
    first = next(data.iterate_batches(d, "train", 32, shuffle=True, augment=True, generator=torch.Generator().manual_seed(11)))
    assert torch.equal(xs, first[0]) and torch.equal(ys, first[1])
    assert torch.equal(xs, data.sample_batch(d, "train", 32, seed=11, augment=True)[0])
    with pytest.raises(ValueError, match="generator"):
        data.iterate_batches(d, "train", 8, shuffle=True, augment=False)
    with pytest.raises(ValueError, match="batch_size"):
        data.iterate_batches(d, "train", 0, shuffle=False, augment=False)
    with pytest.raises(ValueError, match="unknown split"):
        data.iterate_batches(d, "val", 8, shuffle=False, augment=False)
    with pytest.raises(ValueError, match=r"\[1, 1079\]"):
        data.sample_batch(d, "train", 5000, seed=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batches_on_cuda_match_cpu(digits_npz):
    d = data.load_prepared(digits_npz)
    cpu = data.sample_batch(d, "train", 64, seed=3, augment=True)
    gpu = data.sample_batch(d, "train", 64, seed=3, augment=True, device="cuda")
    assert gpu[0].device.type == "cuda" and torch.equal(cpu[0], gpu[0].cpu()) and torch.equal(cpu[1], gpu[1].cpu())
