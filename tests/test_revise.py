"""Tests of REVISE and its VAE (docs/method.md#revise).

The VAE fits are tiny (a few epochs on a subset): the tests check the mechanics (shapes, training,
saving, caching, seeding, the latent-space search through the unchanged engine), not VAE quality.
"""

from __future__ import annotations

import numpy as np
import pytest

import cftkit
from cftkit import keras, tf
from cftkit.revise import VAE, REVISEGenerator, default_architecture, fit_vae, vae_cache_dir

N_FIT = 1000  # training rows of the shared VAE
N_FACTUALS = 40


@pytest.fixture(scope="module")
def vae(moons):
    """A VAE fitted for a few epochs on part of moons' training split (L = 2, h = 16)."""
    return fit_vae(moons.x_train[:N_FIT], epochs=5, seed=0, cache=False)


@pytest.fixture(scope="module")
def factuals(moons, moons_mlp):
    """Training points (inside the domain) with the opposite of the predicted class as target."""
    x = moons.x_train[-N_FACTUALS:]
    pred = np.argmax(moons_mlp.predict(x, verbose=0), axis=1)
    return x, (1 - pred).astype(np.int32)


@pytest.fixture(scope="module")
def generator(vae):
    return REVISEGenerator(vae)


def _same_weights(a, b) -> bool:
    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(np.array_equal(u, v) for u, v in zip(wa, wb))


# ----------------------------------------------------------------------------- the VAE
def test_default_architecture_follows_the_reference():
    assert default_architecture(2) == (cftkit.defaults.VAE_LATENT_DIM_2D, cftkit.defaults.VAE_HIDDEN_2D) == (2, 16)
    assert default_architecture(64) == default_architecture(784) == (4, 32)  # MNIST included
    v = VAE(64, seed=1)
    assert (v.latent_dim, v.hidden) == (4, 32)
    assert [tuple(w.shape) for w in v.get_weights()] == [(64, 32), (32,), (32, 4), (4,), (32, 4), (4,), (4, 32),
                                                         (32,), (32, 64), (64,)]
    assert VAE(2, latent_dim=3, hidden=8).count_params() == (2 * 8 + 8) + 2 * (8 * 3 + 3) + (3 * 8 + 8) + (8 * 2 + 2)


def test_encode_sample_decode_shapes_and_seeding():
    v = VAE(3, seed=0)
    x = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32)
    mu, logvar = v.encode(x)
    assert tuple(mu.shape) == tuple(logvar.shape) == (7, 4)
    assert tuple(v.decode(mu).shape) == (7, 3) and tuple(v(x).shape) == (7, 3)
    np.testing.assert_array_equal(v(x).numpy(), v.decode(mu).numpy())  # call = deterministic dec(μ)
    z1, z2, z3 = v.sample(x, seed=5), v.sample(x, seed=5), v.sample(x, seed=6)
    assert tuple(z1.shape) == (7, 4)
    np.testing.assert_array_equal(z1.numpy(), z2.numpy())
    assert not np.allclose(z1.numpy(), z3.numpy())
    # the noise is σ·ε around μ
    eps = (z1.numpy() - mu.numpy()) / np.exp(0.5 * logvar.numpy())
    assert np.all(np.isfinite(eps)) and 0.2 < eps.std() < 3.0
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        v.encode(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"z must have shape \(N, 4\)"):
        v.decode(np.zeros((2, 2), np.float32))


def test_fit_lowers_the_reconstruction_error(vae, moons):
    untrained = VAE(2, seed=0)  # same seed → the initial weights of the fitted model
    before = untrained.reconstruction_error(moons.x_test)
    after = vae.reconstruction_error(moons.x_test)
    assert after < 0.9 * before
    hist = vae.history.history
    assert set(hist) >= {"loss", "reconstruction", "kl", "regularisation"}
    assert hist["loss"][-1] < hist["loss"][0]
    assert vae.from_cache is False and vae.cache_path is None


