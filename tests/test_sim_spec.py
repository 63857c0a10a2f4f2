"""Specs: presets load, shift presets really differ from train where they claim to (and only
there), user spec files work like presets, bad specs are one-line InputErrors."""
import dataclasses

import numpy as np
import pytest

from simulators.core.errors import InputError
from simulators.prior.graphs import GRAPH_FAMILIES, GraphFamily
from simulators.prior.mechanisms import MECHANISM_FAMILIES, Mechanism
from simulators.prior.noise import NOISE_FAMILIES, NoiseFamily
from simulators.prior.sample import sample_dataset
from simulators.prior.spec import PRESET_DIR, PRESETS, load_spec, spec_from_dict, spec_to_dict

SHIFTED = {"test-in": set(), "test-graph": {"graph"}, "test-mechanism": {"mechanism"},
           "test-noise": {"noise"}, "test-out": {"graph", "mechanism", "noise"}, "select-shift": {"mechanism"},
           "select-graph": {"graph"}, "select-noise": {"noise"}, "select-interaction": {"mechanism"},
           "select-out": {"graph", "mechanism", "noise"}, "select-heavy": {"noise"},
           "select-joint": {"mechanism"}}
# The selection shift in every factor: it draws the single-factor selection presets' families together.
COMPOUND_SELECTION = "select-out"
SECTIONS = {"graph": "graphs", "mechanism": "mechanisms", "noise": "noises"}


def _disjoint(a, b) -> bool:
    """Two values of a family parameter share nothing: ranges without overlap, choices without a
    common element, or different settings."""
    if isinstance(a, tuple) and a and isinstance(a[0], str):
        return not set(a) & set(b)
    if isinstance(a, tuple):
        return a[1] < b[0] or b[1] < a[0]
    return a != b


def _unseen(family, train_families) -> bool:
    """No train family of this kind, or every one differs from it in some parameter entirely."""
    same_kind = [f for _, f in train_families if f.kind == family.kind]
    return all(any(_disjoint(getattr(family, fld.name), getattr(f, fld.name))
                   for fld in dataclasses.fields(family)) for f in same_kind)


def test_every_preset_has_a_file_and_round_trips():
    assert sorted(p.stem for p in PRESET_DIR.glob("*.toml")) == sorted(PRESETS)
    for name in PRESETS:
        spec = load_spec(name)
        assert spec.name == name and spec.description
        assert spec_from_dict(spec_to_dict(spec)) == spec


@pytest.mark.parametrize("preset", sorted(SHIFTED))
def test_shift_presets_differ_from_train_exactly_where_they_claim(preset):
    train, test = load_spec("train"), load_spec(preset)
    assert test.seed_salt != train.seed_salt  # same --seed, different SCMs
    for section, attr in SECTIONS.items():
        if section in SHIFTED[preset]:
            for _, family in getattr(test, attr):
                assert _unseen(family, getattr(train, attr)), (section, family)
        else:
            assert getattr(test, attr) == getattr(train, attr), section
    if not SHIFTED[preset]:
        assert (test.mix_prob, test.internal_standardize_prob) == (train.mix_prob, train.internal_standardize_prob)


@pytest.mark.parametrize("preset", [name for name in PRESETS if name.startswith("select-")])
def test_selection_shifts_draw_families_no_other_preset_draws(preset):
    """select-* presets are for choosing a default: the families they shift to must be drawn by no
    training, test or other single-factor selection preset (the compound one draws theirs)."""
    spec = load_spec(preset)
    others = [name for name in PRESETS if name not in (preset, COMPOUND_SELECTION)]
    for section in SHIFTED[preset]:
        attr = SECTIONS[section]
        shifted = {family.kind for _, family in getattr(spec, attr)}
        for name in others:
            if preset != COMPOUND_SELECTION or not name.startswith("select-"):
                assert not shifted & {family.kind for _, family in getattr(load_spec(name), attr)}, (name, section)


