"""Image translation on the shared engine: pix2pix, CycleGAN and a conditional GAN.

Datasets hand out RGB images in [0, 1]; the reference networks work in [-1, 1]
(tanh), so each model maps its inputs with ``to_net`` and its outputs back with
``from_net``.  The losses are computed in the networks' range, as in the reference.

Test-time behaviour is explicit (``inference_mode``): ``eval`` (srkit's default) turns
dropout off and uses BatchNorm's running statistics; ``train`` reproduces the
reference's ``test.py`` without ``--eval`` (dropout on, batch statistics).
"""
from __future__ import annotations

from typing import Literal

import torch

from ..config import Float, IntIn, Schema
from ..errors import DataError, OptionError
from ..losses.pixel import l1_entry
from ..registry import MODEL_REGISTRY
from .base import GANModel


def to_net(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> the reference networks' [-1, 1]."""
    return x * 2 - 1


def from_net(y: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1]."""
    return (y + 1) / 2


class ImagePool:
    """CycleGAN's history of generated images (Shrivastava et al.): until ``size`` images
    are stored, each new one is stored and returned; after that, with probability 1/2 a
    random stored image is returned and replaced by the new one, else the new one.

    Draws come from the pool's own generator, and ``state_dict`` holds the images and that
    generator, so a resumed run returns the same images.
    """

    def __init__(self, size: int, seed: int):
        self.size = size
        self.images: list[torch.Tensor] = []
        self.gen = torch.Generator().manual_seed(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """``(B,C,H,W)`` new images -> ``(B,C,H,W)`` for D, detached."""
        if self.size == 0:
            return images.detach()
        out = []
        for img in images.detach():
            img = img.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif torch.rand((), generator=self.gen).item() > 0.5:
                i = int(torch.randint(self.size, (), generator=self.gen))
                out.append(self.images[i].clone())
                self.images[i] = img.clone()
            else:
                out.append(img)
        return torch.cat(out, 0)

    def state_dict(self) -> dict:
        imgs = torch.cat(self.images, 0).cpu() if self.images else torch.zeros(0)
        return {'images': imgs, 'generator': self.gen.get_state()}

    def load_state_dict(self, state: dict, device) -> None:
        imgs = state['images']
        self.images = [im.unsqueeze(0).to(device) for im in imgs] if imgs.numel() else []
        self.gen.set_state(state['generator'])


class _Translation(GANModel):
    """Shared by pix2pix and CycleGAN: [0,1] <-> [-1,1] at the boundaries, test mode."""

    def _inference(self, name: str, x: torch.Tensor) -> torch.Tensor:
        net = self.inference_net(name)
        was = net.training
        train_mode = self.opt.model.inference_mode == 'train'
        # the reference's train-mode test uses batch statistics; the running ones a validation
        # pass would update belong to training, so they are put back
        stats = {k: v.clone() for k, v in net.state_dict().items() if 'running_' in k or 'num_batches' in k} \
            if train_mode else {}
        net.train(train_mode)
        try:
            return from_net(net(to_net(x)))
        finally:
            net.train(was)
            if stats:
                net.load_state_dict(stats, strict=False)

    def _check_keys(self, batch, keys, dataset):
        if not all(k in batch for k in keys):
            raise DataError(f'datasets.train: {self.opt.model_type} needs {"/".join(keys)} (type: {dataset})')


class Pix2PixOptions(Schema):
    """pix2pix's top-level keys (the reference's flags).

    Attributes:
        lambda_l1: weight of the L1 term against the true B, >= 0 (default 100), when
            ``train.losses`` does not list the losses; 0: no L1 term.
        inference_mode: test-time behaviour: ``eval`` (default; dropout off, BatchNorm's running
            statistics) or ``train`` (the reference's ``test.py`` without ``--eval``).
    """

    lambda_l1: Float = 100.0  # the L1 term's weight, when train.losses does not list the losses
    inference_mode: Literal['eval', 'train'] = 'eval'

    def check(self, path):
        if self.lambda_l1 < 0:
            raise OptionError(f'lambda_l1: must be >= 0, got {self.lambda_l1}')


@MODEL_REGISTRY.register()
class Pix2PixModel(_Translation):
    """Conditional GAN on aligned pairs: ``network_g`` (U-Net) maps A to B; ``network_d``
    (PatchGAN, ``input_nc`` = channels of A + B) judges concat(A, B).

    Batches (``AlignedImageDataset``): ``lq`` = A, ``gt`` = B, ``(B,3,S,S)`` in [0,1].
    """

    Options = Pix2PixOptions

    @classmethod
    def loss_targets(cls, opt):
        return {'gt': 'the true B (both in the networks\' [-1, 1])'}

    @classmethod
    def default_losses(cls, opt):
        if opt.lambda_l1 <= 0:
            return []
        return [l1_entry(opt.lambda_l1, 'gt', 'l_g_l1')]

    @classmethod
    def resolve_losses(cls, opt):
        if opt.train.losses is not None and 'lambda_l1' in opt.model_fields_set:
            raise OptionError('lambda_l1: give it or a train.losses entry on target gt, not both')
        return super().resolve_losses(opt)

    def __init__(self, opt, ctx):
        super().__init__(opt, ctx)
        if not self.build_gan():
            return
        self.build_losses()
        self.build_ema('g')

    def train_step(self, batch):
        self._check_keys(batch, ('lq', 'gt'), 'AlignedImageDataset')
        real_a, real_b = to_net(batch['lq']), to_net(batch['gt'])
        with self.autocast():
            fake_b = self.net_g(real_a).float()

        # discriminator step: D sees concat(A, B), real pairs against generated ones;
        # one backward per forward (DDP broadcasts BatchNorm buffers at each forward)
        self.requires_grad(self.nets['d'], True)
        self.zero_grad('d')
        with self.autocast():
            pred_fake = self.net_d(torch.cat([real_a, fake_b.detach()], 1)).float()
        l_d_fake = 0.5 * self.cri_gan(pred_fake, False, is_disc=True)
        self.backward('d', l_d_fake)
        with self.autocast():
            pred_real = self.net_d(torch.cat([real_a, real_b], 1)).float()
        l_d_real = 0.5 * self.cri_gan(pred_real, True, is_disc=True)
        self.backward('d', l_d_real)
        self.apply('d')

        # generator step, D frozen: fool D, and stay close to B in L1
        self.requires_grad(self.nets['d'], False)
        with self.autocast():
            pred = self.net_d(torch.cat([real_a, fake_b], 1)).float()
        losses = {'l_g_gan': self.cri_gan(pred, True, is_disc=False)}
        losses.update(self.generator_losses({'gt': (fake_b, real_b)}))
        self.step('g', sum(losses.values()))
        logs = dict(l_d_real=l_d_real, l_d_fake=l_d_fake, **losses,
                    out_d_real=pred_real.mean(), out_d_fake=pred_fake.mean())
        return {k: v.detach() for k, v in logs.items()}

    @torch.no_grad()
    def test(self, lq):
        """``(B,3,H,W) RGB [0,1]`` A -> B in [0,1]."""
        return self._inference('g', lq)


class CycleGANOptions(Schema):
    """CycleGAN's top-level keys (the reference's flags); the lambdas weigh the L1 terms when
    train.losses does not list the losses.

    Attributes:
        lambda_a: weight of the cycle loss A -> B -> A, >= 0 (default 10).
        lambda_b: weight of the cycle loss B -> A -> B, >= 0 (default 10).
        lambda_identity: weight of the identity losses as a fraction of ``lambda_a`` /
            ``lambda_b``, >= 0 (default 0.5; 0: none).
        pool_size: generated images kept in each history pool that the discriminators see, 0 to
            65536 (default 50; 0: only the newest).
        inference_mode: test-time behaviour: ``eval`` (default; dropout off, BatchNorm's running
            statistics) or ``train`` (the reference's ``test.py`` without ``--eval``).
    """

    lambda_a: Float = 10.0          # cycle loss A -> B -> A
    lambda_b: Float = 10.0          # cycle loss B -> A -> B
    lambda_identity: Float = 0.5    # identity loss, as a fraction of lambda_a / lambda_b
    pool_size: IntIn(0, 65536) = 50
    inference_mode: Literal['eval', 'train'] = 'eval'

    def check(self, path):
        for k in ('lambda_a', 'lambda_b', 'lambda_identity', 'pool_size'):
            if getattr(self, k) < 0:
                raise OptionError(f'{k}: must be >= 0, got {getattr(self, k)}')


@MODEL_REGISTRY.register()
class CycleGANModel(_Translation):
    """``network_g_a`` maps A to B, ``network_g_b`` B to A; ``network_d_a`` judges B images
    (real B against G_A(A)) and ``network_d_b`` judges A images, as in the reference.

    Batches (``UnpairedImageDataset``): ``a`` and ``b``, ``(B,3,S,S)`` in [0,1].
    Validation sets (``AlignedImageDataset``: ``lq`` in A, ``gt`` its true B) score G_A.
    """

    Options = CycleGANOptions
    eval_network_names = ('g_a', 'g_b')  # both directions run without a train section
    network_names = ('g_a', 'g_b', 'd_a', 'd_b')

    @classmethod
    def loss_targets(cls, opt):
        return {'cycle_a': 'A against G_B(G_A(A))', 'cycle_b': 'B against G_A(G_B(B))',
                'identity_a': 'B against G_A(B)', 'identity_b': 'A against G_B(A)'}

    @classmethod
    def default_losses(cls, opt):
        out = []
        if opt.lambda_identity > 0:
            out += [l1_entry(opt.lambda_b * opt.lambda_identity, 'identity_a', 'l_idt_a'),
                    l1_entry(opt.lambda_a * opt.lambda_identity, 'identity_b', 'l_idt_b')]
        return out + [l1_entry(opt.lambda_a, 'cycle_a', 'l_cycle_a'), l1_entry(opt.lambda_b, 'cycle_b', 'l_cycle_b')]

    @classmethod
    def resolve_losses(cls, opt):
        given = {'lambda_a', 'lambda_b', 'lambda_identity'} & opt.model_fields_set
        if opt.train.losses is not None and given:
            raise OptionError(f'{sorted(given)[0]}: give the lambdas or the L1 entries in train.losses, not both')
        return super().resolve_losses(opt)

    def __init__(self, opt, ctx):
        super().__init__(opt, ctx)
        self.net_g_a = self.build_net('g_a')
        self.net_g_b = self.build_net('g_b')
        if opt.train is None:
            return
        self.net_d_a = self.build_net('d_a')
        self.net_d_b = self.build_net('d_b')
        self.build_optimizer('g', [*self.nets['g_a'].parameters(), *self.nets['g_b'].parameters()])
        self.build_optimizer('d', [*self.nets['d_a'].parameters(), *self.nets['d_b'].parameters()])
        self.build_losses()
        seed = opt.manual_seed * 1000 + ctx.dist.rank
        self.pool_a = ImagePool(opt.model.pool_size, seed)       # generated A images (for D_B)
        self.pool_b = ImagePool(opt.model.pool_size, seed + 500)  # generated B images (for D_A)
        self.build_ema('g_a')
        self.build_ema('g_b')

    def train_step(self, batch):
        self._check_keys(batch, ('a', 'b'), 'UnpairedImageDataset')
        real_a, real_b = to_net(batch['a']), to_net(batch['b'])
        d_a, d_b = self.nets['d_a'], self.nets['d_b']

        # generator step, both Ds frozen: adversarial, then the cycle and identity losses
        self.requires_grad(d_a, False)
        self.requires_grad(d_b, False)
        with self.autocast():
            fake_b = self.net_g_a(real_a).float()
            rec_a = self.net_g_b(fake_b).float()
            fake_a = self.net_g_b(real_b).float()
            rec_b = self.net_g_a(fake_a).float()
            losses = {'l_g_a': self.cri_gan(self.net_d_a(fake_b).float(), True),
                      'l_g_b': self.cri_gan(self.net_d_b(fake_a).float(), True)}

        def identity(g, x):  # the identity terms cost a forward each: made only when a loss uses them
            def pair():
                with self.autocast():
                    return g(x).float(), x
            return pair

        losses.update(self.generator_losses({
            'cycle_a': (rec_a, real_a), 'cycle_b': (rec_b, real_b),
            'identity_a': identity(self.net_g_a, real_b), 'identity_b': identity(self.net_g_b, real_a)}))
        self.step('g', sum(losses.values()))

        # discriminator steps, each 0.5 (real + fake), fakes drawn through the image pools
        self.requires_grad(d_a, True)
        self.requires_grad(d_b, True)
        self.zero_grad('d')
        logs = dict(losses)
        for name, net, real, pool, fake in (('l_d_a', self.net_d_a, real_b, self.pool_b, fake_b),
                                            ('l_d_b', self.net_d_b, real_a, self.pool_a, fake_a)):
            with self.autocast():
                l_real = self.cri_gan(net(real).float(), True, is_disc=True)
            self.backward('d', 0.5 * l_real)
            with self.autocast():
                l_fake = self.cri_gan(net(pool.query(fake)).float(), False, is_disc=True)
            self.backward('d', 0.5 * l_fake)
            logs[name] = 0.5 * (l_real + l_fake)
        self.apply('d')
        return {k: v.detach() for k, v in logs.items()}

    @torch.no_grad()
    def test(self, lq):
        """``(B,3,H,W) RGB [0,1]`` in domain A -> G_A's B in [0,1]."""
        return self._inference('g_a', lq)

    def rank_state(self) -> dict:
        return {'pool_a': self.pool_a.state_dict(), 'pool_b': self.pool_b.state_dict()} if self.opt.train else {}

    def load_rank_state(self, state: dict) -> None:
        if 'pool_a' in state:
            self.pool_a.load_state_dict(state['pool_a'], self.device)
            self.pool_b.load_state_dict(state['pool_b'], self.device)


class CGANOptions(Schema):
    """CGAN's top-level keys.

    Attributes:
        samples_per_label: columns of the fixed-noise grid saved at each validation, one row per
            label, 1 to 1000 (default 8).
    """

    samples_per_label: IntIn(1, 1000) = 8  # columns of the fixed-noise grid saved at each validation

    def check(self, path):
        if self.samples_per_label < 1:
            raise OptionError(f'samples_per_label: must be >= 1, got {self.samples_per_label}')


@MODEL_REGISTRY.register()
class CGANModel(GANModel):
    """Conditional GAN: ``network_g (z, labels) -> images``, ``network_d (images, labels)``.

    Batches (``LabelledImageDataset``): ``img (B,C,S,S)`` in [0,1] and ``label (B,)``.
    Each step draws z ~ N(0, I) and uniform labels from the model's own generator (part
    of the resume state), updates G, then D with 0.5 (real + fake).
    """

    Options = CGANOptions

    def __init__(self, opt, ctx):
        super().__init__(opt, ctx)
        training = self.build_gan()
        g = self.nets['g']
        self.latent_dim, self.n_classes = g.latent_dim, g.n_classes
        self.gen = torch.Generator(self.device).manual_seed(opt.manual_seed * 1000 + 17 + ctx.dist.rank)
        # the validation grid's noise: the same for every validation and every run
        fixed = torch.Generator().manual_seed(opt.manual_seed)
        per = opt.model.samples_per_label
        self.fixed_z = torch.randn(self.n_classes * per, self.latent_dim, generator=fixed).to(self.device)
        self.fixed_labels = torch.arange(self.n_classes).repeat_interleave(per).to(self.device)
        if not training:
            return
        self.build_losses()
        self.build_ema('g')

    @classmethod
    def check_options(cls, opt) -> None:
        super().check_options(opt)
        if opt.train is None:
            return
        n_g, n_d = (getattr(opt.networks.get(n), 'n_classes', None) for n in ('g', 'd'))
        if n_g is not None and n_d is not None and n_d != n_g:
            raise OptionError(f'network_d.n_classes: {n_d} differs from network_g\'s {n_g}')

    def prepare_batch(self, batch: dict) -> dict:
        if 'img' not in batch or 'label' not in batch:
            raise DataError('datasets.train: CGANModel needs labelled images (type: LabelledImageDataset)')
        top = int(batch['label'].max())  # checked on the loader's CPU tensor: no device sync
        if top >= self.n_classes:
            raise DataError(f'datasets.train: label {top} out of range for network_g.n_classes {self.n_classes}')
        return super().prepare_batch(batch)

    def train_step(self, batch):
        real, labels = to_net(batch['img']), batch['label']
        n = real.shape[0]
        z = torch.randn(n, self.latent_dim, generator=self.gen, device=self.device)
        gen_labels = torch.randint(self.n_classes, (n,), generator=self.gen, device=self.device)

        # generator step, D frozen
        self.requires_grad(self.nets['d'], False)
        with self.autocast():
            fake = self.net_g(z, gen_labels).float()
            l_g = self.cri_gan(self.net_d(fake, gen_labels).float(), True)
        self.step('g', l_g)

        # discriminator step: real images with their labels, generated ones with theirs
        self.requires_grad(self.nets['d'], True)
        self.zero_grad('d')
        with self.autocast():
            pred_real = self.net_d(real, labels).float()
        l_d_real = 0.5 * self.cri_gan(pred_real, True, is_disc=True)
        self.backward('d', l_d_real)
        with self.autocast():
            pred_fake = self.net_d(fake.detach(), gen_labels).float()
        l_d_fake = 0.5 * self.cri_gan(pred_fake, False, is_disc=True)
        self.backward('d', l_d_fake)
        self.apply('d')
        logs = dict(l_g_gan=l_g, l_d_real=l_d_real, l_d_fake=l_d_fake,
                    out_d_real=pred_real.mean(), out_d_fake=pred_fake.mean())
        return {k: v.detach() for k, v in logs.items()}

    @torch.no_grad()
    def sample(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``(N,latent_dim)``, ``(N,)`` -> ``(N,C,S,S)`` in [0,1] from the (EMA) generator, eval mode."""
        net = self.inference_net('g')
        was = net.training
        net.eval()
        try:
            return from_net(net(z, labels)).clamp(0, 1)
        finally:
            net.train(was)

    def snapshots(self) -> dict[str, torch.Tensor]:
        """The fixed-noise grid: one row per label, ``samples_per_label`` columns."""
        from torchvision.utils import make_grid
        imgs = self.sample(self.fixed_z, self.fixed_labels)
        return {'samples': make_grid(imgs, nrow=self.opt.model.samples_per_label, padding=2, pad_value=1.0)}

    def rank_state(self) -> dict:
        return {'generator': self.gen.get_state()}

    def load_rank_state(self, state: dict) -> None:
        if 'generator' in state:
            self.gen.set_state(state['generator'])