def test_loss_terms_match_the_reference_formula():
    v = VAE(2, seed=3)
    x = np.random.default_rng(1).normal(size=(6, 2)).astype(np.float32)
    seed = np.array([4, 2], np.int32)
    rec, kl, reg = (float(t) for t in v.compute_losses(x, seed))
    mu, logvar = (t.numpy() for t in v.encode(x))
    eps = tf.random.stateless_normal(mu.shape, seed=seed).numpy()
    x_hat = v.decode(mu + np.exp(0.5 * logvar) * eps).numpy()
    np.testing.assert_allclose(rec, np.mean(np.sum((x_hat - x) ** 2, axis=1)), rtol=1e-5)
    # KL with log σ² = 2·log σ (the encoder's head is log σ, as in the reference)
    np.testing.assert_allclose(kl, np.mean(0.5 * np.sum(np.exp(logvar) + mu ** 2 - 1 - logvar, axis=1)), rtol=1e-5)
    dec = v.get_weights()[6:]  # decoder kernels and biases
    np.testing.assert_allclose(reg, 0.01 * sum(float(np.sum(w ** 2)) for w in dec), rtol=1e-5)


def test_fit_is_seeded(moons):
    x = moons.x_train[:150]
    a = fit_vae(x, epochs=1, seed=7, cache=False)
    b = fit_vae(x, epochs=1, seed=7, cache=False)
    assert _same_weights(a, b)  # initialisers, shuffling and noise are all seeded
    assert not _same_weights(a, VAE(2, seed=7))  # it did train
    assert not _same_weights(VAE(2, seed=7), VAE(2, seed=8))


def test_fit_on_digits_uses_the_larger_architecture():
    ds = cftkit.datasets.load("digits")
    v = fit_vae(ds.x_train[:100], epochs=1, cache=False)
    assert (v.n_features, v.latent_dim, v.hidden) == (64, 4, 32)


_KERAS_SAVE_WARNING = "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"


@pytest.mark.filterwarnings(_KERAS_SAVE_WARNING)  # raised inside Keras' saving code, not ours
def test_keras_round_trip_is_exact(vae, tmp_path):
    path = tmp_path / "vae.keras"
    vae.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is VAE
    assert loaded.get_config() == vae.get_config()
    assert _same_weights(loaded, vae)
    z = np.random.default_rng(0).normal(size=(11, 2)).astype(np.float32)
    np.testing.assert_array_equal(loaded.decode(z).numpy(), vae.decode(z).numpy())
    x = np.random.default_rng(1).normal(size=(5, 2)).astype(np.float32)
    np.testing.assert_array_equal(loaded.sample(x, 3).numpy(), vae.sample(x, 3).numpy())


@pytest.mark.filterwarnings(_KERAS_SAVE_WARNING)
def test_cache_hit_loads_without_refitting(moons, tmp_path, monkeypatch):
    x = moons.x_train[:100]
    first = fit_vae(x, epochs=1, seed=1, cache_dir=tmp_path, dataset_name="moons subset")
    assert first.from_cache is False and first.cache_path.endswith(".keras")
    assert [p.name for p in tmp_path.iterdir()] == [first.cache_path.split("/")[-1]]  # no temporary files left

    def no_fit(*args, **kwargs):
        raise AssertionError("fit_vae refitted although the cache had the model")

    monkeypatch.setattr(VAE, "fit", no_fit)
    again = fit_vae(x, epochs=1, seed=1, cache_dir=tmp_path, dataset_name="moons subset")
    assert again.from_cache is True and again.cache_path == first.cache_path
    assert _same_weights(first, again)
    # any change of data, hyperparameters or seed misses the cache (and would refit)
    for kwargs in (dict(seed=2), dict(epochs=2), dict(latent_dim=3)):
        with pytest.raises(AssertionError, match="refitted"):
            fit_vae(x, cache_dir=tmp_path, dataset_name="moons subset", **{"epochs": 1, "seed": 1, **kwargs})
    with pytest.raises(AssertionError, match="refitted"):
        fit_vae(x[:99], epochs=1, seed=1, cache_dir=tmp_path, dataset_name="moons subset")


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CFTKIT_CACHE", str(tmp_path))
    assert vae_cache_dir() == tmp_path / "vae"
    assert vae_cache_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv("CFTKIT_CACHE")
    assert vae_cache_dir().parts[-2:] == ("cftkit", "vae")


