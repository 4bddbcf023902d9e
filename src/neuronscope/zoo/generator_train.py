"""Training a generator (`neuronscope.zoo.generator.ConvVAE`) from its `GeneratorRecipe`.

One loop, deterministic for the recipe's seed: shuffling and the reparameterization
noise come from one ``torch.Generator`` seeded from the recipe; the weights were
initialized from the seeded global RNG by the caller.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import torch

from .classify import load_split
from .generator import ConvVAE, GeneratorRecipe

__all__ = ["train_generator", "vae_loss"]
logger = logging.getLogger(__name__)


def vae_loss(model: ConvVAE, x: torch.Tensor, kl_weight: float, g: torch.Generator
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, summed squared error, KL) of a batch, each averaged over its images.

    Example:
        >>> model = ConvVAE(code_size=4, width=2, shape=(1, 16, 16))
        >>> loss, sq, kl = vae_loss(model, torch.rand(3, 1, 16, 16), 1.0,
        ...                         torch.Generator().manual_seed(0))
        >>> bool(loss > 0), loss.shape
        (True, torch.Size([]))
    """
    mean, logvar = model.posterior(x)
    logvar = logvar.clamp(-12.0, 8.0)
    noise = torch.randn(mean.shape, generator=g).to(mean.device)
    recon = model.decode(mean + noise * (0.5 * logvar).exp())
    sq = (recon - x).pow(2).flatten(1).sum(1).mean()
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(1).mean()
    return sq + kl_weight * kl, sq, kl


def train_generator(r: GeneratorRecipe, model: ConvVAE, progress: bool = True
                    ) -> dict[str, Any]:
    """Train `model` in place by `r` on its dataset's train split; plain JSON metrics:
    ``test_reconstruction_error`` (mean over ``n_test`` test images), ``train_mse`` and
    ``kl`` (means over the last epoch), ``seconds``, ``threads``, ``n_train``, ``n_test``.

    Example:
        >>> from neuronscope.zoo.generator import GENERATORS
        >>> r = GENERATORS["shapes"].replace(n_train=8, n_test=4, epochs=1, width=2,
        ...                                  code_size=4, batch_size=4)
        >>> m = train_generator(r, ConvVAE(4, 2), progress=False)
        >>> m["n_train"], m["n_test"], m["test_reconstruction_error"] > 0
        (8, 4, True)
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()
    _, X, _ = load_split(r.dataset, "train", r.n_train)
    _, Xt, _ = load_split(r.dataset, "test", r.n_test)
    if tuple(X.shape[1:]) != tuple(r.shape):
        raise ValueError(f"generator recipe {r.name!r} is for images {tuple(r.shape)}, but "
                         f"dataset {r.dataset!r} has {tuple(X.shape[1:])}; set shape= to it")
    device = next(model.parameters()).device
    bs = min(r.batch_size, len(X))
    steps = max(1, len(X) // bs)
    g = torch.Generator().manual_seed(r.seed)
    opt = torch.optim.Adam(model.parameters(), lr=r.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=r.lr, total_steps=r.epochs * steps)
    model.train()
    pixels = X[0].numel()
    with tqdm(total=r.epochs * steps, desc=f"training {r.name} generator", unit="batch",
              disable=not progress, leave=False, mininterval=0.5) as bar:
        for epoch in range(r.epochs):
            perm, sq_sum, kl_sum = torch.randperm(len(X), generator=g), 0.0, 0.0
            for i in range(steps):
                x = X[perm[i * bs:(i + 1) * bs]].to(device)
                loss, sq, kl = vae_loss(model, x, r.kl_weight, g)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                sq_sum, kl_sum = sq_sum + sq.item(), kl_sum + kl.item()
                bar.update(1)
            if not math.isfinite(sq_sum + kl_sum):
                raise RuntimeError(f"training the {r.name} generator diverged; lower the lr")
            bar.set_postfix(epoch=epoch + 1, mse=f"{sq_sum / steps / pixels:.4f}")
            logger.debug("%s generator epoch %d: mse %.4f, kl %.1f", r.name, epoch + 1,
                         sq_sum / steps / pixels, kl_sum / steps)
    model.eval()
    with torch.no_grad():
        err = model.reconstruction_error(Xt.to(device))
    metrics = {"test_reconstruction_error": float(err.mean()), "train_mse": sq_sum / steps / pixels,
               "kl": kl_sum / steps, "seconds": time.perf_counter() - start,
               "threads": torch.get_num_threads(), "n_train": len(X), "n_test": len(Xt)}
    logger.info("trained the %s generator: test reconstruction error %.4f, %.1f s", r.name,
                metrics["test_reconstruction_error"], metrics["seconds"])
    return metrics
