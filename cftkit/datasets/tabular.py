"""The paper's four tabular datasets: Adult, California Housing (CH), Credit Default (Cred), GMSC.

Preprocessing follows the reference pipeline (docs/datasets.md#common-preprocessing):

1. Rows stay in **file order**; the first ``round(0.8·N)`` rows are the training pool, the rest the
   test set (Adult 26 049 / 6 512, CH 16 504 / 4 126, Cred 10 618 / 2 654, GMSC 13 371 / 3 343).
2. Numeric columns are z-scored with the training pool's mean and standard deviation (ddof = 1, as
   MLJ's ``Standardizer``); a constant column keeps sd 1.
3. Categorical columns are one-hot encoded **in place**, keeping every level that occurs in the file
   (Adult 6 + 102 = 108 features, Cred 20 + 2 + 7 + 4 = 33); the groups are recorded as
   ``constraints.categorical_groups`` and named ``"<column>=<level>"``.
4. A class-stratified validation split of ``n_validation`` rows (default 1 000) is drawn from the
   pool with :func:`stratified_split` and ``numpy.random.default_rng(seed)``.
5. The domain is ``Constraints.from_data(train + validation, n_std=2)`` (docs/method.md#domains).
6. ``protected`` is the paper's protected feature (docs/datasets.md#protected-features): Adult
   ``age`` (0), CH ``HouseAge`` (1), Cred ``AGE`` (14), GMSC ``age`` (1).

Sources (``source=``): ``"auto"`` (default) uses the authors' balanced CSVs for CH/Cred/GMSC (the
draw closest to the paper's) and falls back to the raw files plus the recipe (binarise/flip, drop
NA, undersample the majority class with ``numpy.random.default_rng(balance_seed)``, shuffle);
``"balanced"`` / ``"raw"`` force one of them.  Adult has no randomness: ``adult.data`` (UCI) and the
derived ``adult.csv`` give identical arrays.  See :mod:`cftkit.datasets._fetch` for where files are
looked for, how they are verified and what is downloaded.
"""

from __future__ import annotations

import csv
import io
import tarfile
from pathlib import Path

import numpy as np

from ..constraints import Constraints
from ._base import Dataset, stratified_split
from ._fetch import DataFile, resolve

TRAIN_TEST_RATIO = 0.8
N_VALIDATION = 1000
BALANCE_SEED = 42

_AUTHORS = ("https://raw.githubusercontent.com/pat-alt/endogenous-macrodynamics-in-algorithmic-recourse/"
            "0df3f498320ae3621c0d4efb9f278b10523c5cd8/dev/artifacts/upload/data/real_world/")

# ============================================================================================ files
ADULT_DATA = DataFile(
    "adult", "adult.data",
    sha256=("5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",),
    urls=("https://archive.ics.uci.edu/static/public/2/adult.zip",
          "https://archive.ics.uci.edu/ml/machine-learning-databases/adult/adult.data"),
    archive_member="adult.data",
    hint="download https://archive.ics.uci.edu/static/public/2/adult.zip and extract adult.data "
         "(UCI Adult, CC BY 4.0)")
ADULT_CSV = DataFile(
    "adult", "adult.csv",
    sha256=("cf3a70aad7a64adf2307b2cace9cfcc6fe28c2daa73437e846cec710d741063c",),
    hint="derived from adult.data (label-encoded, TaijaData layout); use adult.data instead")

CH_BALANCED = DataFile(
    "california_housing", "cal_housing.csv",
    sha256=("34ae93594e4e5c86b2a226b7ac557f30f741bad23617bab684e05959b9f33e4d",),
    urls=(_AUTHORS + "cal_housing.csv",),
    hint=f"the paper authors' balanced file: {_AUTHORS}cal_housing.csv")
CH_RAW_CSV = DataFile(
    "california_housing", "raw/cal_housing.csv",
    sha256=("d77e47abf8adbf425f82dd80ebc02dc6a30dc6e9525fa1ee9076789647cba2bf",),
    urls=(_AUTHORS + "raw/cal_housing.csv",),
    hint=f"scikit-learn's California housing frame with the target column: {_AUTHORS}raw/cal_housing.csv")
