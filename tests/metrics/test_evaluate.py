from __future__ import annotations

import pytest
import torch

from genlab.data import DataMeta, Dataset, Split
from genlab.errors import GenlabError
from genlab.metrics import SAMPLE_METRICS, evaluate_samples, reference_values


@pytest.fixture(scope="module")
def floor(digits, digits_feature_net, device) -> dict[str, float]:
    return reference_values(digits, n=1000, seed=0, device=device)


def test_floor_has_every_number_and_its_protocol(floor, digits_feature_net) -> None:
    expected = {"fd", "kid", "kid_std", "precision", "recall", "sharpness"}
    assert expected <= set(floor)
    assert floor["n_samples"] == 1000 and floor["n_reference"] == 360
    assert floor["feature_net_test_accuracy"] == digits_feature_net.test_accuracy


def test_floor_is_small(floor) -> None:
    assert 0.0 <= floor["fd"] < 3.0
    assert abs(floor["kid"]) < 0.03
    assert floor["precision"] > 0.8 and floor["recall"] > 0.8
    assert 0.9 < floor["sharpness"] < 1.1


def test_noised_images_score_much_worse(digits, floor, device) -> None:
    x = digits.train.x[:1000].float()
    noise = 6 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    noisy = (x + noise).round().clamp(0, 16).to(torch.uint8)
    got = evaluate_samples(noisy, digits, SAMPLE_METRICS, device=device)
    assert got["fd"] > 5 * floor["fd"]
    assert got["kid"] > 5 * abs(floor["kid"])
    assert got["precision"] < floor["precision"]
    assert got["sharpness"] > 1.2


def test_reference_train_and_metric_subset(digits, digits_feature_net) -> None:
    out = evaluate_samples(digits.test.x, digits, ["fd"], reference="train")
    assert set(out) == {"fd", "fd_se", "n_samples", "n_reference", "feature_net_test_accuracy"}
    assert out["n_reference"] == len(digits.train)
    only_sharp = evaluate_samples(digits.test.x, digits, ["sharpness"])
    assert only_sharp["sharpness"] == pytest.approx(1.0)


def test_user_errors(digits) -> None:
    with pytest.raises(GenlabError, match="valid: fd, kid, pr, sharpness"):
        evaluate_samples(digits.test.x, digits, ["fid"])
    with pytest.raises(GenlabError, match="expected"):
        evaluate_samples(torch.zeros(10, 1, 28, 28), digits, ["sharpness"])
    with pytest.raises(GenlabError, match="reference split"):
        evaluate_samples(digits.test.x, digits, ["sharpness"], reference="val")


def test_vector_data_use_coordinates() -> None:
    g = torch.Generator().manual_seed(0)
    train, test = torch.randn(300, 2, generator=g), torch.randn(100, 2, generator=g)
    ds = Dataset(DataMeta("toy2d:gauss", (2,), None, None), Split(train), Split(test))
    out = reference_values(ds, n=200)
    assert out["fd"] < 0.2 and out["precision"] > 0.7
    assert "sharpness" not in out
    with pytest.raises(GenlabError, match="sharpness"):
        evaluate_samples(train, ds, ["sharpness"])
