"""traiNNer-redux's named sizes (``span_s``, ``realplksr_tiny``, ``dat_light``, ``hat_m`` ...) as
network types, so its recipes' ``network_g: {type: dat_2}`` builds the same network.

A preset is its architecture with other defaults: its keys are the ones traiNNer-redux's
preset function takes (the scale is ``scale``, whatever the class calls it, and comes from the
top-level ``scale`` when the recipe leaves it out, as in traiNNer-redux), typed as the class
types them.  A key traiNNer-redux's newer copy of a class has and spandrel 0.4.2's lacks (SPAN's
``num_blocks``, DAT's ``unshuffle_mod``) takes only the value that class runs.  The files are the
class's, so spandrel reads them.  :data:`PRESETS` holds each preset's values as traiNNer-redux's
``traiNNer/archs/*_arch.py`` define them (its master of 2026-06-09); ``swinir_light`` is the SwinIR
paper's lightweight model, which traiNNer-redux calls ``swinir_s``.
"""
from __future__ import annotations

import functools
import inspect
import typing
from typing import Literal

from ..registry import ARCH_REGISTRY
from . import srvgg as _srvgg  # noqa: F401  (registers SRVGGNetCompact, a preset target)
from . import upstream as _upstream  # noqa: F401  (registers the upstream classes the presets build)

# the target's values for a preset's string values, where traiNNer-redux translates them
VALUES = {
    'MoSR': {'upsampler': ('upsampler', {'pixelshuffle': 'ps', 'dysample': 'dys', 'geoensemblepixelshuffle': 'gps'})},
    'RealPLKSR': {'upsampler': ('dysample', {'pixelshuffle': False, 'dysample': True})},
}
# the target's names for a preset's keys, where traiNNer-redux's preset names them otherwise
RENAMES = {
    'RRDBNet': {'in_nc': 'num_in_ch', 'out_nc': 'num_out_ch', 'num_filters': 'num_feat', 'num_blocks': 'num_block',
                'use_pixel_unshuffle': 'pixel_unshuffle'},
}


def _esrgan_args(args: dict) -> dict:
    # traiNNer-redux's esrgan pixel-unshuffles only at scales 1 and 2 (as RRDBNet does); at 4 and
    # 8 its use_pixel_unshuffle has no effect, which RRDBNet would refuse
    return args if args['scale'] in (1, 2) else {**args, 'pixel_unshuffle': True}


# a target's arguments as traiNNer-redux's preset function adjusts them
ADJUST = {'RRDBNet': _esrgan_args}
# the scale parameter of each target (a preset calls it scale)
SCALE_KEY = {'ATD': 'upscale', 'CRAFT': 'upscale', 'DAT': 'upscale', 'DCTLSA': 'upscale', 'DITN_Real': 'upscale',
             'DRCT': 'upscale', 'FDAT': 'scale', 'GRL': 'upscale', 'HAT': 'upscale', 'MoESR': 'scale',
             'MoSR': 'upscale', 'OmniSR': 'up_scale', 'PLKSR': 'upscaling_factor', '_spandrel_RCAN': 'scale',
             'RealPLKSR': 'upscaling_factor', 'RGT': 'upscale', 'RRDBNet': 'scale', 'SAFMN': 'upscaling_factor',
             'SeemoRe': 'scale', 'SPAN': 'upscale', 'SRVGGNetCompact': 'upscale', 'Swin2SR': 'upscale',
             'SwinIR': 'upscale'}