CH_RAW_DATA = DataFile(
    "california_housing", "raw/cal_housing.data",
    sha256=("d3d8a1a722ae78f91134862727d27a70b1415e7d512a89140406248687f4b902",),
    hint="the StatLib original (9 columns, no header)")
CH_TGZ = DataFile(
    "california_housing", "cal_housing.tgz",
    sha256=("aaa5c9a6afe2225cc2aed2723682ae403280c4a3695a2ddda4ffb5d8215ea681",),
    urls=("https://ndownloader.figshare.com/files/5976036",),
    hint="scikit-learn's source archive: https://ndownloader.figshare.com/files/5976036 (save as cal_housing.tgz)")

CRED_BALANCED = DataFile(
    "credit_default", "credit_default.csv",
    sha256=("a6c9679b64947f79504d15868a3b668fa365a26881e05196ccd7bba3114dbe9b",),
    urls=(_AUTHORS + "credit_default.csv",),
    hint=f"the paper authors' balanced file: {_AUTHORS}credit_default.csv")
CRED_RAW = DataFile(
    "credit_default", "raw/UCI_Credit_Card.csv",
    sha256=("a0f0ab49d6326671d6cd83be5c88dcf18007025fe9a53ecd699119c871176ca1",),
    urls=(_AUTHORS + "raw/UCI_Credit_Card.csv",),
    hint="Kaggle `kaggle datasets download -d uciml/default-of-credit-card-clients-dataset` "
         f"(UCI_Credit_Card.csv) or {_AUTHORS}raw/UCI_Credit_Card.csv")

GMSC_BLOB = "6e670f83b7788e0e57cc8a7719c70dcf2c071f3f"
GMSC_BALANCED = DataFile(
    "gmsc", "gmsc.csv",
    sha256=("cba9410f5f5ad3a2ceb258a9813c672151cbea6778c629ad32a9efdb932f43dc",),
    hint="the paper authors' balanced file (not redistributable; Kaggle terms)")
GMSC_RAW = DataFile("gmsc", "cs-training.csv", git_blob=(GMSC_BLOB,),
                    hint="Kaggle `kaggle competitions download -c GiveMeSomeCredit`")
GMSC_RAW_SUB = DataFile("gmsc", "raw/cs-training.csv", git_blob=(GMSC_BLOB,),
                        hint=GMSC_RAW.hint)


def gmsc_instructions(where=None) -> str:
    """How to obtain GMSC (it is never downloaded automatically: Kaggle competition rules)."""
    from ._fetch import cache_dir
    where = where or cache_dir() / "gmsc"
    return (
        "  GMSC (Give Me Some Credit) is distributed only by Kaggle under its competition rules, so cftkit never\n"
        "  downloads it. To use it:\n"
        "    1. sign in to Kaggle and accept the rules at https://www.kaggle.com/competitions/GiveMeSomeCredit/rules\n"
        "    2. kaggle competitions download -c GiveMeSomeCredit   (or use the website's Data tab)\n"
        "    3. unzip GiveMeSomeCredit.zip and copy cs-training.csv to\n"
        f"         {Path(where) / 'cs-training.csv'}\n"
        "       (or to <dir>/gmsc/cs-training.csv for a dir passed as data_home=... or $CFTKIT_DATA)\n"
        f"    4. it is verified by its git blob id: `git hash-object cs-training.csv` must print {GMSC_BLOB}\n"
        "  cftkit then applies the authors' recipe (drop NA rows, flip the label, undersample with a fixed seed).\n"
        "  A balanced file in the authors' layout, gmsc.csv (target first, 16,714 rows), is accepted at the\n"
        "  same place.")


# ============================================================================================ parsing
def _read_csv(path=None, *, text=None, header: bool = True, na=("NA", "", "nan", "NaN")):
    """(header, float64 array) from a numeric CSV file (or ``text``); quoted headers and ``NA`` → NaN."""
    f = io.StringIO(text) if text is not None else open(path, newline="", encoding="utf-8")
    with f:
        reader = csv.reader(f)
        head = next(reader) if header else None
        na = set(na)
        rows = [[np.nan if v.strip() in na else float(v) for v in r] for r in reader if r and any(c.strip() for c in r)]
    arr = np.asarray(rows, dtype=np.float64)
    if head is not None and arr.shape[1] != len(head):
        raise ValueError(f"{path or 'csv text'}: {arr.shape[1]} columns but {len(head)} header names")
    return head, arr


