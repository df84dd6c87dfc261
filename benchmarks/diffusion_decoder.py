"""The diffusion bound's decoder floor on Fashion-MNIST, and what fitting the decoder's std
removes (``model.nll_decoder=fitted``, genlab/diffusion/bound.py).

For a trained diffusion run (``--run``; e.g. ``genlab train diffusion --data fashion-mnist
--steps 1500 --out runs/bench-diffusion-fashion``), on the whole test split, CPU, one thread:

1. ``floor``: L_0 of a *perfect* denoiser (x0_hat = x_0) under the fixed decoder
   N(x0_hat, beta_1), in closed form per pixel: an interior pixel keeps
   erf(h / (sigma_1 sqrt 2)) of the mass (h = half a bin), an end bin Phi(h / sigma_1); the
   mean over the test images' pixels, in bits/dim. No training lowers L_0 below it.
2. ``bound``: the whole bound with the fixed decoder (``model.nll``, seeded), bits/dim
   with its standard error across images.
3. ``decoder``: L_0 alone on the same images and the same draws of x_1, with the fixed
   std and with the stds fitted on 1000 train images (``genlab.inference.fit_images``,
   never test); the fitted bound = the bound - L_0 fixed + L_0 fitted (the other terms
   do not depend on the decoder), its change with the paired standard error.

    python benchmarks/diffusion_decoder.py --run RUN [--images N]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace
from pathlib import Path

import torch
from common import records

from genlab.data.scaling import to_centered
from genlab.inference import fit_images
from genlab.runs import load_data, load_run

RESULTS = Path(__file__).parent / "results" / "diffusion_decoder.json"
BATCH = 500


def floor_bpd(x: torch.Tensor, levels: int, sigma: float) -> float:
    """Mean L_0 in bits/dim of a perfect denoiser under N(x_0, sigma^2) binned."""
    h = 1.0 / (levels - 1)
    interior = -math.log2(math.erf(h / (sigma * math.sqrt(2))))
    end = -math.log2(0.5 * (1 + math.erf(h / (sigma * math.sqrt(2)))))
    at_end = ((x == 0) | (x == levels - 1)).double().mean()
    return float(at_end * end + (1 - at_end) * interior)


def per_image(fn, x: torch.Tensor, what: str) -> torch.Tensor:
    """``fn(batch)`` nats per image -> bits/dim (N,), with a progress line per batch."""
    dims_ln2 = x[0].numel() * math.log(2.0)
    parts, started = [], time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(x), BATCH):
            parts.append(fn(x[i : i + BATCH]).double() / dims_ln2)
            done = i + len(parts[-1])
            rate = done / (time.perf_counter() - started)
            print(f"  {what}: {done}/{len(x)}, {rate:.0f} images/s", flush=True)
    return torch.cat(parts)


def mean_se(v: torch.Tensor) -> dict[str, float]:
    return {"bpd": float(v.mean()), "se": float(v.std() / math.sqrt(len(v)))}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", required=True, help="a trained diffusion run folder")
    p.add_argument("--images", type=int, default=0, help="test images (0: all)")
    args = p.parse_args()
    torch.set_num_threads(1)
    loaded = load_run(args.run)
    model, cfg = loaded.model, loaded.config
    if cfg.family != "diffusion" or loaded.meta.levels is None:
        raise SystemExit(f"{args.run}: needs a diffusion run on discrete data")
    ds = load_data(cfg.data)
    test = ds.test.x[: args.images or len(ds.test)]
    levels = int(loaded.meta.levels)
    sigma_1 = float(model.schedule.betas[0].sqrt())
    torch.manual_seed(0)
    started = time.perf_counter()
    bound = per_image(model.nll, test, "bound (fixed decoder)")
    bound_s = time.perf_counter() - started
    fitted = type(model)(
        model.network,
        model.schedule,
        model.meta,
        config=replace(model.config, nll_decoder="fitted"),
    ).eval()
    torch.manual_seed(0)
    fitted.fit_nll(fit_images(ds.train.x, 0))
    one = torch.ones(1, dtype=torch.long)

    def l0(decoder):
        g = torch.Generator().manual_seed(1)  # the same x_1 draws for both decoders
        return lambda b: model.vlb_terms(b, one, generator=g, decoder=decoder)[:, 0]

    fixed_l0 = per_image(l0(None), test, "L_0 fixed")
    fitted_l0 = per_image(l0(fitted.decoder_stds), test, "L_0 fitted")
    change = fitted_l0 - fixed_l0
    steps = max((r["step"] for r in records(Path(args.run), "train")), default=None)
    end, rest = fitted.decoder_stds
    x0 = to_centered(test, levels, torch.float64)
    result = {
        "protocol": f"{ds.name} test split ({len(test)} images), CPU, one thread; the bound "
        "with the fixed decoder seeded 0; L_0 for both decoders on the same x_1 draws "
        "(seed 1); the fitted stds from 1000 train images (seed 0)",
        "run": str(args.run),
        "run_steps": steps,
        "estimator": model.nll_estimator(),
        "sigma_1": sigma_1,
        "bin_half_width": 1.0 / (levels - 1),
        "end_bin_pixel_share": float(((x0 <= -1) | (x0 >= 1)).double().mean()),
        "floor_bpd": floor_bpd(test, levels, sigma_1),
        "fitted_std_end": end,
        "fitted_std_rest": rest,
        "bound_fixed": mean_se(bound) | {"seconds": bound_s},
        "l0_fixed": mean_se(fixed_l0),
        "l0_fitted": mean_se(fitted_l0),
        "bound_fitted": mean_se(bound + change),
        "change": mean_se(change),
    }
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "estimator"}, indent=1))


if __name__ == "__main__":
    main()
