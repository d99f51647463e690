"""Checkpoint files: safe loading, atomic saving, and BasicSR-compatible keys.

Network files hold ``{'params': sd, 'params_ema': sd?, 'srkit': meta}``
where ``meta = {'arch': {type, **kwargs}, 'scale': int, 'iter': int}`` lets
tools rebuild the network without the YAML.  Everything loads with
``torch.load(weights_only=True)``: a pickle that would run code is refused.

``.safetensors`` files (read by the safetensors package, nothing unpickled) hold one
flat state dict, as chaiNNer, traiNNer-redux and spandrel expect; srkit writes the EMA
weights when there are any, and puts ``srkit`` (JSON) and ``param_key`` (which weights
these are) in the header.
"""
from __future__ import annotations

import json
import os
import pickle
import struct
import warnings
import zipfile
from typing import Optional

import torch
from torch import nn

from ..errors import UserError
from .fileio import atomic_path

PARAM_KEYS = ('params_ema', 'params')
# where other projects' training checkpoints keep the generator: DSGAN's .tar files
# (model_g_state_dict beside models_d_state_dict and the optimizers'), the common state_dict
OTHER_KEYS = ('model_g_state_dict', 'state_dict', 'model', 'net_g')


# torch's own loader, kept: srkit.pretrained.weights_only_loads routes torch.load through
# load_checkpoint while a library reads its weights
_torch_load = torch.load


def is_safetensors(path: str) -> bool:
    return str(path).lower().endswith('.safetensors')


def save_checkpoint(obj, path: str) -> None:
    """``torch.save`` to a temporary file, then rename over ``path`` (a network file to a
    ``.safetensors`` path is written as safetensors)."""
    if is_safetensors(path):
        return save_safetensors(obj, path)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def save_safetensors(content: dict, path: str) -> None:
    """A network file ``{'params', 'params_ema'?, 'srkit'?}`` (or a bare state dict) as one flat
    safetensors state dict: the EMA weights if there are any, else ``params``."""
    from safetensors.torch import save_file
    key = next((k for k in PARAM_KEYS if isinstance(content.get(k), dict)), None)
    sd = content[key] if key else content
    meta = {'format': 'pt', 'param_key': key or 'params'}
    if isinstance(content.get('srkit'), dict):
        meta['srkit'] = json.dumps(content['srkit'], sort_keys=True)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in sd.items() if isinstance(v, torch.Tensor)}
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata=meta)


def _load_safetensors(path: str) -> dict:
    """``{param_key: state dict, 'srkit': meta?}`` from a safetensors file, never unpickling."""
    from safetensors import safe_open
    try:
        with safe_open(path, framework='pt', device='cpu') as f:
            meta = f.metadata() or {}
            sd = {k: f.get_tensor(k) for k in f.keys()}
    except FileNotFoundError:
        raise UserError(f'{path}: no such checkpoint file') from None
    except IsADirectoryError:
        raise UserError(f'{path}: is a directory, not a checkpoint') from None
    except Exception as e:  # SafetensorError, a truncated header, a bad dtype ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f'{path}: not a readable safetensors file ({first})') from None
    key = meta.get('param_key') if meta.get('param_key') in PARAM_KEYS else 'params'
    out: dict = {key: sd}
    if 'srkit' in meta:
        try:
            out['srkit'] = json.loads(meta['srkit'])
        except ValueError:
            raise UserError(f'{path}: its srkit metadata is not JSON') from None
        except RecursionError:  # json recurses once per level: '[' * 100000 is a few bytes of header
            raise UserError(f'{path}: its srkit metadata is nested too deeply to be a network description') from None
    return out


