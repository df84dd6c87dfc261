"""The vae family through the command line: ``genlab sample --pictures``."""

from __future__ import annotations

from genlab.cli import main


def test_cli_writes_the_pictures(tmp_path, cli):
    run = tmp_path / "vae"
    args = ["train", "vae", "--data", "digits", "--steps", "5", "--out", str(run), "--quiet"]
    assert main([*args, "model.hidden=16", "model.nll_samples=4", "train.sample_every=0"]) == 0
    res = cli("sample", run, "-n", 4, "--out", tmp_path / "s.png", "--pictures", tmp_path / "pics")
    assert res.code == 0, res.err
    names = sorted(p.name for p in (tmp_path / "pics").iterdir())
    assert names == sorted(
        [
            "reconstructions.png",
            "prior_samples.png",
            "prior_means.png",
            "interpolations.png",
            "traversals.png",
        ]
    )
    for p in (tmp_path / "pics").iterdir():
        assert p.read_bytes()[:4] == b"\x89PNG"


def test_pictures_of_a_family_without_them_is_one_line(cli, digits_run, tmp_path):
    res = cli("sample", digits_run, "-n", 4, "--out", tmp_path / "s.png", "--pictures", tmp_path)
    assert res.code == 2 and "no --pictures" in res.err and len(res.err.strip().splitlines()) == 1
    assert not (tmp_path / "s.png").exists()