def test_compound_selection_shift_draws_only_the_single_shifts_families():
    """select-out is the single-factor selection shifts together: each of its families, with the
    same parameters, is one that a single-factor select-* preset shifts to, and every factor moves."""
    compound = load_spec(COMPOUND_SELECTION)
    singles = [load_spec(name) for name in PRESETS if name.startswith("select-") and name != COMPOUND_SELECTION]
    for section, attr in SECTIONS.items():
        drawn = {family for _, family in getattr(compound, attr)}
        held_out = {family for spec in singles if section in SHIFTED[spec.name] for _, family in getattr(spec, attr)}
        assert drawn and drawn <= held_out, section


def test_post_nonlinear_mechanism_is_a_monotone_distortion():
    """Without noise, one parent: the value is a strictly monotone function of it (g of a line)."""
    parent = np.sort(np.random.default_rng(0).normal(size=(500, 1)), axis=0)
    for seed in range(5):
        out = MECHANISM_FAMILIES["pnl"]().build(1, np.random.default_rng(seed))(parent, np.zeros(500))
        steps = np.diff(out)
        assert np.isfinite(out).all() and ((steps > 0).all() or (steps < 0).all())


@pytest.mark.parametrize("base, name", [("train", "train-broad"), ("train-skew", "train-trees")])
def test_broadened_training_prior_adds_only_families_no_test_or_selection_preset_draws(base, name):
    """train-broad (train-trees) is train (train-skew) plus mechanism families that stay out of every
    preset used to test or choose."""
    train, broad = load_spec(base), load_spec(name)
    assert (broad.graphs, broad.noises, broad.mix_prob) == (train.graphs, train.noises, train.mix_prob)
    assert set(train.mechanisms) < set(broad.mechanisms)
    added = {family.kind for _, family in broad.mechanisms} - {family.kind for _, family in train.mechanisms}
    assert added
    for name in PRESETS:
        if name.startswith(("test-", "select-")):
            assert not added & {family.kind for _, family in load_spec(name).mechanisms}, name


def test_additive_gp_mechanism_is_additive_in_its_parents():
    """Without noise, f(a, b) + f(a', b') = f(a, b') + f(a', b) for every draw (no interaction term),
    and the function is not linear."""
    grid = np.array([[0.3, -1.2], [1.7, 0.4], [0.3, 0.4], [1.7, -1.2]])
    line = np.linspace(-2, 2, 200)[:, None]
    for seed in range(5):
        fn = MECHANISM_FAMILIES["additive_gp"]().build(2, np.random.default_rng(seed))
        out = fn(grid, np.zeros(4))
        assert np.isfinite(out).all() and abs(out[0] + out[1] - out[2] - out[3]) < 1e-4
        wiggly = MECHANISM_FAMILIES["additive_gp"](length_scale=(0.5, 0.5))
        one = wiggly.build(1, np.random.default_rng(seed))(line, np.zeros(200))
        residual = one - np.polyval(np.polyfit(line[:, 0], one, 1), line[:, 0])
        assert residual.var() > 0.1 * one.var()  # far from a line


def test_soft_trees_are_not_additive_and_sharper_splits_vary_faster():
    """Without noise, two parents: f(a, b) + f(a', b') - f(a, b') - f(a', b) is not zero for every draw
    (the path products couple the parents); with one parent, sharp splits change the value more between
    neighbouring points than gentle ones."""
    grid = np.array([[0.3, -1.2], [1.7, 0.4], [0.3, 0.4], [1.7, -1.2]])
    rng = np.random.default_rng(0)
    line = np.linspace(-2, 2, 400)[:, None]
    coupled = []
    for seed in range(10):
        fn = MECHANISM_FAMILIES["soft_trees"](depth=(2, 3)).build(2, np.random.default_rng(seed))
        out = fn(np.vstack([grid, rng.normal(size=(200, 2))]), np.zeros(204))[:4]
        assert np.isfinite(out).all()
        coupled.append(abs(out[0] + out[1] - out[2] - out[3]) > 1e-6)
    assert sum(coupled) >= 8

    def roughness(sharpness):
        values = [MECHANISM_FAMILIES["soft_trees"](sharpness=(sharpness, sharpness)).build(
            1, np.random.default_rng(seed))(line, np.zeros(400)) for seed in range(20)]
        return np.mean([np.abs(np.diff(v)).max() / (v.std() + 1e-12) for v in values])

    assert roughness(20.0) > 3 * roughness(1.0)


