"""Real-data loaders: Adult, CH, Cred, GMSC, MNIST, plus the offline digits / breast_cancer sets.

Files are read from ``$CFTKIT_TEST_DATA`` (default: ``shared/data`` next to the repository root).
The network is never touched: ``_fetch._urlopen`` only lets ``file://`` URLs through, and
``CFTKIT_OFFLINE`` is set except in the tests of the download path, which serve temp files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

import cftkit
from cftkit import datasets
from cftkit.datasets import ChecksumError, DataNotFoundError, _fetch, mnist as mnist_mod, tabular

DATA = Path(os.environ.get("CFTKIT_TEST_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
def test_file_rewritten_in_place_with_restored_mtime_is_hashed_again(tmp_path):
    """The verification cache must not trust (path, size, mtime): ``touch -r`` restores an mtime."""
    good = (DATA / "adult" / "adult.data").read_bytes()
    path = tmp_path / "adult" / "adult.data"
    path.parent.mkdir()
    path.write_bytes(good)
    datasets.load("adult", data_home=tmp_path)  # verified once, and remembered
    before = path.stat()
    bad = bytearray(good)
    bad[100] ^= 0x01  # same size
    with open(path, "r+b") as f:  # in place: same inode
        f.write(bytes(bad))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    with pytest.raises(ChecksumError, match="NOT used"):
        datasets.load("adult", data_home=tmp_path)


@pytest.mark.parametrize("bad", [123, 1.5, b"/tmp", ["data"]])
def test_data_home_must_be_a_path(bad):
    for call in (lambda: datasets.load("adult", data_home=bad), lambda: datasets.load("moons", data_home=bad),
                 lambda: datasets.load_credit_default(data_home=bad)):
        with pytest.raises(TypeError, match="data_home must be a folder path"):
            call()


GMSC_FILE = DATA / "gmsc" / "gmsc.csv"
needs_gmsc = pytest.mark.skipif(not GMSC_FILE.is_file(), reason=f"GMSC is bring-your-own; {GMSC_FILE} is absent")


def _no_network(url, timeout):
    if not str(url).startswith("file://"):
        raise AssertionError(f"test tried to reach the network: {url}")
    return _ORIG_URLOPEN(url, timeout)


_ORIG_URLOPEN = _fetch._urlopen


@pytest.fixture(scope="module", autouse=True)
def _env(tmp_path_factory):
    """Point the loaders at the shared data, an empty temp cache, offline, and no real network."""
    base = tmp_path_factory.mktemp("cftkit_env")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CFTKIT_TEST_DATA", str(DATA))
        mp.delenv("CFTKIT_DATA", raising=False)
        mp.setenv("XDG_CACHE_HOME", str(base / "xdg"))
        mp.setenv("KERAS_HOME", str(base / "keras"))
        mp.setenv("CFTKIT_OFFLINE", "1")
        mp.setattr(_fetch, "_urlopen", _no_network)
        yield


@pytest.fixture
def empty_env(monkeypatch, tmp_path):
    """No data anywhere: empty $CFTKIT_TEST_DATA and cache; returns (empty data dir, cache root)."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("CFTKIT_TEST_DATA", str(empty))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return empty, tmp_path / "xdg" / "cftkit"


# ------------------------------------------------------------------------------------------ tabular table
# name, n_features, train pool, test, protected index, protected name, balanced, one-hot groups
TABULAR = {
    "adult": (108, 26049, 6512, 0, "age", False, 8),
    "california_housing": (8, 16504, 4126, 1, "HouseAge", True, 0),
    "credit_default": (33, 10618, 2654, 14, "AGE", True, 3),
    "gmsc": (10, 13371, 3343, 1, "age", True, 0),
}
_CACHE: dict = {}


def _load(name, seed=0):
    if (name, seed) not in _CACHE:
        _CACHE[name, seed] = datasets.load(name, seed=seed)
    return _CACHE[name, seed]


def _tab_params():
    return [pytest.param(n, marks=needs_gmsc) if n == "gmsc" else n for n in TABULAR]


