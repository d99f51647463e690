"""Validation during training: each val set's metrics, the best values so far, and the images.

The model turns each val batch into ``(output, reference)`` (:meth:`BaseModel.val_pair`), so a
family whose batches are not ``lq``/``gt`` validates without a change here.  The output is
rounded to 8-bit levels (as a saved PNG is) before it is scored.
"""
from __future__ import annotations

import os

import torch

from ..data import build_dataset, build_val_loader
from ..engine.dist import DistContext
from ..metrics import build_val_metrics, convention, quantize
from ..options import Options
from ..utils.imgio import tensor2img, write_image


class Validation:
    """The val sets and metrics of ``opt.val``, and the best value of each metric so far
    (``best``: ``{'valset/metric': (value, iteration)}``, kept in the training state)."""

    def __init__(self, opt: Options, dist: DistContext, device: torch.device, exp_dir: str):
        self.opt = opt
        self.dist = dist
        self.exp_dir = exp_dir
        self.sets = {k: build_dataset(v) for k, v in opt.val_datasets.items()}
        self.metrics = build_val_metrics(opt.val.metrics, device) if opt.val is not None else {}
        self.best: dict[str, tuple[float, int]] = {}

    def due(self, it: int) -> bool:
        """Whether iteration ``it`` validates (every ``val.val_freq``, and the last)."""
        vopt = self.opt.val
        return vopt is not None and (it % vopt.val_freq == 0 or it == self.opt.train.total_iter)

    def save_snapshots(self, model, it: int, logger) -> None:
        """The model's sample images (CGAN's grid) to ``visualization/<name>_<iter>.png`` and TensorBoard."""
        if not self.dist.is_main:
            return
        cpu_rng = torch.get_rng_state()
        for name, img in model.snapshots().items():
            write_image(os.path.join(self.exp_dir, 'visualization', f'{name}_{it}.png'), tensor2img(img))
            logger.image(f'samples/{name}', img.clamp(0, 1).cpu(), it)
        torch.set_rng_state(cpu_rng)

    @torch.no_grad()
    def run(self, model, it: int, logger) -> dict:
        """Each val set's metrics (``{set: {metric: mean}}``), sharded across ranks; logs them
        with the best so far, and saves the outputs when ``val.save_img``."""
        results = {}
        cpu_rng = torch.get_rng_state()  # validation must not move the training RNG
        for name, ds in self.sets.items():
            res, count = self._score(model, name, ds, it, logger)
            results[name] = res
            self._log(name, res, count, it, logger)
        torch.set_rng_state(cpu_rng)
        model.set_train(True)
        return results

    def _score(self, model, name: str, ds, it: int, logger) -> tuple[dict, int]:
        """The mean of each metric over the set's finite values, and the number of images."""
        vopt = self.opt.val
        loader = build_val_loader(self.opt.datasets[name], ds, self.dist.rank, self.dist.world)
        # per metric: the sum of its finite values and their count (NIQE is NaN on small images)
        sums = torch.zeros(2 * len(vopt.metrics), dtype=torch.float64)
        n_images = 0
        shown = 0
        if vopt.pbar and self.dist.is_main:
            from tqdm import tqdm
            loader = tqdm(loader, desc=f'val {name}', unit='img', leave=False, dynamic_ncols=True)
        for i, batch in enumerate(loader):
            output, reference = model.val_pair(batch)
            sr = quantize(output.float())
            for j, fn in enumerate(self.metrics.values()):
                v = fn(sr, reference).cpu()
                ok = torch.isfinite(v)
                sums[2 * j] += v[ok].sum()
                sums[2 * j + 1] += ok.sum()
            n_images += sr.shape[0]
            # the val loader takes every world-th image, one at a time
            key = image_name(batch, self.dist.rank + i * self.dist.world)
            if vopt.save_img:  # each rank writes its own shard
                suffix = vopt.suffix or str(it)
                write_image(os.path.join(self.exp_dir, 'visualization', name, f'{key}_{suffix}.png'),
                            tensor2img(sr))
            if self.dist.is_main and shown < vopt.max_tb_images:
                logger.image(f'val_{name}/{key}', sr[0].clamp(0, 1).cpu(), it)
                shown += 1
        sums = self.dist.all_reduce_sum(sums)
        count = int(self.dist.all_reduce_sum(torch.tensor([float(n_images)]))[0].item())
        res = {mname: (sums[2 * j] / sums[2 * j + 1]).item() if sums[2 * j + 1] > 0 else float('nan')
               for j, mname in enumerate(vopt.metrics)}
        return res, count

    def _log(self, name: str, res: dict, count: int, it: int, logger) -> None:
        """One line per val set: the values, how they were measured, and the best so far."""
        vopt = self.opt.val
        full_ref = [m for m in vopt.metrics.values() if m.kind in ('psnr', 'ssim')]
        conv = 'y' if all(m.test_y_channel for m in full_ref) else 'rgb'
        crops = '/'.join(sorted({str(m.crop_border) for m in vopt.metrics.values()}))
        txt = ' '.join(f'{k} {v:.4f}' for k, v in res.items())
        how = convention(conv, crops, ssim=any(m.kind == 'ssim' for m in full_ref))
        if any(m.kind == 'niqe' for m in vopt.metrics.values()):
            how += '; NIQE on Y'
        if any(m.kind == 'lpips' for m in vopt.metrics.values()):
            how += '; LPIPS on RGB'
        best = []
        for mname, v in res.items():  # the best value so far, each metric's way (`better`)
            key, sign = f'{name}/{mname}', 1 if vopt.metrics[mname].higher_is_better else -1
            if v == v and (key not in self.best or sign * v > sign * self.best[key][0]):
                self.best[key] = (v, it)
            if key in self.best:
                best.append(f'{mname} {self.best[key][0]:.4f} @ {self.best[key][1]}')
        logger.info(f'[val {name} @ {it}] {txt} ({count} images; {how}); best: {", ".join(best)}')
        logger.scalars(res, it, f'val_{name}/')


def image_name(batch: dict, index: int) -> str:
    """The name a val image is saved under: the dataset's ``key`` for it, or its index in the
    val set (``000012``) when the dataset gives none."""
    key = batch.get('key')
    if isinstance(key, (list, tuple)) and key:
        return str(key[0])
    return f'{index:06d}'