def test_interaction_mechanism_is_not_additive():
    """Without noise, f(a, b) + f(a', b') - f(a, b') - f(a', b) is the product term: not zero."""
    grid = np.array([[0.3, -1.2], [1.7, 0.4], [0.3, 0.4], [1.7, -1.2]])
    for seed in range(5):
        out = MECHANISM_FAMILIES["interaction"]().build(2, np.random.default_rng(seed))(grid, np.zeros(4))
        assert np.isfinite(out).all() and abs(out[0] + out[1] - out[2] - out[3]) > 1e-3


def test_rbf_network_is_joint_scaled_and_narrower_bumps_vary_faster():
    """Without noise: f(a, b) + f(a', b') - f(a, b') - f(a', b) is not zero (the bumps couple the parents),
    the output's spread over the sample is the drawn output scale, Cauchy parents stay finite, and narrow
    bumps change the value more between neighbouring points than wide ones."""
    grid = np.array([[0.3, -1.2], [1.7, 0.4], [0.3, 0.4], [1.7, -1.2]])
    rng = np.random.default_rng(0)
    sample = np.vstack([grid, rng.normal(size=(300, 2))])
    coupled = []
    for seed in range(10):
        out = MECHANISM_FAMILIES["rbf_net"](output_scale=(2.5, 2.5)).build(2, np.random.default_rng(seed))(
            sample, np.zeros(len(sample)))
        assert np.isfinite(out).all() and abs(out.std() - 2.5) < 1e-9
        coupled.append(abs(out[0] + out[1] - out[2] - out[3]) > 1e-6)
    assert sum(coupled) >= 8
    heavy = MECHANISM_FAMILIES["rbf_net"]().build(3, rng)(rng.standard_cauchy((500, 3)), np.zeros(500))
    assert np.isfinite(heavy).all()
    line = np.linspace(-2, 2, 400)[:, None]

    def roughness(width):
        values = [MECHANISM_FAMILIES["rbf_net"](width=(width, width)).build(1, np.random.default_rng(seed))(
            line, np.zeros(400)) for seed in range(20)]
        return np.mean([np.abs(np.diff(v)).max() / (v.std() + 1e-12) for v in values])

    assert roughness(0.2) > 3 * roughness(2.0)


def test_train_is_broad():
    train = load_spec("train")
    assert len(train.graphs) >= 3 and len(train.mechanisms) >= 2 and len(train.noises) >= 3
    assert 0 < train.mix_prob < 1


@pytest.mark.parametrize("registry, interface, section", [
    (GRAPH_FAMILIES, GraphFamily, "graphs"), (MECHANISM_FAMILIES, Mechanism, "mechanisms"),
    (NOISE_FAMILIES, NoiseFamily, "noises")])
def test_every_family_implements_its_section_interface(registry, interface, section):
    assert all(issubclass(cls, interface) and cls.kind == kind for kind, cls in registry.items())
    with pytest.raises(TypeError):  # the interface itself is abstract
        interface()
    entries = getattr(load_spec("train"), section)
    assert all(isinstance(e.family, interface) and e.weight > 0 for e in entries)


