"""traiNNer-redux's recipes, read as they are.

traiNNer-redux (``options/_templates/train``) writes BasicSR's schema in its own dialect: no
``model_type`` (the family follows from the keys), lowercase registry names
(``pairedimagedataset``, ``charbonnierloss``), ``lq_size`` for the crop, GPU switches at the top
level (``use_amp``, ``amp_bf16``, ``use_channels_last``, ``fast_matmul``), the EMA's warm-up
(``ema_power``), ``grad_clip`` as a switch beside its norm, ``val_enabled``, lists of
``dataroot_*``.  :func:`translate` rewrites such a mapping into srkit's schema before it is
parsed, and says in one line each what a key became where srkit's run differs from
traiNNer-redux's (a GPU switch on a CPU, a loss left out at weight 0).  A key srkit cannot honour
is refused with one line saying why.  Keys traiNNer-redux accepts and srkit has under the same
name pass unchanged; a key neither knows is refused by srkit's schema as usual.

The README's "Coming from traiNNer-redux" lists every key and where it goes.
"""
from __future__ import annotations

from typing import Any

from ..errors import OptionError
from ..registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, OPTIMIZER_REGISTRY, SCHEDULER_REGISTRY

# Top-level keys only traiNNer-redux's recipes have: a mapping without model_type that holds one is
# read as traiNNer-redux's
MARKERS = ('use_amp', 'amp_bf16', 'use_channels_last', 'fast_matmul', 'use_compile', 'compile_mode',
           'high_order_degradation', 'input_pixel_format', 'output_pixel_format', 'dataroot_lq_prob',
           'detect_anomaly', 'onnx')

# traiNNer-redux's fp16 AMP runs these in bf16 (traiNNer/archs/arch_info.py, ARCHS_WITHOUT_FP16)
NO_FP16 = frozenset('''atd_light atd dat_2 dat_2_l dat_2_l_aligned dat_2_aligned dat_light dat_s dat dctlsa drct_l
    drct_xl drct dwt_s dwt elan_light elan emt fdat_light fdat_medium fdat_medium_aligned fdat_large fdat_xl grl_b
    grl_s grl_t hat_l hat_l_aligned hat_m hat_s rhat_l rhat_m rhat_s hit_sir hit_sng hit_srf rcan rcan_unshuffle
    rcan_l moesr2 rgt_s rgt seemore_t srformer_light srformer srhcnet sst_large_plus swin2sr_l swin2sr_m swin2sr_s
    swinir_l swinir_m swinir_s tscunet'''.split())

# Keys traiNNer-redux's launcher, or its own loop, sets: accepted at these values, refused otherwise
RUNTIME = {'dist': (None, False), 'launcher': (None, 'none'), 'rank': (None,), 'world_size': (None,),
           'auto_resume': (None, False), 'is_train': (None, True), 'root_path': (None,), 'start_iter': (0,),
           'watch': (False,), 'switch_iter_per_epoch': (1,), 'contents': (None,)}

# the high-order degradation's top-level keys (OTF templates), and the kernels its dataset draws
OTF_KEYS = frozenset('''high_order_degradations_debug high_order_degradations_debug_limit lq_usm
    lq_usm_radius_range blur_prob thicklines_prob resize_prob resize_mode_list resize_mode_prob resize_range
    gaussian_noise_prob noise_range poisson_scale_range gray_noise_prob jpeg_prob jpeg_range blur_prob2
    resize_prob2 resize_mode_list2 resize_mode_prob2 resize_range2 gaussian_noise_prob2 noise_range2
    poisson_scale_range2 gray_noise_prob2 jpeg_prob2 jpeg_range2 resize_mode_list3 resize_mode_prob3
    queue_size'''.split())