def _is_torchscript(path: str) -> bool:
    """Whether ``path`` is a TorchScript archive (``torch.jit.save``): a zip with a
    ``constants.pkl`` record, as torch itself tells them apart.  Only the zip directory is read."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.split('/', 1)[-1] == 'constants.pkl' for n in z.namelist())


def load_checkpoint(path: str, map_location='cpu'):
    """Load with ``weights_only=True`` (safetensors: the safetensors package); user-facing
    errors for unsafe or broken files.  Only a regular file is opened: a FIFO would block the
    load for ever, and a device such as /dev/zero would be read without end."""
    import stat
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise UserError(f'{path}: no such checkpoint file') from None
    except OSError as e:
        raise UserError(f'{path}: cannot read ({e.strerror})') from None
    if stat.S_ISDIR(mode):
        raise UserError(f'{path}: is a directory, not a checkpoint')
    if not stat.S_ISREG(mode):
        raise UserError(f'{path}: not a regular file (a device, FIFO or socket), not a checkpoint')
    if is_safetensors(path):
        return _load_safetensors(path)
    try:
        # before torch.load, which would warn about it on stderr, then call it corrupt
        if _is_torchscript(path):
            raise UserError(f'{path}: a TorchScript archive (torch.jit.save), which holds code; srkit reads '
                            'state dicts (.pth, .safetensors): save it with torch.save(model.state_dict(), ...)')
        with warnings.catch_warnings():  # torch warns about the odd protocol byte of a file that is no pickle
            warnings.simplefilter('ignore', UserWarning)
            return _torch_load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise UserError(f'{path}: no such checkpoint file') from None
    except IsADirectoryError:
        raise UserError(f'{path}: is a directory, not a checkpoint') from None
    except pickle.UnpicklingError as e:
        msg = str(e)
        if 'GLOBAL' in msg or 'global ' in msg:  # a class or function the unpickler would import
            raise UserError(f'{path}: refused: the file contains Python objects that could run code '
                            '(srkit loads checkpoints with weights_only=True); re-save it as a plain state dict') from None
        detail = [ln.strip() for ln in msg.splitlines() if ln.strip()
                  and not ln.startswith(('Weights only', 'Please file', 'Check the documentation'))]
        raise UserError(f'{path}: not a readable checkpoint ({detail[-1] if detail else "unpickling error"})') from None
    # other bytes than a pickle's stop the weights-only unpickler with whatever its opcode table raises
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, IndexError, KeyError, TypeError,
            AttributeError, struct.error) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f'{path}: not a readable checkpoint (corrupt or truncated: {first})') from None


def strip_prefix(sd: dict, prefix: str = 'module.') -> dict:
    if sd and all(k.startswith(prefix) for k in sd):
        return {k[len(prefix):]: v for k, v in sd.items()}
    return sd


def extract_state_dict(ckpt, param_key: Optional[str] = 'params_ema', path: str = 'checkpoint') -> tuple[dict, str]:
    """Pick the state dict: ``param_key`` if present, else params_ema, params, another project's
    container (:data:`OTHER_KEYS`), or a raw dict.

    Returns ``(state_dict, key_used)``; ``key_used`` is ``'raw'`` for a bare state dict.
    """
    if not isinstance(ckpt, dict):
        raise UserError(f'{path}: not a network checkpoint (a {type(ckpt).__name__})')
    order = ([param_key] if param_key else []) + [k for k in PARAM_KEYS + OTHER_KEYS if k != param_key]
    for k in order:
        if k in ckpt and isinstance(ckpt[k], dict) and ckpt[k]:
            return check_finite(strip_prefix(ckpt[k]), path), k
    if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        return check_finite(strip_prefix(ckpt), path), 'raw'
    raise UserError(f'{path}: no network weights found (keys: {", ".join(list(ckpt)[:6])})')


def check_finite(sd: dict, path: str) -> dict:
    """``sd`` unchanged, or one line naming the first tensor with a NaN or an infinity (a run that
    diverged saved it; its outputs would be black images)."""
    for k, v in sd.items():
        if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
            bad = int((~torch.isfinite(v)).sum())
            raise UserError(f'{path}: {k!r} holds {bad} non-finite value(s) (NaN/inf): the run that saved '
                            'it diverged; use an earlier checkpoint')
    return sd


def check_dtypes(own: dict, sd: dict, path: str) -> None:
    """Raise UserError naming the first key where the network (``own``, its state dict) holds
    floating-point values and ``sd`` does not (bool, integers, complex): ``load_state_dict``
    would cast them, and the network would run on garbage.  Integer buffers (BatchNorm's
    ``num_batches_tracked``) are the network's own business and pass."""
    for k, v in sd.items():
        if k in own and own[k].is_floating_point() and isinstance(v, torch.Tensor) and not v.is_floating_point():
            raise UserError(f'{path}: {k!r} is stored as {str(v.dtype).replace("torch.", "")} where the network has '
                            'floating-point weights (cast, they would run as garbage); not a usable checkpoint')