@pytest.mark.parametrize("name", _tab_params())
def test_tabular_shapes_splits_and_protected(name):
    d, n_pool, n_test, prot, prot_name, _, n_groups = TABULAR[name]
    ds = _load(name)
    assert ds.name == name and ds.n_features == d and ds.n_classes == 2
    assert len(ds.feature_names) == d == ds.constraints.n_features
    assert len(ds.x_train) + len(ds.x_val) == n_pool == ds.info["n_pool"]
    assert len(ds.x_test) == n_test == len(ds.y_test)
    # stratified_split takes floor(n_val / N * n_c) per class: 1000 minus at most one row per class
    assert 998 <= len(ds.x_val) <= 1000
    for x, y in ((ds.x_train, ds.y_train), (ds.x_val, ds.y_val), (ds.x_test, ds.y_test)):
        assert x.dtype == np.float32 and y.dtype == np.int32 and np.isfinite(x).all()
        assert set(np.unique(y)) <= {0, 1}
    assert ds.protected == (prot,) and ds.feature_names[prot] == prot_name
    assert len(ds.constraints.categorical_groups) == n_groups
    assert ds.constraints.mutability == ("both",) * d
    assert ds.with_immutable().constraints.immutable_features == (prot,)
    assert len(ds.info["checksum"]) in (40, 64) and Path(ds.info["file"]).is_file()