# traiNNer-redux's defaults of those keys (its ReduxOptions), where they differ from srkit's, which are
# Real-ESRGAN's: an OTF recipe that leaves one out gets traiNNer-redux's
_MODES, _MODE_PROBS = ['bilinear', 'bicubic', 'nearest-exact', 'lanczos'], [0.25, 0.25, 0.25, 0.25]
OTF_DEFAULTS = {
    'high_order_degradations_debug': False, 'high_order_degradations_debug_limit': 100, 'lq_usm': False,
    'lq_usm_radius_range': [1, 25], 'thicklines_prob': 0, 'blur_prob': 0, 'resize_prob': [0.2, 0.7, 0.1],
    'resize_mode_list': _MODES, 'resize_mode_prob': _MODE_PROBS, 'resize_range': [0.4, 1.5],
    'gaussian_noise_prob': 0, 'noise_range': [0, 0], 'poisson_scale_range': [0, 0], 'gray_noise_prob': 0,
    'jpeg_prob': 1, 'jpeg_range': [75, 95], 'blur_prob2': 0, 'resize_prob2': [0.3, 0.4, 0.3],
    'resize_mode_list2': _MODES, 'resize_mode_prob2': _MODE_PROBS, 'resize_range2': [0.6, 1.2],
    'gaussian_noise_prob2': 0, 'noise_range2': [0, 0], 'poisson_scale_range2': [0, 0], 'gray_noise_prob2': 0,
    'jpeg_prob2': 1, 'jpeg_range2': [75, 95], 'resize_mode_list3': _MODES, 'resize_mode_prob3': _MODE_PROBS,
    'queue_size': 120}
# and of its OTF dataset's kernel keys (kernels are drawn with odd sides in [low, high], padded to 21)
KERNEL_DEFAULTS = {
    'kernel_range': [5, 17], 'kernel_range2': [5, 17], 'final_kernel_range': [5, 17], 'sinc_prob': 0,
    'sinc_prob2': 0, 'final_sinc_prob': 0, 'blur_sigma': [0.2, 2], 'blur_sigma2': [0.2, 1], 'betag_range': [0.5, 4],
    'betag_range2': [0.5, 4], 'betap_range': [1, 2], 'betap_range2': [1, 2]}
KERNEL_KEYS = frozenset('''blur_kernel_size kernel_list kernel_prob kernel_range sinc_prob blur_sigma betag_range
    betap_range blur_kernel_size2 kernel_list2 kernel_prob2 kernel_range2 sinc_prob2 blur_sigma2 betag_range2
    betap_range2 final_sinc_prob final_kernel_range'''.split())

# a loss's criterion as srkit's pixel loss of that distance
PIXEL_CRITERIA = {'l1': 'L1Loss', 'l2': 'MSELoss', 'charbonnier': 'CharbonnierLoss'}

# traiNNer-redux's VGG19 layers for the charbonnier and l1 criteria (pre-activation), and their weights
VGG19_CONV_LAYERS = {'conv1_2': 0.1, 'conv2_2': 0.1, 'conv3_4': 1, 'conv4_4': 1, 'conv5_4': 1}

# path keys traiNNer-redux fills in itself (the experiment's folders): accepted only empty
DERIVED_PATHS = ('models', 'resume_models', 'training_states', 'log', 'visualization', 'results_root')


def is_redux(data: dict) -> bool:
    """A recipe with no ``model_type`` and a key only traiNNer-redux's recipes have."""
    if not isinstance(data, dict) or 'model_type' in data:
        return False
    if any(k in data for k in MARKERS):
        return True
    train = data.get('datasets', {}).get('train') if isinstance(data.get('datasets'), dict) else None
    return isinstance(train, dict) and 'lq_size' in train


def registered(registry, name: Any) -> Any:
    """traiNNer-redux's lowercase name of a registered type (``pairedimagedataset``) as srkit
    registers it (``PairedImageDataset``); a name srkit registers as given stays as it is."""
    if not isinstance(name, str) or name in registry:
        return name
    matches = [k for k in registry.keys() if k.lower() == name.lower()]
    return matches[0] if len(matches) == 1 else name


def _on_gpu(data: dict) -> bool:
    """Whether the run will be on CUDA, as srkit-train picks its device."""
    dev = data.get('device')
    if isinstance(dev, str):
        return dev.startswith('cuda')
    if data.get('num_gpu') == 0:
        return False
    import torch
    return torch.cuda.is_available()


