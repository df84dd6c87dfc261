"""One contract test over every registered generative family (on digits). A family that
is only distilled (``Family.teacher``) gets an untrained teacher of its teacher family,
and one without a likelihood (``Family.likelihood`` False) must refuse ``nll`` clearly."""

import inspect
import math
from dataclasses import replace

import pytest
import torch

from genlab import registry
from genlab.data import load_dataset
from genlab.errors import GenlabError
from genlab.family import get_family, sampling_kwargs
from genlab.protocols import GenerativeModel, Preparable
from genlab.runs import load_run, make_config, train_run

GENERATIVE = [n for n in registry.FAMILIES if get_family(n).kind == "generative"]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def with_teacher(model: torch.nn.Module, name: str, meta) -> torch.nn.Module:
    """``model`` with an untrained teacher of its teacher family, when it needs one."""
    fam = get_family(name)
    if fam.teacher:  # the first of its teacher families
        teacher_fam = get_family(fam.teacher[0])
        model.attach_teacher(teacher_fam.build(teacher_fam.config(), meta), initialise=True)
    return model


@pytest.mark.parametrize("name", GENERATIVE)
def test_loss_is_a_scalar_that_reaches_every_parameter(name, digits):
    """Every trained parameter gets a gradient (frozen ones, a student's target network,
    none)."""
    fam = get_family(name)
    model = with_teacher(fam.build(fam.config(), digits.meta), name, digits.meta)
    assert isinstance(model, GenerativeModel)
    if isinstance(model, Preparable):
        model.prepare(digits.train.x, digits.train.y)
    loss, terms = model.loss(digits.train.x[:32], digits.train.y[:32], step=0)
    assert loss.ndim == 0 and math.isfinite(float(loss))
    assert all(v.ndim == 0 for v in terms.values())
    loss.backward()
    for pname, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        else:
            assert p.grad is None, pname


@pytest.mark.parametrize("name", GENERATIVE)
def test_sample_and_nll_speak_the_data_space(name, digits):
    fam = get_family(name)
    model = fam.build(fam.config(), digits.meta).eval()
    x = model.sample(10, generator=torch.Generator().manual_seed(0))
    assert x.shape == (10, *digits.shape)
    assert torch.equal(x.float(), x.float().round())
    assert int(x.min()) >= 0 and int(x.max()) < digits.levels
    if not fam.likelihood:
        with pytest.raises(GenlabError, match="no likelihood"):
            model.nll(digits.test.x[:7])
        return
    nll = model.nll(digits.test.x[:7])
    assert nll.shape == (7,) and torch.isfinite(nll).all() and (nll > 0).all()
    # a discrete likelihood can never beat 0 nats; as a density of the levels it is
    # at most log(levels) per dim for the uniform model
    assert float(nll.mean()) < 10 * digits.meta.dims * math.log(digits.levels)


@pytest.mark.parametrize("name", GENERATIVE)
def test_sampling_options_are_the_keywords_of_sample(name, digits):
    """The declared options dataclass and ``sample`` agree: every field is a keyword of
    ``sample`` with the same default, and ``sample`` takes no option left undeclared."""
    fam = get_family(name)
    model = fam.build(fam.config(), digits.meta).eval()
    params = inspect.signature(model.sample).parameters
    takes = {k: p.default for k, p in params.items() if k not in ("n", "y", "generator")}
    declared = sampling_kwargs(fam.sampling_options())
    assert takes == declared
    x = model.sample(3, generator=torch.Generator().manual_seed(0), **declared)
    assert x.shape == (3, *digits.shape)


@pytest.mark.parametrize("name", GENERATIVE)
def test_a_run_folder_rebuilds_the_same_model(name, tmp_path, device):
    short = {
        "train.steps": "6",
        "train.progress": "false",
        "train.sample_every": "0",
        "train.device": device.type,
    }
    teachers = get_family(name).teacher
    if teachers:  # a distilled family: a run of its first teacher family first
        train_run(make_config(teachers[0], overrides=short), tmp_path / "teacher")
        short["model.teacher"] = str(tmp_path / "teacher")
    cfg = make_config(name, overrides=short)
    train_run(cfg, tmp_path / "run")
    loaded = load_run(tmp_path / "run", device=device)
    # the run records the threads it used (train.threads=0 asks for the default)
    used = loaded.config.train.threads
    assert used >= 1 and loaded.config == replace(cfg, train=replace(cfg.train, threads=used))
    x = load_dataset("digits").test.x[:16].to(device)

    def score(model: torch.nn.Module) -> torch.Tensor:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            if get_family(name).likelihood:
                return model.nll(x)
            return model.sample(8, generator=torch.Generator(device).manual_seed(0))

    again = load_run(tmp_path / "run", device=device)
    torch.testing.assert_close(score(loaded.model), score(again.model))