# ============================================================================================ pipeline
def _round_half_up(v: float) -> int:
    return int(np.floor(v + 0.5))


def _stratified_subsample(y, n, rng):
    """Sorted indices of ``n`` rows, classes in proportion (largest remainders get the spare rows)."""
    classes, counts = np.unique(y, return_counts=True)
    if n >= len(y):
        return np.arange(len(y))
    exact = counts * n / len(y)
    k = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - k))[: n - k.sum()]:
        k[i] += 1
    idx = [rng.choice(np.flatnonzero(y == c), size=int(m), replace=False) for c, m in zip(classes, k)]
    return np.sort(np.concatenate(idx))


def _balance(y, rng):
    """Random undersampling to the minority count, then a shuffle: indices into ``y``."""
    classes, counts = np.unique(y, return_counts=True)
    m = counts.min()
    idx = np.concatenate([np.sort(rng.choice(np.flatnonzero(y == c), size=m, replace=False)) for c in classes])
    return idx[rng.permutation(len(idx))]


def build_tabular(name, raw, y, columns, *, categorical=None, protected, seed=0, n_validation=N_VALIDATION,
                  n_train=None, class_names=None, info=None) -> Dataset:
    """Paper preprocessing of a file-ordered table (module docstring, steps 1–6).

    Args:
        raw: ``(N, C)`` float array; categorical columns hold integer codes.
        y: ``(N,)`` 0/1 (or class-index) labels.
        columns: the C column names.
        categorical: ``{column index: {code: level label}}``; levels present in the file are kept, in code order.
        protected: names of the protected output features.
        n_train: optional stratified subsample of the training rows (validation and test unchanged).
    """
    raw = np.asarray(raw, dtype=np.float64)
    y = np.asarray(y).astype(np.int32)
    categorical = categorical or {}
    n = len(raw)
    n_pool = _round_half_up(TRAIN_TEST_RATIO * n)
    pool = raw[:n_pool]
    numeric = [j for j in range(raw.shape[1]) if j not in categorical]
    mean = pool[:, numeric].mean(axis=0)
    std = pool[:, numeric].std(axis=0, ddof=1)
    std = np.where(std > 0, std, 1.0)
    blocks, names, groups, col = [], [], [], 0
    stat = {j: i for i, j in enumerate(numeric)}
    for j, cname in enumerate(columns):
        if j in categorical:
            labels = categorical[j]
            codes = raw[:, j].astype(np.int64)
            levels = np.unique(codes)
            unknown = [int(c) for c in levels if int(c) not in labels]
            if unknown:
                raise ValueError(f"{name}: column {cname!r} has codes {unknown} with no level label")
            blocks.append((codes[:, None] == levels[None, :]).astype(np.float64))
            names += [f"{cname}={labels[int(c)]}" for c in levels]
            groups.append(list(range(col, col + len(levels))))
            col += len(levels)
        else:
            i = stat[j]
            blocks.append(((raw[:, j] - mean[i]) / std[i])[:, None])
            names.append(cname)
            col += 1
    x = np.concatenate(blocks, axis=1).astype(np.float32)
    x_pool, y_pool, x_test, y_test = x[:n_pool], y[:n_pool], x[n_pool:], y[n_pool:]
    if not 0 <= int(n_validation) < n_pool:
        raise ValueError(f"{name}: n_validation must be in [0, {n_pool}) (the training pool); got {n_validation}")
    rng = np.random.default_rng(seed)
    tr, va = stratified_split(y_pool, n_validation, rng)
    if n_train is not None:
        if int(n_train) < 1:
            raise ValueError(f"n_train must be a positive number of rows; got {n_train}")
        tr = tr[_stratified_subsample(y_pool[tr], int(n_train), rng)]
    names = tuple(names)
    prot = []
    for p in protected:
        if p not in names:
            raise ValueError(f"{name}: protected feature {p!r} not among {names}")
        prot.append(names.index(p))
    constraints = Constraints.from_data(x_pool, n_std=2, categorical_groups=groups, feature_names=names)
    meta = {"seed": seed, "n_pool": n_pool, "n_test": n - n_pool, "n_rows": n,
            "standardized": {"features": [names.index(columns[j]) for j in numeric],
                             "mean": mean.tolist(), "std": std.tolist()},
            "categorical": {columns[j]: [names[k] for k in g] for j, g in zip(sorted(categorical), groups)}}
    meta.update(info or {})
    return Dataset(name=name, x_train=x_pool[tr], y_train=y_pool[tr], x_val=x_pool[va], y_val=y_pool[va],
                   x_test=x_test, y_test=y_test, feature_names=names, constraints=constraints,
                   protected=tuple(prot), class_names=class_names, info=meta)