class _Reader:
    """One recipe's translation: the output mapping and the lines that say what changed."""

    def __init__(self, data: dict):
        self.src = data
        self.notes: list[str] = []
        self.gpu = _on_gpu(data)

    def note(self, line: str) -> None:
        self.notes.append(line)

    @staticmethod
    def refuse_unless(section: dict, key: str, allowed: tuple, where: str, why: str) -> None:
        if key in section and section[key] not in allowed:
            raise OptionError(f'{where}{key}: {section[key]!r}: {why}')

    # ------------------------------------------------------------------ top level
    def top(self) -> dict:
        d = dict(self.src)
        out: dict = {}
        for key, allowed in RUNTIME.items():
            self.refuse_unless(d, key, allowed, '', "set by traiNNer-redux's launcher; srkit-train runs under "
                               'torchrun as it is and resumes with --auto_resume')
            d.pop(key, None)
        for key in ('input_pixel_format', 'output_pixel_format'):
            self.refuse_unless(d, key, ('rgb',), '', 'srkit trains RGB networks only')
            d.pop(key, None)
        self.refuse_unless(d, 'deterministic', (False,), '', "srkit has no switch for torch's deterministic "
                           'algorithms; a run on the CPU repeats from manual_seed')
        self.refuse_unless(d, 'detect_anomaly', (False,), '', "autograd's anomaly mode is a debugging switch "
                           'srkit does not have')
        self.refuse_unless(d, 'dataroot_lq_prob', (0, 0.0), '', "traiNNer-redux's RealESRGANPairedModel "
                           '(paired LQ mixed into the degraded batches) has no srkit family')
        for key in ('network_g_teacher', 'network_ae'):
            self.refuse_unless(d, key, (None,), '', 'teacher distillation and autoencoder training have no '
                               'srkit family')
        for key in ('deterministic', 'detect_anomaly', 'dataroot_lq_prob', 'network_g_teacher', 'network_ae'):
            d.pop(key, None)
        if d.pop('onnx', None) is not None:
            self.note("onnx: traiNNer-redux's export settings; not read (srkit-export takes its own flags)")
        if d.get('manual_seed') is None:
            d.pop('manual_seed', None)
            self.note('manual_seed: not given; traiNNer-redux draws one at random, srkit seeds 0 (a run repeats)')

        self.high_order = bool(d.pop('high_order_degradation', False))
        otf = {k: d.pop(k) for k in list(d) if k in OTF_KEYS}
        if self.high_order:
            out.update(self.otf(otf))  # without high_order_degradation traiNNer-redux ignores them too

        out.update(d)
        train = self.train(d.get('train')) if isinstance(d.get('train'), dict) else d.get('train')
        if train is not None:
            out['train'] = train
        if not self.gan:  # traiNNer-redux builds network_d only for a GAN loss that weighs something
            dropped = [k for k in ('network_d',) if k in out] + [f'train.{k}' for k in ('optim_d',)
                                                                  if isinstance(train, dict) and k in train]
            out.pop('network_d', None)
            if isinstance(train, dict):
                train.pop('optim_d', None)
            if isinstance(out.get('path'), dict):
                out['path'] = {k: v for k, v in out['path'].items() if not k.endswith('_d')}
            if dropped:
                self.note(f'{", ".join(dropped)}: not used without a GAN loss (as in traiNNer-redux)')
        self.net_type = None
        for net in ('network_g', 'network_d'):
            if isinstance(out.get(net), dict):
                out[net] = self.network(out[net], net)
        if isinstance(out.get('network_g'), dict):
            self.net_type = out['network_g'].get('type')
        self.gpu_keys(out)
        if isinstance(d.get('datasets'), dict):
            out['datasets'] = {k: self.dataset(k, v) if isinstance(v, dict) else v for k, v in d['datasets'].items()}
        if isinstance(out.get('train'), dict) and self.accum != 1:
            out['train']['accum_iter'] = self.accum
        if self.high_order and self.otf_gt_size is not None:
            out['gt_size'] = self.otf_gt_size
        if isinstance(out.get('path'), dict):
            out['path'] = self.path(out['path'])
        if isinstance(d.get('logger'), dict):
            out['logger'] = self.logger(d['logger'])
        if 'val' in d:
            self.val(out)
        out['model_type'] = self.model_type()
        return out

    def network(self, spec: dict, where: str) -> dict:
        spec = dict(spec)
        t = spec.get('type')
        spec['type'] = name = registered(ARCH_REGISTRY, t)
        if isinstance(t, str) and name not in ARCH_REGISTRY:
            raise OptionError(f'{where}.type: {t}: not an architecture srkit trains; srkit has those of spandrel '
                              "0.4.2 and basicsr 1.4.2 and traiNNer-redux's presets of them, not traiNNer-redux's "
                              'own (srkit-train --print-schema lists them)')
        return spec

    def model_type(self) -> str:
        """traiNNer-redux picks the model from the keys: its RealESRGANModel for
        ``high_order_degradation``, and a discriminator trains when the GAN loss weighs something
        (its SRModel builds network_d only then)."""
        if self.high_order:
            return 'RealESRGANModel' if self.gan else 'RealESRNetModel'
        return 'SRGANModel' if self.gan else 'SRModel'

    def otf(self, keys: dict) -> dict:
        """The high-order degradation's keys as srkit's Real-ESR families take them, traiNNer-redux's
        defaults filled in where the recipe leaves a key out (they differ from Real-ESRGAN's)."""
        keys = {**OTF_DEFAULTS, **keys}
        self.refuse_unless(keys, 'thicklines_prob', (0, 0.0), '', "traiNNer-redux's thick-lines filter has no srkit "
                           'counterpart')
        self.refuse_unless(keys, 'lq_usm', (False,), '', "srkit sharpens with Real-ESRGAN's fixed USM (radius 50), "
                           "not traiNNer-redux's random radius; leave it false")
        if keys.pop('high_order_degradations_debug'):
            self.note('high_order_degradations_debug: true: srkit does not save the degraded tiles (srkit-degrade '
                      '--method realesrgan writes the same degradation to files)')
        for k in ('high_order_degradations_debug_limit', 'lq_usm_radius_range', 'thicklines_prob'):
            keys.pop(k)
        keys['usm_lq'] = keys.pop('lq_usm')
        keys['second_blur_prob'] = keys.pop('blur_prob2')
        # traiNNer-redux resizes with antialiasing and clamps; its losses and D see the plain GT
        return {**keys, 'resize_antialias': True, 'l1_gt_usm': False, 'percep_gt_usm': False, 'gan_gt_usm': False}

    # ------------------------------------------------------------------ GPU switches
    def gpu_keys(self, out: dict) -> None:
        d = self.src
        amp, bf16 = bool(d.get('use_amp', False)), bool(d.get('amp_bf16', False))
        layout, matmul = d.get('use_channels_last', True), bool(d.get('fast_matmul', False))
        compile_, mode = bool(d.get('use_compile', False)), d.get('compile_mode', 'max-autotune-no-cudagraphs')
        for key in ('use_amp', 'amp_bf16', 'use_channels_last', 'fast_matmul', 'use_compile', 'compile_mode'):
            out.pop(key, None)
        train = out.get('train')
        if not isinstance(train, dict):
            return
        if amp and self.gpu:
            dtype = 'bf16' if bf16 or self.net_type in NO_FP16 else 'fp16'
            train['amp'] = dtype
            if dtype == 'bf16' and not bf16:
                self.note(f'use_amp: {self.net_type} runs in bf16, not fp16, as in traiNNer-redux (train.amp: bf16)')
            train['channels_last'] = bool(layout)
        elif amp:
            self.note('use_amp: true: AMP is for NVIDIA GPUs; on the CPU this run trains in fp32 (train.amp: none)'
                      + ('; use_channels_last, which applies with AMP: the layout measured fastest for '
                         f'{self.net_type} on the CPU' if layout else ''))
        elif self.gpu:
            train['channels_last'] = False  # traiNNer-redux applies channels-last only under AMP
        if matmul:
            train['tf32'] = True
            if not self.gpu:
                self.note('fast_matmul: true: TF32 is for NVIDIA GPUs; no effect on the CPU (train.tf32)')
        if compile_:
            train['compile'] = True
            if mode not in ('default', None):
                self.note(f"compile_mode: {mode}: srkit compiles in torch.compile's default mode")

    # ------------------------------------------------------------------ datasets
    def dataset(self, key: str, ds: dict) -> dict:
        where = f'datasets.{key}.'
        ds = dict(ds)
        kind = ds.get('type')
        ds['type'] = registered(DATASET_REGISTRY, kind)
        train = key == 'train'
        if train:
            self.accum = ds.pop('accum_iter', 1)
        else:
            ds.pop('accum_iter', None)
        for k in ('clip_size', 'lq_resize_mode'):
            self.refuse_unless(ds, k, (None,), where, "a key of traiNNer-redux's video and resizing datasets; "
                               'srkit has no such dataset option')
            ds.pop(k, None)
        for k in ('mean', 'std'):
            self.refuse_unless(ds, k, (None,), where, 'srkit feeds networks [0, 1] images; it normalises no '
                               'dataset')
            ds.pop(k, None)
        for k in ('persistent_workers', 'num_prefetch_queue', 'prefetch_factor'):
            ds.pop(k, None)  # loader tuning srkit sets itself (workers restart each epoch, prefetch 2)
        for k in ('num_worker_per_gpu', 'batch_size_per_gpu', 'gt_size', 'lq_size', 'meta_info', 'color',
                  'phase', 'scale'):
            if k in ds and ds[k] is None:
                del ds[k]
        if 'meta_info' in ds and ds['type'] in ('PairedImageDataset', 'SingleImageDataset'):
            ds['meta_info_file'] = ds.pop('meta_info')
        if ds['type'] != 'RealESRGANDataset':
            for k in KERNEL_KEYS & set(ds):
                del ds[k]  # traiNNer-redux's datasets all take them; only its OTF one reads them
        else:
            ds = {**KERNEL_DEFAULTS, **ds, 'blur_kernel_size': 21, 'blur_kernel_size2': 21}  # its sizes: unread
        if train:
            lq = ds.pop('lq_size', None)
            if lq is not None and 'gt_size' in ds:
                raise OptionError(f'{where}lq_size: give lq_size or gt_size, not both (traiNNer-redux refuses both)')
            scale = self.src.get('scale', 1)
            if lq is not None:
                if not isinstance(lq, int) or isinstance(lq, bool) or not isinstance(scale, int):
                    raise OptionError(f'{where}lq_size: expected a whole number of pixels, got {lq!r}')
                ds['gt_size'] = lq * scale
            if ds['type'] == 'RealESRGANDataset' and isinstance(ds.get('gt_size'), int):
                # srkit's Real-ESR families crop after degrading, to the top-level gt_size; the set's
                # crop is traiNNer-redux's: 32 pixels more
                self.otf_gt_size = ds['gt_size']
                ds['crop_pad_size'] = ds['gt_size'] + 32
            # traiNNer-redux flips and rotates unless told not to (BasicSR and srkit: only when told)
            ds.setdefault('use_hflip', True)
            ds.setdefault('use_rot', True)
            ds.setdefault('dataset_enlarge_ratio', 'auto')  # its default: epochs of about 2,000 batches
        else:
            ds.pop('lq_size', None)
            ds.pop('gt_size', None)
            for k in ('use_hflip', 'use_rot', 'batch_size_per_gpu', 'num_worker_per_gpu'):
                ds.pop(k, None)
        return ds

    accum = 1
    otf_gt_size = None

    # ------------------------------------------------------------------ train
    gan = False

    def train(self, t: dict) -> dict:
        where = 'train.'
        t = dict(t)
        for key, allowed, why in (
                ('ema_switch_iter', (0, 0.0), "srkit keeps the EMA beside the network; it never swaps them"),
                ('restart_scheduler', (False,), 'a resumed srkit run continues its saved schedule'),
                ('adaptive_d', (False,), 'srkit updates the discriminator every iteration (net_d_iters)'),
                ('use_moa', (False,), "traiNNer-redux's mixture of augmentations has no srkit counterpart")):
            self.refuse_unless(t, key, allowed, where, why)
            t.pop(key, None)
        for key in ('adaptive_d_ema_decay', 'adaptive_d_threshold', 'moa_augs', 'moa_probs', 'moa_debug',
                    'moa_debug_limit', 'optim_ae'):
            t.pop(key, None)
        eco = t.pop('eco', None)
        if isinstance(eco, dict) and eco.get('enabled'):
            raise OptionError("train.eco.enabled: true: traiNNer-redux's ECO distillation has no srkit family")
        clip, norm = t.pop('grad_clip', False), t.pop('grad_clip_max_norm', 100.0)
        if clip is True:
            t['grad_clip'] = norm
        elif clip not in (False, None):
            raise OptionError(f'train.grad_clip: {clip!r}: true or false (the norm is grad_clip_max_norm)')
        if t.get('ema_decay'):
            t.setdefault('ema_power', 10)  # traiNNer-redux's default: a decay at ema_decay from the start
        else:
            for k in ('ema_power', 'ema_update_after_step'):
                t.pop(k, None)
        for net in ('g', 'd'):
            spec = t.get(f'optim_{net}')
            if isinstance(spec, dict):
                t[f'optim_{net}'] = {**spec, 'type': registered(OPTIMIZER_REGISTRY, spec.get('type'))}
        if isinstance(t.get('scheduler'), dict):
            t['scheduler'] = {**t['scheduler'], 'type': registered(SCHEDULER_REGISTRY, t['scheduler'].get('type'))}
        if isinstance(t.get('losses'), list):
            t['losses'] = self.losses(t['losses'])
        for key in [k for k in t if k.endswith('_opt')]:
            spec = t[key]
            if spec is None:
                del t[key]
            elif isinstance(spec, dict):
                if not spec.get('loss_weight', 1):
                    del t[key]
                    self.note(f'train.{key}: loss_weight 0; left out, as traiNNer-redux builds no loss at weight 0')
                else:
                    t[key] = self.loss(spec, f'train.{key}')
        return t

    def losses(self, specs: list) -> list:
        out, zero = [], []
        for i, spec in enumerate(specs):
            if not isinstance(spec, dict):
                out.append(spec)
            elif spec.get('loss_weight', 1) == 0:
                zero.append(str(spec.get('type')))
            else:
                out.append(self.loss(spec, f'train.losses[{i}]'))
        if zero:
            self.note(f'train.losses: {", ".join(zero)} at loss_weight 0: left out, as traiNNer-redux builds no '
                      'loss at weight 0')
        return out

    def loss(self, spec: dict, where: str) -> dict:
        t = spec.get('type')
        if isinstance(t, str) and t.lower() in ('perceptualloss', 'perceptualfp16loss'):
            return self.perceptual(spec, where)
        if isinstance(t, str) and t.lower() == 'ldlloss':
            # LDL: its criterion between the output and the GT, both weighted by the artifact map
            # (srkit's 'ldl' target, which needs the EMA as traiNNer-redux's does)
            spec = dict(spec)
            crit = spec.pop('criterion', 'l1')
            if crit not in PIXEL_CRITERIA:
                raise OptionError(f'{where}.criterion: {crit!r}: l1, l2 or charbonnier')
            return {**spec, 'type': PIXEL_CRITERIA[crit], 'target': 'ldl'}
        name = registered(LOSS_REGISTRY, t)
        if isinstance(t, str) and name not in LOSS_REGISTRY:
            raise OptionError(f"{where}.type: {t}: traiNNer-redux's loss, not one srkit has yet")
        if isinstance(spec.get('loss_weight'), (int, float)) and spec['loss_weight'] < 0:
            raise OptionError(f"{where}.loss_weight: {spec['loss_weight']}: traiNNer-redux's negative weight "
                              '(compare with the bicubic-upscaled LQ) has no srkit counterpart')
        if name == 'GANLoss':
            self.gan = True
            return {**spec, 'type': name}
        return {**spec, 'type': name, **self.target()}

    def target(self) -> dict:
        # srkit's Real-ESR families offer the GT and its sharpened copy; traiNNer-redux compares the GT
        return {'target': 'gt'} if self.high_order else {}

    def perceptual(self, spec: dict, where: str) -> dict:
        """traiNNer-redux's VGG19 loss: srkit's PerceptualLoss with its default layers for the
        criterion, a replicate-padded first convolution, and ``loss_weight`` as the feature term's
        factor."""
        spec = dict(spec)
        spec.pop('type')
        crit = spec.pop('criterion', 'charbonnier')
        if crit not in ('charbonnier', 'l1'):
            raise OptionError(f"{where}.criterion: {crit}: traiNNer-redux's pd and fd criteria (feature distributions "
                              'and their Fourier spectra) are not in srkit; use charbonnier or l1')
        self.refuse_unless(spec, 'antialiased', (False,), f'{where}.', "the antialiased VGG19 needs the "
                           'antialiased-cnns package and its weights; srkit has torchvision\'s VGG19')
        self.refuse_unless(spec, 'clip_min', (0,), f'{where}.', 'the charbonnier and l1 distances are never '
                           'negative; srkit keeps no floor')
        for k in ('w_lambda', 'alpha', 'num_proj_fd', 'phase_weight_fd', 'stride_fd', 'antialiased', 'clip_min',
                  'verbose_logging'):
            spec.pop(k, None)  # the pd and fd criteria's keys
        weight = spec.pop('loss_weight', 1.0)
        if isinstance(weight, (int, float)) and weight < 0:
            raise OptionError(f"{where}.loss_weight: {weight}: traiNNer-redux's negative weight (compare with the "
                              'bicubic-upscaled LQ) has no srkit counterpart')
        layers = spec.pop('layer_weights', None) or dict(VGG19_CONV_LAYERS)
        return {'type': 'PerceptualLoss', 'layer_weights': layers, 'criterion': crit, 'padding': 'replicate',
                'perceptual_weight': weight, **spec, **self.target()}

    # ------------------------------------------------------------------ path, logger, val
    def path(self, p: dict) -> dict:
        p = dict(p)
        for key in DERIVED_PATHS:
            self.refuse_unless(p, key, (None,), 'path.', "set by traiNNer-redux from the experiment's folder; "
                               'srkit sets it from experiments_root and name')
            p.pop(key, None)
        for key in ('pretrain_network_g_ema', 'pretrain_network_g_teacher', 'pretrain_network_g_path',
                    'pretrain_network_ae_path', 'pretrain_network_ae', 'pretrain_network_ae_ema',
                    'pretrain_network_ae_decoder', 'pretrain_network_ae_decoder_ema', 'ignore_resume_networks'):
            self.refuse_unless(p, key, (None,), 'path.', 'srkit starts the EMA from pretrain_network_g and '
                               'has no teacher or autoencoder networks')
            p.pop(key, None)
        for key in [k for k in p if k.startswith(('param_key_', 'pretrain_network_', 'resume_state'))]:
            if p[key] is None:
                del p[key]  # none: srkit's default (params, falling back to params_ema and a bare dict)
        return p

    def logger(self, log: dict) -> dict:
        log = dict(log)
        if 'save_checkpoint_format' in log:
            log['save_format'] = log.pop('save_checkpoint_format')
        if log.get('wandb') is None:
            log.pop('wandb', None)
        return log

    def val(self, out: dict) -> None:
        v = out.get('val')
        if not isinstance(v, dict):
            return
        v = dict(v)
        if not v.pop('val_enabled', True):
            del out['val']
            sets = out.get('datasets')
            if isinstance(sets, dict):
                out['datasets'] = {k: s for k, s in sets.items() if not k.startswith(('val', 'test'))}
            self.note('val.val_enabled: false: no validation; datasets.val is not read')
            return
        tile = v.pop('tile_size', 0)
        if tile:
            v['tile'] = tile
        if v.get('val_freq') is None:
            v.pop('val_freq', None)
        if v.get('suffix') is None:
            v.pop('suffix', None)
        if not v.pop('metrics_enabled', False):
            v.pop('metrics', None)
        elif isinstance(v.get('metrics'), dict):
            v['metrics'] = {k: {'test_y_channel': False, **m} if isinstance(m, dict) else m
                            for k, m in v['metrics'].items()}  # traiNNer-redux scores RGB by default
        out['val'] = v


def translate(data: dict) -> tuple[dict, list[str]]:
    """traiNNer-redux's recipe ``data`` in srkit's schema, and one line for each key whose effect
    in srkit differs from traiNNer-redux's; :class:`OptionError` for a key srkit cannot honour."""
    reader = _Reader(data)
    return reader.top(), reader.notes