PRESETS = {
    'atd': ('ATD', {'scale': 4, 'in_chans': 3, 'img_size': 96, 'embed_dim': 210, 'depths': [6, 6, 6, 6, 6, 6],
        'num_heads': [6, 6, 6, 6, 6, 6], 'window_size': 16, 'category_size': 256, 'num_tokens': 128,
        'reducted_dim': 20, 'convffn_kernel_size': 5, 'img_range': 1.0, 'mlp_ratio': 2, 'upsampler': 'pixelshuffle',
        'resi_connection': '1conv'}),
    'atd_light': ('ATD', {'scale': 4, 'in_chans': 3, 'img_size': 64, 'embed_dim': 48, 'depths': [6, 6, 6, 6],
        'num_heads': [6, 6, 6, 6], 'window_size': 16, 'category_size': 128, 'num_tokens': 64, 'reducted_dim': 8,
        'convffn_kernel_size': 7, 'img_range': 1.0, 'mlp_ratio': 1, 'upsampler': 'pixelshuffledirect',
        'resi_connection': '1conv'}),
    'craft': ('CRAFT', {'scale': 4, 'window_size': 16, 'embed_dim': 48, 'depths': [2, 2, 2, 2],
        'num_heads': [6, 6, 6, 6], 'split_size_0': 4, 'split_size_1': 16, 'mlp_ratio': 2.0, 'qkv_bias': True,
        'qk_scale': None, 'img_range': 1.0, 'resi_connection': '1conv'}),
    'dat': ('DAT', {'scale': 4, 'in_chans': 3, 'img_size': 64, 'img_range': 1.0, 'split_size': [8, 32],
        'depth': [6, 6, 6, 6, 6, 6], 'embed_dim': 180, 'num_heads': [6, 6, 6, 6, 6, 6], 'expansion_factor': 4,
        'resi_connection': '1conv', 'qkv_bias': True, 'qk_scale': None, 'drop_rate': 0.0, 'attn_drop_rate': 0.0,
        'drop_path_rate': 0.1, 'use_chk': False, 'upsampler': 'pixelshuffle', 'unshuffle_mod': False}),
    'dat_s': ('DAT', {'scale': 4, 'in_chans': 3, 'img_size': 64, 'img_range': 1.0, 'split_size': [8, 16],
        'depth': [6, 6, 6, 6, 6, 6], 'embed_dim': 180, 'num_heads': [6, 6, 6, 6, 6, 6], 'expansion_factor': 2,
        'resi_connection': '1conv', 'qkv_bias': True, 'qk_scale': None, 'drop_rate': 0.0, 'attn_drop_rate': 0.0,
        'drop_path_rate': 0.1, 'use_chk': False, 'upsampler': 'pixelshuffle', 'unshuffle_mod': False}),
    'dat_2': ('DAT', {'scale': 4, 'in_chans': 3, 'img_size': 64, 'img_range': 1.0, 'split_size': [8, 32],
        'depth': [6, 6, 6, 6, 6, 6], 'embed_dim': 180, 'num_heads': [6, 6, 6, 6, 6, 6], 'expansion_factor': 2,
        'resi_connection': '1conv', 'qkv_bias': True, 'qk_scale': None, 'drop_rate': 0.0, 'attn_drop_rate': 0.0,
        'drop_path_rate': 0.1, 'use_chk': False, 'upsampler': 'pixelshuffle', 'unshuffle_mod': False}),
    'dat_2_l': ('DAT', {'scale': 4, 'in_chans': 3, 'img_size': 64, 'img_range': 1.0, 'split_size': [8, 32],
        'depth': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6], 'embed_dim': 180,
        'num_heads': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6], 'expansion_factor': 2, 'resi_connection': '1conv',
        'qkv_bias': True, 'qk_scale': None, 'drop_rate': 0.0, 'attn_drop_rate': 0.0, 'drop_path_rate': 0.1,
        'use_chk': False, 'upsampler': 'pixelshuffle', 'unshuffle_mod': False}),
    'dat_light': ('DAT', {'scale': 4, 'in_chans': 3, 'img_size': 64, 'img_range': 1.0, 'split_size': [8, 32],
        'depth': [18], 'embed_dim': 60, 'num_heads': [6], 'expansion_factor': 2, 'resi_connection': '3conv',
        'qkv_bias': True, 'qk_scale': None, 'drop_rate': 0.0, 'attn_drop_rate': 0.0, 'drop_path_rate': 0.1,
        'use_chk': False, 'upsampler': 'pixelshuffle', 'unshuffle_mod': False}),
    'dctlsa': ('DCTLSA', {'scale': 4, 'in_nc': 3, 'nf': 55, 'num_modules': 6, 'out_nc': 3, 'num_head': 5}),
    'ditn_real': ('DITN_Real', {'scale': 4, 'inp_channels': 3, 'dim': 60, 'ITL_blocks': 4, 'SAL_blocks': 4,
        'UFONE_blocks': 1, 'ffn_expansion_factor': 2, 'bias': False, 'LayerNorm_type': 'WithBias', 'patch_size': 8}),
    'drct': ('DRCT', {'scale': 4, 'in_chans': 3, 'img_size': 64, 'window_size': 16, 'img_range': 1.0,
        'depths': [6, 6, 6, 6, 6, 6], 'embed_dim': 180, 'num_heads': [6, 6, 6, 6, 6, 6], 'mlp_ratio': 2.0,
        'upsampler': 'pixelshuffle', 'resi_connection': '1conv', 'use_checkpoint': False}),
    'drct_l': ('DRCT', {'scale': 4, 'in_chans': 3, 'img_size': 64, 'window_size': 16, 'img_range': 1.0,
        'depths': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6], 'embed_dim': 180,
        'num_heads': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6], 'mlp_ratio': 2.0, 'upsampler': 'pixelshuffle',
        'resi_connection': '1conv', 'use_checkpoint': False}),
    'drct_xl': ('DRCT', {'scale': 4, 'in_chans': 3, 'img_size': 64, 'window_size': 16, 'img_range': 1.0,
        'depths': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6], 'embed_dim': 180,
        'num_heads': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6], 'mlp_ratio': 2.0, 'upsampler': 'pixelshuffle',
        'resi_connection': '1conv', 'use_checkpoint': False}),
    'fdat_tiny': ('FDAT', {'num_in_ch': 3, 'num_out_ch': 3, 'scale': 4, 'embed_dim': 96, 'num_groups': 2,
        'depth_per_group': 2, 'num_heads': 3, 'window_size': 8, 'ffn_expansion_ratio': 1.5,
        'aim_reduction_ratio': 8, 'group_block_pattern': None, 'drop_path_rate': 0.05,
        'upsampler_type': 'transpose+conv', 'img_range': 1.0, 'unshuffle_mod': False}),
    'fdat_light': ('FDAT', {'num_in_ch': 3, 'num_out_ch': 3, 'scale': 4, 'embed_dim': 108, 'num_groups': 3,
        'depth_per_group': 2, 'num_heads': 4, 'window_size': 8, 'ffn_expansion_ratio': 2.0,
        'aim_reduction_ratio': 8, 'group_block_pattern': None, 'drop_path_rate': 0.08,
        'upsampler_type': 'transpose+conv', 'img_range': 1.0, 'unshuffle_mod': False}),
    'fdat_medium': ('FDAT', {'num_in_ch': 3, 'num_out_ch': 3, 'scale': 4, 'embed_dim': 120, 'num_groups': 4,
        'depth_per_group': 3, 'num_heads': 4, 'window_size': 8, 'ffn_expansion_ratio': 2.0,
        'aim_reduction_ratio': 8, 'group_block_pattern': None, 'drop_path_rate': 0.1,
        'upsampler_type': 'transpose+conv', 'img_range': 1.0, 'unshuffle_mod': False}),
    'fdat_medium_aligned': ('FDAT', {'num_in_ch': 3, 'num_out_ch': 3, 'scale': 4, 'embed_dim': 128, 'num_groups': 4,
        'depth_per_group': 3, 'num_heads': 4, 'window_size': 8, 'ffn_expansion_ratio': 2.0,
        'aim_reduction_ratio': 8, 'group_block_pattern': None, 'drop_path_rate': 0.1,
        'upsampler_type': 'transpose+conv', 'img_range': 1.0, 'unshuffle_mod': False}),
    'fdat_large': ('FDAT', {'num_in_ch': 3, 'num_out_ch': 3, 'scale': 4, 'embed_dim': 180, 'num_groups': 4,
        'depth_per_group': 4, 'num_heads': 6, 'window_size': 8, 'ffn_expansion_ratio': 2.0,
        'aim_reduction_ratio': 8, 'group_block_pattern': None, 'drop_path_rate': 0.1,
        'upsampler_type': 'transpose+conv', 'img_range': 1.0}),
    'fdat_xl': ('FDAT', {'num_in_ch': 3, 'num_out_ch': 3, 'scale': 4, 'embed_dim': 180, 'num_groups': 6,
        'depth_per_group': 6, 'num_heads': 6, 'window_size': 8, 'ffn_expansion_ratio': 2.0,
        'aim_reduction_ratio': 8, 'group_block_pattern': None, 'drop_path_rate': 0.1,
        'upsampler_type': 'transpose+conv', 'img_range': 1.0}),
    'grl_b': ('GRL', {'scale': 4, 'img_size': 64, 'in_channels': 3, 'out_channels': 3, 'embed_dim': 180,
        'img_range': 1.0, 'upsampler': 'pixelshuffle', 'depths': [4, 4, 8, 8, 8, 4, 4],
        'num_heads_window': [3, 3, 3, 3, 3, 3, 3], 'num_heads_stripe': [3, 3, 3, 3, 3, 3, 3], 'window_size': 32,
        'stripe_size': [64, 64], 'stripe_groups': [None, None], 'stripe_shift': True, 'mlp_ratio': 2.0,
        'qkv_bias': True, 'qkv_proj_type': 'linear', 'anchor_proj_type': 'avgpool', 'anchor_one_stage': True,
        'anchor_window_down_factor': 4, 'out_proj_type': 'linear', 'local_connection': True, 'drop_rate': 0.0,
        'attn_drop_rate': 0.0, 'drop_path_rate': 0.1, 'pretrained_window_size': [0, 0],
        'pretrained_stripe_size': [0, 0], 'conv_type': '1conv', 'init_method': 'n', 'fairscale_checkpoint': False,
        'offload_to_cpu': False, 'euclidean_dist': False}),
    'grl_s': ('GRL', {'scale': 4, 'img_size': 64, 'in_channels': 3, 'out_channels': 3, 'embed_dim': 128,
        'img_range': 1.0, 'upsampler': 'pixelshuffle', 'depths': [4, 4, 4, 4], 'num_heads_window': [2, 2, 2, 2],
        'num_heads_stripe': [2, 2, 2, 2], 'window_size': 32, 'stripe_size': [64, 64], 'stripe_groups': [None, None],
        'stripe_shift': True, 'mlp_ratio': 2.0, 'qkv_bias': True, 'qkv_proj_type': 'linear',
        'anchor_proj_type': 'avgpool', 'anchor_one_stage': True, 'anchor_window_down_factor': 4,
        'out_proj_type': 'linear', 'local_connection': False, 'drop_rate': 0.0, 'attn_drop_rate': 0.0,
        'drop_path_rate': 0.1, 'pretrained_window_size': [0, 0], 'pretrained_stripe_size': [0, 0],
        'conv_type': '1conv', 'init_method': 'n', 'fairscale_checkpoint': False, 'offload_to_cpu': False,
        'euclidean_dist': False}),
    'grl_t': ('GRL', {'scale': 4, 'img_size': 64, 'in_channels': 3, 'out_channels': 3, 'embed_dim': 64,
        'img_range': 1.0, 'upsampler': 'pixelshuffledirect', 'depths': [4, 4, 4, 4],
        'num_heads_window': [2, 2, 2, 2], 'num_heads_stripe': [2, 2, 2, 2], 'window_size': 32,
        'stripe_size': [64, 64], 'stripe_groups': [None, None], 'stripe_shift': True, 'mlp_ratio': 2.0,
        'qkv_bias': True, 'qkv_proj_type': 'linear', 'anchor_proj_type': 'avgpool', 'anchor_one_stage': True,
        'anchor_window_down_factor': 4, 'out_proj_type': 'linear', 'local_connection': False, 'drop_rate': 0.0,
        'attn_drop_rate': 0.0, 'drop_path_rate': 0.1, 'pretrained_window_size': [0, 0],
        'pretrained_stripe_size': [0, 0], 'conv_type': '1conv', 'init_method': 'n', 'fairscale_checkpoint': False,
        'offload_to_cpu': False, 'euclidean_dist': False}),
    'hat_s': ('HAT', {'scale': 4, 'img_size': 64, 'patch_size': 1, 'in_chans': 3, 'embed_dim': 144,
        'depths': [6, 6, 6, 6, 6, 6], 'num_heads': [6, 6, 6, 6, 6, 6], 'window_size': 16, 'compress_ratio': 24,
        'squeeze_factor': 24, 'conv_scale': 0.01, 'overlap_ratio': 0.5, 'mlp_ratio': 2.0, 'qkv_bias': True,
        'qk_scale': None, 'drop_rate': 0.0, 'attn_drop_rate': 0.0, 'drop_path_rate': 0.1, 'ape': False,
        'patch_norm': True, 'use_checkpoint': False, 'img_range': 1.0, 'upsampler': 'pixelshuffle',
        'resi_connection': '1conv', 'num_feat': 64}),
    'hat_m': ('HAT', {'scale': 4, 'img_size': 64, 'patch_size': 1, 'in_chans': 3, 'embed_dim': 180,
        'depths': [6, 6, 6, 6, 6, 6], 'num_heads': [6, 6, 6, 6, 6, 6], 'window_size': 16, 'compress_ratio': 3,
        'squeeze_factor': 30, 'conv_scale': 0.01, 'overlap_ratio': 0.5, 'mlp_ratio': 2.0, 'qkv_bias': True,
        'qk_scale': None, 'drop_rate': 0.0, 'attn_drop_rate': 0.0, 'drop_path_rate': 0.1, 'ape': False,
        'patch_norm': True, 'use_checkpoint': False, 'img_range': 1.0, 'upsampler': 'pixelshuffle',
        'resi_connection': '1conv', 'num_feat': 64}),
    'hat_l': ('HAT', {'scale': 4, 'img_size': 64, 'patch_size': 1, 'in_chans': 3, 'embed_dim': 180,
        'depths': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6], 'num_heads': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6],
        'window_size': 16, 'compress_ratio': 3, 'squeeze_factor': 30, 'conv_scale': 0.01, 'overlap_ratio': 0.5,
        'mlp_ratio': 2.0, 'qkv_bias': True, 'qk_scale': None, 'drop_rate': 0.0, 'attn_drop_rate': 0.0,
        'drop_path_rate': 0.1, 'ape': False, 'patch_norm': True, 'use_checkpoint': False, 'img_range': 1.0,
        'upsampler': 'pixelshuffle', 'resi_connection': '1conv', 'num_feat': 64}),
    'hat_m_aligned': ('HAT', {'scale': 4, 'img_size': 64, 'patch_size': 1, 'in_chans': 3, 'embed_dim': 192,
        'depths': [6, 6, 6, 6, 6, 6], 'num_heads': [6, 6, 6, 6, 6, 6], 'window_size': 16, 'compress_ratio': 3,
        'squeeze_factor': 30, 'conv_scale': 0.01, 'overlap_ratio': 0.5, 'mlp_ratio': 2.0, 'qkv_bias': True,
        'qk_scale': None, 'drop_rate': 0.0, 'attn_drop_rate': 0.0, 'drop_path_rate': 0.1, 'ape': False,
        'patch_norm': True, 'use_checkpoint': False, 'img_range': 1.0, 'upsampler': 'pixelshuffle',
        'resi_connection': '1conv', 'num_feat': 64}),
    'hat_l_aligned': ('HAT', {'scale': 4, 'img_size': 64, 'patch_size': 1, 'in_chans': 3, 'embed_dim': 192,
        'depths': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6], 'num_heads': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6],
        'window_size': 16, 'compress_ratio': 3, 'squeeze_factor': 30, 'conv_scale': 0.01, 'overlap_ratio': 0.5,
        'mlp_ratio': 2.0, 'qkv_bias': True, 'qk_scale': None, 'drop_rate': 0.0, 'attn_drop_rate': 0.0,
        'drop_path_rate': 0.1, 'ape': False, 'patch_norm': True, 'use_checkpoint': False, 'img_range': 1.0,
        'upsampler': 'pixelshuffle', 'resi_connection': '1conv', 'num_feat': 64}),
    'mosr': ('MoSR', {'scale': 4, 'in_ch': 3, 'out_ch': 3, 'n_block': 24, 'dim': 64, 'upsampler': 'pixelshuffle',
        'drop_path': 0.0, 'kernel_size': 7, 'expansion_ratio': 1.5, 'conv_ratio': 1.0}),
    'mosr_t': ('MoSR', {'scale': 4, 'in_ch': 3, 'out_ch': 3, 'n_block': 5, 'dim': 48, 'upsampler': 'pixelshuffle',
        'drop_path': 0.0, 'kernel_size': 7, 'expansion_ratio': 1.5, 'conv_ratio': 1.0}),
    'omnisr': ('OmniSR', {'scale': 4, 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 64, 'block_num': 1, 'pe': True,
        'window_size': 8, 'res_num': 5, 'bias': True}),
    'plksr': ('PLKSR', {'scale': 4, 'dim': 64, 'n_blocks': 28, 'ccm_type': 'DCCM', 'kernel_size': 17,
        'split_ratio': 0.25, 'lk_type': 'PLK', 'use_max_kernel': False, 'sparse_kernels': [5, 5, 5, 5],
        'sparse_dilations': [1, 2, 3, 4], 'with_idt': False, 'use_ea': True}),
    'plksr_tiny': ('PLKSR', {'scale': 4, 'dim': 64, 'n_blocks': 12, 'ccm_type': 'DCCM', 'kernel_size': 13,
        'split_ratio': 0.25, 'lk_type': 'PLK', 'use_max_kernel': False, 'sparse_kernels': [5, 5, 5, 5],
        'sparse_dilations': [1, 2, 3, 4], 'with_idt': False, 'use_ea': False}),
    'rcan_l': ('_spandrel_RCAN', {'scale': 4, 'n_resgroups': 10, 'n_resblocks': 20, 'n_feats': 96, 'n_colors': 3,
        'rgb_range': 255, 'norm': False, 'kernel_size': 3, 'reduction': 16, 'res_scale': 1, 'act_mode': 'relu',
        'unshuffle_mod': False}),
    'rcan_unshuffle': ('_spandrel_RCAN', {'scale': 4, 'n_resgroups': 10, 'n_resblocks': 20, 'n_feats': 64,
        'n_colors': 3, 'rgb_range': 255, 'norm': False, 'kernel_size': 3, 'reduction': 16, 'res_scale': 1,
        'act_mode': 'relu', 'unshuffle_mod': True}),
    'realplksr': ('RealPLKSR', {'in_ch': 3, 'out_ch': 3, 'dim': 64, 'n_blocks': 28, 'scale': 4, 'kernel_size': 17,
        'split_ratio': 0.25, 'use_ea': True, 'norm_groups': 4, 'dropout': 0, 'upsampler': 'pixelshuffle',
        'layer_norm': True}),
    'realplksr_tiny': ('RealPLKSR', {'in_ch': 3, 'out_ch': 3, 'dim': 64, 'n_blocks': 12, 'scale': 4,
        'kernel_size': 13, 'split_ratio': 0.25, 'use_ea': False, 'norm_groups': 4, 'dropout': 0,
        'upsampler': 'pixelshuffle', 'layer_norm': True}),
    'realplksr_large': ('RealPLKSR', {'in_ch': 3, 'out_ch': 3, 'dim': 96, 'n_blocks': 28, 'scale': 4,
        'kernel_size': 17, 'split_ratio': 0.25, 'use_ea': True, 'norm_groups': 4, 'dropout': 0,
        'upsampler': 'pixelshuffle', 'layer_norm': True}),
    'rgt': ('RGT', {'scale': 4, 'img_size': 64, 'in_chans': 3, 'embed_dim': 180, 'depth': [6, 6, 6, 6, 6, 6, 6, 6],
        'num_heads': [6, 6, 6, 6, 6, 6, 6, 6], 'mlp_ratio': 2.0, 'qkv_bias': True, 'qk_scale': None,
        'drop_rate': 0.0, 'attn_drop_rate': 0.0, 'drop_path_rate': 0.1, 'use_chk': False, 'img_range': 1.0,
        'resi_connection': '1conv', 'split_size': [8, 32], 'c_ratio': 0.5}),
    'rgt_s': ('RGT', {'scale': 4, 'img_size': 64, 'in_chans': 3, 'embed_dim': 180, 'depth': [6, 6, 6, 6, 6, 6],
        'num_heads': [6, 6, 6, 6, 6, 6], 'mlp_ratio': 2.0, 'qkv_bias': True, 'qk_scale': None, 'drop_rate': 0.0,
        'attn_drop_rate': 0.0, 'drop_path_rate': 0.1, 'use_chk': False, 'img_range': 1.0,
        'resi_connection': '1conv', 'split_size': [8, 32], 'c_ratio': 0.5}),
    'safmn': ('SAFMN', {'scale': 4, 'dim': 36, 'n_blocks': 8, 'ffn_scale': 2.0}),
    'safmn_l': ('SAFMN', {'scale': 4, 'dim': 128, 'n_blocks': 16, 'ffn_scale': 2.0}),
    'seemore_t': ('SeemoRe', {'scale': 4, 'in_chans': 3, 'num_experts': 3, 'num_layers': 6, 'embedding_dim': 36,
        'img_range': 1.0, 'use_shuffle': True, 'global_kernel_size': 11, 'recursive': 2, 'lr_space': 'exp',
        'topk': 1}),
    'span': ('SPAN', {'num_in_ch': 3, 'num_out_ch': 3, 'feature_channels': 52, 'num_blocks': 6, 'scale': 4,
        'bias': True, 'norm': False, 'img_range': 255.0, 'rgb_mean': [0.4488, 0.4371, 0.404]}),
    'span_s': ('SPAN', {'num_in_ch': 3, 'num_out_ch': 3, 'feature_channels': 48, 'num_blocks': 6, 'scale': 4,
        'bias': True, 'norm': False, 'img_range': 255.0, 'rgb_mean': [0.4488, 0.4371, 0.404]}),
    'compact': ('SRVGGNetCompact', {'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 64, 'num_conv': 16, 'scale': 4,
        'act_type': 'prelu', 'learn_residual': True}),
    'ultracompact': ('SRVGGNetCompact', {'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 64, 'num_conv': 8, 'scale': 4,
        'act_type': 'prelu', 'learn_residual': True}),
    'superultracompact': ('SRVGGNetCompact', {'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 24, 'num_conv': 8,
        'scale': 4, 'act_type': 'prelu', 'learn_residual': True}),
    'swin2sr_s': ('Swin2SR', {'scale': 4, 'img_size': 64, 'patch_size': 1, 'in_chans': 3, 'embed_dim': 60,
        'depths': [6, 6, 6, 6], 'num_heads': [6, 6, 6, 6], 'window_size': 8, 'mlp_ratio': 2.0, 'qkv_bias': True,
        'drop_rate': 0.0, 'attn_drop_rate': 0.0, 'drop_path_rate': 0.1, 'ape': False, 'patch_norm': True,
        'use_checkpoint': False, 'img_range': 1.0, 'upsampler': 'pixelshuffledirect', 'resi_connection': '1conv'}),
    'swin2sr_m': ('Swin2SR', {'scale': 4, 'img_size': 64, 'patch_size': 1, 'in_chans': 3, 'embed_dim': 180,
        'depths': [6, 6, 6, 6, 6, 6], 'num_heads': [6, 6, 6, 6, 6, 6], 'window_size': 8, 'mlp_ratio': 2.0,
        'qkv_bias': True, 'drop_rate': 0.0, 'attn_drop_rate': 0.0, 'drop_path_rate': 0.1, 'ape': False,
        'patch_norm': True, 'use_checkpoint': False, 'img_range': 1.0, 'upsampler': 'pixelshuffle',
        'resi_connection': '1conv'}),
    'swin2sr_l': ('Swin2SR', {'scale': 4, 'img_size': 64, 'patch_size': 1, 'in_chans': 3, 'embed_dim': 240,
        'depths': [6, 6, 6, 6, 6, 6, 6, 6, 6], 'num_heads': [8, 8, 8, 8, 8, 8, 8, 8, 8], 'window_size': 8,
        'mlp_ratio': 2.0, 'qkv_bias': True, 'drop_rate': 0.0, 'attn_drop_rate': 0.0, 'drop_path_rate': 0.1,
        'ape': False, 'patch_norm': True, 'use_checkpoint': False, 'img_range': 1.0, 'upsampler': 'nearest+conv',
        'resi_connection': '3conv'}),
    'swinir_s': ('SwinIR', {'scale': 4, 'img_size': 64, 'patch_size': 1, 'in_chans': 3, 'embed_dim': 60,
        'depths': [6, 6, 6, 6], 'num_heads': [6, 6, 6, 6], 'window_size': 8, 'mlp_ratio': 2.0, 'qkv_bias': True,
        'qk_scale': None, 'drop_rate': 0.0, 'attn_drop_rate': 0.0, 'drop_path_rate': 0.1, 'ape': False,
        'patch_norm': True, 'use_checkpoint': False, 'img_range': 1.0, 'upsampler': 'pixelshuffledirect',
        'resi_connection': '1conv', 'start_unshuffle': 1}),
    'swinir_m': ('SwinIR', {'scale': 4, 'img_size': 48, 'patch_size': 1, 'in_chans': 3, 'embed_dim': 180,
        'depths': [6, 6, 6, 6, 6, 6], 'num_heads': [6, 6, 6, 6, 6, 6], 'window_size': 8, 'mlp_ratio': 2.0,
        'qkv_bias': True, 'qk_scale': None, 'drop_rate': 0.0, 'attn_drop_rate': 0.0, 'drop_path_rate': 0.1,
        'ape': False, 'patch_norm': True, 'use_checkpoint': False, 'img_range': 1.0, 'upsampler': 'pixelshuffle',
        'resi_connection': '1conv', 'start_unshuffle': 1}),
    'swinir_l': ('SwinIR', {'scale': 4, 'img_size': 64, 'patch_size': 1, 'in_chans': 3, 'embed_dim': 240,
        'depths': [6, 6, 6, 6, 6, 6, 6, 6, 6], 'num_heads': [8, 8, 8, 8, 8, 8, 8, 8, 8], 'window_size': 8,
        'mlp_ratio': 2.0, 'qkv_bias': True, 'qk_scale': None, 'drop_rate': 0.0, 'attn_drop_rate': 0.0,
        'drop_path_rate': 0.1, 'ape': False, 'patch_norm': True, 'use_checkpoint': False, 'img_range': 1.0,
        'upsampler': 'nearest+conv', 'resi_connection': '3conv', 'start_unshuffle': 1}),
}
# ESRGAN: spandrel's ESRGAN in traiNNer-redux; srkit's RRDBNet is that network in BasicSR's keys
# (spandrel reads them; traiNNer-redux's files, in ESRGAN's original keys, load through its converter)
PRESETS['esrgan'] = ('RRDBNet', {'scale': 4, 'use_pixel_unshuffle': True, 'in_nc': 3, 'out_nc': 3, 'num_filters': 64,
                                 'num_blocks': 23})