def _source_info(spec, path, **extra):
    from ._fetch import verify
    return {"file": str(path), "file_id": spec.name, "checksum": verify(path, spec), **extra}


def _check_source(source, allowed):
    if source not in allowed:
        raise ValueError(f"source must be one of {allowed}; got {source!r}")


# ============================================================================================ Adult
ADULT_LEVELS = {
    "workclass": ["Private", "Self-emp-not-inc", "Self-emp-inc", "Federal-gov", "Local-gov", "State-gov",
                  "Without-pay", "Never-worked", "?"],
    "education": ["Bachelors", "Some-college", "11th", "HS-grad", "Prof-school", "Assoc-acdm", "Assoc-voc", "9th",
                  "7th-8th", "12th", "Masters", "1st-4th", "10th", "Doctorate", "5th-6th", "Preschool", "?"],
    "marital_status": ["Married-civ-spouse", "Divorced", "Never-married", "Separated", "Widowed",
                       "Married-spouse-absent", "Married-AF-spouse", "?"],
    "occupation": ["Tech-support", "Craft-repair", "Other-service", "Sales", "Exec-managerial", "Prof-specialty",
                   "Handlers-cleaners", "Machine-op-inspct", "Adm-clerical", "Farming-fishing", "Transport-moving",
                   "Priv-house-serv", "Protective-serv", "Armed-Forces", "?"],
    "relationship": ["Wife", "Own-child", "Husband", "Not-in-family", "Other-relative", "Unmarried", "?"],
    "race": ["White", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other", "Black", "?"],
    "sex": ["Female", "Male"],
    "country": ["United-States", "Cambodia", "England", "Puerto-Rico", "Canada", "Germany",
                "Outlying-US(Guam-USVI-etc)", "India", "Japan", "Greece", "South", "China", "Cuba", "Iran", "Honduras",
                "Philippines", "Italy", "Poland", "Jamaica", "Vietnam", "Mexico", "Portugal", "Ireland", "France",
                "Dominican-Republic", "Laos", "Ecuador", "Taiwan", "Haiti", "Columbia", "Hungary", "Guatemala",
                "Nicaragua", "Scotland", "Thailand", "Yugoslavia", "El-Salvador", "Trinadad&Tobago", "Peru", "Hong",
                "Holand-Netherlands", "?"],
}
#: TaijaData's column names (lower case, spaces/dashes → "_"), in file order
ADULT_COLUMNS = ("age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
                 "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "country")


def _parse_adult_data(path):
    raw, y = [], []
    with open(path, newline="", encoding="utf-8") as f:
        for lineno, r in enumerate(csv.reader(f, skipinitialspace=True), 1):
            if not r or not any(c.strip() for c in r):
                continue
            if len(r) != 15:
                raise ValueError(f"{path}:{lineno}: expected 15 fields, got {len(r)}")
            row = []
            for name, v in zip(ADULT_COLUMNS, r[:14]):
                v = v.strip()
                if name in ADULT_LEVELS:
                    try:
                        row.append(ADULT_LEVELS[name].index(v))
                    except ValueError:
                        raise ValueError(f"{path}:{lineno}: unknown {name} level {v!r}") from None
                else:
                    row.append(float(v))
            raw.append(row)
            label = r[14].strip().rstrip(".")
            if label not in ("<=50K", ">50K"):
                raise ValueError(f"{path}:{lineno}: unknown label {label!r}")
            y.append(1 if label == ">50K" else 0)
    return np.asarray(raw, dtype=np.float64), np.asarray(y)


def load_adult(seed: int = 0, data_home=None, *, n_validation: int = N_VALIDATION, n_train=None,
               source: str = "auto") -> Dataset:
    """UCI Adult (Becker & Kohavi 1996, CC BY 4.0): 32 561 rows, 108 features, > 50K → 1 (not balanced).

    ``source``: ``"auto"`` (``adult.data``, else ``adult.csv``, else download ``adult.data``), ``"raw"``
    (``adult.data`` only) or ``"csv"`` (the label-encoded ``adult.csv`` only).

    Example:
        >>> ds = load_adult()                                 # doctest: +SKIP
        >>> ds.n_features, ds.feature_names[0], ds.protected  # doctest: +SKIP
        (108, 'age', (0,))
    """
    _check_source(source, ("auto", "raw", "csv"))
    specs = {"auto": [ADULT_DATA, ADULT_CSV], "raw": [ADULT_DATA], "csv": [ADULT_CSV]}[source]
    spec, path = resolve(specs, data_home=data_home, download=None if source == "csv" else ADULT_DATA)
    if spec is ADULT_CSV:
        _, arr = _read_csv(path)
        raw, y = arr[:, :14], arr[:, 14].astype(int)
    else:
        raw, y = _parse_adult_data(path)
    categorical = {j: dict(enumerate(ADULT_LEVELS[c])) for j, c in enumerate(ADULT_COLUMNS) if c in ADULT_LEVELS}
    return build_tabular(
        "adult", raw, y, ADULT_COLUMNS, categorical=categorical, protected=("age",), seed=seed,
        n_validation=n_validation, n_train=n_train, class_names=("<=50K", ">50K"),
        info=_source_info(spec, path, source="raw" if spec is ADULT_DATA else "csv",
                          citation="Becker, B. and Kohavi, R. (1996). Adult. UCI ML Repository. doi:10.24432/C5XW20",
                          licence="CC BY 4.0"))


# ============================================================================================ CH
CH_COLUMNS = ("MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude")


def _ch_from_statlib(arr):
    """StatLib columns → scikit-learn's 8 features and MedHouseVal (in $100k)."""
    lon, lat, age, rooms, bedrooms, pop, households, income, value = arr.T
    x = np.c_[income, age, rooms / households, bedrooms / households, pop, pop / households, lat, lon]
    return x, value / 1e5


def _ch_from_tgz(path):
    with tarfile.open(path, "r:gz") as tar:
        member = next((m for m in tar.getmembers() if m.isfile() and m.name.rsplit("/", 1)[-1] == "cal_housing.data"),
                      None)
        if member is None:
            raise ValueError(f"{path}: no cal_housing.data inside the archive")
        text = tar.extractfile(member).read().decode("ascii")
    return _ch_from_statlib(_read_csv(text=text, header=False)[1])


def california_housing_recipe(x, value, *, balance_seed: int = BALANCE_SEED):
    """Binarise at the median (≥ median → 1), undersample to balance, shuffle: ``(x, y)``."""
    y = (value >= np.median(value)).astype(int)
    idx = _balance(y, np.random.default_rng(balance_seed))
    return x[idx], y[idx]


def load_california_housing(seed: int = 0, data_home=None, *, n_validation: int = N_VALIDATION, n_train=None,
                            source: str = "auto", balance_seed: int = BALANCE_SEED) -> Dataset:
    """California Housing (Pace & Barry 1997): 8 standardised features, MedHouseVal ≥ median → 1, balanced.

    ``source``: ``"auto"`` (the authors' ``cal_housing.csv``, else a raw file, else download the
    authors' file), ``"balanced"``, ``"raw"`` (``raw/cal_housing.csv``, ``raw/cal_housing.data`` or
    ``cal_housing.tgz``, else download the figshare archive scikit-learn uses; then the recipe with
    ``balance_seed``) or ``"sklearn"`` (``sklearn.datasets.fetch_california_housing(data_home=data_home)``,
    which keeps its own cache and checksum; then the recipe).
    """
    _check_source(source, ("auto", "balanced", "raw", "sklearn"))
    raws = [CH_RAW_CSV, CH_RAW_DATA, CH_TGZ]
    if source == "sklearn":
        try:
            from sklearn.datasets import fetch_california_housing
        except ImportError as exc:  # pragma: no cover
            raise ImportError("source='sklearn' needs scikit-learn: pip install scikit-learn") from exc
        bunch = fetch_california_housing(data_home=data_home)
        x, y = california_housing_recipe(np.asarray(bunch.data, float), np.asarray(bunch.target, float),
                                         balance_seed=balance_seed)
        info = {"source": "sklearn", "balance_seed": balance_seed}
    else:
        specs = {"auto": [CH_BALANCED] + raws, "balanced": [CH_BALANCED], "raw": raws}[source]
        spec, path = resolve(specs, data_home=data_home, download=CH_TGZ if source == "raw" else CH_BALANCED)
        if spec is CH_BALANCED:
            _, arr = _read_csv(path)
            x, y = arr[:, :8], arr[:, 8].astype(int)
            info = _source_info(spec, path, source="balanced")
        else:
            if spec is CH_RAW_CSV:
                _, arr = _read_csv(path)
                x, value = arr[:, :8], arr[:, 8]
            elif spec is CH_RAW_DATA:
                x, value = _ch_from_statlib(_read_csv(path, header=False)[1])
            else:
                x, value = _ch_from_tgz(path)
            x, y = california_housing_recipe(x, value, balance_seed=balance_seed)
            info = _source_info(spec, path, source="raw", balance_seed=balance_seed)
    info["citation"] = ("Pace, R. K. and Barry, R. (1997). Sparse spatial autoregressions. "
                        "Statistics & Probability Letters 33(3), 291-297")
    return build_tabular("california_housing", x, y, CH_COLUMNS, protected=("HouseAge",), seed=seed,
                         n_validation=n_validation, n_train=n_train,
                         class_names=("below median value", "at or above median value"), info=info)


# ============================================================================================ Cred
CRED_COLUMNS = ("LIMIT_BAL", "SEX", "EDUCATION", "MARRIAGE", "AGE", "PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5",
                "PAY_6", "BILL_AMT1", "BILL_AMT2", "BILL_AMT3", "BILL_AMT4", "BILL_AMT5", "BILL_AMT6", "PAY_AMT1",
                "PAY_AMT2", "PAY_AMT3", "PAY_AMT4", "PAY_AMT5", "PAY_AMT6")
#: level labels from the UCI documentation; codes it does not document are marked as such
CRED_LEVELS = {
    "SEX": {1: "male", 2: "female"},
    "EDUCATION": {0: "0 (undocumented)", 1: "graduate school", 2: "university", 3: "high school", 4: "others",
                  5: "unknown (5)", 6: "unknown (6)"},
    "MARRIAGE": {0: "0 (undocumented)", 1: "married", 2: "single", 3: "others"},
}


def credit_default_recipe(raw_with_id, *, balance_seed: int = BALANCE_SEED):
    """``UCI_Credit_Card.csv`` array → drop ID, target = 1 − default (1 = no default), balance, shuffle."""
    x = raw_with_id[:, 1:24]
    y = 1 - raw_with_id[:, 24].astype(int)
    idx = _balance(y, np.random.default_rng(balance_seed))
    return x[idx], y[idx]


def load_credit_default(seed: int = 0, data_home=None, *, n_validation: int = N_VALIDATION, n_train=None,
                        source: str = "auto", balance_seed: int = BALANCE_SEED) -> Dataset:
    """Default of Credit Card Clients (Yeh 2016, CC BY 4.0): 33 features, 1 = no default, balanced.

    SEX, EDUCATION and MARRIAGE are one-hot (2 + 7 + 4); ``AGE`` is feature 14.  ``source``: ``"auto"``
    (the authors' ``credit_default.csv``, else ``raw/UCI_Credit_Card.csv`` + recipe, else download the
    authors' balanced file), ``"balanced"`` or ``"raw"``.
    """
    _check_source(source, ("auto", "balanced", "raw"))
    specs = {"auto": [CRED_BALANCED, CRED_RAW], "balanced": [CRED_BALANCED], "raw": [CRED_RAW]}[source]
    spec, path = resolve(specs, data_home=data_home, download=CRED_RAW if source == "raw" else CRED_BALANCED)
    head, arr = _read_csv(path)
    if spec is CRED_BALANCED:
        x, y = arr[:, :23], arr[:, 23].astype(int)
        info = _source_info(spec, path, source="balanced")
    else:
        if [h.strip('"') for h in head][:2] != ["ID", "LIMIT_BAL"]:
            raise ValueError(f"{path}: unexpected header {head[:3]}")
        x, y = credit_default_recipe(arr, balance_seed=balance_seed)
        info = _source_info(spec, path, source="raw", balance_seed=balance_seed)
    info.update(citation="Yeh, I-C. (2016). Default of Credit Card Clients. UCI ML Repository. doi:10.24432/C55S3H",
                licence="CC BY 4.0")
    categorical = {CRED_COLUMNS.index(c): labels for c, labels in CRED_LEVELS.items()}
    return build_tabular("credit_default", x, y, CRED_COLUMNS, categorical=categorical, protected=("AGE",),
                         seed=seed, n_validation=n_validation, n_train=n_train,
                         class_names=("default", "no default"), info=info)


# ============================================================================================ GMSC
GMSC_COLUMNS = ("RevolvingUtilizationOfUnsecuredLines", "age", "NumberOfTime30-59DaysPastDueNotWorse", "DebtRatio",
                "MonthlyIncome", "NumberOfOpenCreditLinesAndLoans", "NumberOfTimes90DaysLate",
                "NumberRealEstateLoansOrLines", "NumberOfTime60-89DaysPastDueNotWorse", "NumberOfDependents")


def gmsc_recipe(raw_with_index, *, balance_seed: int = BALANCE_SEED):
    """``cs-training.csv`` array → drop the index column, drop NA rows, target = 1 − SeriousDlqin2yrs, balance."""
    arr = raw_with_index[:, 1:]
    arr = arr[~np.isnan(arr).any(axis=1)]
    x, y = arr[:, 1:], 1 - arr[:, 0].astype(int)
    idx = _balance(y, np.random.default_rng(balance_seed))
    return x[idx], y[idx]


def load_gmsc(seed: int = 0, data_home=None, *, n_validation: int = N_VALIDATION, n_train=None,
              source: str = "auto", balance_seed: int = BALANCE_SEED) -> Dataset:
    """Give Me Some Credit (Kaggle 2011): 10 standardised features, 1 = no serious delinquency, balanced.

    Never downloaded (Kaggle rules): bring ``cs-training.csv`` (verified by git blob id
    ``6e670f83…``) or the authors' balanced ``gmsc.csv``; see :func:`gmsc_instructions`.
    """
    _check_source(source, ("auto", "balanced", "raw"))
    specs = {"auto": [GMSC_BALANCED, GMSC_RAW, GMSC_RAW_SUB], "balanced": [GMSC_BALANCED],
             "raw": [GMSC_RAW, GMSC_RAW_SUB]}[source]
    spec, path = resolve(specs, data_home=data_home, download=None, manual=gmsc_instructions())
    head, arr = _read_csv(path)
    if spec is GMSC_BALANCED:
        x, y = arr[:, 1:], arr[:, 0].astype(int)
        info = _source_info(spec, path, source="balanced")
    else:
        if len(head) != 12 or head[1] != "SeriousDlqin2yrs":
            raise ValueError(f"{path}: unexpected header {head[:3]}")
        x, y = gmsc_recipe(arr, balance_seed=balance_seed)
        info = _source_info(spec, path, source="raw", balance_seed=balance_seed)
    info.update(citation="Credit Fusion and Cukierski, W. (2011). Give Me Some Credit. Kaggle.",
                licence="Kaggle competition rules (no redistribution)")
    return build_tabular("gmsc", x, y, GMSC_COLUMNS, protected=("age",), seed=seed, n_validation=n_validation,
                         n_train=n_train, class_names=("serious delinquency", "no serious delinquency"), info=info)


ALIASES = {"ch": "california_housing", "cali": "california_housing", "california": "california_housing",
           "cred": "credit_default", "credit": "credit_default", "give_me_some_credit": "gmsc"}
LOADERS = {"adult": load_adult, "california_housing": load_california_housing,
           "credit_default": load_credit_default, "gmsc": load_gmsc}