@pytest.mark.parametrize("name", _tab_params())
def test_tabular_standardised_on_train_pool(name):
    ds = _load(name)
    cols = ds.info["standardized"]["features"]
    assert len(cols) == {"adult": 6, "california_housing": 8, "credit_default": 20, "gmsc": 10}[name]
    pool = ds.x_pool[:, cols].astype(np.float64)
    np.testing.assert_allclose(pool.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(pool.std(axis=0, ddof=1), 1.0, atol=1e-4)
    # the test set is transformed with the pool's statistics, so it is only roughly centred
    assert np.abs(ds.x_test[:, cols].mean(axis=0)).max() < 0.5


@pytest.mark.parametrize("name", _tab_params())
def test_tabular_domain_contains_pool_and_is_from_data(name):
    ds = _load(name)
    c = ds.constraints
    ds.constraints.check(ds.x_pool, "pool")  # raises if any train/val point is outside
    lo, hi = ds.x_pool.min(axis=0), ds.x_pool.max(axis=0)
    mu, sd = ds.x_pool.astype(np.float64).mean(axis=0), ds.x_pool.astype(np.float64).std(axis=0)
    np.testing.assert_allclose(c.lower, np.minimum(mu - 2 * sd, lo), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c.upper, np.maximum(mu + 2 * sd, hi), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["adult", "credit_default"])
def test_categorical_groups_are_valid_one_hot(name):
    ds = _load(name)
    x = np.concatenate([ds.x_pool, ds.x_test])
    grouped = set()
    for g in ds.constraints.categorical_groups:
        block = x[:, list(g)]
        assert set(np.unique(block)) <= {0.0, 1.0}
        np.testing.assert_array_equal(block.sum(axis=1), 1.0)
        prefixes = {ds.feature_names[j].split("=")[0] for j in g}
        assert len(prefixes) == 1 and all("=" in ds.feature_names[j] for j in g)
        grouped |= set(g)
    # decoding a valid one-hot is the identity
    np.testing.assert_array_equal(ds.constraints.decode_categorical(ds.x_test[:50])[:, sorted(grouped)],
                                  ds.x_test[:50][:, sorted(grouped)])


def test_adult_feature_layout():
    ds = _load("adult")
    names = ds.feature_names
    assert names[:3] == ("age", "workclass=Private", "workclass=Self-emp-not-inc")
    assert "sex=Female" in names and "country=United-States" in names and "workclass=?" in names
    sizes = [len(g) for g in ds.constraints.categorical_groups]
    assert sizes == [9, 16, 7, 15, 6, 5, 2, 42] and sum(sizes) == 102
    y = np.concatenate([ds.y_pool, ds.y_test])
    assert np.bincount(y).tolist() == [24720, 7841]  # not balanced
    assert ds.class_names == ("<=50K", ">50K")


def test_adult_csv_and_raw_data_agree():
    a = datasets.load_adult(source="raw")
    b = datasets.load_adult(source="csv")
    assert a.info["source"] == "raw" and b.info["source"] == "csv"
    for f in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert a.feature_names == b.feature_names and a.constraints == b.constraints


def test_credit_feature_layout():
    ds = _load("credit_default")
    assert [len(g) for g in ds.constraints.categorical_groups] == [2, 7, 4]
    assert ds.feature_names[:3] == ("LIMIT_BAL", "SEX=male", "SEX=female")
    assert ds.feature_names[14] == "AGE" and ds.class_names == ("default", "no default")


@pytest.mark.parametrize("name,per_class", [("california_housing", 10315), ("credit_default", 6636),
                                            pytest.param("gmsc", 8357, marks=needs_gmsc)])
def test_balanced_files_are_balanced(name, per_class):
    ds = _load(name)
    y = np.concatenate([ds.y_pool, ds.y_test])
    assert np.bincount(y).tolist() == [per_class, per_class]


def test_aliases_resolve():
    for alias, name in (("ch", "california_housing"), ("CALI", "california_housing"), ("cred", "credit_default"),
                        ("credit", "credit_default")):
        assert datasets.load(alias).name == name
    names = datasets.available()
    for n in ("adult", "california_housing", "credit_default", "gmsc", "mnist", "digits", "breast_cancer", "moons"):
        assert n in names


def test_determinism_per_seed():
    a, b, c = _load("california_housing", 0), datasets.load("ch", seed=0), _load("california_housing", 1)
    for f in ("x_train", "y_train", "x_val", "y_val", "x_test"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert not np.array_equal(a.x_val, c.x_val)  # the seed draws the validation split ...
    np.testing.assert_array_equal(a.x_test, c.x_test)  # ... the file order fixes the test set
    np.testing.assert_array_equal(np.sort(a.x_pool, axis=0), np.sort(c.x_pool, axis=0))


def test_n_train_subsample_is_stratified():
    full = _load("credit_default")
    ds = datasets.load_credit_default(n_train=500)
    assert len(ds.x_train) == 500
    np.testing.assert_array_equal(ds.x_val, full.x_val)
    np.testing.assert_array_equal(ds.x_test, full.x_test)
    assert abs(ds.y_train.mean() - full.y_train.mean()) < 0.01


# ------------------------------------------------------------------------------------------ raw recipes
def test_california_housing_raw_files_agree_and_recipe_balances():
    _, arr = tabular._read_csv(DATA / "california_housing" / "raw" / "cal_housing.csv")
    x_data, v_data = tabular._ch_from_statlib(
        tabular._read_csv(DATA / "california_housing" / "raw" / "cal_housing.data", header=False)[1])
    np.testing.assert_allclose(x_data, arr[:, :8], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(v_data, arr[:, 8], rtol=1e-12)
    assert np.median(arr[:, 8]) == pytest.approx(1.797)
    ds = datasets.load_california_housing(source="raw", balance_seed=7)
    assert ds.info["source"] == "raw" and ds.info["file_id"] == "california_housing/raw/cal_housing.csv"
    y = np.concatenate([ds.y_pool, ds.y_test])
    assert np.bincount(y).tolist() == [10315, 10315] and len(ds.x_test) == 4126
    again = datasets.load_california_housing(source="raw", balance_seed=7)
    np.testing.assert_array_equal(ds.x_test, again.x_test)


def test_credit_default_raw_recipe():
    ds = datasets.load_credit_default(source="raw")
    assert ds.info["source"] == "raw" and ds.n_features == 33
    y = np.concatenate([ds.y_pool, ds.y_test])
    assert np.bincount(y).tolist() == [6636, 6636]
    assert (len(ds.x_train) + len(ds.x_val), len(ds.x_test)) == (10618, 2654)


def _fake_cs_training(path, n=400, seed=0):
    rng = np.random.default_rng(seed)
    lines = ['"",SeriousDlqin2yrs,' + ",".join(tabular.GMSC_COLUMNS)]
    for i in range(n):
        row = [str(i + 1), str(int(rng.random() < 0.2))] + [f"{v:.4f}" for v in rng.random(10)]
        if i % 10 == 3:
            row[6] = "NA"  # MonthlyIncome
        lines.append(",".join(row))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_gmsc_raw_recipe_with_a_verified_fake_file(tmp_path, monkeypatch, empty_env):
    raw = _fake_cs_training(tmp_path / "home" / "gmsc" / "cs-training.csv")
    blob = _fetch.git_blob_sha1(raw.read_bytes())
    monkeypatch.setattr(tabular, "GMSC_RAW", dataclasses.replace(tabular.GMSC_RAW, git_blob=(blob,)))
    ds = datasets.load_gmsc(data_home=tmp_path / "home", n_validation=20)
    assert ds.info["source"] == "raw" and ds.info["checksum"] == blob and len(ds.x_val) >= 19
    with pytest.raises(ValueError, match="n_validation"):
        datasets.load_gmsc(data_home=tmp_path / "home")  # 1000 > the fake file's pool
    _, arr = tabular._read_csv(raw)
    kept = arr[~np.isnan(arr).any(axis=1)]
    n_minority = int((kept[:, 1] == 1).sum())  # delinquent rows become class 0
    y = np.concatenate([ds.y_pool, ds.y_test])
    assert np.bincount(y).tolist() == [n_minority, n_minority]
    assert ds.feature_names[1] == "age" and ds.protected == (1,)


def test_gmsc_raw_with_wrong_blob_is_rejected(tmp_path, empty_env):
    _fake_cs_training(tmp_path / "home" / "gmsc" / "cs-training.csv")
    with pytest.raises(ChecksumError, match="git blob 6e670f83b7788e0e57cc8a7719c70dcf2c071f3f"):
        datasets.load("gmsc", data_home=tmp_path / "home")


# ------------------------------------------------------------------------------------------ MNIST
@pytest.fixture(scope="module")
def mnist(_env):
    return datasets.load("mnist", seed=0)


def test_mnist_paper_layout(mnist):
    ds = mnist
    assert ds.x_train.shape == (10000, 784) and ds.x_val.shape == (1000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.x_train.dtype == np.float32 and ds.n_classes == 10
    assert np.bincount(ds.y_pool, minlength=10).tolist() == [1100] * 10
    assert np.bincount(ds.y_val, minlength=10).tolist() == [100] * 10
    assert np.bincount(ds.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    for x in (ds.x_train, ds.x_val, ds.x_test):
        assert x.min() >= -1.0 and x.max() <= 1.0
    assert ds.x_test.min() == -1.0 and ds.x_test.max() == 1.0
    np.testing.assert_array_equal(ds.constraints.lower, -1.0)
    np.testing.assert_array_equal(ds.constraints.upper, 1.0)
    assert ds.protected == tuple(range(140)) + tuple(range(644, 784))
    assert ds.feature_names[139] == "px_r04_c27" and ds.feature_names[644] == "px_r23_c00"
    # the pool is drawn with replacement from the 60k training images
    assert len(np.unique(ds.info["pool_index"])) < 11000


def test_mnist_pixels_are_scaled_row_major(mnist):
    raw = mnist_mod.read_npz(mnist.info["file"])
    np.testing.assert_allclose(mnist.x_test[0].reshape(28, 28), raw["x_test"][0] / 255.0 * 2 - 1, atol=1e-6)
    # training rows are pool rows in order (validation rows removed): row 0 is one of the first pool images
    first = raw["x_train"][mnist.info["pool_index"][:20]].reshape(20, -1) / 255.0 * 2 - 1
    assert np.abs(first - mnist.x_train[0]).max(axis=1).min() < 1e-6
    # border rows are mostly background (-1): the protected pixels are nearly constant
    assert (mnist.x_test[:, list(mnist.protected)] == -1).mean() > 0.95


def test_mnist_determinism_and_subsample(mnist):
    small = datasets.load_mnist(seed=0, n_train=90, n_validation=10, n_test=50)
    assert small.x_train.shape == (90, 784) and small.x_val.shape == (10, 784) and small.x_test.shape == (50, 784)
    assert np.bincount(small.y_pool, minlength=10).tolist() == [10] * 10
    again = datasets.load_mnist(seed=0, n_train=90, n_validation=10, n_test=50)
    np.testing.assert_array_equal(small.x_train, again.x_train)
    other = datasets.load_mnist(seed=1, n_train=90, n_validation=10, n_test=50)
    assert not np.array_equal(small.info["pool_index"], other.info["pool_index"])
    with pytest.raises(ValueError, match="multiple of 10"):
        datasets.load_mnist(n_train=95, n_validation=10)


# ------------------------------------------------------------------------------------------ offline teaching sets
def test_digits_offline(empty_env):
    ds = datasets.load("digits")
    assert ds.n_features == 64 and ds.n_classes == 10
    assert (len(ds.x_train) + len(ds.x_val), len(ds.x_test)) == (1438, 359)
    assert ds.x_pool.min() == -1.0 and ds.x_pool.max() == 1.0
    np.testing.assert_array_equal(ds.constraints.lower, -1.0)
    assert ds.protected == tuple(range(8)) + tuple(range(56, 64))
    assert set(np.unique(ds.x_test * 8 + 8)) <= set(range(17))  # x/8 - 1 of the 0..16 grey levels
    np.testing.assert_array_equal(ds.x_val, datasets.load("digits").x_val)


def test_breast_cancer_offline(empty_env):
    ds = datasets.load("breast_cancer", seed=3)
    assert ds.n_features == 30 and ds.class_names == ("malignant", "benign")
    assert (len(ds.x_train) + len(ds.x_val), len(ds.x_test)) == (455, 114)
    np.testing.assert_allclose(ds.x_pool.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(ds.x_pool.astype(np.float64).std(axis=0, ddof=1), 1, atol=1e-4)
    assert [ds.feature_names[j] for j in ds.protected][:3] == ["mean radius", "mean perimeter", "mean area"]
    assert len(ds.protected) == 9 and all(any(k in ds.feature_names[j] for k in ("radius", "perimeter", "area"))
                                          for j in ds.protected)
    ds.constraints.check(ds.x_pool)


# ------------------------------------------------------------------------------------------ resolution & safety
def test_resolution_order(monkeypatch, tmp_path):
    monkeypatch.setenv("CFTKIT_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("CFTKIT_TEST_DATA", str(tmp_path / "test"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    roots = [p for p, _ in _fetch.data_roots(tmp_path / "home")]
    assert roots == [tmp_path / "home", tmp_path / "env", tmp_path / "test", tmp_path / "xdg" / "cftkit"]
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert _fetch.cache_dir() == Path.home() / ".cache" / "cftkit"


def test_data_home_takes_precedence_and_may_point_at_the_dataset_folder(tmp_path):
    (tmp_path / "cred").mkdir()
    shutil.copy(DATA / "credit_default" / "credit_default.csv", tmp_path / "cred" / "credit_default.csv")
    ds = datasets.load_credit_default(data_home=tmp_path / "cred")  # flat layout: <data_home>/<file>
    assert ds.info["file"] == str(tmp_path / "cred" / "credit_default.csv")


def test_corrupt_file_is_never_used(tmp_path):
    bad = tmp_path / "adult" / "adult.data"
    bad.parent.mkdir()
    data = bytearray((DATA / "adult" / "adult.data").read_bytes())
    data[100] ^= 0x01
    bad.write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(ChecksumError) as err:
        datasets.load("adult", data_home=tmp_path)  # the good shared copy comes later and must not mask it
    msg = str(err.value)
    assert str(bad) in msg and "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d" in msg
    assert actual in msg and "Delete" in msg and "NOT used" in msg


def test_missing_file_message(empty_env):
    empty, cache = empty_env
    with pytest.raises(DataNotFoundError) as err:
        datasets.load("adult")
    msg = str(err.value)
    assert "'adult.data'" in msg and "'adult.csv'" in msg
    assert str(empty) in msg and str(cache) in msg
    assert "https://archive.ics.uci.edu/static/public/2/adult.zip" in msg and "CFTKIT_OFFLINE" in msg


def test_gmsc_is_never_downloaded_and_explains_how_to_get_it(empty_env, monkeypatch):
    monkeypatch.delenv("CFTKIT_OFFLINE")
    _, cache = empty_env
    with pytest.raises(DataNotFoundError) as err:
        datasets.load("gmsc")  # _no_network would fail the test if a download were attempted
    msg = str(err.value)
    assert "kaggle competitions download -c GiveMeSomeCredit" in msg and "accept the rules" in msg
    assert "6e670f83b7788e0e57cc8a7719c70dcf2c071f3f" in msg and "git hash-object" in msg
    assert str(cache / "gmsc" / "cs-training.csv") in msg and "gmsc.csv" in msg


def test_git_blob_id_matches_git():
    assert _fetch.git_blob_sha1(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert _fetch.git_blob_sha1(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


@pytest.fixture
def online_cache(monkeypatch, empty_env):
    """Downloads allowed (file:// only) into an empty cache."""
    monkeypatch.delenv("CFTKIT_OFFLINE")
    return empty_env[1]


def _zip_with(path, member, data: bytes):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{member}", data)
        z.writestr("adult.names", b"names")
    return path


def test_download_verifies_then_caches(tmp_path, monkeypatch, online_cache):
    archive = _zip_with(tmp_path / "adult.zip", "adult.data", (DATA / "adult" / "adult.data").read_bytes())
    monkeypatch.setattr(tabular, "ADULT_DATA", dataclasses.replace(tabular.ADULT_DATA, urls=(archive.as_uri(),)))
    ds = datasets.load("adult")
    cached = online_cache / "adult" / "adult.data"
    assert ds.info["file"] == str(cached) and cached.is_file() and ds.n_features == 108
    assert _fetch.sha256sum(cached) == tabular.ADULT_DATA.sha256[0]
    assert not [p for p in cached.parent.iterdir() if p.name.endswith(".part")]
    # a second load uses the cache and does not download
    monkeypatch.setattr(_fetch, "_urlopen", lambda url, timeout: pytest.fail("downloaded twice"))
    np.testing.assert_array_equal(datasets.load("adult").x_test, ds.x_test)


def test_download_with_bad_checksum_is_discarded(tmp_path, monkeypatch, online_cache):
    archive = _zip_with(tmp_path / "adult.zip", "adult.data", b"39, State-gov, tampered\n")
    monkeypatch.setattr(tabular, "ADULT_DATA", dataclasses.replace(tabular.ADULT_DATA, urls=(archive.as_uri(),)))
    with pytest.raises(ChecksumError) as err:
        datasets.load("adult")
    assert "downloaded from file://" in str(err.value) and "discarded" in str(err.value)
    folder = online_cache / "adult"
    assert not folder.exists() or not list(folder.iterdir())  # nothing kept, no temp files


def test_fetch_plain_file_and_unreachable_url(tmp_path, online_cache):
    src = tmp_path / "blob.bin"
    src.write_bytes(b"payload")
    spec = _fetch.DataFile("toy", "blob.bin", sha256=(hashlib.sha256(b"payload").hexdigest(),),
                           urls=((tmp_path / "nope.bin").as_uri(), src.as_uri()))
    _, path = _fetch.resolve([spec], download=spec)
    assert path == online_cache / "toy" / "blob.bin" and path.read_bytes() == b"payload"
    spec2 = dataclasses.replace(spec, relpath="other.bin", urls=((tmp_path / "nope.bin").as_uri(),))
    with pytest.raises(DataNotFoundError, match="could not download toy/other.bin"):
        _fetch.resolve([spec2], download=spec2)


def test_npz_is_loaded_without_pickle(tmp_path):
    bad = tmp_path / "objects.npz"
    np.savez(bad, x_train=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError):
        mnist_mod.read_npz(bad)


def test_package_exports():
    assert cftkit.datasets.load_mnist is mnist_mod.load_mnist
    for n in ("load_adult", "load_california_housing", "load_credit_default", "load_gmsc", "load_digits",
              "load_breast_cancer", "ChecksumError", "DataNotFoundError"):
        assert n in datasets.__all__