def test_fit_vae_rejects_bad_arguments():
    with pytest.raises(ValueError, match="x_train must have shape"):
        fit_vae(np.zeros(5), cache=False)
    with pytest.raises(ValueError, match="x_train contains NaN"):
        fit_vae(np.full((4, 2), np.nan), cache=False)
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        fit_vae(np.zeros((4, 2)), epochs=0, cache=False)
    with pytest.raises(TypeError, match="batch_size"):
        fit_vae(np.zeros((4, 2)), batch_size=2.5, cache=False)
    with pytest.raises(ValueError, match="latent_dim"):
        VAE(2, latent_dim=0)


# ----------------------------------------------------------------------------- the generator
def test_generator_registry_and_identity(vae):
    assert cftkit.generators._REGISTRY["revise"] is REVISEGenerator
    with pytest.raises(ValueError, match=r"generator='revise' needs a fitted VAE"):
        cftkit.generators.get("revise")
    gen = REVISEGenerator(vae)
    assert cftkit.generators.get(gen) is gen
    assert gen.masks_state is False and gen.uses_energy is False and gen.name == "revise"
    assert gen.get_config() == {"name": "revise", "enforce_mutability": False, "n_features": 2, "latent_dim": 2,
                                "mutability": None}
    other = VAE(2, seed=0)
    assert REVISEGenerator(other).cache_key() != gen.cache_key()  # different VAEs never share a traced graph
    assert REVISEGenerator(vae).cache_key() == gen.cache_key()


def test_revise_search_reaches_the_target_inside_the_domain(moons, moons_mlp, factuals, generator):
    x, y = factuals
    c = moons.constraints
    res = cftkit.search(moons_mlp, x, y, generator=generator, constraints=c, seed=3, return_path=True)
    assert res.counterfactual.shape == x.shape and res.path.shape[0] == len(x) and res.path.shape[2] == 2
    assert res.validity > 0.5, res.validity
    pred = np.argmax(moons_mlp.predict(res.counterfactual[res.mature], verbose=0), axis=1)
    assert np.mean(pred == y[res.mature]) > 0.9
    # domains hold after decoding: counterfactuals and every state of the path
    for arr in (res.counterfactual, res.path.reshape(-1, 2)):
        assert np.all(arr >= c.lower) and np.all(arr <= c.upper)
    c.check(res.counterfactual, "counterfactual")
    # the search runs in latent space: the first state is a stochastic decoding, not the factual
    assert not np.allclose(res.path[:, 0], x)
    # a tight domain is enforced after decoding too
    tight = cftkit.Constraints(lower=x.min(0) - 0.05, upper=x.max(0) + 0.05)
    res_t = cftkit.search(moons_mlp, x, y, generator=generator, constraints=tight, seed=3)
    assert np.all(res_t.counterfactual >= tight.lower) and np.all(res_t.counterfactual <= tight.upper)


def test_revise_search_is_deterministic_for_a_fixed_seed(moons, moons_mlp, factuals, generator):
    x, y = factuals
    kw = dict(generator=generator, constraints=moons.constraints)
    a = cftkit.search(moons_mlp, x, y, seed=11, **kw)
    b = cftkit.search(moons_mlp, x, y, seed=11, **kw)
    c = cftkit.search(moons_mlp, x, y, seed=12, **kw)
    np.testing.assert_array_equal(a.counterfactual, b.counterfactual)
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_array_equal(a.mature, b.mature)
    assert not np.allclose(a.counterfactual, c.counterfactual)  # the encoding is stochastic


def test_mutability_is_ignored_by_default_and_enforced_on_request(moons, moons_mlp, vae, factuals, generator):
    x, y = factuals
    c = moons.constraints.with_immutable([0])
    ref = cftkit.search(moons_mlp, x, y, generator=generator, constraints=c, seed=3)
    assert np.any(ref.counterfactual[:, 0] != x[:, 0])  # the reference ignores mutability in latent space

    gen = REVISEGenerator(vae, enforce_mutability=True, constraints=c)
    assert gen.cache_key() != generator.cache_key()
    res = cftkit.search(moons_mlp, x, y, generator=gen, constraints=c, seed=3, return_path=True)
    np.testing.assert_array_equal(res.counterfactual[:, 0], x[:, 0])
    np.testing.assert_array_equal(res.path[:, :, 0], np.repeat(x[:, :1], res.path.shape[1], axis=1))
    assert np.any(res.counterfactual[:, 1] != x[:, 1])  # the mutable feature still moves
    assert res.validity > 0.3, res.validity

    c2 = moons.constraints.with_mutability([0], "increase").with_mutability([1], "decrease")
    res2 = cftkit.search(moons_mlp, x, y, generator=REVISEGenerator(vae, enforce_mutability=True, constraints=c2),
                         constraints=c2, seed=3)
    assert np.all(res2.counterfactual[:, 0] >= x[:, 0]) and np.all(res2.counterfactual[:, 1] <= x[:, 1])