# traiNNer-redux's MoESR2 is spandrel's MoESR (same keys; the same output, probed once)
PRESETS['moesr2'] = ('MoESR', {'scale': 4, 'in_ch': 3, 'out_ch': 3, 'dim': 64, 'n_blocks': 9, 'n_block': 4,
                               'expansion_factor': 8 / 3, 'expansion_msg': 1.5, 'upsampler': 'pixelshuffledirect',
                               'upsample_dim': 64})
PRESETS['esrgan_lite'] = ('RRDBNet', {**PRESETS['esrgan'][1], 'num_filters': 32, 'num_blocks': 12})
PRESETS['swinir_light'] = PRESETS['swinir_s']
PRESETS['rcan'] = ('_spandrel_RCAN', {'scale': 4, 'n_resgroups': 10, 'n_resblocks': 20, 'n_feats': 64, 'n_colors': 3,
                                      'rgb_range': 255, 'norm': False, 'kernel_size': 3, 'reduction': 16,
                                      'res_scale': 1, 'act_mode': 'relu', 'unshuffle_mod': False})


def _preset(name: str, target: str, values: dict):
    """The network type ``name``: ``target`` built with ``values`` as its defaults."""
    cls = ARCH_REGISTRY.get(target)
    own = {p.name: p for p in inspect.signature(cls.__init__).parameters.values() if p.name != 'self'}
    hints = typing.get_type_hints(cls.__init__, include_extras=True) if not hasattr(cls, 'upstream') else \
        cls.__init__.__annotations__
    scale_key, mapped = SCALE_KEY[target], VALUES.get(target, {})
    params, fixed, renamed = [], {}, RENAMES.get(target, {})
    for key, default in values.items():
        own_key = (scale_key if key == 'scale' else mapped[key][0] if key in mapped else renamed.get(key, key))
        if key in mapped:
            ann = Literal[tuple(mapped[key][1])]
        elif own_key in own:
            ann = hints.get(own_key, own[own_key].annotation)
        else:  # a key of traiNNer-redux's newer class: only the value spandrel's runs
            fixed[key] = default
            ann = Literal[tuple(default) if isinstance(default, list) else default]
            default = tuple(default) if isinstance(default, list) else default
        params.append(inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=ann))
    if 'gradient_checkpointing' in own:
        params.append(own['gradient_checkpointing'])

    def build(**kwargs):
        args = {}
        for key, value in {**{p.name: p.default for p in params}, **kwargs}.items():
            if key in fixed:
                continue
            if key in mapped:
                args[mapped[key][0]] = mapped[key][1][value]
            else:
                args[scale_key if key == 'scale' else renamed.get(key, key)] = value
        return cls(**ADJUST.get(target, dict)(args))

    build.__name__ = build.__qualname__ = name
    build.__signature__ = inspect.Signature(params)
    build.__annotations__ = {p.name: p.annotation for p in params}
    of = "spandrel's RCAN" if target == '_spandrel_RCAN' else target
    lines = [f"{name}: traiNNer-redux's preset of {of}; its keys are the preset's, its defaults the preset's "
             'values.', '', 'Args:']
    for p in params:
        if p.name == 'scale':
            text = 'the upscaling factor (default: the top-level scale)'
        elif p.name in fixed:
            text = (f"a key of traiNNer-redux's newer {of}; spandrel 0.4.2's runs only {p.default!r} "
                    f'(default {p.default!r})')
        else:
            text = f'{_said(cls, renamed.get(p.name, p.name), mapped)} (default {p.default!r})'

        lines.append(f'    {p.name}: {text}.')
    build.__doc__ = '\n'.join(lines)
    build.scale_from_options = True  # traiNNer-redux copies the top-level scale into network_g
    build.target = cls  # the architecture it builds (its metadata: scale, sizes, value range)
    return build


