"""Invertible 1x1 convolution: the LU parameterisation (Glow eq. 10) and its logdet."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genlab.flows.transforms import InvertibleConv1x1


def test_weight_is_plu_and_logdet_is_hw_slogdet():
    g = torch.Generator().manual_seed(0)
    conv = InvertibleConv1x1(4, generator=g).double()
    with torch.no_grad():
        for p in conv.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    w = conv.weight()
    lower = torch.tril(conv.lower, -1) + torch.eye(4, dtype=torch.float64)
    upper = torch.triu(conv.upper, 1) + torch.diag(conv.sign_s * conv.log_s.exp())
    torch.testing.assert_close(w, conv.perm @ lower @ upper)
    x = torch.randn(2, 4, 3, 5, generator=g, dtype=torch.float64)
    y, ld = conv(x)
    torch.testing.assert_close(y, torch.einsum("oc,nchw->nohw", w, x))
    torch.testing.assert_close(y, F.conv2d(x, w[:, :, None, None]))  # what it replaces
    expected = 3 * 5 * torch.linalg.slogdet(w).logabsdet
    torch.testing.assert_close(ld, expected.expand(2))


def test_init_is_a_seeded_rotation():
    w = InvertibleConv1x1(5, generator=torch.Generator().manual_seed(1)).double().weight()
    torch.testing.assert_close(w @ w.T, torch.eye(5, dtype=torch.float64), atol=1e-6, rtol=0)
    again = InvertibleConv1x1(5, generator=torch.Generator().manual_seed(1)).double().weight()
    assert torch.equal(w, again)