def test_a_spec_file_works_like_a_preset(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text((PRESET_DIR / "test-noise.toml").read_text().replace('name = "test-noise"\n', ""))
    spec = load_spec(str(path))
    assert spec.name == "mine"  # defaults to the file name
    assert dataclasses.replace(spec, name="test-noise") == load_spec("test-noise")
    a = sample_dataset(spec, 6, 30, np.random.default_rng(0))
    b = sample_dataset(load_spec("test-noise"), 6, 30, np.random.default_rng(0))
    assert a.x.tobytes() == b.x.tobytes()


MINIMAL = """
[[graph.families]]
kind = "erdos_renyi"
[[mechanism.families]]
kind = "linear"
[[noise.families]]
kind = "gaussian"
"""


@pytest.mark.parametrize("extra, message", [
    ("colour = 1\n", "unknown key 'colour'"),
    ("[[graph.families]]\nkind = \"erdos_renyi\"\ndensity = 2\n", "unknown key 'density'"),
    ("[[graph.families]]\nkind = \"lattice\"\n", "unknown kind 'lattice'"),
    ("[[graph.families]]\nkind = \"erdos_renyi\"\nedges_per_var = [3.0, 1.0]\n", "low <= high"),
    ("[[noise.families]]\nkind = \"laplace\"\nscale = [0.0, 1.0]\n", "must be > 0"),
    ("[[noise.families]]\nkind = \"student_t\"\ndf = [1.0, 3.0]\n", "must be > 2"),
    ("[[noise.families]]\nkind = \"heavy_t\"\ndf = [1.0, 3.0]\n", "must be <= 2"),
    ("[[mechanism.families]]\nkind = \"mlp\"\nactivations = [\"swish\"]\n", "activations"),
    ("[[mechanism.families]]\nkind = \"rff\"\nfeatures = \"many\"\n", "must be of type int"),
    ("[[mechanism.families]]\nkind = \"soft_trees\"\ndepth = [2, 9]\n", "soft_trees.depth must be <= 6"),
    ("[[mechanism.families]]\nkind = \"rbf_net\"\nwidth = [0.0, 1.0]\n", "rbf_net.width"),
    ("[[graph.families]]\nkind = \"scale_free\"\nhubs = \"both\"\n", "'causes' or 'effects'"),
    ("[[graph.families]]\nkind = \"erdos_renyi\"\nweight = 0\n", "weight must be a number > 0"),
    ("name = \"a b\"\n", "name must be"),
    ("x = [\n", "invalid TOML"),
])
def test_bad_specs_are_one_line_input_errors(tmp_path, extra, message):
    path = tmp_path / "bad.toml"
    top = extra if not extra.startswith("[") else ""
    path.write_text(top + MINIMAL + (extra if extra.startswith("[") else ""))
    with pytest.raises(InputError) as err:
        load_spec(str(path))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unknown_preset_names_the_presets():
    with pytest.raises(InputError, match="test-out"):
        load_spec("test-outt")


def test_missing_section_is_an_input_error():
    with pytest.raises(InputError, match=r"\[noise\]"):
        spec_from_dict({"graph": {"families": [{"kind": "sbm"}]}, "mechanism": {"families": [{"kind": "linear"}]}})


@pytest.mark.parametrize("base, name", [("train", "train-skew"), ("train-broad", "train-broad-skew")])
def test_skewed_training_prior_adds_only_a_gamma_range_no_test_or_selection_preset_draws(base, name):
    """train-skew (train-broad-skew) is train (train-broad) plus one Gamma family, more skewed than
    train's and than every Gamma that a preset used to test or choose draws (their shapes all stay
    at 1 or above)."""
    train, skew = load_spec(base), load_spec(name)
    assert (skew.graphs, skew.mechanisms, skew.mix_prob) == (train.graphs, train.mechanisms, train.mix_prob)
    added = [entry[1] for entry in skew.noises if entry not in train.noises]  # (weight, family) entries
    assert set(train.noises) < set(skew.noises) and len(added) == 1 and added[0].kind == "gamma"
    assert added[0].shape[0] < min(family.shape[0] for _, family in train.noises if family.kind == "gamma")
    for preset in PRESETS:
        if preset.startswith(("test-", "select-")):
            assert all(family.shape[0] >= added[0].shape[1] for _, family in load_spec(preset).noises
                       if family.kind == "gamma"), preset
    rows = sample_dataset(skew, d=5, n=400, rng=np.random.default_rng(0)).x
    assert np.isfinite(rows).all()