def _said(cls, key: str, mapped: dict) -> str:
    from ..config import doc_args
    own = key if key not in mapped else mapped[key][0]
    text = doc_args(inspect.getdoc(cls) or '').get(own, '').split(' (default')[0]
    text = ' '.join(text.split()).rstrip('.')
    if key in mapped:
        text = f'{", ".join(mapped[key][1])}: {own} {", ".join(map(repr, mapped[key][1].values()))}'
    return text or f"{cls.__name__}'s {own}"


def _realcugan():
    """traiNNer-redux's ``realcugan``: one of spandrel's UpCunet classes, by scale and ``fast``."""
    classes = {(s, False): ARCH_REGISTRY.get(f'UpCunet{s}x') for s in (2, 3, 4)}
    classes[(2, True)] = ARCH_REGISTRY.get('UpCunet2x_fast')

    def realcugan(*, scale: Literal[2, 3, 4] = 4, pro: bool = False, fast: bool = False,
                  in_channels: int = 3, out_channels: int = 3):
        if fast and scale != 2:
            raise ValueError(f'fast: only at scale 2, not {scale}')
        if fast and pro:
            raise ValueError('pro: not with fast; leave one out')
        extra = {} if fast else {'pro': pro}
        return classes[(scale, fast)](in_channels=in_channels, out_channels=out_channels, **extra)

    realcugan.__doc__ = """realcugan: traiNNer-redux's preset of Real-CUGAN, spandrel's UpCunet2x, 3x, 4x or 2x_fast.

        Args:
            scale: the upscaling factor, 2, 3 or 4 (default: the top-level scale).
            pro: the "pro" models' layout (default false).
            fast: UpCunet2x_fast, at scale 2 only, not with pro (default false).
            in_channels: input image channels (default 3).
            out_channels: output image channels (default 3).
        """
    realcugan.scale_from_options = True
    realcugan.target = classes[(4, False)]
    return realcugan


for _name, (_target, _values) in PRESETS.items():  # made when first named, as their classes are
    ARCH_REGISTRY.register_lazy(_name, functools.partial(_preset, _name, _target, _values))
ARCH_REGISTRY.register_lazy('realcugan', _realcugan)