def test_generator_rejects_bad_inputs(moons, moons_mlp, vae, factuals):
    x, y = factuals
    wrong = VAE(3, seed=0)
    # raised before any graph is traced, so the message is not buried in a TensorFlow traceback
    with pytest.raises(ValueError, match=r"^vae was fitted on 3 features but factuals have 2"):
        cftkit.search(moons_mlp, x, y, generator=REVISEGenerator(wrong))
    with pytest.raises(ValueError, match=r"^vae was fitted on 3 features but factuals have 2"):
        cftkit.CounterfactualModel(cftkit.build_classifier(2, 2), generator=REVISEGenerator(wrong))
    with pytest.raises(ValueError, match=r"constraints describe 2 features but vae was fitted on 3"):
        REVISEGenerator(wrong, constraints=moons.constraints)
    with pytest.raises(ValueError, match=r"enforce_mutability=True needs constraints"):
        REVISEGenerator(vae, enforce_mutability=True)
    with pytest.raises(TypeError, match=r"vae must be a fitted cftkit.revise.VAE"):
        REVISEGenerator(moons_mlp)
    with pytest.raises(TypeError, match=r"enforce_mutability must be a bool"):
        REVISEGenerator(vae, enforce_mutability="yes")
    with pytest.raises(TypeError, match=r"constraints must be a cftkit.Constraints"):
        REVISEGenerator(vae, constraints={"lower": [0, 0]})


@pytest.mark.parametrize("enforce", [False, True])
def test_revise_trained_model_round_trips_without_the_vae(tmp_path, moons, vae, enforce):
    import keras

    c = moons.constraints.with_immutable([0])
    gen = REVISEGenerator(vae, enforce_mutability=enforce, constraints=c if enforce else None)
    keras.utils.set_random_seed(0)
    model = cftkit.CounterfactualModel(cftkit.build_classifier(2, 2, seed=0), generator=gen, constraints=c,
                                       n_ce=50, max_steps=5)
    model.compile(metrics=["accuracy"])
    h = model.fit(moons.x_train[:300], moons.y_train[:300], batch_size=30, epochs=1, verbose=0)
    assert h.history["ct_search_steps"][0] > 0
    # the model owns a frozen copy; the caller's VAE and the classifier's trainable set are untouched
    assert model.revise_vae is not vae and _same_weights(model.revise_vae, vae) and vae.trainable
    assert len(model.trainable_weights) == len(model.classifier.trainable_weights)
    path = tmp_path / "revise_ct.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # safe_mode stays on; no VAE passed in
    assert isinstance(loaded.generator, REVISEGenerator) and loaded.generator.enforce_mutability is enforce
    assert _same_weights(loaded.revise_vae, vae)
    assert len(loaded.trainable_weights) == len(loaded.classifier.trainable_weights)  # the VAE stays frozen
    np.testing.assert_array_equal(loaded.predict(moons.x_test, verbose=0), model.predict(moons.x_test, verbose=0))
    x = moons.x_train[:10]
    kw = dict(generator=loaded.generator, constraints=c, max_steps=5, seed=3)
    a = cftkit.search(loaded.classifier, x, 1, **kw)
    b = cftkit.search(model.classifier, x, 1, **{**kw, "generator": model.generator})
    np.testing.assert_allclose(a.counterfactual, b.counterfactual, atol=1e-6)
    h = loaded.fit(moons.x_train[:300], moons.y_train[:300], batch_size=30, epochs=1, verbose=0)
    assert np.isfinite(h.history["loss"][0])