def check_compatible(net: nn.Module, sd: dict, path: str, strict: bool = True) -> None:
    """Raise UserError naming the first mismatched key, shape or dtype (before loading anything)."""
    own = net.state_dict()
    for k, v in sd.items():
        if k in own and tuple(own[k].shape) != tuple(v.shape):
            raise UserError(f'{path}: shape mismatch at {k!r}: checkpoint {tuple(v.shape)}, '
                            f'network {tuple(own[k].shape)}')
    check_dtypes(own, sd, path)
    if strict:
        missing = [k for k in own if k not in sd]
        unexpected = [k for k in sd if k not in own]
        if missing:
            raise UserError(f'{path}: {len(missing)} key(s) of the network missing from the checkpoint, '
                            f'first {missing[0]!r}')
        if unexpected:
            raise UserError(f'{path}: {len(unexpected)} unexpected key(s) in the checkpoint, first {unexpected[0]!r}')


def load_network(net: nn.Module, path: str, param_key: Optional[str] = 'params', strict: bool = True,
                 warn=None) -> str:
    """Load weights into ``net``, in its own keys (the architecture's ``convert_keys`` reads
    other projects' layouts of it); returns the key used.  ``strict``: every mismatch is an error.
    Not strict (BasicSR's ``strict_load_<net>: false``): every tensor that fits is loaded, and
    ``warn`` gets one line per key skipped (another shape, or not in the network) and per key of
    the network the file lacks, as basicsr warns; a dtype the network cannot use is still an error."""
    ckpt = load_checkpoint(path)
    sd, key = extract_state_dict(ckpt, param_key, path)
    if hasattr(net, 'convert_keys'):
        sd = net.adapt_state_dict(type(net).convert_keys(sd))
    if not strict:
        sd = fitting(net, sd, path, warn or (lambda line: None))
    check_compatible(net, sd, path, strict)
    net.load_state_dict(sd, strict=strict)
    return key


def fitting(net: nn.Module, sd: dict, path: str, warn) -> dict:
    """The tensors of ``sd`` that fit ``net`` (same key and shape); ``warn(line)`` for each one
    left out and each key of ``net`` not given."""
    own = net.state_dict()
    kept = {}
    for k, v in sd.items():
        if k not in own:
            warn(f'{path}: {k!r} is not a key of the network; skipped')
        elif isinstance(v, torch.Tensor) and tuple(v.shape) != tuple(own[k].shape):
            warn(f'{path}: {k!r} has shape {tuple(v.shape)}, the network {tuple(own[k].shape)}; skipped')
        else:
            kept[k] = v
    for k in own:
        if k not in sd:
            warn(f'{path}: {k!r} is not in the file; the network keeps its initial values')
    return kept


def network_meta(net: nn.Module, scale: int, it: int) -> dict:
    cfg = getattr(net, 'srkit_config', None)
    meta = {'scale': int(scale), 'iter': int(it)}
    if cfg is not None:
        meta['arch'] = cfg
    return meta


def interpolate(a: dict, b: dict, alpha: float, name_a='A', name_b='B') -> dict:
    """``(1 - alpha) * a + alpha * b`` for two state dicts with identical keys and shapes (ESRGAN's
    network interpolation, Real-ESRGAN's ``dni``), in float64; integer tensors come from ``a``."""
    keys_a, keys_b = list(a), set(b)
    for k in keys_a:
        if k not in keys_b:
            raise UserError(f'{name_b} has no key {k!r} (present in {name_a})')
    for k in b:
        if k not in a:
            raise UserError(f'{name_a} has no key {k!r} (present in {name_b})')
    out = {}
    for k in keys_a:
        va, vb = a[k], b[k]
        if va.shape != vb.shape:
            raise UserError(f'shape mismatch at {k!r}: {name_a} {tuple(va.shape)}, {name_b} {tuple(vb.shape)}')
        if va.dtype.is_floating_point:
            out[k] = ((1 - alpha) * va.double() + alpha * vb.double()).to(va.dtype)
        else:
            out[k] = va.clone()
    return out
